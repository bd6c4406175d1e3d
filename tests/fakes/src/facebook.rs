//! Fake Facebook Graph API for Pages: feed posts, photos (published at once, or
//! unpublished and attached to a feed post), deleting posts, listing published posts
//! (in `facebook_pages.rs`), videos (a `file_url` or the resumable upload, processing,
//! in `facebook_videos.rs`), and the login pieces (the login dialog, code exchange,
//! long-lived user tokens, `/me/accounts`, in `facebook_login.rs`).
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
    lock, now_ms, parse_form, trace_id, Api, ContractCheck, Controls, Incoming, RecordedRequest,
    Recorder, Reply,
};

#[path = "facebook_login.rs"]
mod login;
#[path = "facebook_pages.rs"]
mod pages;
#[path = "facebook_spec.rs"]
mod spec;
#[path = "facebook_videos.rs"]
mod videos;

pub use pages::{PagePhoto, PagePost};
pub use videos::{PageVideo, VideoState};

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
        let multipart = request
            .content_type
            .as_deref()
            .filter(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"));
        if let Some(ct) = multipart {
            params.extend(text_parts(ct, request.body.as_bytes()));
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
    posts: Vec<pages::StoredPost>,
    next_number: u64,
    photos: Vec<PagePhoto>,
    video: videos::Videos,
    app_secret: Option<String>,
    login: login::LoginState,
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
        } else if let Some(refused) = refuse_unlisted(req, rest) {
            Err(refused)
        } else {
            match (req.method.as_str(), rest) {
                ("GET", ["oauth", "access_token"]) => login::access_token(&mut state, req),
                ("GET", ["dialog", "oauth"]) => login::login_dialog(&mut state, req),
                ("GET", ["me", "accounts"]) => login::my_accounts(&state, req),
                ("POST", [page_id, "feed"]) if !page_id.is_empty() => {
                    pages::feed_post(&mut state, req, page_id)
                }
                ("POST", [page_id, "photos"]) if !page_id.is_empty() => {
                    pages::photo_post(&mut state, req, page_id)
                }
                ("GET", [page_id, "published_posts"]) if !page_id.is_empty() => {
                    pages::published_posts(&state, req, page_id)
                }
                ("POST", [page_id, "videos"]) if !page_id.is_empty() => {
                    videos::videos_post(&mut state, req, page_id)
                }
                ("GET", [page_id, "videos"]) if !page_id.is_empty() => {
                    videos::page_videos(&mut state, req, page_id)
                }
                ("GET", [video_id]) if crate::server::is_digits(video_id) => {
                    videos::get_video(&mut state, req, video_id)
                }
                ("DELETE", [post_id]) if !post_id.is_empty() => {
                    pages::delete_post(&mut state, req, post_id)
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

    fn check_contract(&self, req: &Incoming, _answer: Option<&Reply>) -> ContractCheck {
        let segments = req.segments();
        let Some((_, rest)) = segments.split_first() else {
            return ContractCheck::default();
        };
        let (Some(call), Ok(params)) = (spec_call(req, rest), parameters(req)) else {
            return ContractCheck::default();
        };
        let violations = spec::edge_violations(&call, &params)
            .into_iter()
            .map(|v| {
                format!(
                    "Facebook Graph: {} {}: (#100) {}",
                    req.method, req.path, v.message
                )
            })
            .collect();
        ContractCheck {
            operation: Some(call.name()),
            violations,
        }
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

/// The call Meta's specs describe at this path (after the version), if any: a Page's
/// edge, deleting a post (or video), or reading a video.
fn spec_call<'a>(req: &'a Incoming, rest: &[&'a str]) -> Option<spec::Call<'a>> {
    let call = match (req.method.as_str(), rest) {
        (method, [page_id, edge]) if crate::server::is_digits(page_id) => {
            spec::Call::PageEdge { method, edge }
        }
        ("DELETE", [post_id]) if !post_id.is_empty() => spec::Call::DeletePost,
        ("GET", [video_id]) if crate::server::is_digits(video_id) => spec::Call::GetVideo,
        _ => return None,
    };
    spec::describes(&call).then_some(call)
}

/// Graph's answer to a call with a parameter its edge does not take, or of the wrong
/// type: error 100 naming the first one.
fn refuse_unlisted(req: &Incoming, rest: &[&str]) -> Option<Reply> {
    let call = spec_call(req, rest)?;
    let params = parameters(req).ok()?;
    let first = spec::edge_violations(&call, &params).into_iter().next()?;
    Some(invalid_parameter(&first.message))
}

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
    } else if req.content_type_is("multipart/form-data") {
        let ct = req.header(http::header::CONTENT_TYPE).unwrap_or_default();
        crate::server::multipart(ct, &req.body).map_err(|why| invalid_parameter(&why))?;
        params.extend(text_parts(ct, &req.body));
    }
    Ok(params)
}

/// A multipart body's parts as parameters, each value read as (lossy) UTF-8: a file
/// part such as `video_file_chunk` is a parameter too, as Graph's specs list it.
fn text_parts(content_type: &str, body: &[u8]) -> Vec<(String, String)> {
    crate::server::multipart(content_type, body)
        .unwrap_or_default()
        .into_iter()
        .map(|part| (part.name, String::from_utf8_lossy(&part.data).into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The `fields` a read asks for: each one of `known` (else the error Graph gives for
/// a field `node` does not have), or `default` when none are named.
fn fields<'a>(
    params: &'a [(String, String)],
    known: &[&str],
    default: &[&'a str],
    node: &str,
) -> Result<Vec<&'a str>, Reply> {
    let Some(list) = param(params, "fields") else {
        return Ok(default.to_vec());
    };
    let fields: Vec<&str> = list.split(',').map(str::trim).collect();
    if let Some(unknown) = fields.iter().find(|f| !known.contains(f)) {
        return Err(invalid_parameter(&format!(
            "Tried accessing nonexisting field ({unknown}) on node type ({node})"
        )));
    }
    Ok(fields)
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
