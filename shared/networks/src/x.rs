//! X API v2: publishing posts.

use crate::{excerpt, PublishError, RemotePost};
use crosspost_core::Secret;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

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
    pub fn new(http: reqwest::Client, base_url: impl Into<String>) -> Self {
        XClient {
            http,
            base_url: base_url.into(),
        }
    }

    /// `POST /2/tweets`, as a reply to `reply_to` when given.
    pub async fn post_tweet(
        &self,
        token: &Secret,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        let mut body = json!({ "text": text });
        if let Some(parent) = reply_to {
            body["reply"] = json!({ "in_reply_to_tweet_id": parent });
        }
        let resp = self
            .http
            .post(format!("{}/2/tweets", self.base_url))
            .bearer_auth(token.expose())
            .json(&body)
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
            });
        }
        Err(classify(status, &headers, &text))
    }
}

impl XClient {
    /// `DELETE /2/tweets/{id}`; a post X no longer has (404) counts as deleted.
    pub async fn delete_tweet(&self, token: &Secret, id: &str) -> Result<(), PublishError> {
        let resp = self
            .http
            .delete(format!("{}/2/tweets/{id}", self.base_url))
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|e| crate::from_transport(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        match status.as_u16() {
            200 | 404 => Ok(()),
            _ => Err(classify(status, &headers, &text)),
        }
    }
}

/// Turns an X error answer into what the caller must do.
fn classify(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> PublishError {
    let detail = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| excerpt(body, 200));
    let detail = format!("X answered {}: {detail}", status.as_u16());
    match status.as_u16() {
        429 => PublishError::RateLimited {
            until_unix: headers
                .get("x-rate-limit-reset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            detail,
        },
        401 => PublishError::AuthRevoked { detail },
        500..=599 => PublishError::Retryable {
            after: Some(Duration::from_secs(5)),
            detail,
        },
        _ => PublishError::Permanent { reason: detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn answers_are_classified_by_what_to_do() {
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-reset", HeaderValue::from_static("1700000000"));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &h, "{}"),
            PublishError::RateLimited {
                until_unix: Some(1_700_000_000),
                detail: "X answered 429: {}".into()
            }
        );
        let none = HeaderMap::new();
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, &none, "").kind(),
            "auth_revoked"
        );
        assert_eq!(
            classify(StatusCode::BAD_GATEWAY, &none, "").kind(),
            "retryable"
        );
        let e = classify(
            StatusCode::FORBIDDEN,
            &none,
            r#"{"detail":"Your Tweet text is too long."}"#,
        );
        assert_eq!(
            e,
            PublishError::Permanent {
                reason: "X answered 403: Your Tweet text is too long.".into()
            }
        );
    }
}
