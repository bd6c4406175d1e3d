//! Media URLs must not point into our own network: intake checks each one by the
//! rules of the fetch the worker will make ([`crosspost_networks::fetch`]), so a host
//! that resolves to an address outside the public table is refused now, naming it. The
//! literal cases are also refused by core's parse.

use crosspost_core::{FieldError, MediaItem};
use crosspost_networks::fetch::{CheckedFetcher, FetchError};

/// One error per media item the fetch rules refuse, the items checked all at once (each
/// lookup bounded by the fetcher's connect timeout). A host that does not resolve at
/// all, or not in time, is let through: DNS can fail for a moment, and the worker's
/// download classifies an unreachable host (and checks every address again when it
/// connects, since DNS answers can change between now and then).
pub async fn refused_media_hosts(fetcher: &CheckedFetcher, media: &[MediaItem]) -> Vec<FieldError> {
    let checks = media.iter().map(|item| fetcher.check(&item.url));
    futures::future::join_all(checks)
        .await
        .into_iter()
        .enumerate()
        .filter_map(|(i, checked)| match checked {
            Err(FetchError::Refused { why, .. }) => Some(FieldError {
                pointer: format!("/media/{i}/url"),
                detail: format!("the URL is not fetched: {why}"),
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crosspost_networks::fetch::FetchRules;
    use std::time::Duration;

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
        let fetcher = CheckedFetcher::new(FetchRules::public(), Duration::from_secs(2)).unwrap();
        let errors = refused_media_hosts(
            &fetcher,
            &[
                item("https://cdn.invalid/a.jpg"),
                item("https://localhost:8443/a.jpg"),
            ],
        )
        .await;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].pointer, "/media/1/url");
        assert!(errors[0].detail.contains("loopback"), "{errors:?}");
    }
}
