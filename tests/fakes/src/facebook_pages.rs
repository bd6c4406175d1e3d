//! The Page side of the fake Graph API: `POST /{page_id}/feed`, `POST /{page_id}/photos`,
//! `DELETE /{post_id}` and `GET /{page_id}/published_posts`, each called with the Page's
//! own token.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::{
    authenticate, check_names, fields, graph_error, invalid_parameter, param, parameters, Answer,
    FakeFacebook, GraphState,
};
use crate::media_host::Fetched;
use crate::server::{graph_time, is_digits, lock, now_ms, parse_rfc3339_ms, Incoming, Reply};

/// Longest `message` the Graph API accepts on a feed post (characters).
pub(super) const MAX_MESSAGE_CHARS: usize = 63_206;
/// First post number handed out (the part after `<page_id>_`).
const FIRST_POST_NUMBER: u64 = 122_100_000_000_000_001;
/// First photo id handed out.
const FIRST_PHOTO_ID: u64 = 122_200_000_000_000_001;

/// A post stored by the fake Facebook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagePost {
    /// `<page_id>_<n>`
    pub id: String,
    pub page_id: String,
    pub message: Option<String>,
    pub link: Option<String>,
    pub created_at_ms: u64,
    /// False for posts made with `published=false` (drafts and scheduled posts).
    pub published: bool,
    /// Unix seconds, for scheduled posts.
    pub scheduled_publish_time: Option<i64>,
    /// The photos the post shows: the `media_fbid`s from `attached_media`, or the
    /// photo of a post made through `POST /{page_id}/photos`.
    pub attached_media: Vec<String>,
    /// The `Idempotency-Key` of the request that created it (our client names each
    /// part of each delivery so; Graph ignores it): who made what.
    pub created_by: Option<String>,
}

/// A photo stored by the fake Facebook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagePhoto {
    pub id: String,
    pub page_id: String,
    /// The URL Facebook was asked to fetch it from.
    pub url: String,
    pub caption: Option<String>,
    /// `alt_text_custom`
    pub alt_text: Option<String>,
    /// False for photos uploaded with `published=false`, to be attached to a post.
    pub published: bool,
    /// The post that shows it, once there is one.
    pub post_id: Option<String>,
}

impl FakeFacebook {
    /// Every photo received so far, unpublished ones included.
    pub fn photos(&self) -> Vec<PagePhoto> {
        lock(&self.api.state).photos.clone()
    }

    /// Stores a published post as if it had been made at `created_at_ms`. Returns its id.
    pub fn seed_post(&self, page_id: &str, message: &str, created_at_ms: u64) -> String {
        let mut state = lock(&self.api.state);
        state.insert(PagePost {
            id: String::new(),
            page_id: page_id.to_owned(),
            message: Some(message.to_owned()),
            link: None,
            created_at_ms,
            published: true,
            scheduled_publish_time: None,
            attached_media: Vec::new(),
            created_by: None,
        })
    }

    /// Live (not deleted) posts in creation order, unpublished ones included.
    pub fn posts(&self) -> Vec<PagePost> {
        let state = lock(&self.api.state);
        state
            .posts
            .iter()
            .filter(|p| !p.deleted)
            .map(|p| p.post.clone())
            .collect()
    }
}

pub(super) struct StoredPost {
    pub(super) post: PagePost,
    pub(super) deleted: bool,
}

impl GraphState {
    pub(super) fn insert(&mut self, mut post: PagePost) -> String {
        let number = FIRST_POST_NUMBER + self.next_number;
        self.next_number += 1;
        post.id = format!("{}_{number}", post.page_id);
        let id = post.id.clone();
        self.posts.push(StoredPost {
            post,
            deleted: false,
        });
        id
    }
}

pub(super) fn no_such_object(verb: &str, id: &str) -> Reply {
    graph_error(
        400,
        100,
        Some(33),
        &format!(
            "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
        ),
    )
}

pub(super) fn permission_error() -> Reply {
    graph_error(
        403,
        200,
        None,
        "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission",
    )
}

/// `published`: true unless the call says otherwise.
pub(super) fn published(params: &[(String, String)]) -> Result<bool, Reply> {
    match param(params, "published") {
        None | Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => Err(invalid_parameter("Param published must be a boolean")),
    }
}

/// Unix seconds or RFC 3339.
pub(super) fn parse_time_s(value: &str) -> Option<i64> {
    if is_digits(value) {
        value.parse().ok()
    } else {
        parse_rfc3339_ms(value).map(|ms| ms.div_euclid(1000))
    }
}

