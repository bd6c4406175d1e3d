//! What a PDS's answers mean for the caller. XRPC errors are JSON `{error, message}`
//! (the ATProto HTTP spec); rate limits are the `ratelimit-*` headers
//! (`ratelimit-remaining`, `ratelimit-reset` in Unix seconds). An expired access token
//! is 400 `ExpiredToken`, not 401.

use crate::{excerpt, PublishError};
use crosspost_core::RateLimitScope;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;

/// An XRPC error body.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct XrpcError {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub message: String,
}

impl XrpcError {
    pub(crate) fn parse(body: &str) -> XrpcError {
        serde_json::from_str(body).unwrap_or_default()
    }
}

/// Turns an error answer of a call that may have written (putRecord, deleteRecord)
/// into what the caller must do. The detail keeps the PDS's own words. A 5xx may have
/// been applied: [`PublishError::Uncertain`]; read-only calls turn that back into a
/// retry ([`crate::nothing_published`]).
pub(crate) fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> PublishError {
    let e = XrpcError::parse(body);
    let words = match (e.error.is_empty(), e.message.is_empty()) {
        (true, true) => excerpt(body, 200),
        (false, true) => e.error.clone(),
        (true, false) => e.message.clone(),
        (false, false) => format!("{}: {}", e.error, e.message),
    };
    let detail = format!("Bluesky answered {}: {words}", status.as_u16());
    match (status.as_u16(), e.error.as_str()) {
        (429, _) => PublishError::RateLimited {
            until_unix: header_i64(headers, "ratelimit-reset"),
            scope: RateLimitScope::Account,
            detail,
        },
        (401, _)
        | (400, "ExpiredToken" | "InvalidToken" | "AccountTakedown" | "AccountDeactivated") => {
            PublishError::AuthRevoked { detail }
        }
        (403, _) => PublishError::AuthRevoked { detail },
        (500..=599, _) => PublishError::Uncertain { detail },
        _ => PublishError::Permanent { reason: detail },
    }
}

/// A spent rate-limit window in a successful answer's headers: the account waits until
/// its reset (Unix seconds).
pub(crate) fn spent_limit(headers: &HeaderMap) -> Option<(i64, RateLimitScope)> {
    let remaining = header_i64(headers, "ratelimit-remaining")?;
    let reset = header_i64(headers, "ratelimit-reset")?;
    (remaining <= 0).then_some((reset, RateLimitScope::Account))
}

fn header_i64(headers: &HeaderMap, name: &str) -> Option<i64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn answers_are_classified_by_what_the_caller_does() {
        let none = HeaderMap::new();
        let expired = classify(
            StatusCode::BAD_REQUEST,
            &none,
            r#"{"error":"ExpiredToken","message":"Token has expired"}"#,
        );
        assert_eq!(
            expired,
            PublishError::AuthRevoked {
                detail: "Bluesky answered 400: ExpiredToken: Token has expired".into()
            }
        );
        let limited = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("ratelimit-reset", "1900000000")]),
            r#"{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}"#,
        );
        assert!(matches!(
            limited,
            PublishError::RateLimited {
                until_unix: Some(1_900_000_000),
                scope: RateLimitScope::Account,
                ..
            }
        ));
        assert_eq!(
            classify(StatusCode::BAD_GATEWAY, &none, "upstream").kind(),
            "uncertain"
        );
        assert_eq!(
            classify(
                StatusCode::BAD_REQUEST,
                &none,
                r#"{"error":"InvalidRequest","message":"Invalid app.bsky.feed.post record"}"#
            ),
            PublishError::Permanent {
                reason: "Bluesky answered 400: InvalidRequest: Invalid app.bsky.feed.post record"
                    .into()
            }
        );
    }

    #[test]
    fn a_spent_window_holds_the_account_until_its_reset() {
        let h = headers(&[
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "1900000000"),
        ]);
        assert_eq!(
            spent_limit(&h),
            Some((1_900_000_000, RateLimitScope::Account))
        );
        let h = headers(&[
            ("ratelimit-remaining", "3"),
            ("ratelimit-reset", "1900000000"),
        ]);
        assert_eq!(spent_limit(&h), None);
    }
}
