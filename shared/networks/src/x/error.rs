//! What X's error answers mean for the caller (X API v2 error shapes; rate limits
//! from `x-rate-limit-reset`, Unix seconds).

use crate::{excerpt, PublishError};
use crosspost_core::RateLimitScope;
use reqwest::StatusCode;

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
