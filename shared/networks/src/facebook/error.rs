//! What Graph API answers mean for the caller: error codes (from Graph's error
//! reference: 1, 2 temporary; 4, 17, 32, 613 throttling; 190 token; 10, 200–299
//! permission; 368 blocked; 506 duplicate) and the usage headers `X-App-Usage` and
//! `X-Business-Use-Case-Usage` every answer carries.

use crate::{excerpt, PublishError};
use crosspost_core::RateLimitScope;
use reqwest::header::HeaderMap;
use serde::Deserialize;

/// Usage of a limit (percent) above which the Page, or the app, stops calling until
/// access comes back: Facebook blocks at 100 % and asks callers to slow down before.
const USAGE_LIMIT_PERCENT: f64 = 90.0;
/// How long the whole app waits when `X-App-Usage` is above the limit: that header
/// gives no time, and its window is a rolling hour.
const APP_USAGE_PAUSE_SECS: i64 = 10 * 60;

/// The later of two holds; the app's scope wins, as it holds every Page back.
pub(super) fn later(
    a: Option<(i64, RateLimitScope)>,
    b: Option<(i64, RateLimitScope)>,
) -> Option<(i64, RateLimitScope)> {
    match (a, b) {
        (Some((ua, sa)), Some((ub, sb))) => {
            let scope = if sa == RateLimitScope::App || sb == RateLimitScope::App {
                RateLimitScope::App
            } else {
                RateLimitScope::Account
            };
            Some((ua.max(ub), scope))
        }
        (a, None) => a,
        (None, b) => b,
    }
}

#[derive(Deserialize)]
pub(super) struct GraphErrorBody {
    pub error: GraphError,
}

#[derive(Deserialize)]
pub(super) struct GraphError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    /// The words Graph meant for a person, when it has them.
    #[serde(default)]
    pub error_user_title: Option<String>,
    #[serde(default)]
    pub error_user_msg: Option<String>,
}

/// Turns a Graph API error answer into what the caller must do (NETWORKS.md codes).
/// The detail keeps Graph's own words: `message`, `error_subcode` and the
/// `error_user_title`/`error_user_msg` meant for a person.
///
/// For a create call, codes 1 and 2 and a 5xx mean the post may exist (Graph can fail
/// after applying the request): [`PublishError::Uncertain`], so the next attempt
/// looks first; read-only calls turn that back into a retry
/// ([`crate::nothing_published`]). 506 is a duplicate of a post the Page has.
pub(super) fn classify(status: u16, headers: &HeaderMap, body: &str) -> PublishError {
    let Ok(GraphErrorBody { error }) = serde_json::from_str::<GraphErrorBody>(body) else {
        let detail = format!("Facebook answered {status}: {}", excerpt(body, 200));
        return if status >= 500 {
            PublishError::Uncertain { detail }
        } else {
            PublishError::Permanent { reason: detail }
        };
    };
    let mut detail = match error.error_subcode {
        Some(sub) => format!("Facebook error {}/{sub}: {}", error.code, error.message),
        None => format!("Facebook error {}: {}", error.code, error.message),
    };
    for words in [&error.error_user_title, &error.error_user_msg]
        .into_iter()
        .flatten()
        .filter(|w| !w.is_empty())
    {
        detail.push_str(" — ");
        detail.push_str(words);
    }
    let rate_limited = |scope| PublishError::RateLimited {
        until_unix: regain_access_at(headers),
        scope,
        detail: detail.clone(),
    };
    match error.code {
        1 | 2 => PublishError::Uncertain { detail },
        // 4: the app's limit; 17, 32, 613: this user's or this Page's.
        4 => rate_limited(RateLimitScope::App),
        17 | 32 | 613 => rate_limited(RateLimitScope::Account),
        // 190 with any subcode (458 app removed, 460 password changed, 463 expired, …).
        190 => PublishError::AuthRevoked { detail },
        10 | 200..=299 => PublishError::Permanent {
            reason: format!(
                "permission missing: posting to a Page needs pages_manage_posts and \
                 pages_read_engagement from someone who can create content on it ({detail})"
            ),
        },
        368 => PublishError::Permanent {
            reason: format!("blocked by Facebook for its policies ({detail})"),
        },
        506 => PublishError::Duplicate { detail },
        _ if status >= 500 => PublishError::Uncertain { detail },
        _ => PublishError::Permanent { reason: detail },
    }
}