/// A Graph list's time window and page size: `since` and `until` (Unix seconds or
/// RFC 3339, inclusive; open when absent) and `limit` (1..=100, 25 when absent), each
/// refused by name when malformed.
pub(super) struct ListWindow {
    pub since: i64,
    pub until: i64,
    pub limit: usize,
}

impl ListWindow {
    pub(super) fn from_params(params: &[(String, String)]) -> Result<ListWindow, Reply> {
        let time = |name: &str| -> Result<Option<i64>, Reply> {
            param(params, name)
                .map(|value| {
                    parse_time_s(value)
                        .ok_or_else(|| invalid_parameter(&format!("Param {name} must be a time")))
                })
                .transpose()
        };
        let limit = match param(params, "limit") {
            None => 25,
            Some(value) => value
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    invalid_parameter("Param limit must be a number between 1 and 100")
                })?,
        };
        Ok(ListWindow {
            since: time("since")?.unwrap_or(i64::MIN),
            until: time("until")?.unwrap_or(i64::MAX),
            limit,
        })
    }
}

/// A call on a Page (`verb` as Graph names it in its error): the token must be a
/// Page token, the Page must exist, the token must be that Page's own, and every
/// parameter must be one of `allowed` (see `check_names`).
pub(super) fn on_own_page(
    state: &GraphState,
    req: &Incoming,
    params: &[(String, String)],
    verb: &str,
    page_id: &str,
    allowed: &[&str],
) -> Result<(), Reply> {
    let token_page = authenticate(state, req, params)?;
    if !state.pages.iter().any(|p| p == page_id) {
        return Err(no_such_object(verb, page_id));
    }
    if token_page != page_id {
        return Err(permission_error());
    }
    check_names(params, allowed)
}

/// The parameters of a `POST` on a Page, checked as [`on_own_page`] checks them.
pub(super) fn post_on_own_page(
    state: &GraphState,
    req: &Incoming,
    page_id: &str,
    allowed: &[&str],
) -> Result<Vec<(String, String)>, Reply> {
    let params = parameters(req)?;
    on_own_page(state, req, &params, "post", page_id, allowed)?;
    Ok(params)
}

/// `POST /{version}/{page_id}/feed`
pub(super) fn feed_post(state: &mut GraphState, req: &Incoming, page_id: &str) -> Answer {
    let params = post_on_own_page(
        state,
        req,
        page_id,
        &[
            "message",
            "link",
            "published",
            "scheduled_publish_time",
            "attached_media[",
            "appsecret_proof",
            "access_token",
        ],
    )?;

    let message = param(&params, "message").filter(|m| !m.is_empty());
    let link = param(&params, "link").filter(|l| !l.is_empty());
    if let Some(message) = message {
        if message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(invalid_parameter(&format!(
                "The message is too long: at most {MAX_MESSAGE_CHARS} characters are allowed"
            )));
        }
    }
    if let Some(link) = link {
        let valid = (link.starts_with("https://") || link.starts_with("http://"))
            && !link.chars().any(char::is_whitespace);
        if !valid {
            return Err(invalid_parameter("The parameter link is not a valid URL"));
        }
    }
    let attached_media = attached_media(&params)?;
    for (i, id) in attached_media.iter().enumerate() {
        let usable = state.photos.iter().any(|photo| {
            &photo.id == id
                && photo.page_id == page_id
                && !photo.published
                && photo.post_id.is_none()
        });
        if !usable {
            return Err(invalid_parameter(&format!(
                "Param attached_media[{i}] must be an unpublished photo of this Page not yet in a post: {id}"
            )));
        }
    }
    if attached_media.len() != attached_media.iter().collect::<HashSet<_>>().len() {
        return Err(invalid_parameter(
            "Param attached_media lists a photo twice",
        ));
    }
    if message.is_none() && link.is_none() && attached_media.is_empty() {
        return Err(invalid_parameter(
            "The parameter message or link is required",
        ));
    }
    let published = published(&params)?;
    let scheduled_publish_time = match param(&params, "scheduled_publish_time") {
        None => None,
        Some(value) => {
            if published {
                return Err(invalid_parameter(
                    "Cannot specify a scheduled publish time on a published post",
                ));
            }
            let now_s = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
            let at = parse_time_s(value)
                .filter(|at| *at >= now_s + 10 * 60 && *at <= now_s + 30 * 24 * 3600)
                .ok_or_else(|| {
                    invalid_parameter("The specified scheduled publish time is invalid.")
                })?;
            Some(at)
        }
    };
    // Graph refuses to publish the same status twice in a row on a Page.
    let latest = state
        .posts
        .iter()
        .rev()
        .find(|p| !p.deleted && p.post.published && p.post.page_id == page_id);
    if published && message.is_some() {
        if let Some(latest) = latest {
            if latest.post.message.as_deref() == message && latest.post.link.as_deref() == link {
                return Err(graph_error(
                    400,
                    506,
                    None,
                    "(#506) Duplicate status message",
                ));
            }
        }
    }
    let id = state.insert(PagePost {
        id: String::new(),
        page_id: page_id.to_owned(),
        message: message.map(str::to_owned),
        link: link.map(str::to_owned),
        created_at_ms: now_ms(),
        published,
        scheduled_publish_time,
        attached_media: attached_media.clone(),
        created_by: created_by(req),
    });
    for photo in &mut state.photos {
        if attached_media.contains(&photo.id) {
            photo.post_id = Some(id.clone());
        }
    }
    Ok(Reply::json(200, json!({ "id": id })))
}

