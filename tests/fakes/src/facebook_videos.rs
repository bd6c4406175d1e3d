//! The video side of the fake Graph API, as strict as its posts and photos:
//! `POST /{page_id}/videos` with a `file_url` the fake fetches from the test media
//! hosts (as `/photos` does), or the resumable upload on the same edge
//! (`upload_phase=start` with `file_size`; `transfer` with `upload_session_id`,
//! `start_offset` and a `video_file_chunk` holding exactly the bytes the last answer
//! asked for; `finish` with the `description`), in that order; `GET /{video_id}` whose
//! `status` moves processing on one step per read, until the video is ready (then it
//! is published: a Page post with the description) or has failed (on request, see
//! [`FakeFacebook::fail_next_video_processing`], or when its bytes are no video);
//! `GET /{page_id}/videos`; and `DELETE /{video_id}`, which takes its post too.
//!
//! Graph's limits and words, from its Video API error reference: at least 1 KB
//! (subcode 1363022) and at most 2 GB (1363023); a transfer at the wrong offset is
//! refused with subcode 1363037 and `error_data` naming the offsets expected. The
//! chunk size the fake asks for (1 MiB) and the shape of `status` beyond
//! `video_status` are the fake's choice.

use std::collections::VecDeque;

use serde_json::{json, Value};

use super::pages::{
    created_by, no_such_object, on_own_page, permission_error, post_on_own_page, ListWindow,
    PagePost,
};
use super::{authenticate, fields, graph_error, invalid_parameter, param, Answer, FakeFacebook};
use super::{check_names, parameters, GraphState};
use crate::media_host::Fetched;
use crate::server::{graph_time, is_digits, lock, now_ms, Incoming, Reply};

/// Smallest video Graph takes (bytes).
pub const MIN_VIDEO_BYTES: u64 = 1024;
/// Largest video Graph takes (bytes).
pub const MAX_VIDEO_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// The bytes each `transfer` must carry (the last one: what is left).
pub const CHUNK_BYTES: u64 = 1024 * 1024;
/// First video id handed out.
const FIRST_VIDEO_ID: u64 = 122_300_000_000_000_001;
/// First upload session id handed out.
const FIRST_SESSION_ID: u64 = 7_001_000_000_000_001;
/// Reads of `status` a video spends processing, unless a test sets another number.
const DEFAULT_PROCESSING_READS: u32 = 2;

/// Where a video is in Graph's pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoState {
    /// Started, not all bytes transferred yet: the next `start_offset` expected.
    Uploading { next_offset: u64 },
    /// Every byte is in; this many more reads of `status` until it is ready or failed.
    Processing { reads_left: u32 },
    /// Processed and published on the Page.
    Ready,
    /// Processing failed, with Graph's words.
    Failed { message: String },
}

/// A video stored by the fake Facebook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageVideo {
    pub id: String,
    pub page_id: String,
    pub description: Option<String>,
    /// The URL Facebook was asked to fetch it from (`file_url`), for a non-resumable upload.
    pub file_url: Option<String>,
    /// The `file_size` announced at `upload_phase=start`, or the fetched file's size.
    pub file_size: u64,
    /// The bytes received (every chunk, in order) or fetched.
    pub bytes: Vec<u8>,
    /// The size of each `transfer`'s chunk, in order.
    pub chunks: Vec<usize>,
    pub state: VideoState,
    /// The Page post that shows it, once it is ready.
    pub post_id: Option<String>,
    pub created_at_ms: u64,
    /// The `Idempotency-Key` of the request that created it.
    pub created_by: Option<String>,
}

pub(super) struct StoredVideo {
    video: PageVideo,
    session_id: Option<String>,
    deleted: bool,
    /// Why processing will fail, when it will.
    fails_with: Option<String>,
}

/// The video part of the fake's state.
#[derive(Default)]
pub(super) struct Videos {
    videos: Vec<StoredVideo>,
    /// Processing failures asked for, taken by the next videos to finish uploading.
    failures: VecDeque<String>,
    /// Reads of `status` each new video spends processing (None: the default).
    processing_reads: Option<u32>,
}

