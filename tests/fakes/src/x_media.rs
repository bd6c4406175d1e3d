//! Fake X media endpoints (API v2): simple upload for images, initialize / append /
//! finalize with STATUS polls for GIFs and videos, and alt text. They check what X
//! checks: a bearer token of a known account holding the `media.write` scope, the
//! multipart body, each category's size limit, the file's bytes, and alt text of at
//! most 1000 characters. GIFs and videos go pending → in_progress → succeeded over two
//! STATUS polls; a post may attach only media that finished.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use super::{authenticate, forbidden, invalid_request, kind, Answer, FakeX, XState};
use crate::server::{is_digits, lock, now_ms, FormPart, Incoming, Reply};

const MB: u64 = 1024 * 1024;
/// Largest APPEND segment X takes.
const MAX_SEGMENT_BYTES: usize = 5 * MB as usize;
const MAX_ALT_CHARS: usize = 1_000;
const MEDIA_WRITE: &str = "media.write";

/// An uploaded media as the fake X holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedMedia {
    pub id: String,
    pub owner_id: String,
    /// `tweet_image`, `tweet_gif` or `tweet_video`.
    pub media_category: String,
    pub media_type: String,
    /// Bytes received.
    pub size: u64,
    /// APPEND requests received (0 for a simple upload).
    pub segments: usize,
    pub alt_text: Option<String>,
    /// `pending`, `in_progress`, `succeeded`, or `uploading` before FINALIZE.
    pub state: String,
}

/// Media and scopes, kept in the fake X's state.
#[derive(Default)]
pub(super) struct MediaState {
    /// user id → granted scopes; a user not here has every scope.
    scopes: HashMap<String, Vec<String>>,
    media: BTreeMap<String, Stored>,
}

struct Stored {
    media: UploadedMedia,
    total_bytes: u64,
    segments: BTreeMap<u64, usize>,
}

impl FakeX {
    /// Grants `user_id` only these scopes from now on (by default every scope); without
    /// `media.write` its media uploads answer 403.
    pub fn set_scopes(&self, user_id: &str, scopes: &[&str]) {
        let mut state = lock(&self.api.state);
        state.media.scopes.insert(
            user_id.to_owned(),
            scopes.iter().map(|s| (*s).to_owned()).collect(),
        );
    }

    /// One uploaded media, by id.
    pub fn media(&self, id: &str) -> Option<UploadedMedia> {
        lock(&self.api.state)
            .media
            .media
            .get(id)
            .map(|s| s.media.clone())
    }

    /// Every uploaded media, in id order.
    pub fn uploaded_media(&self) -> Vec<UploadedMedia> {
        lock(&self.api.state)
            .media
            .media
            .values()
            .map(|s| s.media.clone())
            .collect()
    }
}

/// Parses the request's `multipart/form-data` body.
fn multipart(req: &Incoming) -> Result<Vec<FormPart>, Reply> {
    if !req.content_type_is("multipart/form-data") {
        return Err(invalid_request(vec![
            "The request body must be multipart/form-data.".to_owned(),
        ]));
    }
    let ct = req.header(http::header::CONTENT_TYPE).unwrap_or("");
    crate::server::multipart(ct, &req.body).map_err(|why| invalid_request(vec![why]))
}

fn field<'a>(parts: &'a [FormPart], name: &str) -> Option<&'a FormPart> {
    parts.iter().find(|p| p.name == name)
}

fn text_field(parts: &[FormPart], name: &str) -> Option<String> {
    field(parts, name).map(|p| String::from_utf8_lossy(&p.data).trim().to_owned())
}

/// The user of the bearer token, who must hold `media.write`.
fn uploader(state: &XState, req: &Incoming) -> Result<String, Reply> {
    let user = authenticate(state, req)?;
    let granted = state
        .media
        .scopes
        .get(&user)
        .is_none_or(|s| s.iter().any(|s| s == MEDIA_WRITE));
    if granted {
        Ok(user)
    } else {
        Err(forbidden(
            "You are not permitted to perform this action. Missing scope: media.write.",
        ))
    }
}

fn category_limit(category: &str) -> Option<u64> {
    match category {
        "tweet_image" => Some(5 * MB),
        "tweet_gif" => Some(15 * MB),
        "tweet_video" => Some(512 * MB),
        _ => None,
    }
}

/// The MIME type a file's first bytes show, among those X takes.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        Some("video/mp4")
    } else {
        None
    }
}

fn invalid_media(why: &str) -> Reply {
    invalid_request(vec![format!("InvalidMedia: {why}")])
}

fn media_answer(m: &UploadedMedia) -> Value {
    let mut data = json!({
        "id": m.id,
        "media_key": format!("{}_{}", if m.media_category == "tweet_image" { 3 } else { 7 }, m.id),
        "size": m.size,
        "expires_after_secs": 86_400,
    });
    match m.state.as_str() {
        "pending" | "in_progress" => {
            data["processing_info"] = json!({"state": m.state, "check_after_secs": 1});
            if m.state == "in_progress" {
                data["processing_info"]["progress_percent"] = json!(50);
            }
        }
        "succeeded" if m.media_category != "tweet_image" => {
            data["processing_info"] = json!({"state": "succeeded", "progress_percent": 100});
        }
        _ => {}
    }
    json!({ "data": data })
}

