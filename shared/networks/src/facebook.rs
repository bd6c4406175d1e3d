//! Facebook Graph API: publishing to Pages.

use crate::{excerpt, PublishError, RemotePost};
use crosspost_core::Secret;
use serde::Deserialize;
use std::time::Duration;

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
        Err(classify(status.as_u16(), &text))
    }
}

impl FacebookClient {
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
        Err(classify(status, &text))
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
fn classify(status: u16, body: &str) -> PublishError {
    let Ok(GraphErrorBody { error }) = serde_json::from_str::<GraphErrorBody>(body) else {
        let detail = format!("Facebook answered {status}: {}", excerpt(body, 200));
        return if status >= 500 {
            PublishError::Retryable {
                after: Some(Duration::from_secs(5)),
                detail,
            }
        } else {
            PublishError::Permanent { reason: detail }
        };
    };
    let detail = format!("Facebook error {}: {}", error.code, error.message);
    match error.code {
        1 | 2 => PublishError::Retryable {
            after: Some(Duration::from_secs(5)),
            detail,
        },
        4 | 17 | 32 | 613 => PublishError::RateLimited {
            until_unix: None,
            detail,
        },
        190 => PublishError::AuthRevoked { detail },
        _ if status >= 500 => PublishError::Retryable {
            after: Some(Duration::from_secs(5)),
            detail,
        },
        _ => PublishError::Permanent { reason: detail },
    }
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
        assert_eq!(classify(400, &err(190)).kind(), "auth_revoked");
        assert_eq!(classify(400, &err(2)).kind(), "retryable");
        assert_eq!(classify(400, &err(32)).kind(), "rate_limited");
        assert_eq!(classify(400, &err(100)).kind(), "permanent");
        assert_eq!(classify(503, "busy").kind(), "retryable");
        assert_eq!(classify(400, "??").kind(), "permanent");
    }
}
