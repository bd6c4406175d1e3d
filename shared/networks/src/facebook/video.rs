//! Videos on a Page (`POST /{page-id}/videos`, Graph's Video API), the post's text as
//! the video's `description`:
//!
//! - A file of at most [`FILE_URL_MAX_BYTES`] is handed to Graph as a `file_url`, which
//!   Graph fetches itself (as it does a photo's `url`).
//! - A larger one (up to [`FACEBOOK_VIDEO_MAX_BYTES`]) goes through the resumable
//!   upload on the same edge: `upload_phase=start` with `file_size` gives the video id,
//!   an upload session and the first chunk's `start_offset`/`end_offset`; each
//!   `transfer` sends exactly the bytes Graph asked for (`video_file_chunk`, read from
//!   the download as it arrives, so the file is never held whole) and gets the next
//!   offsets, until they are equal; `finish` publishes it with the description.
//!
//! Then the video's `status` is read, backing off (1 s, 2 s, 4 s, …), until its
//! `video_status` is `ready` (the post is the video) or `error` (the delivery fails with
//! Graph's reason from `processing_phase.errors`). A video still processing when the
//! budget is spent is `Uncertain`: it exists, so the next attempt looks for it on the
//! Page (`reconcile`) instead of sending it again.

use super::error::{classify, later, usage_hold};
use super::{parse, Answer, FacebookClient};
use crate::media::{FetchedMedia, MediaBody};
use crate::{nothing_published, PublishError, RemotePost};
use crosspost_core::media::{MediaKind, PlannedMedia, FACEBOOK_VIDEO_MAX_BYTES};
use crosspost_core::{Network, RateLimitScope, Secret};
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use std::time::Duration;

/// Largest file handed to Graph as a `file_url`, in bytes: what would go in a single
/// chunk of the resumable upload anyway (Graph asks for 1 MiB chunks in the fake; the
/// real size is Graph's choice), so a larger file gains from being resumable.
pub const FILE_URL_MAX_BYTES: u64 = 1024 * 1024;
/// Largest chunk we hold in memory for one `transfer`, whatever Graph asks for.
const MAX_CHUNK_BYTES: u64 = 64 * 1024 * 1024;
/// The longest wait between two reads of a video's status.
const MAX_POLL_WAIT: Duration = Duration::from_secs(8);

type Hold = Option<(i64, RateLimitScope)>;

/// `upload_phase=start`'s answer. Graph writes the offsets as strings.
#[derive(Deserialize)]
struct Started {
    video_id: String,
    upload_session_id: String,
    #[serde(deserialize_with = "offset")]
    start_offset: u64,
    #[serde(deserialize_with = "offset")]
    end_offset: u64,
}

/// `upload_phase=transfer`'s answer: the next chunk's offsets.
#[derive(Deserialize)]
struct Transferred {
    #[serde(deserialize_with = "offset")]
    start_offset: u64,
    #[serde(deserialize_with = "offset")]
    end_offset: u64,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

/// A video node's `status` (Graph's VideoStatus).
#[derive(Deserialize, Default)]
pub(super) struct VideoStatus {
    /// `processing`, `ready`, `error`, …
    #[serde(default)]
    pub video_status: String,
    #[serde(default)]
    processing_phase: Phase,
    #[serde(default)]
    uploading_phase: Phase,
}

#[derive(Deserialize, Default)]
struct Phase {
    #[serde(default)]
    errors: Vec<PhaseError>,
}

#[derive(Deserialize)]
struct PhaseError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: String,
}

impl VideoStatus {
    /// Graph's words for a failed video: the first error of its processing (or
    /// upload) phase.
    pub(super) fn failure(&self) -> String {
        let first = self
            .processing_phase
            .errors
            .first()
            .or(self.uploading_phase.errors.first());
        match first {
            Some(PhaseError {
                code: Some(code),
                message,
            }) => format!("{message} (error {code})"),
            Some(PhaseError { message, .. }) => message.clone(),
            None => "no reason given".to_owned(),
        }
    }
}

#[derive(Deserialize)]
struct VideoNode {
    #[serde(default)]
    status: VideoStatus,
}

/// An offset Graph writes as a string of digits (or a number).
fn offset<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Offset {
        Text(String),
        Number(u64),
    }
    match Offset::deserialize(d)? {
        Offset::Number(n) => Ok(n),
        Offset::Text(t) => t.parse().map_err(serde::de::Error::custom),
    }
}

