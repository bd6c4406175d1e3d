//! X API v2: publishing posts.

pub mod media;
pub mod oauth;

use crate::{excerpt, PublishError, RemotePost};
use crosspost_core::{LinkedAccount, RateLimitScope, Secret, Window};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

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

    /// `POST /2/tweets`, as a reply to `reply_to` when given, with media uploaded
    /// before (`media_ids`, at most 4).
    pub async fn post_tweet(
        &self,
        token: &Secret,
        text: &str,
        reply_to: Option<&str>,
        media_ids: &[String],
    ) -> Result<RemotePost, PublishError> {
        let mut body = json!({ "text": text });
        if let Some(parent) = reply_to {
            body["reply"] = json!({ "in_reply_to_tweet_id": parent });
        }
        if !media_ids.is_empty() {
            body["media"] = json!({ "media_ids": media_ids });
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
                hold: None,
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

/// Pages of the timeline read when reconciling.
const RECONCILE_PAGES: usize = 10;

#[derive(Deserialize)]
struct Timeline {
    #[serde(default)]
    data: Vec<TimelinePost>,
    #[serde(default)]
    meta: Option<TimelineMeta>,
}

#[derive(Deserialize)]
struct TimelineMeta {
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct TimelinePost {
    id: String,
    text: String,
}

impl XClient {
    /// The account's post made within `window` whose text is `text` as X shows it:
    /// `GET /2/users/{id}/tweets` with start and end times, following `next_token`
    /// for a few pages (an account may have posted a lot in that window).
    pub async fn find_recent(
        &self,
        account: &LinkedAccount,
        text: &str,
        window: Window,
    ) -> Result<Option<RemotePost>, PublishError> {
        let rfc3339 = |unix: i64| {
            time::OffsetDateTime::from_unix_timestamp(unix)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default()
        };
        // X refuses an end time in the future.
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let start = rfc3339(window.since_unix - 5);
        let end = rfc3339((window.until_unix + 5).min(now - 1).max(window.since_unix));
        let mut page_token: Option<String> = None;
        for _ in 0..RECONCILE_PAGES {
            let mut query = vec![
                ("start_time", start.clone()),
                ("end_time", end.clone()),
                ("max_results", "100".to_owned()),
            ];
            if let Some(t) = page_token.take() {
                query.push(("pagination_token", t));
            }
            let request = self
                .http
                .get(format!(
                    "{}/2/users/{}/tweets",
                    self.base_url, account.account_id
                ))
                .bearer_auth(account.access_token.expose())
                .query(&query);
            let (status, headers, body) = read(request).await?;
            if !status.is_success() {
                return Err(match classify(status, &headers, &body) {
                    // A lookup that failed cannot have posted anything.
                    PublishError::Uncertain { detail } => PublishError::Retryable {
                        after: None,
                        detail,
                    },
                    other => other,
                });
            }
            let timeline: Timeline =
                serde_json::from_str(&body).map_err(|e| PublishError::Retryable {
                    after: None,
                    detail: format!("unexpected timeline from X ({e})"),
                })?;
            if let Some(p) = timeline
                .data
                .into_iter()
                .find(|p| crosspost_core::reconcile::same_text(text, &p.text))
            {
                return Ok(Some(RemotePost {
                    url: format!("https://x.com/i/web/status/{}", p.id),
                    id: p.id,
                    hold: None,
                }));
            }
            match timeline.meta.and_then(|m| m.next_token) {
                Some(t) => page_token = Some(t),
                None => return Ok(None),
            }
        }
        // More posts in the window than we read: not finding ours is not proof it is
        // absent. Publishing again could double it, so try again later.
        Err(PublishError::Retryable {
            after: None,
            detail: format!("more than {RECONCILE_PAGES} pages of posts in the reconcile window"),
        })
    }

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
pub(crate) fn classify(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> PublishError {
    let problem = serde_json::from_str::<serde_json::Value>(body).ok();
    let field = |name: &str| {
        problem
            .as_ref()
            .and_then(|v| v[name].as_str().map(str::to_owned))
    };
    let detail = format!(
        "X answered {}: {}",
        status.as_u16(),
        field("detail").unwrap_or_else(|| excerpt(body, 200))
    );
    match status.as_u16() {
        429 => PublishError::RateLimited {
            until_unix: headers
                .get("x-rate-limit-reset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            // The app's daily cap holds every account back; otherwise it is this user's.
            scope: if field("type").is_some_and(|t| t.ends_with("/usage-capped")) {
                RateLimitScope::App
            } else {
                RateLimitScope::Account
            },
            detail,
        },
        401 => PublishError::AuthRevoked { detail },
        // X refuses a post identical to a recent one of ours: it may be the one whose
        // answer we lost. Reconciliation decides.
        403 if detail.contains("duplicate content") => PublishError::Uncertain { detail },
        500..=599 => PublishError::Retryable {
            after: None,
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
                scope: RateLimitScope::Account,
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