impl FakeFacebook {
    /// Every video of every Page not deleted, in creation order.
    pub fn videos(&self) -> Vec<PageVideo> {
        lock(&self.api.state)
            .video
            .videos
            .iter()
            .filter(|v| !v.deleted)
            .map(|v| v.video.clone())
            .collect()
    }

    /// The next video to finish uploading fails processing with `message` (its
    /// `status.video_status` becomes `error`, with the message in
    /// `status.processing_phase.errors`), after the usual reads of `status`.
    pub fn fail_next_video_processing(&self, message: &str) {
        lock(&self.api.state)
            .video
            .failures
            .push_back(message.to_owned());
    }

    /// Videos uploaded from now on stay `processing` for `reads` reads of their `status`
    /// (2 unless set).
    pub fn set_video_processing_reads(&self, reads: u32) {
        lock(&self.api.state).video.processing_reads = Some(reads);
    }
}

/// The video formats Graph takes, from a file's first bytes: an ISO base media file
/// (`ftyp` box) of an MP4 or QuickTime brand; not an HEIF or AVIF photo, which share
/// the box structure.
pub(super) fn video_format(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() < 12 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    match &bytes[8..12] {
        b"heic" | b"heix" | b"mif1" | b"msf1" | b"avif" | b"avis" => None,
        b"qt  " => Some("quicktime"),
        _ => Some("mp4"),
    }
}

/// Graph's refusal of a file it cannot take as a video (subcode 6000's words, with a
/// user message saying which case it is: the words are the fake's).
fn not_a_video(user_msg: String) -> Reply {
    let mut reply = graph_error(
        400,
        6000,
        None,
        "There was a problem uploading your video file. Please try again with another file.",
    );
    if let Some(error) = reply.body.get_mut("error") {
        error["error_user_msg"] = json!(user_msg);
    }
    reply
}

fn too_small() -> Reply {
    graph_error(
        400,
        100,
        Some(1_363_022),
        "The video you tried to upload is too small. The minimum size for a video is 1 KB. Please try again with a larger file.",
    )
}

fn too_large() -> Reply {
    graph_error(
        400,
        100,
        Some(1_363_023),
        "The video you tried to upload is too large. The maximum size for a video is 2 GB. Please try again with a smaller file.",
    )
}

fn check_size(size: u64) -> Result<(), Reply> {
    if size < MIN_VIDEO_BYTES {
        Err(too_small())
    } else if size > MAX_VIDEO_BYTES {
        Err(too_large())
    } else {
        Ok(())
    }
}

/// An offset parameter: unsigned decimal.
fn offset(params: &[(String, String)], name: &str) -> Result<u64, Reply> {
    let value = param(params, name)
        .ok_or_else(|| invalid_parameter(&format!("The parameter {name} is required")))?;
    value
        .parse::<u64>()
        .ok()
        .filter(|_| is_digits(value))
        .ok_or_else(|| invalid_parameter(&format!("Param {name} must be an unsigned integer")))
}

/// The end of the chunk that starts at `start` in a file of `size` bytes.
fn chunk_end(start: u64, size: u64) -> u64 {
    (start + CHUNK_BYTES).min(size)
}

impl Videos {
    fn add(&mut self, mut video: PageVideo, session: bool) -> String {
        let n = self.videos.len() as u64;
        video.id = (FIRST_VIDEO_ID + n).to_string();
        let id = video.id.clone();
        self.videos.push(StoredVideo {
            video,
            session_id: session.then(|| (FIRST_SESSION_ID + n).to_string()),
            deleted: false,
            fails_with: None,
        });
        id
    }

    /// Every byte is in: processing starts, and will fail if a failure was asked for
    /// or the bytes are no video.
    fn start_processing(&mut self, index: usize) {
        let reads = self.processing_reads.unwrap_or(DEFAULT_PROCESSING_READS);
        let asked = self.failures.pop_front();
        let stored = &mut self.videos[index];
        stored.video.state = VideoState::Processing { reads_left: reads };
        stored.fails_with = asked.or_else(|| {
            video_format(&stored.video.bytes)
                .is_none()
                .then(|| "The video file you uploaded is not in a supported format.".to_owned())
        });
    }
}

