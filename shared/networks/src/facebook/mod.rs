//! Facebook Pages (Graph API): the client (text, link, photo and video posts), Facebook
//! Login for linking Pages, what Graph's answers and usage headers mean, and the
//! delivery worker's [`crosspost_core::Publisher`] (the client itself) and the connect
//! function's [`crosspost_core::linking::Linker`] for Facebook.
//!
//! Every call carries the Page token and its `appsecret_proof`, so a leaked Page token
//! is of no use without the app secret. A post's media are sniffed before any call
//! ([`MediaFetcher::plan`]): what its bytes show to be images or GIFs goes to
//! `/photos`, a video to `/videos` (`video.rs`).

mod error;
mod link;
pub mod oauth;
mod publish;
mod video;

pub use video::FILE_URL_MAX_BYTES;

use crate::media::MediaFetcher;
use crate::{excerpt, nothing_published, PublishError, RemotePost};
use crosspost_core::media::MediaKind;
use crosspost_core::{MediaItem, Network, RateLimitScope, Secret};
use error::{classify, later, usage_hold};
use hmac::{KeyInit, Mac};
use reqwest::header::HeaderMap;
use serde::Deserialize;

/// `appsecret_proof`: hex HMAC-SHA256 of the access token keyed with the app secret.
pub fn appsecret_proof(app_secret: &Secret, access_token: &Secret) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(app_secret.expose().as_bytes())
    else {
        return String::new();
    };
    mac.update(access_token.expose().as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where the Graph API answers (`https://graph.facebook.com`, or a fake's) and the
/// version every call names (`v26.0`; the `FacebookGraphVersion` parameter, since Graph
/// versions sunset about two years after release).
#[derive(Clone, Debug)]
pub struct Graph {
    pub base_url: String,
    pub version: String,
}

impl Graph {
    pub fn new(base_url: impl Into<String>, version: impl Into<String>) -> Self {
        Graph {
            base_url: base_url.into(),
            version: version.into(),
        }
    }

    /// `{base_url}/{version}/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}/{path}", self.base_url, self.version)
    }
}

/// The Graph API with a Page token, and Facebook's [`crosspost_core::Publisher`]:
/// every call carries the token and its [`appsecret_proof`]; answers are classified by
/// Graph's error codes and usage headers (`error.rs`).
#[derive(Clone, Debug)]
pub struct FacebookClient {
    http: reqwest::Client,
    graph: Graph,
    app_secret: Secret,
    /// Reads each media file's first bytes, to know what it is before Graph sees it.
    media: MediaFetcher,
    /// The `Idempotency-Key` its create calls carry (see [`FacebookClient::keyed`]).
    key: Option<String>,
    /// How long a video post waits for Graph to process the video.
    video_budget: std::time::Duration,
}

/// How long a video post waits for Graph's processing unless told otherwise.
const DEFAULT_VIDEO_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// One answer, read whole.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct PhotoCreated {
    id: String,
    #[serde(default)]
    post_id: Option<String>,
}

impl FacebookClient {
    /// Every call goes to `graph` and carries the `appsecret_proof` of `app_secret`;
    /// `media` tells what each of a post's media files is.
    pub fn new(
        http: reqwest::Client,
        graph: Graph,
        app_secret: Secret,
        media: MediaFetcher,
    ) -> Self {
        FacebookClient {
            http,
            graph,
            app_secret,
            media,
            key: None,
            video_budget: DEFAULT_VIDEO_BUDGET,
        }
    }

    /// The same client, waiting at most `budget` for Graph to process a video before
    /// the delivery is left `Uncertain` (20 s unless set).
    pub fn with_video_processing_budget(self, budget: std::time::Duration) -> Self {
        FacebookClient {
            video_budget: budget,
            ..self
        }
    }

    fn url(&self, path: &str) -> String {
        self.graph.url(path)
    }