/// `POST /{version}/{page_id}/photos` with `url`, which Facebook fetches: the fake
/// fetches it from the test media hosts of this process and refuses what is not an
/// image ([`fetched_photo`]). Published: a post with the caption →
/// `{"id","post_id"}`. With `published=false`: a photo to attach to a feed post → `{"id"}`.
pub(super) fn photo_post(state: &mut GraphState, req: &Incoming, page_id: &str) -> Answer {
    let params = post_on_own_page(
        state,
        req,
        page_id,
        &[
            "url",
            "caption",
            "published",
            "alt_text_custom",
            "no_story",
            "appsecret_proof",
            "access_token",
        ],
    )?;
    let Some(url) = param(&params, "url").filter(|u| !u.is_empty()) else {
        return Err(graph_error(400, 324, None, "(#324) Requires upload file"));
    };
    let valid_url = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() > "https://".len()
        && !url.chars().any(char::is_whitespace);
    if !valid_url {
        return Err(invalid_parameter("url should represent a valid URL"));
    }
    fetched_photo(url)?;
    let caption = param(&params, "caption").filter(|c| !c.is_empty());
    if caption.is_some_and(|c| c.chars().count() > MAX_MESSAGE_CHARS) {
        return Err(invalid_parameter(&format!(
            "The caption is too long: at most {MAX_MESSAGE_CHARS} characters are allowed"
        )));
    }
    let published = published(&params)?;
    let number = FIRST_PHOTO_ID + state.photos.len() as u64;
    let mut photo = PagePhoto {
        id: number.to_string(),
        page_id: page_id.to_owned(),
        url: url.to_owned(),
        caption: caption.map(str::to_owned),
        alt_text: param(&params, "alt_text_custom")
            .filter(|a| !a.is_empty())
            .map(str::to_owned),
        published,
        post_id: None,
    };
    let photo_id = photo.id.clone();
    if !published {
        state.photos.push(photo);
        return Ok(Reply::json(200, json!({ "id": photo_id })));
    }
    let post_id = state.insert(PagePost {
        id: String::new(),
        page_id: page_id.to_owned(),
        message: photo.caption.clone(),
        link: None,
        created_at_ms: now_ms(),
        published: true,
        scheduled_publish_time: None,
        attached_media: vec![photo_id.clone()],
        created_by: created_by(req),
    });
    photo.post_id = Some(post_id.clone());
    state.photos.push(photo);
    Ok(Reply::json(
        200,
        json!({ "id": photo_id, "post_id": post_id }),
    ))
}