/// One read of a video's `status`: processing moves on a step; a video that becomes
/// ready is published on its Page (a post with its description).
fn read_status(state: &mut GraphState, index: usize) {
    let stored = &mut state.video.videos[index];
    let VideoState::Processing { reads_left } = stored.video.state else {
        return;
    };
    if reads_left > 1 {
        stored.video.state = VideoState::Processing {
            reads_left: reads_left - 1,
        };
        return;
    }
    if let Some(message) = stored.fails_with.clone() {
        stored.video.state = VideoState::Failed { message };
        return;
    }
    stored.video.state = VideoState::Ready;
    let post = PagePost {
        id: String::new(),
        page_id: stored.video.page_id.clone(),
        message: stored.video.description.clone(),
        link: None,
        created_at_ms: now_ms(),
        published: true,
        scheduled_publish_time: None,
        attached_media: vec![stored.video.id.clone()],
        created_by: stored.video.created_by.clone(),
    };
    let post_id = state.insert(post);
    state.video.videos[index].video.post_id = Some(post_id);
}

/// A video's `status` as Graph writes it: `video_status` (`processing`, `ready`,
/// `error`), `processing_progress` (percent) and the phases.
fn status_json(video: &PageVideo) -> Value {
    let phase = |status: &str| json!({ "status": status });
    match &video.state {
        VideoState::Uploading { next_offset } => json!({
            "video_status": "upload_in_progress",
            "processing_progress": 0,
            "uploading_phase": { "status": "in_progress", "bytes_transferred": next_offset },
            "processing_phase": phase("not_started"),
            "publishing_phase": phase("not_started"),
        }),
        VideoState::Processing { .. } => json!({
            "video_status": "processing",
            "processing_progress": 50,
            "uploading_phase": phase("complete"),
            "processing_phase": phase("in_progress"),
            "publishing_phase": phase("not_started"),
        }),
        VideoState::Ready => json!({
            "video_status": "ready",
            "processing_progress": 100,
            "uploading_phase": phase("complete"),
            "processing_phase": phase("complete"),
            "publishing_phase": { "status": "complete", "publish_status": "published" },
        }),
        VideoState::Failed { message } => json!({
            "video_status": "error",
            "processing_progress": 0,
            "uploading_phase": phase("complete"),
            "processing_phase": {
                "status": "error",
                "errors": [{ "code": 1_363_008, "message": message }],
            },
            "publishing_phase": phase("not_started"),
        }),
    }
}

/// The fields of the AdVideo node the fake can answer.
const KNOWN_FIELDS: &[&str] = &[
    "id",
    "description",
    "status",
    "created_time",
    "updated_time",
    "post_id",
    "permalink_url",
    "published",
];

fn video_json(video: &PageVideo, fields: &[&str]) -> Value {
    let mut item = json!({ "id": video.id });
    for field in fields {
        match *field {
            "description" => {
                if let Some(d) = &video.description {
                    item["description"] = json!(d);
                }
            }
            "status" => item["status"] = status_json(video),
            "created_time" | "updated_time" => {
                item[*field] = json!(graph_time(video.created_at_ms));
            }
            "post_id" => {
                if let Some(p) = &video.post_id {
                    item["post_id"] = json!(p);
                }
            }
            "permalink_url" => {
                item["permalink_url"] = json!(format!("/{}/videos/{}/", video.page_id, video.id));
            }
            "published" => item["published"] = json!(video.state == VideoState::Ready),
            _ => {}
        }
    }
    item
}

/// `POST /{version}/{page_id}/videos`: a `file_url`, or one phase of a resumable upload.
pub(super) fn videos_post(state: &mut GraphState, req: &Incoming, page_id: &str) -> Answer {
    let params = post_on_own_page(
        state,
        req,
        page_id,
        &[
            "upload_phase",
            "file_size",
            "upload_session_id",
            "start_offset",
            "video_file_chunk",
            "file_url",
            "description",
            "title",
            "published",
            "appsecret_proof",
            "access_token",
        ],
    )?;
    let phase = param(&params, "upload_phase");
    if phase.is_some() && param(&params, "file_url").is_some() {
        return Err(invalid_parameter(
            "Param file_url cannot be used with upload_phase",
        ));
    }
    if phase != Some("transfer") && param(&params, "video_file_chunk").is_some() {
        return Err(invalid_parameter(
            "Param video_file_chunk is only taken with upload_phase=transfer",
        ));
    }
    match phase {
        None => from_url(state, req, &params, page_id),
        Some("start") => start(state, req, &params, page_id),
        Some("transfer") => transfer(state, req, &params, page_id),
        Some("finish") => finish(state, &params, page_id),
        Some(other) => Err(invalid_parameter(&format!(
            "Param upload_phase must be one of start, transfer, finish, not {other}"
        ))),
    }
}