/// The entries of `X-Business-Use-Case-Usage`: every object's usage records.
fn business_usage(headers: &HeaderMap) -> Vec<serde_json::Value> {
    let usage: Option<serde_json::Value> = headers
        .get("x-business-use-case-usage")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str(v).ok());
    let Some(serde_json::Value::Object(objects)) = usage else {
        return Vec::new();
    };
    objects
        .into_iter()
        .filter_map(|(_, entries)| match entries {
            serde_json::Value::Array(entries) => Some(entries),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The highest of an entry's percentages (call count, CPU time, total time).
fn highest_percent(entry: &serde_json::Value) -> f64 {
    ["call_count", "total_cputime", "total_time"]
        .iter()
        .filter_map(|k| entry[k].as_f64())
        .fold(0.0, f64::max)
}

pub(super) fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// When access comes back, from `X-Business-Use-Case-Usage`'s
/// `estimated_time_to_regain_access` (minutes), if the answer says.
fn regain_access_at(headers: &HeaderMap) -> Option<i64> {
    let minutes = business_usage(headers)
        .iter()
        .filter_map(|e| e["estimated_time_to_regain_access"].as_i64())
        .max()?;
    Some(now_unix() + minutes.max(1) * 60)
}

/// What an answer's usage headers ask for: above [`USAGE_LIMIT_PERCENT`] of a Page's
/// limit, that Page waits until the regain time; above it on `X-App-Usage`, the app.
pub(super) fn usage_hold(headers: &HeaderMap) -> Option<(i64, RateLimitScope)> {
    let now = now_unix();
    let page = business_usage(headers)
        .iter()
        .filter(|e| highest_percent(e) > USAGE_LIMIT_PERCENT)
        .map(|e| {
            let minutes = e["estimated_time_to_regain_access"].as_i64().unwrap_or(0);
            now + minutes.max(1) * 60
        })
        .max()
        .map(|until| (until, RateLimitScope::Account));
    let app_usage: Option<serde_json::Value> = headers
        .get("x-app-usage")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str(v).ok());
    let app = app_usage
        .filter(|u| highest_percent(u) > USAGE_LIMIT_PERCENT)
        .map(|_| (now + APP_USAGE_PAUSE_SECS, RateLimitScope::App));
    later(page, app)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: i64) -> String {
        format!(
            r#"{{"error":{{"message":"m","type":"OAuthException","code":{code},"fbtrace_id":"x"}}}}"#
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, value.parse().unwrap());
        }
        h
    }

    #[test]
    fn graph_codes_are_classified() {
        let h = HeaderMap::new();
        assert_eq!(classify(400, &h, &err(190)).kind(), "auth_revoked");
        // Graph may have applied the request: the next attempt looks first.
        assert_eq!(classify(400, &h, &err(2)).kind(), "uncertain");
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
        assert_eq!(classify(400, &h, &err(506)).kind(), "duplicate_content");
        assert_eq!(classify(400, &h, &err(100)).kind(), "permanent");
        assert_eq!(classify(503, &h, "busy").kind(), "uncertain");
        assert_eq!(classify(400, &h, "??").kind(), "permanent");
        for code in [10, 200, 299] {
            let PublishError::Permanent { reason } = classify(403, &h, &err(code)) else {
                panic!("{code} is permanent")
            };
            assert!(reason.contains("pages_manage_posts"), "{reason}");
        }
        let PublishError::Permanent { reason } = classify(400, &h, &err(368)) else {
            panic!("368 is permanent")
        };
        assert!(reason.contains("blocked"), "{reason}");
        let usage = headers(&[(
            "x-business-use-case-usage",
            r#"{"104":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":7}]}"#,
        )]);
        let PublishError::RateLimited {
            until_unix: Some(until),
            ..
        } = classify(400, &usage, &err(32))
        else {
            panic!("rate limited with a time expected")
        };
        let wait = until - now_unix();
        assert!((419..=421).contains(&wait), "{wait}");
    }

    #[test]
    fn usage_above_ninety_percent_holds_the_page_or_the_app() {
        assert_eq!(usage_hold(&HeaderMap::new()), None);
        let calm = headers(&[(
            "x-business-use-case-usage",
            r#"{"104":[{"type":"pages","call_count":90,"total_cputime":5,"total_time":5,"estimated_time_to_regain_access":0}]}"#,
        )]);
        assert_eq!(usage_hold(&calm), None);
        let busy = headers(&[(
            "x-business-use-case-usage",
            r#"{"104":[{"type":"pages","call_count":12,"total_cputime":95,"total_time":10,"estimated_time_to_regain_access":3}]}"#,
        )]);
        let (until, scope) = usage_hold(&busy).unwrap();
        assert_eq!(scope, RateLimitScope::Account);
        assert!((179..=181).contains(&(until - now_unix())));
        let app = headers(&[(
            "x-app-usage",
            r#"{"call_count":91,"total_cputime":1,"total_time":1}"#,
        )]);
        let (until, scope) = usage_hold(&app).unwrap();
        assert_eq!(scope, RateLimitScope::App);
        assert!(until - now_unix() >= APP_USAGE_PAUSE_SECS - 1);
        assert_eq!(
            usage_hold(&headers(&[("x-app-usage", "not json")])),
            None,
            "an unreadable header holds nothing back"
        );
    }

    #[test]
    fn graph_words_for_a_person_are_kept() {
        let body = r#"{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":1366046,"error_user_title":"Can't Upload Photo","error_user_msg":"Your photo couldn't be uploaded. Photos should be smaller than 4 MB.","fbtrace_id":"x"}}"#;
        let e = classify(400, &HeaderMap::new(), body);
        assert_eq!(
            e.to_string(),
            "rejected: Facebook error 100/1366046: Invalid parameter — Can't Upload Photo — Your photo couldn't be uploaded. Photos should be smaller than 4 MB."
        );
    }
}
