//! Fake Facebook Graph API for Pages: feed posts, photos (published at once, or
//! unpublished and attached to a feed post), deleting posts, listing published posts,
//! and the login pieces (code exchange, long-lived user tokens, `/me/accounts`).
//!
//! With an app secret set ([`FakeFacebook::set_app_secret`]), every call that carries
//! an access token must carry its `appsecret_proof`, as with the app setting
//! "Require App Secret".

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use hmac::{KeyInit, Mac};
use http::StatusCode;
use serde_json::{json, Value};

use crate::fault::Faults;
use crate::server::{
    graph_time, is_digits, lock, now_ms, parse_form, parse_rfc3339_ms, trace_id, Api, Controls,
    Incoming, RecordedRequest, Recorder, Reply,
};

/// Longest `message` the Graph API accepts on a feed post (characters).
const MAX_MESSAGE_CHARS: usize = 63_206;
/// First post number handed out (the part after `<page_id>_`).
const FIRST_POST_NUMBER: u64 = 122_100_000_000_000_001;
/// First photo id handed out.
const FIRST_PHOTO_ID: u64 = 122_200_000_000_000_001;
/// Lifetime of a short-lived user token, and of a long-lived one (about 60 days).
const SHORT_LIVED_SECS: u64 = 5_400;
const LONG_LIVED_SECS: u64 = 5_183_944;

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

/// Handle to a running fake Graph API. Clones share the server; it stops when the
/// last clone is dropped or on [`Controls::shutdown`].
#[derive(Clone)]
pub struct FakeFacebook {
    api: Arc<GraphApi>,
    controls: Controls,
}

/// The controls every fake shares: `base_url`, `requests`, `clear_requests`,
/// `inject`, `inject_randomly`, `pending_faults`, `shutdown`.
impl std::ops::Deref for FakeFacebook {
    type Target = Controls;

    fn deref(&self) -> &Controls {
        &self.controls
    }
}

impl FakeFacebook {
    /// `graph_version` is the only version prefix accepted, e.g. `v26.0`.
    pub async fn start(graph_version: &str) -> std::io::Result<FakeFacebook> {
        let api = Arc::new(GraphApi {
            version: graph_version.to_owned(),
            state: Mutex::default(),
            recorder: Recorder::default(),
            faults: Faults::default(),
        });
        let controls = Controls::start(api.clone()).await?;
        Ok(FakeFacebook { api, controls })
    }

    /// Creates a Page (if new) and accepts `page_token` as a Page access token for it.
    pub fn add_page(&self, page_id: &str, page_token: &str) {
        lock(&self.api.state).add_page(page_id, page_token);
    }

    /// From now on every call with an access token must carry
    /// `appsecret_proof` = hex HMAC-SHA256(token, `app_secret`); a wrong or missing one
    /// answers Graph error 100. The code exchange checks `client_secret` against it.
    pub fn set_app_secret(&self, app_secret: &str) {
        lock(&self.api.state).app_secret = Some(app_secret.to_owned());
    }

    /// The app id the code exchange expects as `client_id`.
    pub fn set_app_id(&self, app_id: &str) {
        lock(&self.api.state).app_id = Some(app_id.to_owned());
    }

    /// Makes `user_id` someone who can perform `tasks` (e.g. `CREATE_CONTENT`,
    /// `MANAGE`) on the Page (created if new): `/me/accounts` lists it for them with a
    /// Page token, which is returned.
    pub fn grant_page(
        &self,
        user_id: &str,
        page_id: &str,
        page_name: &str,
        tasks: &[&str],
    ) -> String {
        let mut state = lock(&self.api.state);
        let token = format!("fb-page-{page_id}-{}", trace_id());
        state.add_page(page_id, &token);
        let roles = state.users.entry(user_id.to_owned()).or_default();
        roles.retain(|r| r.page_id != page_id);
        roles.push(PageRole {
            page_id: page_id.to_owned(),
            name: page_name.to_owned(),
            tasks: tasks.iter().map(|t| (*t).to_owned()).collect(),
            token: token.clone(),
        });
        token
    }

