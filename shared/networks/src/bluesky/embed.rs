//! What a Bluesky post embeds: its images (`app.bsky.embed.images`) or, for a post
//! with a link and no images, a link card (`app.bsky.embed.external`).
//!
//! Every image is downloaded through the [`MediaFetcher`] (the address rules of every
//! user-given URL), made ready by [`crate::images::fit_image`] (EXIF orientation applied
//! to the pixels, all metadata removed, scaled down to the lexicon's `maxSize`) and
//! uploaded with `com.atproto.repo.uploadBlob`; the record then points at the blob.
//!
//! Uploads are not recorded on the delivery: a blob no record points at is temporary on
//! the PDS (it may be deleted after a while), so a blob from an earlier attempt is not
//! safe to point at later, while uploading the same file again is: the re-encoding is
//! deterministic, the same bytes give the same CID, and the record written is the same.

use super::error::classify;
use super::send;
use super::AccessToken;
use crate::images::{fit_image, FittedImage};

/// Images an instance prepares at once: each may take [`crate::images::MAX_DECODED_BYTES`] and about
/// as much again while it is turned, scaled and encoded.
const IMAGES_AT_ONCE: usize = 2;
/// How long an image waits for its turn before its delivery is tried again later.
const IMAGE_PERMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(20);
static IMAGE_WORK: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(IMAGES_AT_ONCE);
use crate::media::{MediaBody, MediaFetcher};
use crate::page::fetch_preview;
use crate::PublishError;
use crosspost_core::media::{MediaKind, BLUESKY_IMAGE_DOWNLOAD_MAX_BYTES};
use crosspost_core::{MediaItem, Network};
use serde_json::{json, Value};
use std::time::Duration;

/// Largest image blob in a post, in bytes (`app.bsky.embed.images#image`: `image`
/// maxSize 2,000,000; the PDS checks it when the post is written).
pub const IMAGE_MAX_BYTES: usize = 2_000_000;
/// Largest link card thumbnail, in bytes (`app.bsky.embed.external#external`: `thumb`
/// maxSize 1,000,000).
pub const THUMB_MAX_BYTES: usize = 1_000_000;
/// How long the linked page may take to answer.
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds embeds for one account's posts.
#[derive(Clone, Debug)]
pub(crate) struct Embeds {
    http: reqwest::Client,
    media: MediaFetcher,
}

impl Embeds {
    pub(crate) fn new(http: reqwest::Client, media: MediaFetcher) -> Self {
        Embeds { http, media }
    }

    /// Bluesky's media plan of `media` (see [`MediaFetcher::plan`]).
    pub(crate) async fn plan(
        &self,
        media: &[MediaItem],
    ) -> Result<crosspost_core::media::MediaPlan, PublishError> {
        self.media.plan(Network::Bluesky, media).await
    }

    /// `com.atproto.repo.uploadBlob` of `bytes`: the blob ref to put in a record. Not
    /// a post, so no failure here is `Uncertain`.
    async fn upload_blob(
        &self,
        token: &AccessToken,
        fitted: FittedImage,
    ) -> Result<Value, PublishError> {
        let request = self
            .http
            .post(format!(
                "{}/xrpc/com.atproto.repo.uploadBlob",
                token.service
            ))
            .bearer_auth(&token.access_jwt)
            .header(reqwest::header::CONTENT_TYPE, fitted.mime)
            .body(fitted.bytes);
        let (status, headers, body) = send(request).await.map_err(crate::nothing_published)?;
        if !status.is_success() {
            return Err(crate::nothing_published(classify(status, &headers, &body)));
        }
        let answer: Value = serde_json::from_str(&body).map_err(|e| PublishError::Retryable {
            after: None,
            detail: format!("unexpected uploadBlob answer from Bluesky ({e})"),
        })?;
        match answer.get("blob") {
            Some(blob) if blob.is_object() => Ok(blob.clone()),
            _ => Err(PublishError::Retryable {
                after: None,
                detail: "Bluesky's uploadBlob answer holds no blob".into(),
            }),
        }
    }