fn description(params: &[(String, String)]) -> Result<Option<String>, Reply> {
    let description = param(params, "description").filter(|d| !d.is_empty());
    if description.is_some_and(|d| d.chars().count() > super::pages::MAX_MESSAGE_CHARS) {
        return Err(invalid_parameter(&format!(
            "The description is too long: at most {} characters are allowed",
            super::pages::MAX_MESSAGE_CHARS
        )));
    }
    Ok(description.map(str::to_owned))
}

/// A non-resumable upload: Graph fetches `file_url` and processes what it got.
fn from_url(
    state: &mut GraphState,
    req: &Incoming,
    params: &[(String, String)],
    page_id: &str,
) -> Answer {
    let Some(url) = param(params, "file_url").filter(|u| !u.is_empty()) else {
        return Err(invalid_parameter(
            "A video needs file_url, or upload_phase for a resumable upload",
        ));
    };
    let valid_url = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() > "https://".len()
        && !url.chars().any(char::is_whitespace);
    if !valid_url {
        return Err(invalid_parameter("file_url should represent a valid URL"));
    }
    let bytes = match crate::media_host::fetch(url) {
        Fetched::File { bytes, .. } => bytes,
        Fetched::Status(status) => {
            return Err(not_a_video(format!(
                "The video at {url} could not be fetched: the server answered {status}."
            )))
        }
        Fetched::Unreachable => {
            return Err(not_a_video(format!(
                "The video at {url} could not be fetched: the server could not be reached."
            )))
        }
    };
    check_size(bytes.len() as u64)?;
    if video_format(&bytes).is_none() {
        return Err(not_a_video(format!(
            "The file at {url} is not a video (MP4 or QuickTime)."
        )));
    }
    let video = PageVideo {
        id: String::new(),
        page_id: page_id.to_owned(),
        description: description(params)?,
        file_url: Some(url.to_owned()),
        file_size: bytes.len() as u64,
        bytes: bytes.to_vec(),
        chunks: Vec::new(),
        state: VideoState::Uploading { next_offset: 0 },
        post_id: None,
        created_at_ms: now_ms(),
        created_by: created_by(req),
    };
    let id = state.video.add(video, false);
    let index = state.video.videos.len() - 1;
    state.video.start_processing(index);
    Ok(Reply::json(200, json!({ "id": id })))
}

/// `upload_phase=start`: a video id and an upload session for `file_size` bytes.
fn start(
    state: &mut GraphState,
    req: &Incoming,
    params: &[(String, String)],
    page_id: &str,
) -> Answer {
    let size = offset(params, "file_size")?;
    check_size(size)?;
    if param(params, "upload_session_id").is_some() || param(params, "start_offset").is_some() {
        return Err(invalid_parameter(
            "upload_phase=start takes file_size, not an upload session's parameters",
        ));
    }
    let video = PageVideo {
        id: String::new(),
        page_id: page_id.to_owned(),
        description: description(params)?,
        file_url: None,
        file_size: size,
        bytes: Vec::new(),
        chunks: Vec::new(),
        state: VideoState::Uploading { next_offset: 0 },
        post_id: None,
        created_at_ms: now_ms(),
        created_by: created_by(req),
    };
    let id = state.video.add(video, true);
    let session = state
        .video
        .videos
        .last()
        .and_then(|v| v.session_id.clone())
        .unwrap_or_default();
    Ok(Reply::json(
        200,
        json!({
            "video_id": id,
            "upload_session_id": session,
            "start_offset": "0",
            "end_offset": chunk_end(0, size).to_string(),
        }),
    ))
}

/// The upload session `upload_session_id` names, on this Page.
fn session_index(
    state: &GraphState,
    params: &[(String, String)],
    page_id: &str,
) -> Result<usize, Reply> {
    let session = param(params, "upload_session_id")
        .ok_or_else(|| invalid_parameter("The parameter upload_session_id is required"))?;
    state
        .video
        .videos
        .iter()
        .position(|v| {
            !v.deleted && v.video.page_id == page_id && v.session_id.as_deref() == Some(session)
        })
        .ok_or_else(|| invalid_parameter(&format!("Invalid upload_session_id: {session}")))
}