/// The format of an image file Graph takes as a photo, from its first bytes: the
/// formats its photo guide lists (JPEG, BMP, PNG, GIF, TIFF), and WEBP, which Crosspost
/// sends as a photo too (not in that list; unverified against the real Graph).
fn photo_format(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("gif")
    } else if bytes.starts_with(b"BM") && bytes.len() > 14 {
        Some("bmp")
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some("tiff")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

/// Fetches a photo's `url` as Graph does and refuses, as Graph does, a URL that cannot
/// be fetched or does not hold an image: OAuthException 324 "Missing or invalid image
/// file" (Graph's answer for a photo that is not an image; the `error_user_msg` that
/// tells the two cases apart is the fake's own wording).
fn fetched_photo(url: &str) -> Result<&'static str, Reply> {
    let refuse = |user_msg: String| {
        let mut reply = graph_error(400, 324, None, "(#324) Missing or invalid image file");
        if let Some(error) = reply.body.get_mut("error") {
            error["error_user_msg"] = json!(user_msg);
        }
        reply
    };
    match crate::media_host::fetch(url) {
        Fetched::File { bytes, .. } => photo_format(&bytes).ok_or_else(|| {
            refuse(format!(
                "The file at {url} is not an image (JPEG, PNG, GIF, BMP, TIFF or WEBP)."
            ))
        }),
        Fetched::Status(status) => Err(refuse(format!(
            "The image at {url} could not be fetched: the server answered {status}."
        ))),
        Fetched::Unreachable => Err(refuse(format!(
            "The image at {url} could not be fetched: the server could not be reached."
        ))),
    }
}

/// `attached_media[i]={"media_fbid":"<id>"}` (form) or `attached_media=[{...}]` (JSON).
fn attached_media(params: &[(String, String)]) -> Result<Vec<String>, Reply> {
    let bad =
        || invalid_parameter("Param attached_media must be a list of {\"media_fbid\": \"<id>\"}");
    let mut ids = Vec::new();
    for (name, value) in params {
        if !name.starts_with("attached_media") {
            continue;
        }
        let value: Value = serde_json::from_str(value).map_err(|_| bad())?;
        let items = match value {
            Value::Array(items) if name == "attached_media" => items,
            item @ Value::Object(_) if name != "attached_media" => vec![item],
            _ => return Err(bad()),
        };
        for item in items {
            match item.get("media_fbid") {
                Some(Value::String(id)) if is_digits(id) => ids.push(id.clone()),
                _ => return Err(bad()),
            }
        }
    }
    Ok(ids)
}

/// `DELETE /{version}/{post_id}`, or of a video's id (see `videos::delete_video`).
pub(super) fn delete_post(state: &mut GraphState, req: &Incoming, post_id: &str) -> Answer {
    let params = parameters(req)?;
    let token_page = authenticate(state, req, &params)?;
    check_names(&params, &["appsecret_proof", "access_token"])?;
    let Some(stored) = state
        .posts
        .iter_mut()
        .find(|p| !p.deleted && p.post.id == post_id)
    else {
        // `DELETE /{video-id}` takes the video and its post off the Page.
        return super::videos::delete_video(state, &token_page, post_id);
    };
    if stored.post.page_id != token_page {
        return Err(graph_error(403, 200, None, "(#200) Permissions error"));
    }
    stored.deleted = true;
    Ok(Reply::json(200, json!({ "success": true })))
}

/// `GET /{version}/{page_id}/published_posts`
pub(super) fn published_posts(state: &GraphState, req: &Incoming, page_id: &str) -> Answer {
    let params = req.query_pairs();
    on_own_page(
        state,
        req,
        &params,
        "get",
        page_id,
        &[
            "fields",
            "since",
            "until",
            "limit",
            "appsecret_proof",
            "access_token",
        ],
    )?;

    const KNOWN_FIELDS: &[&str] = &[
        "id",
        "message",
        "created_time",
        "permalink_url",
        "full_picture",
        "status_type",
    ];
    let fields = fields(
        &params,
        KNOWN_FIELDS,
        &["id", "message", "created_time"],
        "PagePost",
    )?;
    let ListWindow {
        since,
        until,
        limit,
    } = ListWindow::from_params(&params)?;

    let mut posts: Vec<&PagePost> = state
        .posts
        .iter()
        .filter(|p| !p.deleted && p.post.published && p.post.page_id == page_id)
        .map(|p| &p.post)
        .filter(|p| {
            let s = i64::try_from(p.created_at_ms / 1000).unwrap_or(i64::MAX);
            s >= since && s <= until
        })
        .collect();
    posts.reverse(); // newest first (creation order = id order)
    posts.sort_by_key(|p| std::cmp::Reverse(p.created_at_ms));
    posts.truncate(limit);

    let data: Vec<Value> = posts
        .iter()
        .map(|post| {
            let mut item = json!({ "id": post.id });
            for field in &fields {
                match *field {
                    "message" => {
                        if let Some(message) = &post.message {
                            item["message"] = json!(message);
                        }
                    }
                    "created_time" => item["created_time"] = json!(graph_time(post.created_at_ms)),
                    // Graph gives the first picture's CDN URL, or for a link post the
                    // image it scraped from the linked page ("the Photo published in
                    // the Post or scraped from a link in the Post", the Post
                    // reference); a text post has none.
                    "full_picture" => {
                        if let Some(photo) = post.attached_media.first() {
                            item["full_picture"] =
                                json!(format!("https://scontent.xx.fbcdn.net/v/{photo}_n.jpg"));
                        } else if let Some(link) = &post.link {
                            item["full_picture"] = json!(format!(
                                "https://external.xx.fbcdn.net/emg1/v/t13/safe_image.php?url={}",
                                form_urlencoded::byte_serialize(link.as_bytes())
                                    .collect::<String>()
                            ));
                        }
                    }
                    // The story's kind: its own photos, a shared link, or text.
                    "status_type" => {
                        item["status_type"] = json!(if !post.attached_media.is_empty() {
                            "added_photos"
                        } else if post.link.is_some() {
                            "shared_story"
                        } else {
                            "mobile_status_update"
                        });
                    }
                    "permalink_url" => {
                        let number = post.id.rsplit('_').next().unwrap_or_default();
                        item["permalink_url"] = json!(format!(
                            "https://www.facebook.com/{}/posts/{number}",
                            post.page_id
                        ));
                    }
                    _ => {}
                }
            }
            item
        })
        .collect();
    Ok(Reply::json(200, json!({ "data": data })))
}

