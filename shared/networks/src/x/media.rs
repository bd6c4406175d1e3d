//! X API v2 media: uploading a post's media and their alt text, for `POST /2/tweets`.
//!
//! Images go up in one request (`POST /2/media/upload`); GIFs and videos through
//! initialize / append (chunks of at most 4 MB, read from the download as it arrives)
//! / finalize, then STATUS polls until X has processed them. X does not deduplicate
//! uploads, and an upload is not a post: every failure here is safe to retry, so none
//! is `Uncertain`.

use crate::media::{FetchedMedia, MediaBody, MediaFetcher};
use crate::{excerpt, nothing_published, PublishError};
use crosspost_core::media::MediaKind;
use crosspost_core::{MediaItem, Network, Secret};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};
use std::time::Duration;

/// Largest APPEND segment.
const SEGMENT_BYTES: usize = 4 * 1024 * 1024;
/// Longest alt text X takes, in characters.
const MAX_ALT_CHARS: usize = 1_000;

/// The error for media X is still processing when the processing budget runs out: the
/// attempt is tried again later.
pub(super) fn still_processing(id: &str) -> PublishError {
    PublishError::Retryable {
        after: None,
        detail: format!("X is still processing media {id}"),
    }
}

/// Uploads media to X for one account at a time.
#[derive(Clone, Debug)]
pub struct XMediaUploader {
    http: reqwest::Client,
    base_url: String,
    fetcher: MediaFetcher,
    /// How long to wait for X to process a GIF or video before trying again later.
    processing_budget: Duration,
}

