//! Bluesky (ATProto): sessions on the account's PDS with an app password
//! (`com.atproto.server.createSession`, `refreshSession`), posts as
//! `app.bsky.feed.post` records written with `com.atproto.repo.putRecord` under a record
//! key this delivery's part determines, threads as replies (`reply {root, parent}`),
//! deletes with `deleteRecord`; what the PDS's error answers mean; and the delivery
//! worker's [`crosspost_core::Publisher`] and [`crosspost_core::TokenRefresher`].
//!
//! The service URL is per account: a person's PDS (`https://bsky.social` by default).
//! It travels sealed with the tokens ([`AccessToken`], [`SessionCredentials`]), so the
//! publisher and the refresher know where to call without another stored field.

mod embed;
mod error;
mod mentions;
mod publish;
mod session;

pub use embed::{IMAGE_MAX_BYTES, THUMB_MAX_BYTES};
pub use mentions::{LOOKUP_TIMEOUT, MAX_LOOKUPS};
pub use publish::{record_key, BlueskyPublisher};
pub use session::{AccessToken, BlueskyRefresher, BlueskySession, SessionCredentials};

use crate::PublishError;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

/// The default service: Bluesky's own PDS entryway.
pub const DEFAULT_SERVICE: &str = "https://bsky.social";

/// The post collection (the `app.bsky.feed.post` lexicon).
pub const POST_COLLECTION: &str = "app.bsky.feed.post";

/// Checks a service URL a person gave: `https://host[:port]` without path, query or
/// credentials (`http://` only for `localhost`, the local PDS), returned without a
/// trailing slash.
pub fn service_url(given: &str) -> Result<String, String> {
    let url = url::Url::parse(given.trim())
        .map_err(|e| format!("service must be a URL like https://bsky.social ({e})"))?;
    let local = url.host_str() == Some("localhost");
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        other => return Err(format!("service must use https, not {other}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("service must not hold credentials".into());
    }
    if url.path() != "/" && !url.path().is_empty() || url.query().is_some() {
        return Err("service must be an origin, without a path or query".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("service has no host".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Sends a request: its status, headers and body; a transport failure after sending is
/// `Uncertain` (for writes), before it `Retryable`.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, HeaderMap, String), PublishError> {
    let resp = request
        .send()
        .await
        .map_err(|e| crate::from_transport(&e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.map_err(|e| PublishError::Uncertain {
        detail: format!(
            "answer not read: {}",
            crate::WithoutUrl::without_url_ref(&e)
        ),
    })?;
    Ok((status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_is_an_https_origin_or_the_local_pds() {
        assert_eq!(
            service_url("https://bsky.social/").unwrap(),
            "https://bsky.social"
        );
        assert_eq!(
            service_url("http://localhost:2583").unwrap(),
            "http://localhost:2583"
        );
        assert!(service_url("http://pds.example.com").is_err());
        assert!(service_url("https://u:p@pds.example.com").is_err());
        assert!(service_url("https://pds.example.com/xrpc").is_err());
        assert!(service_url("bsky.social").is_err());
    }
}