/// The request's `Idempotency-Key`, naming which delivery's part made a post.
pub(super) fn created_by(req: &Incoming) -> Option<String> {
    req.header(http::HeaderName::from_static("idempotency-key"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{tiny_gif, tiny_jpeg_header, tiny_png, MediaHost};

    const PAGE: &str = "104857600123456";
    const TOKEN: &str = "page-token";

    /// `POST /photos` with `url`; the answer's status and body.
    async fn post_photo(fb: &FakeFacebook, url: &str) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/v26.0/{PAGE}/photos", fb.base_url()))
            .bearer_auth(TOKEN)
            .form(&[("url", url), ("caption", "a photo")])
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    #[test]
    fn photo_formats_are_graphs() {
        assert_eq!(photo_format(&tiny_jpeg_header()), Some("jpeg"));
        assert_eq!(photo_format(&tiny_png()), Some("png"));
        assert_eq!(photo_format(&tiny_gif()), Some("gif"));
        assert_eq!(photo_format(b"II*\0\x08\0\0\0"), Some("tiff"));
        assert_eq!(photo_format(b"\0\0\0\x18ftypisom\0\0\x02\0isommp41"), None);
        assert_eq!(photo_format(b"<!DOCTYPE html>"), None);
    }

    #[tokio::test]
    async fn photos_is_fetched_and_only_an_image_is_taken() {
        let fb = FakeFacebook::start("v26.0").await.unwrap();
        fb.add_page(PAGE, TOKEN);
        let host = MediaHost::start().await.unwrap();
        let mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isommp41\0\0\0\x08free".to_vec();
        // Whatever the names and types say, Graph goes by the bytes it fetches.
        host.serve("/clip.mp4", "", mp4.clone());
        host.serve("/photo.jpg", "image/jpeg", mp4);
        host.serve("/real.mp4", "video/mp4", tiny_png());
        host.fail("/down.png", 503);

        for (path, says) in [
            ("/clip.mp4", "is not an image"),
            ("/photo.jpg", "is not an image"),
            ("/down.png", "could not be fetched: the server answered 503"),
            (
                "/missing.png",
                "could not be fetched: the server answered 404",
            ),
        ] {
            let (status, body) = post_photo(&fb, &host.url(path)).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(body["error"]["code"], 324, "{path}: {body}");
            assert_eq!(body["error"]["type"], "OAuthException");
            assert_eq!(
                body["error"]["message"],
                "(#324) Missing or invalid image file"
            );
            let user_msg = body["error"]["error_user_msg"].as_str().unwrap();
            assert!(user_msg.contains(says), "{path}: {user_msg}");
        }
        let (status, body) = post_photo(&fb, "https://cdn.example.com/a.png").await;
        assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(324)));
        assert!(fb.photos().is_empty() && fb.posts().is_empty());

        let (status, body) = post_photo(&fb, &host.url("/real.mp4")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(fb.photos()[0].url, host.url("/real.mp4"));
        assert_eq!(host.hits("/real.mp4"), 1, "Graph fetched it once");
    }
}