    /// Sends a request with the token and its `appsecret_proof` and reads the answer.
    /// A failure after the request left is Uncertain: a write may have happened.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        token: &Secret,
    ) -> Result<Answer, PublishError> {
        let proof = appsecret_proof(&self.app_secret, token);
        let resp = request
            .bearer_auth(token.expose())
            .query(&[("appsecret_proof", proof.as_str())])
            .send()
            .await
            .map_err(|e| crate::from_transport(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.map_err(|e| PublishError::Uncertain {
            detail: format!(
                "answer not read: {}",
                crate::WithoutUrl::without_url_ref(&e)
            ),
        })?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// [`FacebookClient::send`] for a call that publishes nothing: every failure, a
    /// refusal included, is classified with an unknown outcome made a plain retry.
    async fn send_publishing_nothing(
        &self,
        request: reqwest::RequestBuilder,
        token: &Secret,
    ) -> Result<Answer, PublishError> {
        let answer = self.send(request, token).await.map_err(nothing_published)?;
        if !answer.ok() {
            return Err(nothing_published(classify(
                answer.status,
                &answer.headers,
                &answer.body,
            )));
        }
        Ok(answer)
    }

    /// Publishes one post to a Page: a text or link post, one photo with its caption,
    /// several photos in one post, or one video with the message as its description
    /// (`video.rs`). Alt text goes with each photo. The media are sniffed first and
    /// planned ([`crosspost_core::media::plan`]): a file that is no media at all fails
    /// the post (`Permanent`, naming the item and its type) before anything is sent to
    /// Graph; what the plan leaves out (a video beside photos) is logged.
    pub async fn publish(
        &self,
        page_id: &str,
        token: &Secret,
        message: &str,
        link: Option<&str>,
        media: &[MediaItem],
    ) -> Result<RemotePost, PublishError> {
        let plan = self.media.plan(Network::Facebook, media).await?;
        if let Some(video) = plan.attached.iter().find(|p| p.kind == MediaKind::Video) {
            return self.post_video(page_id, token, message, video).await;
        }
        let photos: Vec<&MediaItem> = plan
            .attached
            .iter()
            .filter_map(|planned| media.get(planned.index))
            .collect();
        match photos.as_slice() {
            [] => self.post_feed(page_id, token, message, link, &[]).await,
            [photo] => self.post_photo(page_id, token, message, photo).await,
            photos => {
                let mut ids = Vec::with_capacity(photos.len());
                let mut hold = None;
                for photo in photos {
                    let (id, photo_hold) = self.upload_unpublished(page_id, token, photo).await?;
                    ids.push(id);
                    hold = later(hold, photo_hold);
                }
                let mut post = self.post_feed(page_id, token, message, None, &ids).await?;
                post.hold = later(post.hold, hold);
                Ok(post)
            }
        }
    }

    /// The same client, whose create calls (`/feed`, a published `/photos`, and
    /// `/videos` with `file_url` or `upload_phase` `start` or `finish`) carry
    /// `Idempotency-Key: key` (a delivery's part, `<post id>.<index>`). Graph ignores
    /// it; the local fake records it, so tests can tell which request made which post.
    pub fn keyed(&self, key: &str) -> FacebookClient {
        FacebookClient {
            key: Some(key.to_owned()),
            ..self.clone()
        }
    }

    /// A create call's request, with the idempotency key when there is one.
    fn create(&self, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.post(self.url(path));
        match &self.key {
            Some(key) => request.header("idempotency-key", key),
            None => request,
        }
    }

    /// `POST /{page-id}/feed` with a message, an optional link and photos uploaded
    /// unpublished (`attached_media`).
    pub async fn post_feed(
        &self,
        page_id: &str,
        token: &Secret,
        message: &str,
        link: Option<&str>,
        attached_media: &[String],
    ) -> Result<RemotePost, PublishError> {
        let mut form: Vec<(String, String)> = Vec::new();
        if !message.is_empty() {
            form.push(("message".into(), message.into()));
        }
        if let Some(link) = link {
            form.push(("link".into(), link.into()));
        }
        for (i, id) in attached_media.iter().enumerate() {
            form.push((
                format!("attached_media[{i}]"),
                serde_json::json!({ "media_fbid": id }).to_string(),
            ));
        }
        let request = self.create(&format!("{page_id}/feed"));
        let answer = self.send(request.form(&form), token).await?;
        if !answer.ok() {
            return Err(classify(answer.status, &answer.headers, &answer.body));
        }
        let created: Created = parse(&answer.body)?;
        Ok(remote_post(created.id, &answer.headers))
    }

    /// `POST /{page-id}/photos` published at once with the message as its caption; the
    /// post is the answer's `post_id`.
    async fn post_photo(
        &self,
        page_id: &str,
        token: &Secret,
        message: &str,
        photo: &MediaItem,
    ) -> Result<RemotePost, PublishError> {
        let mut form = photo_form(photo);
        if !message.is_empty() {
            form.push(("caption", message));
        }
        let request = self.create(&format!("{page_id}/photos"));
        let answer = self.send(request.form(&form), token).await?;
        if !answer.ok() {
            return Err(classify(answer.status, &answer.headers, &answer.body));
        }
        let created: PhotoCreated = parse(&answer.body)?;
        let post_id = created.post_id.ok_or_else(|| PublishError::Uncertain {
            detail: format!("Facebook published photo {} without a post id", created.id),
        })?;
        Ok(remote_post(post_id, &answer.headers))
    }

    /// `POST /{page-id}/photos` with `published=false`, for a post of several photos:
    /// the photo's id, and the hold its answer asks for. Nothing is visible yet, so an
    /// answer that never came is only worth another try.
    async fn upload_unpublished(
        &self,
        page_id: &str,
        token: &Secret,
        photo: &MediaItem,
    ) -> Result<(String, Option<(i64, RateLimitScope)>), PublishError> {
        let mut form = photo_form(photo);
        form.push(("published", "false"));
        let request = self.http.post(self.url(&format!("{page_id}/photos")));
        let answer = self
            .send_publishing_nothing(request.form(&form), token)
            .await?;
        let created: PhotoCreated = parse(&answer.body).map_err(nothing_published)?;
        Ok((created.id, usage_hold(&answer.headers)))
    }
}

fn photo_form(photo: &MediaItem) -> Vec<(&'static str, &str)> {
    let mut form = vec![("url", photo.url.as_str())];
    if let Some(alt) = photo.alt.as_deref().filter(|a| !a.is_empty()) {
        form.push(("alt_text_custom", alt));
    }
    form
}

fn remote_post(id: String, headers: &HeaderMap) -> RemotePost {
    RemotePost {
        url: format!("https://www.facebook.com/{id}"),
        id,
        hold: usage_hold(headers),
    }
}

/// A success answer's body; one we cannot read leaves the outcome unknown.
fn parse<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, PublishError> {
    serde_json::from_str(body).map_err(|e| PublishError::Uncertain {
        detail: format!(
            "unexpected answer from Facebook ({e}): {}",
            excerpt(body, 200)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proof_is_the_hex_hmac_of_the_token() {
        // python3: hmac.new(b"app-secret", b"page-token", hashlib.sha256).hexdigest()
        assert_eq!(
            appsecret_proof(&Secret::new("app-secret"), &Secret::new("page-token")),
            "d8b448b9cc7d64c51098271805b3cc20b5b715e52bd587eb71b610259587c856"
        );
    }
}