/// The post a ready video is: its id, and its page on facebook.com.
pub(super) fn video_post(page_id: &str, video_id: String, hold: Hold) -> RemotePost {
    RemotePost {
        url: format!("https://www.facebook.com/{page_id}/videos/{video_id}/"),
        id: video_id,
        hold,
    }
}

/// Every failure after the video exists and was asked to be published: it may yet
/// appear on the Page, so the next attempt looks for it first.
fn published_maybe(video_id: &str, err: PublishError) -> PublishError {
    match err {
        PublishError::Uncertain { .. } => err,
        other => PublishError::Uncertain {
            detail: format!("video {video_id} was sent; then {other}"),
        },
    }
}

impl FacebookClient {
    /// Publishes `planned` (a video of the media plan) on the Page with `description`,
    /// and waits for Graph to process it: the ready video is the post. Errors: the
    /// download's (`MediaUnavailable`, `media_too_large`), Graph's classified as for
    /// every call, `Permanent` (`media_unsupported: Facebook could not process video
    /// …: <Graph's words>`) when processing fails, `Uncertain` when the video was sent
    /// but its fate is not known yet.
    pub(super) async fn post_video(
        &self,
        page_id: &str,
        token: &Secret,
        description: &str,
        planned: &PlannedMedia,
    ) -> Result<RemotePost, PublishError> {
        let fetched = self
            .media
            .fetch_up_to(
                &planned.url,
                MediaKind::Video,
                planned.max_bytes.unwrap_or(FACEBOOK_VIDEO_MAX_BYTES),
                Network::Facebook,
            )
            .await?;
        let (video_id, hold) = if fetched.total_bytes <= FILE_URL_MAX_BYTES {
            // Graph fetches it; our download ends here.
            drop(fetched);
            self.video_from_url(page_id, token, description, &planned.url)
                .await?
        } else {
            self.video_resumable(page_id, token, description, fetched)
                .await?
        };
        tracing::info!(index = planned.index, video_id = %video_id, "video sent to Facebook; waiting for processing");
        let hold = later(hold, self.wait_until_processed(token, &video_id).await?);
        Ok(video_post(page_id, video_id, hold))
    }

    /// `POST /{page-id}/videos` with `file_url` and `description`: the video's id.
    async fn video_from_url(
        &self,
        page_id: &str,
        token: &Secret,
        description: &str,
        url: &str,
    ) -> Result<(String, Hold), PublishError> {
        let mut form = vec![("file_url", url)];
        if !description.is_empty() {
            form.push(("description", description));
        }
        let request = self.create(&format!("{page_id}/videos")).form(&form);
        let answer = self.send(request, token).await?;
        if !answer.ok() {
            return Err(classify(answer.status, &answer.headers, &answer.body));
        }
        let created: Created = parse(&answer.body)?;
        Ok((created.id, usage_hold(&answer.headers)))
    }