    /// Registers a valid OAuth redirect URI of the app (matched exactly).
    pub fn register_redirect_uri(&self, uri: &str) {
        lock(&self.api.state).redirect_uris.push(uri.to_owned());
    }

    /// `user_id` is logged in to Facebook and approves the login dialog at once.
    pub fn sign_in(&self, user_id: &str) {
        let mut state = lock(&self.api.state);
        state.users.entry(user_id.to_owned()).or_default();
        state.signed_in = Some(user_id.to_owned());
    }

    /// The next login dialog is cancelled: Facebook redirects with
    /// `error=access_denied&error_reason=user_denied`.
    pub fn deny_next_login(&self) {
        lock(&self.api.state).deny_next = true;
    }

    /// A login code for `user_id`, as the login dialog would redirect with to
    /// `redirect_uri`: usable once, with that same `redirect_uri`.
    pub fn issue_code(&self, user_id: &str, redirect_uri: &str) -> String {
        let mut state = lock(&self.api.state);
        state.users.entry(user_id.to_owned()).or_default();
        let code = format!("AQ{}", trace_id());
        state.codes.insert(
            code.clone(),
            LoginCode {
                user_id: user_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                used: false,
            },
        );
        code
    }

    /// Every photo received so far, unpublished ones included.
    pub fn photos(&self) -> Vec<PagePhoto> {
        lock(&self.api.state).photos.clone()
    }

