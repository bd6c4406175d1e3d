//! X (API v2): the client (posts, the account a token speaks for), media uploads,
//! OAuth 2.0 with PKCE, what X's error answers mean, and the delivery worker's
//! [`crosspost_core::Publisher`] and the connect function's
//! [`crosspost_core::linking::Linker`] for X.

mod error;
mod link;
pub mod media;
pub mod oauth;
mod publish;

pub(crate) use error::classify;
pub use link::XLinker;
pub use publish::XPublisher;

use crate::{excerpt, PublishError, RemotePost};
use crosspost_core::Secret;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

/// X API v2 with a user's bearer token: posting and naming the account. Answers are
/// classified by what the caller must do (`error.rs`, from X API v2's error answers).
#[derive(Clone, Debug)]
pub struct XClient {
    http: reqwest::Client,
    base_url: String,
}

#[derive(Deserialize)]
struct Created {
    data: CreatedData,
}

#[derive(Deserialize)]
struct CreatedData {
    id: String,
}

impl XClient {
    /// `base_url` is `https://api.x.com` in production, without a trailing slash.
    pub fn new(http: reqwest::Client, base_url: impl Into<String>) -> Self {
        XClient {
            http,
            base_url: base_url.into(),
        }
    }

    /// `POST /2/tweets`, as a reply to `reply_to` when given, with media uploaded
    /// before (`media_ids`, at most 4), named by `key` (sent as `Idempotency-Key`; X
    /// ignores it). A success that spends a 24-hour cap (`x-user-limit-24hour-*`,
    /// `x-app-limit-24hour-*`) holds the account or the app until its reset.
    pub async fn post_tweet(
        &self,
        token: &Secret,
        text: &str,
        reply_to: Option<&str>,
        media_ids: &[String],
        key: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        // A post that carries media needs no text.
        let mut body = if text.is_empty() && !media_ids.is_empty() {
            json!({})
        } else {
            json!({ "text": text })
        };
        if let Some(parent) = reply_to {
            body["reply"] = json!({ "in_reply_to_tweet_id": parent });
        }
        if !media_ids.is_empty() {
            body["media"] = json!({ "media_ids": media_ids });
        }
        let mut request = self
            .http
            .post(format!("{}/2/tweets", self.base_url))
            .bearer_auth(token.expose())
            .json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let resp = request
            .send()
            .await
            .map_err(|e| crate::from_transport(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|e| PublishError::Uncertain {
            detail: format!("answer not read: {e}"),
        })?;
        if status == StatusCode::CREATED || status == StatusCode::OK {
            let created: Created =
                serde_json::from_str(&text).map_err(|e| PublishError::Uncertain {
                    detail: format!("unexpected answer from X ({e}): {}", excerpt(&text, 200)),
                })?;
            let id = created.data.id;
            return Ok(RemotePost {
                url: format!("https://x.com/i/web/status/{id}"),
                id,
                hold: error::daily_cap(&headers),
            });
        }
        Err(classify(status, &headers, &text))
    }
}

/// The account a token belongs to, as `GET /2/users/me` tells.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct XUser {
    pub id: String,
    pub username: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Deserialize)]
struct Me {
    data: XUser,
}

impl XClient {
    /// `GET /2/users/me`: who the token speaks for.
    pub async fn me(&self, token: &Secret) -> Result<XUser, PublishError> {
        let request = self
            .http
            .get(format!("{}/2/users/me", self.base_url))
            .query(&[("user.fields", "id,name,username")])
            .bearer_auth(token.expose());
        let (status, headers, text) = read(request).await?;
        if status == StatusCode::OK {
            return serde_json::from_str::<Me>(&text)
                .map(|me| me.data)
                .map_err(|e| PublishError::Permanent {
                    reason: format!("unexpected answer from X users/me ({e})"),
                });
        }
        Err(classify(status, &headers, &text))
    }
}

/// Sends a read-only request: its status, headers and body. Nothing it does can post,
/// so a failure to read the answer is only a reason to try again.
pub(crate) async fn read(
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, reqwest::header::HeaderMap, String), PublishError> {
    let resp = request
        .send()
        .await
        .map_err(|e| crate::from_transport(&e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.map_err(|e| PublishError::Retryable {
        after: None,
        detail: format!(
            "answer not read: {}",
            crate::WithoutUrl::without_url_ref(&e)
        ),
    })?;
    Ok((status, headers, body))
}