/// `POST /2/media/upload`: one image in one request.
pub(super) fn upload(state: &mut XState, req: &Incoming) -> Answer {
    let owner = uploader(state, req)?;
    let parts = multipart(req)?;
    let media =
        field(&parts, "media").ok_or_else(|| invalid_media("the `media` part is missing"))?;
    let category = text_field(&parts, "media_category").unwrap_or_else(|| "tweet_image".into());
    if category != "tweet_image" {
        return Err(invalid_media(
            "simple upload takes images only; use initialize for tweet_gif and tweet_video",
        ));
    }
    let Some(mime) = sniff(&media.data).filter(|m| m.starts_with("image/")) else {
        return Err(invalid_media("the file is not an image"));
    };
    if media.data.len() as u64 > 5 * MB {
        return Err(invalid_media("images may be at most 5 MB"));
    }
    let id = state.next_id(now_ms());
    let uploaded = UploadedMedia {
        id: id.clone(),
        owner_id: owner,
        media_category: category,
        media_type: mime.to_owned(),
        size: media.data.len() as u64,
        segments: 0,
        alt_text: None,
        state: "succeeded".into(),
    };
    let answer = media_answer(&uploaded);
    state.media.media.insert(
        id,
        Stored {
            total_bytes: uploaded.size,
            media: uploaded,
            segments: BTreeMap::new(),
        },
    );
    Ok(Reply::json(200, answer))
}

fn json_body(req: &Incoming) -> Result<serde_json::Map<String, Value>, Reply> {
    if !req.content_type_is("application/json") {
        return Err(invalid_request(vec![
            "The request body must be JSON (Content-Type: application/json).".to_owned(),
        ]));
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(body)) => Ok(body),
        Ok(other) => Err(invalid_request(vec![format!(
            "$: {} found, object expected",
            kind(&other)
        )])),
        Err(e) => Err(invalid_request(vec![format!(
            "The request body is not valid JSON: {e}"
        )])),
    }
}

/// `POST /2/media/upload/initialize`
pub(super) fn initialize(state: &mut XState, req: &Incoming) -> Answer {
    let owner = uploader(state, req)?;
    let body = json_body(req)?;
    let mut errors = Vec::new();
    for name in body.keys() {
        if ![
            "media_type",
            "total_bytes",
            "media_category",
            "additional_owners",
            "shared",
        ]
        .contains(&name.as_str())
        {
            errors.push(format!(
                "$.{name}: is not defined in the schema and the schema does not allow additional properties"
            ));
        }
    }
    let media_type = body.get("media_type").and_then(Value::as_str);
    let total = body.get("total_bytes").and_then(Value::as_u64);
    let category = body
        .get("media_category")
        .and_then(Value::as_str)
        .unwrap_or("tweet_image");
    if media_type.is_none() {
        errors.push("$.media_type: is missing but it is required".into());
    }
    if total.is_none() {
        errors.push("$.total_bytes: is missing but it is required".into());
    }
    let Some(limit) = category_limit(category) else {
        errors.push(format!(
            "$.media_category: {category} is not one of [tweet_image, tweet_gif, tweet_video]"
        ));
        return Err(invalid_request(errors));
    };
    if !errors.is_empty() {
        return Err(invalid_request(errors));
    }
    let (media_type, total) = (media_type.unwrap_or_default(), total.unwrap_or_default());
    let fits = match category {
        "tweet_gif" => media_type == "image/gif",
        "tweet_video" => ["video/mp4", "video/quicktime"].contains(&media_type),
        _ => ["image/jpeg", "image/png", "image/webp", "image/gif"].contains(&media_type),
    };
    if !fits {
        return Err(invalid_media(&format!(
            "media_type {media_type} does not fit media_category {category}"
        )));
    }
    if total == 0 || total > limit {
        return Err(invalid_media(&format!(
            "total_bytes must be between 1 and {limit} for {category}"
        )));
    }
    let id = state.next_id(now_ms());
    state.media.media.insert(
        id.clone(),
        Stored {
            media: UploadedMedia {
                id: id.clone(),
                owner_id: owner,
                media_category: category.to_owned(),
                media_type: media_type.to_owned(),
                size: 0,
                segments: 0,
                alt_text: None,
                state: "uploading".into(),
            },
            total_bytes: total,
            segments: BTreeMap::new(),
        },
    );
    Ok(Reply::json(
        200,
        json!({"data": {"id": id, "media_key": format!("7_{id}"), "expires_after_secs": 86_400}}),
    ))
}

/// The caller's media `id`, or X's answer for an id it does not know.
fn own_media<'a>(state: &'a mut XState, owner: &str, id: &str) -> Result<&'a mut Stored, Reply> {
    match state.media.media.get_mut(id) {
        Some(stored) if is_digits(id) && stored.media.owner_id == owner => Ok(stored),
        _ => Err(invalid_request(vec![format!(
            "The media id [{id}] is not valid or does not belong to you."
        )])),
    }
}