    /// A recorded request's parameters, from its query string then its form body (in
    /// that order, as Graph reads both).
    pub fn parameters_of(request: &RecordedRequest) -> Vec<(String, String)> {
        let mut params = parse_form(request.query.as_bytes());
        let form = request.content_type.as_deref().is_some_and(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        if form {
            params.extend(parse_form(request.body.as_bytes()));
        }
        params
    }

    /// Whether `proof` is the right `appsecret_proof` for `token` with the app secret set.
    pub fn proof_is_valid(&self, token: &str, proof: &str) -> bool {
        lock(&self.api.state)
            .app_secret
            .as_deref()
            .is_some_and(|secret| proof_for(secret, token) == proof)
    }

    /// Takes the app's access to a Page away (as when the user loses the Page role or
    /// changes their password): its tokens answer Graph error 190 (subcode 460) from
    /// now on. The Page and its posts stay.
    pub fn remove_page(&self, page_id: &str) {
        let mut state = lock(&self.api.state);
        let tokens: Vec<String> = state
            .tokens
            .iter()
            .filter(|(_, page)| *page == page_id)
            .map(|(token, _)| token.clone())
            .collect();
        for token in tokens {
            state.tokens.remove(&token);
            state.revoked.insert(token);
        }
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

struct GraphApi {
    version: String,
    state: Mutex<GraphState>,
    recorder: Recorder,
    faults: Faults,
}

#[derive(Default)]
struct GraphState {
    pages: Vec<String>,
    /// Page access token → page id
    tokens: HashMap<String, String>,
    /// Tokens of Pages taken away with `remove_page`.
    revoked: HashSet<String>,
    posts: Vec<StoredPost>,
    next_number: u64,
    photos: Vec<PagePhoto>,
    app_id: Option<String>,
    app_secret: Option<String>,
    /// user id → the Pages they have a role on
    users: HashMap<String, Vec<PageRole>>,
    /// user access token → (user id, long-lived)
    user_tokens: HashMap<String, (String, bool)>,
    codes: HashMap<String, LoginCode>,
    /// The app's valid OAuth redirect URIs: the login dialog refuses any other.
    redirect_uris: Vec<String>,
    /// Who is logged in to Facebook and approves the login dialog at once.
    signed_in: Option<String>,
    /// The next login dialog is cancelled by the person.
    deny_next: bool,
}

struct PageRole {
    page_id: String,
    name: String,
    tasks: Vec<String>,
    token: String,
}

struct LoginCode {
    user_id: String,
    redirect_uri: String,
    used: bool,
}

struct StoredPost {
    post: PagePost,
    deleted: bool,
}

impl GraphState {
    fn add_page(&mut self, page_id: &str, page_token: &str) {
        self.revoked.remove(page_token);
        self.tokens
            .insert(page_token.to_owned(), page_id.to_owned());
        if !self.pages.iter().any(|p| p == page_id) {
            self.pages.push(page_id.to_owned());
        }
    }

    fn insert(&mut self, mut post: PagePost) -> String {
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

impl Api for GraphApi {
    fn handle(&self, req: &Incoming) -> Reply {
        let mut state = lock(&self.state);
        let segments = req.segments();
        let (version, rest) = segments.split_first().unwrap_or((&"", &[]));
        let result = if *version != self.version {
            Err(graph_error(
                400,
                2635,
                None,
                &format!(
                    "(#2635) You are calling a deprecated version of the Graph API. Please update to the latest version: {}.",
                    self.version
                ),
            ))
        } else {
            match (req.method.as_str(), rest) {
                ("GET", ["oauth", "access_token"]) => access_token(&mut state, req),
                ("GET", ["dialog", "oauth"]) => login_dialog(&mut state, req),
                ("GET", ["me", "accounts"]) => my_accounts(&state, req),
                ("POST", [page_id, "feed"]) if !page_id.is_empty() => {
                    feed_post(&mut state, req, page_id)
                }
                ("POST", [page_id, "photos"]) if !page_id.is_empty() => {
                    photo_post(&mut state, req, page_id)
                }
                ("GET", [page_id, "published_posts"]) if !page_id.is_empty() => {
                    published_posts(&state, req, page_id)
                }
                ("DELETE", [post_id]) if !post_id.is_empty() => {
                    delete_post(&mut state, req, post_id)
                }
                _ => Err(graph_error(
                    400,
                    100,
                    None,
                    &format!("(#100) Unknown path components: /{}", rest.join("/")),
                )),
            }
        };
        result.unwrap_or_else(|reply| reply)
    }

    fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn faults(&self) -> &Faults {
        &self.faults
    }

    fn unreadable_body(&self) -> Reply {
        graph_error(400, 100, None, "(#100) The request body could not be read")
    }

    fn server_error(&self, status: StatusCode) -> Reply {
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            graph_error(status.as_u16(), 1, None, "An unknown error has occurred.")
        } else {
            graph_error(
                status.as_u16(),
                2,
                None,
                "An unexpected error has occurred. Please retry your request later.",
            )
        }
    }

    fn rate_limited(&self, req: &Incoming, reset_unix: i64) -> Reply {
        let page = {
            let state = lock(&self.state);
            let params = parameters(req).unwrap_or_default();
            req.auth_token(&["Bearer", "OAuth"])
                .or_else(|| param(&params, "access_token"))
                .and_then(|token| state.tokens.get(token))
                .cloned()
        };
        let full = json!({"call_count": 100, "total_cputime": 100, "total_time": 100});
        match page {
            Some(page_id) => {
                let now_s = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
                let minutes = (reset_unix.saturating_sub(now_s).max(0) + 59) / 60;
                let mut usage = full;
                usage["type"] = json!("pages");
                usage["estimated_time_to_regain_access"] = json!(minutes);
                let header = json!({ page_id.as_str(): [usage] });
                graph_error(400, 32, None, "(#32) Page request limit reached")
                    .with_header("x-business-use-case-usage", &header.to_string())
            }
            None => graph_error(400, 4, None, "(#4) Application request limit reached")
                .with_header("x-app-usage", &full.to_string()),
        }
    }
}

type Answer = Result<Reply, Reply>;

/// `{"error":{"message","type","code","error_subcode"?,"fbtrace_id"}}`
fn graph_error(status: u16, code: u32, subcode: Option<u32>, message: &str) -> Reply {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": trace_id(),
    });
    if let Some(subcode) = subcode {
        error["error_subcode"] = json!(subcode);
    }
    Reply::json(status, json!({ "error": error }))
}

fn invalid_parameter(message: &str) -> Reply {
    graph_error(400, 100, None, &format!("(#100) {message}"))
}

fn no_such_object(verb: &str, id: &str) -> Reply {
    graph_error(
        400,
        100,
        Some(33),
        &format!(
            "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
        ),
    )
}

fn permission_error() -> Reply {
    graph_error(
        403,
        200,
        None,
        "(#200) If posting to a page, requires both pages_read_engagement and pages_manage_posts as an admin with sufficient administrative permission",
    )
}

/// Parameters from the query string and the body (form or JSON), as Graph accepts all three.
fn parameters(req: &Incoming) -> Result<Vec<(String, String)>, Reply> {
    let mut params = req.query_pairs();
    if req.body.is_empty() {
        return Ok(params);
    }
    if req.content_type_is("application/x-www-form-urlencoded") {
        params.extend(parse_form(&req.body));
    } else if req.content_type_is("application/json") {
        let body: Value = serde_json::from_slice(&req.body)
            .map_err(|_| invalid_parameter("The request body is not valid JSON"))?;
        let Value::Object(body) = body else {
            return Err(invalid_parameter("The JSON body must be an object"));
        };
        for (name, value) in body {
            let value = match value {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            params.push((name, value));
        }
    }
    // Other bodies (multipart included) are not parsed by the fake yet.
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Rejects parameter names outside `allowed` (a trailing `[` in an entry allows `name[...]`).
fn check_names(params: &[(String, String)], allowed: &[&str]) -> Result<(), Reply> {
    for (name, _) in params {
        let known = allowed.iter().any(|a| match a.strip_suffix('[') {
            Some(prefix) => {
                name == prefix
                    || (name.starts_with(a) && name.ends_with(']') && name.len() > a.len() + 1)
            }
            None => name == a,
        });
        if !known {
            return Err(invalid_parameter(&format!(
                "Param {name} is not a valid parameter for this request"
            )));
        }
    }
    Ok(())
}

/// The Page whose token the request carries, from `Authorization: Bearer|OAuth` or `access_token`.
fn authenticate(
    state: &GraphState,
    req: &Incoming,
    params: &[(String, String)],
) -> Result<String, Reply> {
    let token = req
        .auth_token(&["Bearer", "OAuth"])
        .or_else(|| param(params, "access_token"));
    if token.is_some_and(|token| state.revoked.contains(token)) {
        return Err(graph_error(
            400,
            190,
            Some(460),
            "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
        ));
    }
    let (token, page_id) = token
        .and_then(|token| state.tokens.get_key_value(token))
        .ok_or_else(invalid_token)?;
    check_appsecret_proof(state, token, params)?;
    Ok(page_id.clone())
}

fn invalid_token() -> Reply {
    graph_error(
        400,
        190,
        None,
        "Invalid OAuth access token - Cannot parse access token",
    )
}

/// Hex HMAC-SHA256 of the token keyed with the app secret.
fn proof_for(app_secret: &str, token: &str) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(token.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// With an app secret set, `appsecret_proof` must be the token's proof; without one,
/// a proof that is present must at least look like a hex HMAC-SHA256.
fn check_appsecret_proof(
    state: &GraphState,
    token: &str,
    params: &[(String, String)],
) -> Result<(), Reply> {
    let given = param(params, "appsecret_proof");
    let valid = match (&state.app_secret, given) {
        (Some(secret), Some(proof)) => proof_for(secret, token) == proof,
        (Some(_), None) => false,
        (None, Some(proof)) => proof.len() == 64 && proof.bytes().all(|b| b.is_ascii_hexdigit()),
        (None, None) => true,
    };
    if valid {
        Ok(())
    } else {
        Err(invalid_parameter(
            "Invalid appsecret_proof provided in the API argument",
        ))
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Unix seconds or RFC 3339.
fn parse_time_s(value: &str) -> Option<i64> {
    if is_digits(value) {
        value.parse().ok()
    } else {
        parse_rfc3339_ms(value).map(|ms| ms.div_euclid(1000))
    }
}

/// A call on a Page (`verb` as Graph names it in its error): the token must be a
/// Page token, the Page must exist, and the token must be that Page's own.
fn on_own_page(
    state: &GraphState,
    req: &Incoming,
    params: &[(String, String)],
    verb: &str,
    page_id: &str,
) -> Result<(), Reply> {
    let token_page = authenticate(state, req, params)?;
    if !state.pages.iter().any(|p| p == page_id) {
        return Err(no_such_object(verb, page_id));
    }
    if token_page != page_id {
        return Err(permission_error());
    }
    Ok(())
}

/// `POST /{version}/{page_id}/feed`
fn feed_post(state: &mut GraphState, req: &Incoming, page_id: &str) -> Answer {
    let params = parameters(req)?;
    on_own_page(state, req, &params, "post", page_id)?;
    check_names(
        &params,
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
    let published = match param(&params, "published") {
        None => true,
        Some(value) => parse_bool(value)
            .ok_or_else(|| invalid_parameter("Param published must be a boolean"))?,
    };
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
    });
    for photo in &mut state.photos {
        if attached_media.contains(&photo.id) {
            photo.post_id = Some(id.clone());
        }
    }
    Ok(Reply::json(200, json!({ "id": id })))
}

/// `POST /{version}/{page_id}/photos` with `url` (Facebook fetches it; the fake only
/// checks it is an http(s) URL). Published: a post with the caption →
/// `{"id","post_id"}`. With `published=false`: a photo to attach to a feed post → `{"id"}`.
fn photo_post(state: &mut GraphState, req: &Incoming, page_id: &str) -> Answer {
    let params = parameters(req)?;
    on_own_page(state, req, &params, "post", page_id)?;
    check_names(
        &params,
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
    let caption = param(&params, "caption").filter(|c| !c.is_empty());
    if caption.is_some_and(|c| c.chars().count() > MAX_MESSAGE_CHARS) {
        return Err(invalid_parameter(&format!(
            "The caption is too long: at most {MAX_MESSAGE_CHARS} characters are allowed"
        )));
    }
    let published = match param(&params, "published") {
        None => true,
        Some(value) => parse_bool(value)
            .ok_or_else(|| invalid_parameter("Param published must be a boolean"))?,
    };
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
    });
    photo.post_id = Some(post_id.clone());
    state.photos.push(photo);
    Ok(Reply::json(
        200,
        json!({ "id": photo_id, "post_id": post_id }),
    ))
}

/// `GET /{version}/dialog/oauth` (on www.facebook.com for real): the login dialog. An
/// unknown app or a redirect URI not registered is an error page (400 here), never a
/// redirect. Otherwise the logged-in person approves at once, or cancels when a test
/// said so, and the browser goes back to the redirect URI with `code` and `state`.
fn login_dialog(state: &mut GraphState, req: &Incoming) -> Answer {
    let params = req.query_pairs();
    check_names(
        &params,
        &[
            "client_id",
            "redirect_uri",
            "state",
            "scope",
            "response_type",
        ],
    )?;
    let get = |name: &str| param(&params, name).unwrap_or("");
    if state.app_id.as_deref() != Some(get("client_id")) {
        return Err(invalid_parameter("Invalid App ID"));
    }
    let redirect_uri = get("redirect_uri");
    if !state.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(invalid_parameter(
            "URL blocked: This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings.",
        ));
    }
    if !matches!(get("response_type"), "" | "code") {
        return Err(invalid_parameter("Invalid response_type"));
    }
    const PERMISSIONS: &[&str] = &[
        "pages_show_list",
        "pages_read_engagement",
        "pages_manage_posts",
        "publish_video",
    ];
    if let Some(unknown) = get("scope")
        .split(',')
        .find(|s| !PERMISSIONS.contains(&s.trim()))
    {
        return Err(invalid_parameter(&format!(
            "Invalid Scopes: {unknown}. This message is only shown to developers."
        )));
    }
    let st = get("state").to_owned();
    let back = |pairs: &[(&str, &str)]| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        Reply::json(302, json!({}))
            .with_header("location", &format!("{redirect_uri}?{}", query.finish()))
    };
    if std::mem::take(&mut state.deny_next) {
        return Ok(back(&[
            ("error", "access_denied"),
            ("error_code", "200"),
            ("error_description", "Permissions error"),
            ("error_reason", "user_denied"),
            ("state", &st),
        ]));
    }
    let Some(user_id) = state.signed_in.clone() else {
        return Err(invalid_parameter(
            "Nobody is logged in to the fake Facebook.",
        ));
    };
    let code = format!("AQ{}", trace_id());
    state.codes.insert(
        code.clone(),
        LoginCode {
            user_id,
            redirect_uri: redirect_uri.to_owned(),
            used: false,
        },
    );
    Ok(back(&[("code", &code), ("state", &st)]))
}

/// `GET /{version}/oauth/access_token`: a login code for a short-lived user token
/// (`client_id`, `redirect_uri`, `client_secret`, `code`), or a user token for a
/// long-lived one (`grant_type=fb_exchange_token`, `client_id`, `client_secret`,
/// `fb_exchange_token`).
fn access_token(state: &mut GraphState, req: &Incoming) -> Answer {
    let params = req.query_pairs();
    let exchange = param(&params, "grant_type") == Some("fb_exchange_token");
    if exchange {
        check_names(
            &params,
            &[
                "grant_type",
                "client_id",
                "client_secret",
                "fb_exchange_token",
            ],
        )?;
    } else {
        check_names(
            &params,
            &["client_id", "redirect_uri", "client_secret", "code"],
        )?;
    }
    let required = |name: &str| {
        param(&params, name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid_parameter(&format!("Missing {name} parameter.")))
    };
    let client_id = required("client_id")?;
    let client_secret = required("client_secret")?;
    if state.app_id.as_deref() != Some(client_id) {
        return Err(graph_error(
            400,
            101,
            None,
            "Error validating application. Cannot get application info due to a system error.",
        ));
    }
    if state.app_secret.as_deref() != Some(client_secret) {
        return Err(graph_error(400, 1, None, "Error validating client secret."));
    }
    let (user_id, long_lived) = if exchange {
        let token = required("fb_exchange_token")?;
        let Some((user_id, _)) = state.user_tokens.get(token) else {
            return Err(invalid_token());
        };
        (user_id.clone(), true)
    } else {
        let code = required("code")?;
        let redirect_uri = required("redirect_uri")?;
        let Some(login) = state.codes.get_mut(code) else {
            return Err(invalid_parameter("Invalid verification code format."));
        };
        if login.used {
            return Err(graph_error(
                400,
                100,
                Some(36009),
                "This authorization code has been used.",
            ));
        }
        if login.redirect_uri != redirect_uri {
            return Err(graph_error(
                400,
                100,
                Some(36008),
                "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
            ));
        }
        login.used = true;
        (login.user_id.clone(), false)
    };
    let token = format!(
        "fb-user-{}-{}",
        if long_lived { "long" } else { "short" },
        trace_id()
    );
    state
        .user_tokens
        .insert(token.clone(), (user_id, long_lived));
    let expires_in = if long_lived {
        LONG_LIVED_SECS
    } else {
        SHORT_LIVED_SECS
    };
    Ok(Reply::json(
        200,
        json!({ "access_token": token, "token_type": "bearer", "expires_in": expires_in }),
    ))
}

/// `GET /{version}/me/accounts` with a user token: the Pages the person has a role on,
/// each with a Page token.
fn my_accounts(state: &GraphState, req: &Incoming) -> Answer {
    let params = req.query_pairs();
    let token = req
        .auth_token(&["Bearer", "OAuth"])
        .or_else(|| param(&params, "access_token"));
    let Some((token, (user_id, _))) = token.and_then(|t| state.user_tokens.get_key_value(t)) else {
        return Err(match token {
            // A Page token has no `/me/accounts`.
            Some(t) if state.tokens.contains_key(t) => invalid_parameter(
                "Tried accessing nonexisting field (accounts) on node type (Page)",
            ),
            _ => invalid_token(),
        });
    };
    check_appsecret_proof(state, token, &params)?;
    check_names(
        &params,
        &["fields", "limit", "appsecret_proof", "access_token"],
    )?;
    const KNOWN_FIELDS: &[&str] = &["id", "name", "access_token", "tasks", "category"];
    let fields: Vec<&str> = match param(&params, "fields") {
        None => KNOWN_FIELDS.to_vec(),
        Some(list) => {
            let fields: Vec<&str> = list.split(',').map(str::trim).collect();
            if let Some(unknown) = fields.iter().find(|f| !KNOWN_FIELDS.contains(f)) {
                return Err(invalid_parameter(&format!(
                    "Tried accessing nonexisting field ({unknown}) on node type (Page)"
                )));
            }
            fields
        }
    };
    let roles = state.users.get(user_id).map(Vec::as_slice).unwrap_or(&[]);
    let data: Vec<Value> = roles
        .iter()
        .filter(|role| state.tokens.get(&role.token) == Some(&role.page_id))
        .map(|role| {
            let mut item = json!({ "id": role.page_id });
            for field in &fields {
                match *field {
                    "name" => item["name"] = json!(role.name),
                    "access_token" => item["access_token"] = json!(role.token),
                    "tasks" => item["tasks"] = json!(role.tasks),
                    "category" => item["category"] = json!("Personal blog"),
                    _ => {}
                }
            }
            item
        })
        .collect();
    Ok(Reply::json(200, json!({ "data": data })))
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

/// `DELETE /{version}/{post_id}`
fn delete_post(state: &mut GraphState, req: &Incoming, post_id: &str) -> Answer {
    let params = parameters(req)?;
    let token_page = authenticate(state, req, &params)?;
    check_names(&params, &["appsecret_proof", "access_token"])?;
    let Some(stored) = state
        .posts
        .iter_mut()
        .find(|p| !p.deleted && p.post.id == post_id)
    else {
        return Err(no_such_object("delete", post_id));
    };
    if stored.post.page_id != token_page {
        return Err(graph_error(403, 200, None, "(#200) Permissions error"));
    }
    stored.deleted = true;
    Ok(Reply::json(200, json!({ "success": true })))
}

/// `GET /{version}/{page_id}/published_posts`
fn published_posts(state: &GraphState, req: &Incoming, page_id: &str) -> Answer {
    let params = req.query_pairs();
    on_own_page(state, req, &params, "get", page_id)?;
    check_names(
        &params,
        &[
            "fields",
            "since",
            "until",
            "limit",
            "appsecret_proof",
            "access_token",
        ],
    )?;

    const KNOWN_FIELDS: &[&str] = &["id", "message", "created_time", "permalink_url"];
    let fields: Vec<&str> = match param(&params, "fields") {
        None => vec!["id", "message", "created_time"],
        Some(list) => {
            let fields: Vec<&str> = list.split(',').map(str::trim).collect();
            if let Some(unknown) = fields.iter().find(|f| !KNOWN_FIELDS.contains(f)) {
                return Err(invalid_parameter(&format!(
                    "Tried accessing nonexisting field ({unknown}) on node type (PagePost)"
                )));
            }
            fields
        }
    };
    let time_param = |name: &str| -> Result<Option<i64>, Reply> {
        param(&params, name)
            .map(|value| {
                parse_time_s(value)
                    .ok_or_else(|| invalid_parameter(&format!("Param {name} must be a time")))
            })
            .transpose()
    };
    let since = time_param("since")?.unwrap_or(i64::MIN);
    let until = time_param("until")?.unwrap_or(i64::MAX);
    let limit = match param(&params, "limit") {
        None => 25,
        Some(value) => value
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| invalid_parameter("Param limit must be a number between 1 and 100"))?,
    };

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
