//! Facebook Graph API: publishing to Pages.

use crate::{excerpt, PublishError, RemotePost};
use crosspost_core::{LinkedAccount, RateLimitScope, Secret};
use serde::Deserialize;

#[derive(Clone, Debug)]
pub struct FacebookClient {
    http: reqwest::Client,
    base_url: String,
    version: String,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

impl FacebookClient {
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        FacebookClient {
            http,
            base_url: base_url.into(),
            version: version.into(),
        }
    }

    /// `POST /{page-id}/feed` with a message and an optional link.
    pub async fn post_feed(
        &self,
        page_id: &str,
        page_token: &Secret,
        message: &str,
        link: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        let mut form = vec![("message", message)];
        if let Some(link) = link {
            form.push(("link", link));
        }
        let resp = self
            .http
            .post(format!("{}/{}/{page_id}/feed", self.base_url, self.version))
            .bearer_auth(page_token.expose())
            .form(&form)
            .send()
            .await
            .map_err(|e| crate::from_transport(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|e| PublishError::Uncertain {
            detail: format!("answer not read: {e}"),
        })?;
        if status.is_success() {
            let created: Created =
                serde_json::from_str(&text).map_err(|e| PublishError::Uncertain {
                    detail: format!(
                        "unexpected answer from Facebook ({e}): {}",
                        excerpt(&text, 200)
                    ),
                })?;
            return Ok(RemotePost {
                url: format!("https://www.facebook.com/{}", created.id),
                id: created.id,
            });
        }
        Err(classify(status.as_u16(), &headers, &text))
    }
}

#[derive(Deserialize)]
struct Published {
    #[serde(default)]
    data: Vec<PublishedPost>,
}

#[derive(Deserialize)]
struct PublishedPost {
    id: String,
    #[serde(default)]
    message: Option<String>,
}

impl FacebookClient {
    /// The Page's posts since `since_unix` whose message is `message`:
    /// `GET /{page-id}/published_posts`.
    pub async fn find_recent(
        &self,
        account: &LinkedAccount,
        message: &str,
        since_unix: i64,
    ) -> Result<Option<RemotePost>, PublishError> {
        let since = (since_unix - 5).to_string();
        let resp = self
            .http
            .get(format!(
                "{}/{}/{}/published_posts",
                self.base_url, self.version, account.account_id
            ))
            .bearer_auth(account.access_token.expose())
            .query(&[
                ("fields", "message,created_time"),
                ("since", since.as_str()),
                ("limit", "100"),
            ])
            .send()
            .await
            .map_err(|e| crate::from_transport(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(match classify(status, &headers, &text) {
                PublishError::Uncertain { detail } => PublishError::Retryable {
                    after: None,
                    detail,
                },
                other => other,
            });
        }
        let published: Published =
            serde_json::from_str(&text).map_err(|e| PublishError::Retryable {
                after: None,
                detail: format!("unexpected answer from Facebook ({e})"),
            })?;
        Ok(published
            .data
            .into_iter()
            .find(|p| {
                p.message
                    .as_deref()
                    .is_some_and(|m| crosspost_core::reconcile::same_text(message, m))
            })
            .map(|p| RemotePost {
                url: format!("https://www.facebook.com/{}", p.id),
                id: p.id,
            }))
    }

    /// `DELETE /{post-id}`; a post Facebook no longer has counts as deleted.
    pub async fn delete_post(
        &self,
        post_id: &str,
        page_token: &Secret,
    ) -> Result<(), PublishError> {
        let resp = self
            .http
            .delete(format!("{}/{}/{post_id}", self.base_url, self.version))
            .bearer_auth(page_token.expose())
            .send()
            .await
            .map_err(|e| crate::from_transport(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok(());
        }
        // Code 100 with subcode 33: the object does not exist (already deleted).
        if let Ok(GraphErrorBody { error }) = serde_json::from_str::<GraphErrorBody>(&text) {
            if error.code == 100 && error.error_subcode == Some(33) {
                return Ok(());
            }
        }
        Err(classify(status, &headers, &text))
    }
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
}

/// Turns a Graph API error answer into what the caller must do (NETWORKS.md codes).
fn classify(status: u16, headers: &reqwest::header::HeaderMap, body: &str) -> PublishError {
    let Ok(GraphErrorBody { error }) = serde_json::from_str::<GraphErrorBody>(body) else {
        let detail = format!("Facebook answered {status}: {}", excerpt(body, 200));
        return if status >= 500 {
            PublishError::Retryable {
                after: None,
                detail,
            }
        } else {
            PublishError::Permanent { reason: detail }
        };
    };
    let detail = format!("Facebook error {}: {}", error.code, error.message);
    let rate_limited = |scope| PublishError::RateLimited {
        until_unix: regain_access_at(headers),
        scope,
        detail: detail.clone(),
    };
    match error.code {
        1 | 2 => PublishError::Retryable {
            after: None,
            detail,
        },
        // 4: the app's limit; 17, 32, 613: this user's or this Page's.
        4 => rate_limited(RateLimitScope::App),
        17 | 32 | 613 => rate_limited(RateLimitScope::Account),
        190 => PublishError::AuthRevoked { detail },
        // A duplicate of a recent post: possibly ours, whose answer was lost.
        506 => PublishError::Uncertain { detail },
        _ if status >= 500 => PublishError::Retryable {
            after: None,
            detail,
        },
        _ => PublishError::Permanent { reason: detail },
    }
}

/// When access comes back, from `X-Business-Use-Case-Usage`'s
/// `estimated_time_to_regain_access` (minutes), if the answer says.
fn regain_access_at(headers: &reqwest::header::HeaderMap) -> Option<i64> {
    let usage: serde_json::Value = headers
        .get("x-business-use-case-usage")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str(v).ok())?;
    let minutes = usage
        .as_object()?
        .values()
        .filter_map(|entries| entries.as_array())
        .flatten()
        .filter_map(|e| e["estimated_time_to_regain_access"].as_i64())
        .max()?;
    Some(time::OffsetDateTime::now_utc().unix_timestamp() + minutes.max(1) * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: i64) -> String {
        format!(
            r#"{{"error":{{"message":"m","type":"OAuthException","code":{code},"fbtrace_id":"x"}}}}"#
        )
    }

    #[test]
    fn graph_codes_are_classified() {
        let h = reqwest::header::HeaderMap::new();
        assert_eq!(classify(400, &h, &err(190)).kind(), "auth_revoked");
        assert_eq!(classify(400, &h, &err(2)).kind(), "retryable");
        assert!(matches!(
            classify(400, &h, &err(32)),
            PublishError::RateLimited {
                scope: RateLimitScope::Account,
                until_unix: None,
                ..
            }
        ));
        assert!(matches!(
            classify(400, &h, &err(4)),
            PublishError::RateLimited {
                scope: RateLimitScope::App,
                ..
            }
        ));
        assert_eq!(classify(400, &h, &err(506)).kind(), "uncertain");
        assert_eq!(classify(400, &h, &err(100)).kind(), "permanent");
        assert_eq!(classify(503, &h, "busy").kind(), "retryable");
        assert_eq!(classify(400, &h, "??").kind(), "permanent");
        let mut usage = reqwest::header::HeaderMap::new();
        usage.insert(
            "x-business-use-case-usage",
            r#"{"104":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":7}]}"#
                .parse()
                .unwrap(),
        );
        let PublishError::RateLimited {
            until_unix: Some(until),
            ..
        } = classify(400, &usage, &err(32))
        else {
            panic!("rate limited with a time expected")
        };
        let wait = until - time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((419..=421).contains(&wait), "{wait}");
    }
}
