//! Facebook Graph API for Pages: publishing text, links and photos, finding a post
//! whose answer was lost, deleting, and reading the usage headers every answer carries.
//!
//! Every call carries the Page token and its `appsecret_proof`, so a leaked Page token
//! is of no use without the app secret.

pub mod oauth;

use crate::{excerpt, nothing_published, PublishError, RemotePost};
use crosspost_core::{LinkedAccount, MediaItem, RateLimitScope, Secret, Window};
use hmac::{KeyInit, Mac};
use reqwest::header::HeaderMap;
use serde::Deserialize;

/// Usage of a limit (percent) above which the Page, or the app, stops calling until
/// access comes back: Facebook blocks at 100 % and asks callers to slow down before.
const USAGE_LIMIT_PERCENT: f64 = 90.0;
/// How long the whole app waits when `X-App-Usage` is above the limit: that header
/// gives no time, and its window is a rolling hour.
const APP_USAGE_PAUSE_SECS: i64 = 10 * 60;

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

#[derive(Clone, Debug)]
pub struct FacebookClient {
    http: reqwest::Client,
    base_url: String,
    version: String,
    app_secret: Secret,
}

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
    /// `version` is the Graph API version every call names (e.g. `v26.0`).
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        version: impl Into<String>,
        app_secret: Secret,
    ) -> Self {
        FacebookClient {
            http,
            base_url: base_url.into(),
            version: version.into(),
            app_secret,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/{path}", self.base_url, self.version)
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
    /// or several photos in one post. Alt text goes with each photo.
    pub async fn publish(
        &self,
        page_id: &str,
        token: &Secret,
        message: &str,
        link: Option<&str>,
        media: &[MediaItem],
    ) -> Result<RemotePost, PublishError> {
        if let Some(other) = media.iter().find(|m| !is_photo(m)) {
            return Err(PublishError::Permanent {
                reason: format!(
                    "Facebook posts take photos only for now; {} is {}",
                    other.url,
                    other.content_type.as_deref().unwrap_or("not an image")
                ),
            });
        }
        match media {
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
        let request = self.http.post(self.url(&format!("{page_id}/feed")));
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
        let request = self.http.post(self.url(&format!("{page_id}/photos")));
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

/// Media without a type are taken for photos: intake only lets images and videos in.
fn is_photo(item: &MediaItem) -> bool {
    item.content_type
        .as_deref()
        .is_none_or(|t| t.to_ascii_lowercase().starts_with("image/"))
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

/// The later of two holds; the app's scope wins, as it holds every Page back.
fn later(
    a: Option<(i64, RateLimitScope)>,
    b: Option<(i64, RateLimitScope)>,
) -> Option<(i64, RateLimitScope)> {
    match (a, b) {
        (Some((ua, sa)), Some((ub, sb))) => {
            let scope = if sa == RateLimitScope::App || sb == RateLimitScope::App {
                RateLimitScope::App
            } else {
                RateLimitScope::Account
            };
            Some((ua.max(ub), scope))
        }
        (a, None) => a,
        (None, b) => b,
    }
}

#[derive(Deserialize)]
struct Published {
    #[serde(default)]
    data: Vec<PublishedPost>,
}

#[derive(Deserialize)]
struct PublishedPost {
    id: String,
    #[serde(default)]
    message: Option<String>,
}

impl FacebookClient {
    /// The Page's post since `since_unix` whose message is `message`:
    /// `GET /{page-id}/published_posts`. Photo posts are listed with their caption.
    pub async fn find_recent(
        &self,
        account: &LinkedAccount,
        message: &str,
        window: Window,
    ) -> Result<Option<RemotePost>, PublishError> {
        let since = (window.since_unix - 5).to_string();
        let until = (window.until_unix + 5).to_string();
        let request = self
            .http
            .get(self.url(&format!("{}/published_posts", account.account_id)))
            .query(&[
                ("fields", "message,created_time"),
                ("since", since.as_str()),
                ("until", until.as_str()),
                ("limit", "100"),
            ]);
        let answer = self
            .send_publishing_nothing(request, &account.access_token)
            .await?;
        let published: Published = parse(&answer.body).map_err(nothing_published)?;
        Ok(published
            .data
            .into_iter()
            .find(|p| {
                p.message
                    .as_deref()
                    .is_some_and(|m| crosspost_core::reconcile::same_text(message, m))
            })
            .map(|p| remote_post(p.id, &answer.headers)))
    }

    /// `DELETE /{post-id}`; a post Facebook no longer has counts as deleted.
    pub async fn delete_post(
        &self,
        post_id: &str,
        page_token: &Secret,
    ) -> Result<(), PublishError> {
        let request = self.http.delete(self.url(post_id));
        let answer = self
            .send(request, page_token)
            .await
            .map_err(nothing_published)?;
        if answer.ok() {
            return Ok(());
        }
        // Code 100 with subcode 33: the object does not exist (already deleted).
        if let Ok(GraphErrorBody { error }) = serde_json::from_str::<GraphErrorBody>(&answer.body) {
            if error.code == 100 && error.error_subcode == Some(33) {
                return Ok(());
            }
        }
        Err(classify(answer.status, &answer.headers, &answer.body))
    }
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
}

/// Turns a Graph API error answer into what the caller must do (NETWORKS.md codes).
fn classify(status: u16, headers: &HeaderMap, body: &str) -> PublishError {
    let Ok(GraphErrorBody { error }) = serde_json::from_str::<GraphErrorBody>(body) else {
        let detail = format!("Facebook answered {status}: {}", excerpt(body, 200));
        return if status >= 500 {
            PublishError::Retryable {
                after: None,
                detail,
            }
        } else {
            PublishError::Permanent { reason: detail }
        };
    };
    let detail = match error.error_subcode {
        Some(sub) => format!("Facebook error {}/{sub}: {}", error.code, error.message),
        None => format!("Facebook error {}: {}", error.code, error.message),
    };
    let rate_limited = |scope| PublishError::RateLimited {
        until_unix: regain_access_at(headers),
        scope,
        detail: detail.clone(),
    };
    match error.code {
        1 | 2 => PublishError::Retryable {
            after: None,
            detail,
        },
        // 4: the app's limit; 17, 32, 613: this user's or this Page's.
        4 => rate_limited(RateLimitScope::App),
        17 | 32 | 613 => rate_limited(RateLimitScope::Account),
        // 190 with any subcode (458 app removed, 460 password changed, 463 expired, …).
        190 => PublishError::AuthRevoked { detail },
        10 | 200..=299 => PublishError::Permanent {
            reason: format!(
                "permission missing: posting to a Page needs pages_manage_posts and \
                 pages_read_engagement from someone who can create content on it ({detail})"
            ),
        },
        368 => PublishError::Permanent {
            reason: format!("blocked by Facebook for its policies ({detail})"),
        },
        // A duplicate of a recent post: possibly ours, whose answer was lost.
        506 => PublishError::Uncertain { detail },
        _ if status >= 500 => PublishError::Retryable {
            after: None,
            detail,
        },
        _ => PublishError::Permanent { reason: detail },
    }
}

/// The entries of `X-Business-Use-Case-Usage`: every object's usage records.
fn business_usage(headers: &HeaderMap) -> Vec<serde_json::Value> {
    let usage: Option<serde_json::Value> = headers
        .get("x-business-use-case-usage")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str(v).ok());
    let Some(serde_json::Value::Object(objects)) = usage else {
        return Vec::new();
    };
    objects
        .into_iter()
        .filter_map(|(_, entries)| match entries {
            serde_json::Value::Array(entries) => Some(entries),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The highest of an entry's percentages (call count, CPU time, total time).
fn highest_percent(entry: &serde_json::Value) -> f64 {
    ["call_count", "total_cputime", "total_time"]
        .iter()
        .filter_map(|k| entry[k].as_f64())
        .fold(0.0, f64::max)
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// When access comes back, from `X-Business-Use-Case-Usage`'s
/// `estimated_time_to_regain_access` (minutes), if the answer says.
fn regain_access_at(headers: &HeaderMap) -> Option<i64> {
    let minutes = business_usage(headers)
        .iter()
        .filter_map(|e| e["estimated_time_to_regain_access"].as_i64())
        .max()?;
    Some(now_unix() + minutes.max(1) * 60)
}

/// What an answer's usage headers ask for: above [`USAGE_LIMIT_PERCENT`] of a Page's
/// limit, that Page waits until the regain time; above it on `X-App-Usage`, the app.
fn usage_hold(headers: &HeaderMap) -> Option<(i64, RateLimitScope)> {
    let now = now_unix();
    let page = business_usage(headers)
        .iter()
        .filter(|e| highest_percent(e) > USAGE_LIMIT_PERCENT)
        .map(|e| {
            let minutes = e["estimated_time_to_regain_access"].as_i64().unwrap_or(0);
            now + minutes.max(1) * 60
        })
        .max()
        .map(|until| (until, RateLimitScope::Account));
    let app_usage: Option<serde_json::Value> = headers
        .get("x-app-usage")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str(v).ok());
    let app = app_usage
        .filter(|u| highest_percent(u) > USAGE_LIMIT_PERCENT)
        .map(|_| (now + APP_USAGE_PAUSE_SECS, RateLimitScope::App));
    later(page, app)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: i64) -> String {
        format!(
            r#"{{"error":{{"message":"m","type":"OAuthException","code":{code},"fbtrace_id":"x"}}}}"#
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, value.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_proof_is_the_hex_hmac_of_the_token() {
        // python3: hmac.new(b"app-secret", b"page-token", hashlib.sha256).hexdigest()
        assert_eq!(
            appsecret_proof(&Secret::new("app-secret"), &Secret::new("page-token")),
            "d8b448b9cc7d64c51098271805b3cc20b5b715e52bd587eb71b610259587c856"
        );
    }

    #[test]
    fn graph_codes_are_classified() {
        let h = HeaderMap::new();
        assert_eq!(classify(400, &h, &err(190)).kind(), "auth_revoked");
        assert_eq!(classify(400, &h, &err(2)).kind(), "retryable");
        assert!(matches!(
            classify(400, &h, &err(32)),
            PublishError::RateLimited {
                scope: RateLimitScope::Account,
                until_unix: None,
                ..
            }
        ));
        assert!(matches!(
            classify(400, &h, &err(4)),
            PublishError::RateLimited {
                scope: RateLimitScope::App,
                ..
            }
        ));
        assert_eq!(classify(400, &h, &err(506)).kind(), "uncertain");
        assert_eq!(classify(400, &h, &err(100)).kind(), "permanent");
        assert_eq!(classify(503, &h, "busy").kind(), "retryable");
        assert_eq!(classify(400, &h, "??").kind(), "permanent");
        for code in [10, 200, 299] {
            let PublishError::Permanent { reason } = classify(403, &h, &err(code)) else {
                panic!("{code} is permanent")
            };
            assert!(reason.contains("pages_manage_posts"), "{reason}");
        }
        let PublishError::Permanent { reason } = classify(400, &h, &err(368)) else {
            panic!("368 is permanent")
        };
        assert!(reason.contains("blocked"), "{reason}");
        let usage = headers(&[(
            "x-business-use-case-usage",
            r#"{"104":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":7}]}"#,
        )]);
        let PublishError::RateLimited {
            until_unix: Some(until),
            ..
        } = classify(400, &usage, &err(32))
        else {
            panic!("rate limited with a time expected")
        };
        let wait = until - now_unix();
        assert!((419..=421).contains(&wait), "{wait}");
    }

    #[test]
    fn usage_above_ninety_percent_holds_the_page_or_the_app() {
        assert_eq!(usage_hold(&HeaderMap::new()), None);
        let calm = headers(&[(
            "x-business-use-case-usage",
            r#"{"104":[{"type":"pages","call_count":90,"total_cputime":5,"total_time":5,"estimated_time_to_regain_access":0}]}"#,
        )]);
        assert_eq!(usage_hold(&calm), None);
        let busy = headers(&[(
            "x-business-use-case-usage",
            r#"{"104":[{"type":"pages","call_count":12,"total_cputime":95,"total_time":10,"estimated_time_to_regain_access":3}]}"#,
        )]);
        let (until, scope) = usage_hold(&busy).unwrap();
        assert_eq!(scope, RateLimitScope::Account);
        assert!((179..=181).contains(&(until - now_unix())));
        let app = headers(&[(
            "x-app-usage",
            r#"{"call_count":91,"total_cputime":1,"total_time":1}"#,
        )]);
        let (until, scope) = usage_hold(&app).unwrap();
        assert_eq!(scope, RateLimitScope::App);
        assert!(until - now_unix() >= APP_USAGE_PAUSE_SECS - 1);
        assert_eq!(
            usage_hold(&headers(&[("x-app-usage", "not json")])),
            None,
            "an unreadable header holds nothing back"
        );
    }

    #[test]
    fn only_images_go_to_photos() {
        let item = |ct: Option<&str>| MediaItem {
            url: "https://cdn.example.com/a".into(),
            alt: None,
            content_type: ct.map(str::to_owned),
        };
        assert!(is_photo(&item(None)));
        assert!(is_photo(&item(Some("image/JPEG"))));
        assert!(!is_photo(&item(Some("video/mp4"))));
    }
}