impl XMediaUploader {
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        fetcher: MediaFetcher,
        processing_budget: Duration,
    ) -> Self {
        XMediaUploader {
            http,
            base_url: base_url.into(),
            fetcher,
            processing_budget,
        }
    }

    /// X's media plan of `media`, from their bytes (see [`MediaFetcher::plan`]).
    pub async fn plan(
        &self,
        media: &[MediaItem],
    ) -> Result<crosspost_core::media::MediaPlan, PublishError> {
        self.fetcher.plan(Network::X, media).await
    }

    /// Uploads what X's media plan attaches of `media` (kinds from their bytes, see
    /// [`MediaFetcher::plan`]), alt text included, and returns the media ids in the
    /// post's order. What the plan leaves out is logged; what it refuses fails the
    /// upload before anything is sent to X.
    pub async fn upload_all(
        &self,
        token: &Secret,
        media: &[MediaItem],
    ) -> Result<Vec<String>, PublishError> {
        let plan = self.fetcher.plan(Network::X, media).await?;
        let mut ids = Vec::with_capacity(plan.attached.len());
        for planned in &plan.attached {
            let fetched = self.fetcher.fetch(&planned.url, planned.kind).await?;
            let id = self.upload(token, fetched).await?;
            if let Some(alt) = planned.alt.as_deref().filter(|a| !a.trim().is_empty()) {
                self.set_alt_text(token, &id, alt).await?;
            }
            tracing::info!(index = planned.index, kind = planned.kind.as_str(), media_id = %id, "media uploaded to X");
            ids.push(id);
        }
        Ok(ids)
    }

    /// Uploads the media of one part of a thread, placed there by X's plan
    /// ([`XMediaUploader::plan`]): each file downloaded once, its kind from its bytes,
    /// with its alt text; the media ids in order. A part of several files holds images
    /// only: a file that is something else now is refused.
    pub async fn upload_part(
        &self,
        token: &Secret,
        media: &[MediaItem],
    ) -> Result<Vec<String>, PublishError> {
        let mut ids = Vec::with_capacity(media.len());
        for item in media {
            let (id, processing) = self.upload_one_as(token, item, media.len() > 1).await?;
            if processing {
                return Err(still_processing(&id));
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// Uploads one media item placed by X's plan, downloaded once, its kind from its
    /// bytes, with its alt text: its media id, and whether X was still processing it
    /// (a GIF or video) when the processing budget ran out (see [`Self::processed`]).
    pub async fn upload_one(
        &self,
        token: &Secret,
        item: &MediaItem,
    ) -> Result<(String, bool), PublishError> {
        self.upload_one_as(token, item, false).await
    }

    /// Waits, within the processing budget, for media `id` that X was still
    /// processing: `GET /2/media/upload?command=STATUS`, then as X's `check_after_secs`
    /// says. True when X is still at it; `Permanent` when X could not process it.
    pub async fn processed(&self, token: &Secret, id: &str) -> Result<bool, PublishError> {
        let status = self.status(token, id).await?;
        self.wait_for_processing(token, id, &status).await
    }

    /// `among_several`: the item shares its part with others, which holds images only.
    async fn upload_one_as(
        &self,
        token: &Secret,
        item: &MediaItem,
        among_several: bool,
    ) -> Result<(String, bool), PublishError> {
        let fetched = self.fetcher.fetch_any(&item.url).await?;
        if among_several && fetched.kind != MediaKind::Image {
            return Err(PublishError::Permanent {
                reason: format!(
                    "media_unsupported: {} was an image when the post's media were planned, but is now {}",
                    item.url, fetched.mime
                ),
            });
        }
        let kind = fetched.kind;
        let (id, processing) = self.upload_started(token, fetched).await?;
        if let Some(alt) = item.alt.as_deref().filter(|a| !a.trim().is_empty()) {
            self.set_alt_text(token, &id, alt).await?;
        }
        tracing::info!(kind = kind.as_str(), media_id = %id, processing, "media uploaded to X");
        Ok((id, processing))
    }

    /// Uploads one fetched file; its media id once X has processed it (`Retryable`
    /// when the processing budget runs out first).
    pub async fn upload(
        &self,
        token: &Secret,
        media: FetchedMedia,
    ) -> Result<String, PublishError> {
        match self.upload_started(token, media).await? {
            (id, true) => Err(still_processing(&id)),
            (id, false) => Ok(id),
        }
    }

    /// Uploads one fetched file and waits for X to process it within the processing
    /// budget: its media id, and whether X is still at it.
    async fn upload_started(
        &self,
        token: &Secret,
        media: FetchedMedia,
    ) -> Result<(String, bool), PublishError> {
        match media.body {
            MediaBody::Whole(bytes) => {
                let part = Part::bytes(bytes)
                    .file_name("media")
                    .mime_str(media.mime)
                    .map_err(|e| PublishError::Permanent {
                        reason: format!("media_unsupported: {e}"),
                    })?;
                let form = Form::new()
                    .part("media", part)
                    .text("media_category", MediaKind::Image.x_category());
                let request = self.http.post(self.url("/2/media/upload")).multipart(form);
                let answer = self.call(request, token).await?;
                Ok((media_id(&answer)?, false))
            }
            MediaBody::Chunks(mut chunks) => {
                let request = self
                    .http
                    .post(self.url("/2/media/upload/initialize"))
                    .json(&json!({
                        "media_type": media.mime,
                        "total_bytes": media.total_bytes,
                        "media_category": media.kind.x_category(),
                    }));
                let id = media_id(&self.call(request, token).await?)?;
                let mut segment = 0u32;
                while let Some(chunk) = chunks.next_chunk(SEGMENT_BYTES).await? {
                    let form = Form::new()
                        .part("media", Part::bytes(chunk).file_name("media"))
                        .text("segment_index", segment.to_string());
                    let request = self
                        .http
                        .post(self.url(&format!("/2/media/upload/{id}/append")))
                        .multipart(form);
                    self.call(request, token).await?;
                    segment += 1;
                }
                let request = self
                    .http
                    .post(self.url(&format!("/2/media/upload/{id}/finalize")));
                let answer = self.call(request, token).await?;
                let processing = self.wait_for_processing(token, &id, &answer).await?;
                Ok((id, processing))
            }
        }
    }

    /// `GET /2/media/upload?command=STATUS` for media `id`.
    async fn status(&self, token: &Secret, id: &str) -> Result<Value, PublishError> {
        let request = self
            .http
            .get(self.url("/2/media/upload"))
            .query(&[("media_id", id), ("command", "STATUS")]);
        self.call(request, token).await
    }

    /// Polls STATUS until X says the media is ready, within the processing budget:
    /// false when it is ready, true when X is still processing it as the budget runs
    /// out (`answer`: the FINALIZE or STATUS answer to start from).
    async fn wait_for_processing(
        &self,
        token: &Secret,
        id: &str,
        answer: &Value,
    ) -> Result<bool, PublishError> {
        let started = tokio::time::Instant::now();
        let mut info = answer["data"]["processing_info"].clone();
        loop {
            match info["state"].as_str() {
                // No processing_info: nothing to wait for.
                None | Some("succeeded") => return Ok(false),
                Some("failed") => {
                    let why = info["error"]["message"]
                        .as_str()
                        .or(info["error"]["name"].as_str())
                        .unwrap_or("no reason given");
                    return Err(PublishError::Permanent {
                        reason: format!("media_unsupported: X could not process the media: {why}"),
                    });
                }
                Some(_) => {}
            }
            let wait =
                Duration::from_secs(info["check_after_secs"].as_u64().unwrap_or(1).clamp(1, 10));
            if started.elapsed() + wait > self.processing_budget {
                return Ok(true);
            }
            tokio::time::sleep(wait).await;
            info = self.status(token, id).await?["data"]["processing_info"].clone();
        }
    }

    /// `POST /2/media/metadata` with the alt text (cut to X's 1000 characters).
    pub async fn set_alt_text(
        &self,
        token: &Secret,
        id: &str,
        alt: &str,
    ) -> Result<(), PublishError> {
        let text: String = alt.chars().take(MAX_ALT_CHARS).collect();
        let request = self.http.post(self.url("/2/media/metadata")).json(&json!({
            "id": id,
            "metadata": { "alt_text": { "text": text } },
        }));
        self.call(request, token).await.map(drop)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends one media call and reads its JSON answer; errors classified as for posts.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        token: &Secret,
    ) -> Result<Value, PublishError> {
        let (status, headers, body) = super::read(request.bearer_auth(token.expose()))
            .await
            .map_err(nothing_published)?;
        if !status.is_success() {
            return Err(nothing_published(super::classify(status, &headers, &body)));
        }
        let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        // A 200 can still carry `errors[]` and no `data`.
        if value.get("data").is_none() && value.get("errors").is_some() {
            return Err(PublishError::Permanent {
                reason: format!("X refused the media: {}", excerpt(&body, 200)),
            });
        }
        Ok(value)
    }
}

fn media_id(answer: &Value) -> Result<String, PublishError> {
    answer["data"]["id"]
        .as_str()
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .ok_or_else(|| PublishError::Retryable {
            after: None,
            detail: format!(
                "X's media answer has no id: {}",
                excerpt(&answer.to_string(), 200)
            ),
        })
}