/// `POST /2/media/upload/{id}/append`
pub(super) fn append(state: &mut XState, req: &Incoming, id: &str) -> Answer {
    let owner = uploader(state, req)?;
    let parts = multipart(req)?;
    let stored = own_media(state, &owner, id)?;
    if stored.media.state != "uploading" {
        return Err(invalid_media("the media was finalized already"));
    }
    let media =
        field(&parts, "media").ok_or_else(|| invalid_media("the `media` part is missing"))?;
    let segment = text_field(&parts, "segment_index")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s <= 999)
        .ok_or_else(|| invalid_media("segment_index must be a number from 0 to 999"))?;
    if media.data.is_empty() || media.data.len() > MAX_SEGMENT_BYTES {
        return Err(invalid_media("a segment must hold 1 byte to 5 MB"));
    }
    if segment == 0 && sniff(&media.data) != Some(stored.media.media_type.as_str()) {
        let declared = &stored.media.media_type;
        // QuickTime and MP4 share their container; both start with `ftyp`.
        let video = declared == "video/quicktime" && sniff(&media.data) == Some("video/mp4");
        if !video {
            return Err(invalid_media(&format!("the file is not {declared}")));
        }
    }
    stored.segments.insert(segment, media.data.len());
    let received: u64 = stored.segments.values().map(|n| *n as u64).sum();
    if received > stored.total_bytes {
        return Err(invalid_media("more bytes than total_bytes"));
    }
    stored.media.size = received;
    stored.media.segments += 1;
    Ok(Reply::json(
        200,
        json!({"data": {"expires_at": now_ms() / 1000 + 86_400}}),
    ))
}

/// `POST /2/media/upload/{id}/finalize`
pub(super) fn finalize(state: &mut XState, req: &Incoming, id: &str) -> Answer {
    let owner = uploader(state, req)?;
    let stored = own_media(state, &owner, id)?;
    if stored.media.state != "uploading" {
        return Err(invalid_media("the media was finalized already"));
    }
    let contiguous = stored
        .segments
        .keys()
        .copied()
        .eq(0..stored.segments.len() as u64);
    if !contiguous || stored.media.size != stored.total_bytes {
        return Err(invalid_media(&format!(
            "the segments hold {} of {} bytes",
            stored.media.size, stored.total_bytes
        )));
    }
    stored.media.state = if stored.media.media_category == "tweet_image" {
        "succeeded".into()
    } else {
        "pending".into()
    };
    Ok(Reply::json(200, media_answer(&stored.media)))
}

/// `GET /2/media/upload?media_id=…&command=STATUS`: each poll moves processing on.
pub(super) fn status(state: &mut XState, req: &Incoming) -> Answer {
    let user = authenticate(state, req)?;
    let pairs = req.query_pairs();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if get("command").as_deref() != Some("STATUS") {
        return Err(invalid_request(vec![
            "The `command` query parameter must be STATUS.".into(),
        ]));
    }
    let id = get("media_id").ok_or_else(|| {
        invalid_request(vec!["The `media_id` query parameter is missing.".into()])
    })?;
    let stored = own_media(state, &user, &id)?;
    stored.media.state = match stored.media.state.as_str() {
        "pending" => "in_progress".into(),
        "in_progress" => "succeeded".into(),
        "uploading" => return Err(invalid_media("the media is not finalized")),
        other => other.to_owned(),
    };
    Ok(Reply::json(200, media_answer(&stored.media)))
}

/// `POST /2/media/metadata`: alt text.
pub(super) fn metadata(state: &mut XState, req: &Incoming) -> Answer {
    let owner = uploader(state, req)?;
    let body = json_body(req)?;
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let text = body
        .get("metadata")
        .and_then(|m| m.get("alt_text"))
        .and_then(|a| a.get("text"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid_request(vec![
                "$.metadata.alt_text.text: is missing but it is required".into(),
            ])
        })?
        .to_owned();
    if text.chars().count() > MAX_ALT_CHARS {
        return Err(invalid_request(vec![format!(
            "$.metadata.alt_text.text: must be at most {MAX_ALT_CHARS} characters"
        )]));
    }
    let stored = own_media(state, &owner, &id)?;
    stored.media.alt_text = Some(text.clone());
    Ok(Reply::json(
        200,
        json!({"data": {"id": id, "associated_metadata": {"alt_text": {"text": text}}}}),
    ))
}

/// For `POST /2/tweets`: every id must be the author's media, fully processed.
pub(super) fn check_attachable(state: &XState, author: &str, ids: &[String]) -> Result<(), Reply> {
    for id in ids {
        match state.media.media.get(id) {
            Some(s) if s.media.owner_id == author && s.media.state == "succeeded" => {}
            Some(s) if s.media.owner_id == author => {
                return Err(invalid_request(vec![format!(
                    "Your media id {id} is still processing or was not finalized."
                )]))
            }
            _ => {
                return Err(invalid_request(vec![format!(
                    "Your media IDs are invalid: {id}."
                )]))
            }
        }
    }
    Ok(())
}