/// `upload_phase=transfer`: the chunk from `start_offset` to the end the last answer gave.
fn transfer(
    state: &mut GraphState,
    req: &Incoming,
    params: &[(String, String)],
    page_id: &str,
) -> Answer {
    let index = session_index(state, params, page_id)?;
    let start = offset(params, "start_offset")?;
    let video = &state.video.videos[index].video;
    let VideoState::Uploading { next_offset } = video.state else {
        return Err(invalid_parameter(
            "The upload session is finished: nothing more can be transferred",
        ));
    };
    let size = video.file_size;
    let end = chunk_end(next_offset, size);
    if start != next_offset {
        let mut reply = graph_error(
            400,
            100,
            Some(1_363_037),
            "There was a problem uploading your video. Please try uploading it again.",
        );
        if let Some(error) = reply.body.get_mut("error") {
            error["error_data"] = json!({ "start_offset": next_offset, "end_offset": end });
        }
        return Err(reply);
    }
    let ct = req
        .header(http::header::CONTENT_TYPE)
        .unwrap_or_default()
        .to_owned();
    if !req.content_type_is("multipart/form-data") {
        return Err(invalid_parameter(
            "upload_phase=transfer needs a multipart/form-data body with video_file_chunk",
        ));
    }
    let parts = crate::server::multipart(&ct, &req.body).map_err(|why| invalid_parameter(&why))?;
    let chunk = parts
        .into_iter()
        .find(|p| p.name == "video_file_chunk")
        .ok_or_else(|| invalid_parameter("The parameter video_file_chunk is required"))?
        .data;
    let wanted = end - start;
    if chunk.len() as u64 != wanted {
        return Err(invalid_parameter(&format!(
            "video_file_chunk must hold the bytes {start} to {end} ({wanted} bytes), not {} bytes",
            chunk.len()
        )));
    }
    let video = &mut state.video.videos[index].video;
    video.bytes.extend_from_slice(&chunk);
    video.chunks.push(chunk.len());
    video.state = VideoState::Uploading { next_offset: end };
    Ok(Reply::json(
        200,
        json!({
            "start_offset": end.to_string(),
            "end_offset": chunk_end(end, size).to_string(),
        }),
    ))
}

/// `upload_phase=finish`: every byte is in; the video is processed, then published
/// with its description.
fn finish(state: &mut GraphState, params: &[(String, String)], page_id: &str) -> Answer {
    let index = session_index(state, params, page_id)?;
    let description = description(params)?;
    let video = &mut state.video.videos[index].video;
    match video.state {
        VideoState::Uploading { next_offset } if next_offset == video.file_size => {}
        VideoState::Uploading { next_offset } => {
            return Err(invalid_parameter(&format!(
            "upload_phase=finish before the whole file was transferred: {next_offset} of {} bytes",
            video.file_size
        )))
        }
        _ => return Err(invalid_parameter("The upload session is finished already")),
    }
    if description.is_some() {
        video.description = description;
    }
    state.video.start_processing(index);
    Ok(Reply::json(200, json!({ "success": true })))
}

/// `GET /{version}/{video_id}`: the video node; reading `status` moves processing on.
pub(super) fn get_video(state: &mut GraphState, req: &Incoming, video_id: &str) -> Answer {
    let params = parameters(req)?;
    let token_page = authenticate(state, req, &params)?;
    check_names(&params, &["fields", "appsecret_proof", "access_token"])?;
    let Some(index) = state
        .video
        .videos
        .iter()
        .position(|v| !v.deleted && v.video.id == video_id)
    else {
        return Err(no_such_object("get", video_id));
    };
    if state.video.videos[index].video.page_id != token_page {
        return Err(permission_error());
    }
    let fields = fields(
        &params,
        KNOWN_FIELDS,
        &["id", "description", "updated_time"],
        "AdVideo",
    )?;
    if fields.contains(&"status") {
        read_status(state, index);
    }
    Ok(Reply::json(
        200,
        video_json(&state.video.videos[index].video, &fields),
    ))
}