    /// The resumable upload: start, a transfer per chunk Graph asks for, finish.
    async fn video_resumable(
        &self,
        page_id: &str,
        token: &Secret,
        description: &str,
        fetched: FetchedMedia,
    ) -> Result<(String, Hold), PublishError> {
        let (total, mime) = (fetched.total_bytes, fetched.mime);
        let MediaBody::Chunks(mut chunks) = fetched.body else {
            return Err(PublishError::Permanent {
                reason: "media_unsupported: a video was read as an image".into(),
            });
        };
        let path = format!("{page_id}/videos");
        // Start: an unpublished video and its session; nothing is on the Page yet.
        let size = total.to_string();
        let request = self
            .create(&path)
            .form(&[("upload_phase", "start"), ("file_size", size.as_str())]);
        let answer = self.send_publishing_nothing(request, token).await?;
        let started: Started = parse(&answer.body).map_err(nothing_published)?;
        let mut hold = usage_hold(&answer.headers);
        let session = started.upload_session_id;
        let (mut start, mut end) = (started.start_offset, started.end_offset);
        let mut sent = 0u64;
        while start < end {
            if start != sent || end > total || end - start > MAX_CHUNK_BYTES {
                return Err(PublishError::Retryable {
                    after: None,
                    detail: format!(
                        "Facebook asked for bytes {start} to {end} of {total} after {sent} were sent"
                    ),
                });
            }
            let wanted = usize::try_from(end - start).unwrap_or(usize::MAX);
            let chunk = chunks.next_chunk(wanted).await?.unwrap_or_default();
            if chunk.len() != wanted {
                return Err(PublishError::MediaUnavailable {
                    detail: format!(
                        "the media host sent {} bytes where {wanted} were due at {start}",
                        chunk.len()
                    ),
                });
            }
            let form = Form::new()
                .text("upload_phase", "transfer")
                .text("upload_session_id", session.clone())
                .text("start_offset", start.to_string())
                .part(
                    "video_file_chunk",
                    Part::bytes(chunk)
                        .file_name("chunk")
                        .mime_str(mime)
                        .map_err(|e| PublishError::Permanent {
                            reason: format!("media_unsupported: {e}"),
                        })?,
                );
            let request = self.http.post(self.url(&path)).multipart(form);
            let answer = self.send_publishing_nothing(request, token).await?;
            let next: Transferred = parse(&answer.body).map_err(nothing_published)?;
            hold = later(hold, usage_hold(&answer.headers));
            sent = end;
            (start, end) = (next.start_offset, next.end_offset);
        }
        if sent != total {
            return Err(PublishError::Retryable {
                after: None,
                detail: format!("Facebook ended the upload after {sent} of {total} bytes"),
            });
        }
        // Finish: publishes the video with its description once processed.
        let mut form = vec![
            ("upload_phase", "finish"),
            ("upload_session_id", session.as_str()),
        ];
        if !description.is_empty() {
            form.push(("description", description));
        }
        let request = self.create(&path).form(&form);
        let answer: Answer = self.send(request, token).await?;
        if !answer.ok() {
            return Err(classify(answer.status, &answer.headers, &answer.body));
        }
        Ok((started.video_id, later(hold, usage_hold(&answer.headers))))
    }

    /// Reads `GET /{video-id}?fields=status` until the video is ready (the hold its
    /// answers ask for) or failed (`Permanent` with Graph's reason), waiting 1 s, 2 s,
    /// 4 s … (at most [`MAX_POLL_WAIT`]) between reads, within the processing budget.
    /// Any other failure, a refused read included, is `Uncertain`: the video was sent.
    async fn wait_until_processed(
        &self,
        token: &Secret,
        video_id: &str,
    ) -> Result<Hold, PublishError> {
        let started = tokio::time::Instant::now();
        let mut wait = Duration::from_secs(1);
        let mut hold = None;
        loop {
            let request = self
                .http
                .get(self.url(video_id))
                .query(&[("fields", "status")]);
            let answer = self
                .send_publishing_nothing(request, token)
                .await
                .map_err(|e| published_maybe(video_id, e))?;
            hold = later(hold, usage_hold(&answer.headers));
            let node: VideoNode = parse(&answer.body).map_err(|e| published_maybe(video_id, e))?;
            match node.status.video_status.as_str() {
                "ready" => return Ok(hold),
                "error" => {
                    return Err(PublishError::Permanent {
                        reason: format!(
                            "media_unsupported: Facebook could not process video {video_id}: {}",
                            node.status.failure()
                        ),
                    })
                }
                _ => {}
            }
            if started.elapsed() + wait > self.video_budget {
                return Err(PublishError::Uncertain {
                    detail: format!(
                        "Facebook is still processing video {video_id} (status {})",
                        node.status.video_status
                    ),
                });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_POLL_WAIT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_read_from_strings_or_numbers() {
        let s: Transferred =
            serde_json::from_str(r#"{"start_offset":"1048576","end_offset":2097152}"#).unwrap();
        assert_eq!((s.start_offset, s.end_offset), (1_048_576, 2_097_152));
        assert!(
            serde_json::from_str::<Transferred>(r#"{"start_offset":"x","end_offset":"1"}"#)
                .is_err()
        );
    }

    #[test]
    fn a_failure_names_graphs_words() {
        let node: VideoNode = serde_json::from_str(
            r#"{"status":{"video_status":"error","processing_phase":{"status":"error","errors":[{"code":1363008,"message":"Video format not supported."}]}}}"#,
        )
        .unwrap();
        assert_eq!(
            node.status.failure(),
            "Video format not supported. (error 1363008)"
        );
        let bare: VideoNode =
            serde_json::from_str(r#"{"status":{"video_status":"error"}}"#).unwrap();
        assert_eq!(bare.status.failure(), "no reason given");
    }
}
