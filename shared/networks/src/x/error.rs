//! What X's error answers mean for the caller (X API v2 error shapes; rate limits
//! from `x-rate-limit-reset`, Unix seconds).

use crate::{excerpt, PublishError};
use crosspost_core::RateLimitScope;
use reqwest::StatusCode;

/// Turns an X error answer into what the caller must do. The detail keeps X's own
/// words: the problem's `detail` (or `title`) and every `errors[].message`, so a
/// person can tell one refusal from another.
///
/// For a create call, a 5xx means the post may exist (X can fail after applying the
/// request): [`PublishError::Uncertain`], so the next attempt looks first. Read-only
/// and upload calls turn that back into a retry ([`crate::nothing_published`]).
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
    let messages: Vec<String> = problem
        .as_ref()
        .and_then(|v| v["errors"].as_array())
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["message"].as_str().or(e["detail"].as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let headline = field("detail")
        .or_else(|| field("title"))
        .unwrap_or_else(|| {
            if messages.is_empty() {
                excerpt(body, 200)
            } else {
                String::new()
            }
        });
    let mut words: Vec<String> = std::iter::once(headline)
        .filter(|h| !h.is_empty())
        .collect();
    for m in messages {
        if !words.contains(&m) {
            words.push(m);
        }
    }
    let detail = format!("X answered {}: {}", status.as_u16(), words.join("; "));
    let says = |needle: &str| detail.contains(needle);
    match status.as_u16() {
        429 => {
            let (until_unix, scope) = limit_reset(headers, field("type").as_deref());
            PublishError::RateLimited {
                until_unix,
                scope,
                detail,
            }
        }
        401 => PublishError::AuthRevoked { detail },
        403 if says("duplicate content") => PublishError::Duplicate { detail },
        400 | 403 if says("deleted or is not visible") || says("deleted or not visible") => {
            PublishError::ParentNotVisible { detail }
        }
        500..=599 => PublishError::Uncertain { detail },
        _ => PublishError::Permanent { reason: detail },
    }
}

/// Until when (Unix seconds) and for whom a 429 holds. X's 24-hour caps
/// (`x-user-limit-24hour-*` for the user, `x-app-limit-24hour-*` for the app, each with
/// `-remaining` and `-reset`) win over the 15-minute window (`x-rate-limit-reset`) when
/// one is spent; a `…/usage-capped` problem type is the app's monthly cap.
fn limit_reset(
    headers: &reqwest::header::HeaderMap,
    problem_type: Option<&str>,
) -> (Option<i64>, RateLimitScope) {
    if let Some((until, scope)) = daily_cap(headers) {
        return (Some(until), scope);
    }
    let until = header_i64(headers, "x-rate-limit-reset");
    let scope = if problem_type.is_some_and(|t| t.ends_with("/usage-capped")) {
        RateLimitScope::App
    } else {
        RateLimitScope::Account
    };
    (until, scope)
}

/// A spent 24-hour cap in an answer's headers, successful or not: until its reset,
/// at its scope (the app's cap first, as it holds every account).
pub(crate) fn daily_cap(headers: &reqwest::header::HeaderMap) -> Option<(i64, RateLimitScope)> {
    [
        ("x-app-limit-24hour", RateLimitScope::App),
        ("x-user-limit-24hour", RateLimitScope::Account),
    ]
    .into_iter()
    .find_map(|(prefix, scope)| {
        let remaining = header_i64(headers, &format!("{prefix}-remaining"))?;
        let reset = header_i64(headers, &format!("{prefix}-reset"))?;
        (remaining <= 0).then_some((reset, scope))
    })
}

fn header_i64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<i64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
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
        // The post may exist: the next attempt looks first.
        assert_eq!(
            classify(StatusCode::BAD_GATEWAY, &none, "").kind(),
            "uncertain"
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

    #[test]
    fn x_own_words_are_kept_and_refusals_told_apart() {
        let none = HeaderMap::new();
        let e = classify(
            StatusCode::BAD_REQUEST,
            &none,
            r#"{"title":"Invalid Request","detail":"One or more parameters to your request was invalid.","errors":[{"message":"Your Tweet could not be created because the Tweet you are replying to (1) has been deleted or is not visible to you."}]}"#,
        );
        assert_eq!(e.kind(), "reply_parent_unavailable");
        assert!(e.to_string().contains("One or more parameters"), "{e}");
        assert!(e.to_string().contains("replying to (1)"), "{e}");
        let dup = classify(
            StatusCode::FORBIDDEN,
            &none,
            r#"{"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403}"#,
        );
        assert_eq!(dup.kind(), "duplicate_content");
        let other = classify(
            StatusCode::BAD_REQUEST,
            &none,
            r#"{"errors":[{"message":"$.media.media_ids: there must be between 1 and 4 items"}]}"#,
        );
        assert_eq!(
            other,
            PublishError::Permanent {
                reason: "X answered 400: $.media.media_ids: there must be between 1 and 4 items"
                    .into()
            }
        );
    }

    #[test]
    fn a_spent_daily_cap_holds_until_its_reset_at_its_scope() {
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-reset", HeaderValue::from_static("1700000900"));
        h.insert(
            "x-user-limit-24hour-remaining",
            HeaderValue::from_static("0"),
        );
        h.insert(
            "x-user-limit-24hour-reset",
            HeaderValue::from_static("1700080000"),
        );
        let e = classify(StatusCode::TOO_MANY_REQUESTS, &h, "{}");
        assert!(matches!(
            e,
            PublishError::RateLimited {
                until_unix: Some(1_700_080_000),
                scope: RateLimitScope::Account,
                ..
            }
        ));
        h.insert(
            "x-app-limit-24hour-remaining",
            HeaderValue::from_static("0"),
        );
        h.insert(
            "x-app-limit-24hour-reset",
            HeaderValue::from_static("1700090000"),
        );
        assert_eq!(daily_cap(&h), Some((1_700_090_000, RateLimitScope::App)));
        h.insert(
            "x-app-limit-24hour-remaining",
            HeaderValue::from_static("12"),
        );
        assert_eq!(
            daily_cap(&h),
            Some((1_700_080_000, RateLimitScope::Account))
        );
    }
}