/// `GET /{version}/{page_id}/videos`: the Page's uploaded videos, newest first, made
/// within `since`..`until`; reading `status` moves each one's processing on.
pub(super) fn page_videos(state: &mut GraphState, req: &Incoming, page_id: &str) -> Answer {
    let params = req.query_pairs();
    on_own_page(
        state,
        req,
        &params,
        "get",
        page_id,
        &[
            "type",
            "fields",
            "since",
            "until",
            "limit",
            "appsecret_proof",
            "access_token",
        ],
    )?;
    if !matches!(param(&params, "type"), None | Some("uploaded")) {
        return Err(invalid_parameter("Param type must be uploaded"));
    }
    let fields = fields(
        &params,
        KNOWN_FIELDS,
        &["id", "description", "updated_time"],
        "AdVideo",
    )?;
    let ListWindow {
        since,
        until,
        limit,
    } = ListWindow::from_params(&params)?;
    let mut listed: Vec<usize> = (0..state.video.videos.len())
        .filter(|&i| {
            let v = &state.video.videos[i];
            let s = i64::try_from(v.video.created_at_ms / 1000).unwrap_or(i64::MAX);
            !v.deleted && v.video.page_id == page_id && s >= since && s <= until
        })
        .collect();
    listed.reverse();
    listed.truncate(limit);
    if fields.contains(&"status") {
        for &i in &listed {
            read_status(state, i);
        }
    }
    let data: Vec<Value> = listed
        .iter()
        .map(|&i| video_json(&state.video.videos[i].video, &fields))
        .collect();
    Ok(Reply::json(200, json!({ "data": data })))
}