    /// Downloads an image (at most [`BLUESKY_IMAGE_DOWNLOAD_MAX_BYTES`]) and makes it
    /// ready within `max_bytes`; a file that is no image is refused for good.
    async fn fetch_fitted(&self, url: &str, max_bytes: usize) -> Result<FittedImage, PublishError> {
        let fetched = self
            .media
            .fetch_up_to(
                url,
                MediaKind::Image,
                BLUESKY_IMAGE_DOWNLOAD_MAX_BYTES,
                Network::Bluesky,
            )
            .await?;
        let MediaBody::Whole(bytes) = fetched.body else {
            return Err(PublishError::Permanent {
                reason: format!("media_unsupported: {url} is not an image"),
            });
        };
        // Decoding and encoding take the CPU and up to [`crate::images::MAX_DECODED_BYTES`] and its
        // copies for a while: off the async threads, and a few at a time per instance
        // whatever the batch, so a batch of large photos stays within the function's
        // memory. An image that cannot start soon is tried again later.
        let _permit = tokio::time::timeout(IMAGE_PERMIT_WAIT, IMAGE_WORK.acquire())
            .await
            .map_err(|_| PublishError::Retryable {
                after: None,
                detail: "other images of this instance are still being prepared".into(),
            })?
            .map_err(|e| PublishError::Retryable {
                after: None,
                detail: format!("preparing an image stopped: {e}"),
            })?;
        tokio::task::spawn_blocking(move || fit_image(&bytes, max_bytes))
            .await
            .map_err(|e| PublishError::Retryable {
                after: None,
                detail: format!("preparing an image stopped: {e}"),
            })?
            .map_err(|e| PublishError::Permanent {
                reason: format!("media_unsupported: {url}: {e}"),
            })
    }

    /// The `app.bsky.embed.images` of a part's images, in order, each with its alt
    /// text (empty when the post gives none) and aspect ratio.
    pub(crate) async fn images(
        &self,
        token: &AccessToken,
        media: &[MediaItem],
    ) -> Result<Value, PublishError> {
        let mut images = Vec::with_capacity(media.len());
        for item in media {
            let fitted = self.fetch_fitted(&item.url, IMAGE_MAX_BYTES).await?;
            let (width, height, size) = (fitted.width, fitted.height, fitted.bytes.len());
            let blob = self.upload_blob(token, fitted).await?;
            tracing::info!(bytes = size, width, height, "image uploaded to Bluesky");
            images.push(json!({
                "alt": item.alt.as_deref().unwrap_or(""),
                "image": blob,
                "aspectRatio": { "width": width.max(1), "height": height.max(1) },
            }));
        }
        Ok(json!({ "$type": "app.bsky.embed.images", "images": images }))
    }

    /// The `app.bsky.embed.external` card of `link`: the page's title and description
    /// and its image as the thumbnail, or None when the page gives no card (it cannot
    /// be fetched, breaks the address rules, or has no title). Never an error: the
    /// post goes without a card, or without a thumbnail, and only the kind of failure
    /// is logged.
    pub(crate) async fn link_card(&self, token: &AccessToken, link: &str) -> Option<Value> {
        let page = match fetch_preview(self.media.checked(), link, PAGE_TIMEOUT).await {
            Ok(page) => page,
            Err(e) => {
                tracing::info!(reason = %e, "no link card");
                return None;
            }
        };
        let mut external = json!({
            "uri": link,
            "title": page.title,
            "description": page.description,
        });
        if let Some(image) = page.image.as_deref() {
            let thumb = async {
                let fitted = self.fetch_fitted(image, THUMB_MAX_BYTES).await?;
                self.upload_blob(token, fitted).await
            };
            match thumb.await {
                Ok(blob) => external["thumb"] = blob,
                Err(e) => tracing::info!(kind = e.kind(), "link card without a thumbnail"),
            }
        }
        Some(json!({ "$type": "app.bsky.embed.external", "external": external }))
    }
}
