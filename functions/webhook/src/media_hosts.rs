//! Media URLs must not point into our own network: a host that resolves to a loopback,
//! private, link-local (cloud metadata) or unspecified address is refused. The literal
//! cases are checked in core; this adds what only DNS can tell.

use crosspost_core::post::is_internal_address;
use crosspost_core::{FieldError, MediaItem};
use std::net::IpAddr;

/// The addresses `host` resolves to, or None when it does not resolve now.
async fn resolve(host: &str, port: u16) -> Option<Vec<IpAddr>> {
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => Some(addrs.map(|a| a.ip()).collect()),
        Err(_) => None,
    }
}

/// One error per media item whose host resolves to an internal address. A host that
/// does not resolve at all is let through: DNS can fail for a moment, and the worker's
/// download classifies an unreachable host (and checks the address again, since DNS
/// answers can change between now and then).
pub async fn internal_media_hosts(media: &[MediaItem]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, item) in media.iter().enumerate() {
        let Ok(url) = url::Url::parse(&item.url) else {
            continue;
        };
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            continue;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Some(addrs) = resolve(host, port).await {
            if addrs.into_iter().any(is_internal_address) {
                errors.push(FieldError {
                    pointer: format!("/media/{i}/url"),
                    detail: "the URL's host resolves to a loopback, private or link-local address"
                        .into(),
                });
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(url: &str) -> MediaItem {
        MediaItem {
            url: url.into(),
            alt: None,
            content_type: None,
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        // `localhost` is in every hosts file; core refuses the literal name, so this
        // checks the DNS path on its own.
        let errors = internal_media_hosts(&[
            item("https://cdn.invalid/a.jpg"),
            item("https://localhost:8443/a.jpg"),
        ])
        .await;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].pointer, "/media/1/url");
    }
}