/// `DELETE /{version}/{video_id}`: the video and the post that shows it.
pub(super) fn delete_video(state: &mut GraphState, token_page: &str, video_id: &str) -> Answer {
    let Some(stored) = state
        .video
        .videos
        .iter_mut()
        .find(|v| !v.deleted && v.video.id == video_id)
    else {
        return Err(no_such_object("delete", video_id));
    };
    if stored.video.page_id != token_page {
        return Err(graph_error(403, 200, None, "(#200) Permissions error"));
    }
    stored.deleted = true;
    let post_id = stored.video.post_id.clone();
    if let Some(post_id) = post_id {
        for post in state.posts.iter_mut().filter(|p| p.post.id == post_id) {
            post.deleted = true;
        }
    }
    Ok(Reply::json(200, json!({ "success": true })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{mp4_file, MediaHost};

    const PAGE: &str = "104857600123456";
    const TOKEN: &str = "page-token";

    async fn call(fb: &FakeFacebook, form: &[(&str, &str)]) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/v26.0/{PAGE}/videos", fb.base_url()))
            .bearer_auth(TOKEN)
            .form(form)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn chunk(fb: &FakeFacebook, session: &str, start: u64, bytes: Vec<u8>) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .text("upload_phase", "transfer")
            .text("upload_session_id", session.to_owned())
            .text("start_offset", start.to_string())
            .part(
                "video_file_chunk",
                reqwest::multipart::Part::bytes(bytes).file_name("chunk"),
            );
        let resp = reqwest::Client::new()
            .post(format!("{}/v26.0/{PAGE}/videos", fb.base_url()))
            .bearer_auth(TOKEN)
            .multipart(form)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn video_status(fb: &FakeFacebook, id: &str) -> Value {
        let resp = reqwest::Client::new()
            .get(format!("{}/v26.0/{id}?fields=status", fb.base_url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        resp.json::<Value>().await.unwrap()["status"].clone()
    }

    #[test]
    fn videos_are_told_from_photos_by_their_brand() {
        assert_eq!(video_format(&mp4_file(2048)), Some("mp4"));
        assert_eq!(
            video_format(b"\0\0\0\x14ftypqt  \0\0\0\0qt  "),
            Some("quicktime")
        );
        assert_eq!(video_format(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), None);
        assert_eq!(video_format(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), None);
    }

    #[tokio::test]
    async fn the_resumable_upload_goes_in_order_at_the_offsets_graph_gives() {
        let fb = FakeFacebook::start("v26.0").await.unwrap();
        fb.add_page(PAGE, TOKEN);
        let file = mp4_file(2 * 1024 * 1024 + 100);
        let size = file.len().to_string();

        // Out of order: no session yet, so nothing to transfer or finish.
        let (status, body) = chunk(&fb, "7001", 0, file[..1024].to_vec()).await;
        assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(100)));
        let (_, start) = call(&fb, &[("upload_phase", "start"), ("file_size", &size)]).await;
        let session = start["upload_session_id"].as_str().unwrap().to_owned();
        let id = start["video_id"].as_str().unwrap().to_owned();
        assert_eq!(
            (start["start_offset"].as_str(), start["end_offset"].as_str()),
            (Some("0"), Some("1048576"))
        );
        let (status, body) = call(
            &fb,
            &[("upload_phase", "finish"), ("upload_session_id", &session)],
        )
        .await;
        assert_eq!(status, 400, "finish before the bytes: {body}");

        // A wrong offset names the expected ones; a short chunk is refused.
        let (status, body) = chunk(&fb, &session, 1024, file[1024..2048].to_vec()).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["error_subcode"], 1_363_037);
        assert_eq!(
            body["error"]["error_data"],
            json!({"start_offset": 0, "end_offset": 1_048_576})
        );
        let (status, _) = chunk(&fb, &session, 0, file[..1000].to_vec()).await;
        assert_eq!(status, 400);

        let mut at = 0usize;
        loop {
            let end = (at + CHUNK_BYTES as usize).min(file.len());
            let (status, body) = chunk(&fb, &session, at as u64, file[at..end].to_vec()).await;
            assert_eq!(status, 200, "{body}");
            at = body["start_offset"].as_str().unwrap().parse().unwrap();
            if body["start_offset"] == body["end_offset"] {
                break;
            }
        }
        assert_eq!(at, file.len());
        let (status, body) = call(
            &fb,
            &[
                ("upload_phase", "finish"),
                ("upload_session_id", &session),
                ("description", "海边"),
            ],
        )
        .await;
        assert_eq!((status, body), (200, json!({"success": true})));
        let (status, _) = chunk(&fb, &session, at as u64, vec![0; 10]).await;
        assert_eq!(status, 400, "nothing after finish");

        // Processing takes two reads of status; then the video is a post of the Page.
        assert_eq!(video_status(&fb, &id).await["video_status"], "processing");
        assert!(fb.posts().is_empty());
        assert_eq!(video_status(&fb, &id).await["video_status"], "ready");
        let video = &fb.videos()[0];
        assert_eq!(video.bytes, file);
        assert_eq!(video.chunks, [1_048_576, 1_048_576, 100]);
        let posts = fb.posts();
        assert_eq!(posts[0].message.as_deref(), Some("海边"));
        assert_eq!(video.post_id.as_deref(), Some(posts[0].id.as_str()));
    }

    #[tokio::test]
    async fn file_url_is_fetched_and_failures_come_on_request() {
        let fb = FakeFacebook::start("v26.0").await.unwrap();
        fb.add_page(PAGE, TOKEN);
        let host = MediaHost::start().await.unwrap();
        host.serve("/clip.mp4", "video/mp4", mp4_file(4096));
        host.serve("/tiny.mp4", "video/mp4", mp4_file(500));
        let mut page = b"<!DOCTYPE html><html><body>".to_vec();
        page.resize(4096, b' ');
        host.serve("/page.mp4", "video/mp4", page);

        for (path, subcode) in [("/tiny.mp4", Some(1_363_022)), ("/page.mp4", None)] {
            let (status, body) = call(&fb, &[("file_url", &host.url(path))]).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(body["error"]["error_subcode"].as_i64(), subcode, "{body}");
        }
        fb.fail_next_video_processing("The video could not be processed.");
        let (status, body) = call(
            &fb,
            &[("file_url", &host.url("/clip.mp4")), ("description", "浪")],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let id = body["id"].as_str().unwrap();
        assert_eq!(host.hits("/clip.mp4"), 1);
        video_status(&fb, id).await;
        let failed = video_status(&fb, id).await;
        assert_eq!(failed["video_status"], "error");
        assert_eq!(
            failed["processing_phase"]["errors"][0]["message"],
            "The video could not be processed."
        );
        assert!(fb.posts().is_empty(), "a failed video is never published");
    }
}
