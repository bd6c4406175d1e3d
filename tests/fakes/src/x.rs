//! Fake X API v2: posting, deleting and listing posts, and `users/me`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::contract::{Contract, ContractAnswer, ContractRequest};
use crate::fault::Faults;
use crate::server::{
    is_digits, lock, now_ms, parse_rfc3339_ms, x_time, Api, ContractCheck, Controls, Incoming,
    Recorder, Reply,
};

// Token refresh and revocation live in their own file, beside the API they guard.
#[path = "x_oauth.rs"]
mod oauth;
// Media upload and alt text, likewise.
#[path = "x_media.rs"]
mod media;
pub use media::UploadedMedia;

/// Longest weighted text X accepts.
const MAX_WEIGHTED_LENGTH: usize = 280;
/// X's snowflake epoch (ms since the Unix epoch).
const SNOWFLAKE_EPOCH_MS: u64 = 1_288_834_974_657;
// Problem types as X's OpenAPI description lists them (`components/schemas/Problem`).
const INVALID_REQUEST: &str = "https://api.x.com/2/problems/invalid-request";
const NOT_FOUND: &str = "https://api.x.com/2/problems/resource-not-found";
const INTERNAL_ERROR: &str = "https://api.x.com/2/problems/internal-error";
const PROBLEM_JSON: &str = "application/problem+json";

/// X's own OpenAPI description of API v2, copied unchanged from X's SDK generator
/// (`tests/data/x-api/`, see its `SOURCE.md`).
const X_OPENAPI: &str = include_str!("../../data/x-api/openapi.json");

/// A post stored by the fake X.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tweet {
    pub id: String,
    pub author_id: String,
    pub text: String,
    pub in_reply_to: Option<String>,
    pub media_ids: Vec<String>,
    pub created_at_ms: u64,
    /// The `Idempotency-Key` of the request that created it (our clients name each
    /// part of each delivery so): who made what.
    pub created_by: Option<String>,
    /// The usernames the text mentions (and so would notify), as X finds them: by
    /// twitter-text's extraction rules (`extractEntitiesWithIndices`: mentions and
    /// lists no URL overlaps, our conformance-tested extractor), lists by their owner.
    pub mentions: Vec<String>,
}

/// The usernames `text` mentions, by twitter-text's rules, each once.
fn mentioned(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in crosspost_core::text::entities::linked_mentions(text) {
        let entity = &text[r];
        let name = entity
            .trim_start_matches(['@', '＠'])
            .split('/')
            .next()
            .unwrap_or("")
            .to_owned();
        if !names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            names.push(name);
        }
    }
    names
}

/// Handle to a running fake X. Clones share the server; it stops when the last
/// clone is dropped or on [`Controls::shutdown`].
#[derive(Clone)]
pub struct FakeX {
    api: Arc<XApi>,
    controls: Controls,
}

/// The controls every fake shares: `base_url`, `requests`, `clear_requests`,
/// `inject`, `inject_randomly`, `pending_faults`, `shutdown`.
impl std::ops::Deref for FakeX {
    type Target = Controls;

    fn deref(&self) -> &Controls {
        &self.controls
    }
}

impl FakeX {
    /// X's OpenAPI description as a [`Contract`], loaded once: the fake checks every
    /// request it receives and every answer it gives against it (see
    /// [`Controls::contract_violations`]).
    ///
    /// # Panics
    ///
    /// When the copied description does not load (a broken checkout).
    pub fn contract() -> &'static Contract {
        static CONTRACT: std::sync::OnceLock<Contract> = std::sync::OnceLock::new();
        CONTRACT.get_or_init(|| {
            Contract::load("X API", X_OPENAPI).unwrap_or_else(|why| panic!("{why}"))
        })
    }

    pub async fn start() -> std::io::Result<FakeX> {
        let api = Arc::new(XApi::default());
        let controls = Controls::start(api.clone()).await?;
        Ok(FakeX { api, controls })
    }

    /// Accepts `access_token` as a bearer token of `user_id` (several tokens per user are fine).
    /// The profile is `@user_<id>` / `User <id>` until [`FakeX::set_profile`] changes it.
    pub fn add_account(&self, user_id: &str, access_token: &str) {
        let mut state = lock(&self.api.state);
        state
            .users
            .entry(user_id.to_owned())
            .or_insert_with(|| User {
                username: format!("user_{user_id}"),
                name: format!("User {user_id}"),
            });
        state
            .tokens
            .insert(access_token.to_owned(), user_id.to_owned());
    }

    /// Removes a user added with [`FakeX::add_account`], as when the account is deleted or
    /// revokes the app: all its tokens answer 401 from now on. Its posts stay.
    pub fn remove_account(&self, user_id: &str) {
        let mut state = lock(&self.api.state);
        state.tokens.retain(|_, user| user != user_id);
        state.users.remove(user_id);
        state.oauth.forget_user(user_id);
    }

    /// Sets what `GET /2/users/me` answers for a user added with [`FakeX::add_account`].
    pub fn set_profile(&self, user_id: &str, username: &str, name: &str) {
        let mut state = lock(&self.api.state);
        state.users.insert(
            user_id.to_owned(),
            User {
                username: username.to_owned(),
                name: name.to_owned(),
            },
        );
    }

    /// Stores a post as if `author_id` had made it at `created_at_ms` (e.g. before a
    /// test starts, or one whose answer got lost). Returns its id.
    pub fn seed_tweet(&self, author_id: &str, text: &str, created_at_ms: u64) -> String {
        let mut state = lock(&self.api.state);
        state.insert(author_id, text, None, Vec::new(), created_at_ms, None)
    }

    /// Live (not deleted) posts in creation order.
    pub fn tweets(&self) -> Vec<Tweet> {
        let state = lock(&self.api.state);
        state
            .tweets
            .iter()
            .filter(|t| !t.deleted)
            .map(|t| t.tweet.clone())
            .collect()
    }
}

#[derive(Default)]
struct XApi {
    state: Mutex<XState>,
    recorder: Recorder,
    faults: Faults,
}

#[derive(Default)]
struct XState {
    users: BTreeMap<String, User>,
    /// access token → user id
    tokens: HashMap<String, String>,
    tweets: Vec<StoredTweet>,
    last_id: u64,
    oauth: oauth::OAuthState,
    media: media::MediaState,
}

struct User {
    username: String,
    name: String,
}

struct StoredTweet {
    tweet: Tweet,
    deleted: bool,
}

impl XState {
    fn live(&self, id: &str) -> Option<&Tweet> {
        self.tweets
            .iter()
            .find(|t| !t.deleted && t.tweet.id == id)
            .map(|t| &t.tweet)
    }

    /// Snowflake-like ids: 19 decimal digits in 2026, always increasing.
    fn next_id(&mut self, at_ms: u64) -> String {
        let snowflake = at_ms.saturating_sub(SNOWFLAKE_EPOCH_MS) << 22;
        self.last_id = snowflake.max(self.last_id + 1);
        self.last_id.to_string()
    }

    fn insert(
        &mut self,
        author_id: &str,
        text: &str,
        in_reply_to: Option<String>,
        media_ids: Vec<String>,
        created_at_ms: u64,
        created_by: Option<String>,
    ) -> String {
        let id = self.next_id(now_ms());
        self.tweets.push(StoredTweet {
            tweet: Tweet {
                id: id.clone(),
                author_id: author_id.to_owned(),
                text: text.to_owned(),
                in_reply_to,
                media_ids,
                created_at_ms,
                created_by,
                mentions: mentioned(text),
            },
            deleted: false,
        });
        id
    }
}

impl Api for XApi {
    fn handle(&self, req: &Incoming) -> Reply {
        let mut state = lock(&self.state);
        let segments = req.segments();
        if let Some(expired) = oauth::refuse_expired(&state, req) {
            return expired;
        }
        let result = match (req.method.as_str(), segments.as_slice()) {
            ("POST", ["2", "tweets"]) => create_tweet(&mut state, req),
            ("POST", ["2", "media", "upload"]) => media::upload(&mut state, req),
            ("POST", ["2", "media", "upload", "initialize"]) => media::initialize(&mut state, req),
            ("POST", ["2", "media", "upload", id, "append"]) => media::append(&mut state, req, id),
            ("POST", ["2", "media", "upload", id, "finalize"]) => {
                media::finalize(&mut state, req, id)
            }
            ("GET", ["2", "media", "upload"]) => media::status(&mut state, req),
            ("POST", ["2", "media", "metadata"]) => media::metadata(&mut state, req),
            ("GET", ["i", "oauth2", "authorize"]) => oauth::authorize(&mut state, req),
            ("POST", ["2", "oauth2", "token"]) => oauth::token(&mut state, req),
            ("POST", ["2", "oauth2", "revoke"]) => oauth::revoke(&mut state, req),
            ("DELETE", ["2", "tweets", id]) if !id.is_empty() => delete_tweet(&mut state, req, id),
            ("GET", ["2", "users", "me"]) => users_me(&state, req),
            ("GET", ["2", "users", id, "tweets"]) if !id.is_empty() => user_tweets(&state, req, id),
            _ => Err(route_not_found()),
        };
        result.unwrap_or_else(|reply| reply)
    }

    fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn faults(&self) -> &Faults {
        &self.faults
    }

    fn check_contract(&self, req: &Incoming, answer: Option<&Reply>) -> ContractCheck {
        let contract = FakeX::contract();
        let query = req.query_pairs();
        let method = req.method.as_str();
        let mut violations = contract.check_request(&ContractRequest {
            method,
            path: &req.path,
            query: &query,
            content_type: req.header(http::header::CONTENT_TYPE),
            body: &req.body,
        });
        if let Some(answer) = answer {
            violations.extend(contract.check_answer(
                method,
                &req.path,
                &ContractAnswer {
                    status: answer.status.as_u16(),
                    content_type: answer.content_type(),
                    body: &answer.body,
                },
            ));
        }
        ContractCheck {
            operation: contract.operation_name(method, &req.path),
            violations,
        }
    }

    fn unreadable_body(&self) -> Reply {
        invalid_request(vec!["The request body could not be read.".to_owned()])
    }

    fn server_error(&self, status: StatusCode) -> Reply {
        let title = status.canonical_reason().unwrap_or("Server Error");
        Reply::json(
            status.as_u16(),
            json!({"title": title, "detail": title, "type": INTERNAL_ERROR, "status": status.as_u16()}),
        )
        .with_header("content-type", PROBLEM_JSON)
    }

    fn rate_limited(&self, req: &Incoming, reset_unix: i64) -> Reply {
        // Per-user limits per 15 minutes of the endpoints the fake serves.
        let limit = match (req.method.as_str(), req.segments().as_slice()) {
            ("POST", ["2", "tweets"]) => 100,
            ("DELETE", ["2", "tweets", _]) => 50,
            ("GET", ["2", "users", "me"]) => 75,
            _ => 900,
        };
        blank_error(
            429,
            "Too Many Requests",
            "Too Many Requests",
            88,
            "Rate limit exceeded",
        )
        .with_header("x-rate-limit-limit", &limit.to_string())
        .with_header("x-rate-limit-remaining", "0")
        .with_header("x-rate-limit-reset", &reset_unix.to_string())
    }
}

type Answer = Result<Reply, Reply>;

// ---- error bodies -------------------------------------------------------------

/// An error X answers as an `about:blank` problem (401, 403, 429). X's OpenAPI
/// description lists no such problem type: what it documents for a failed request is
/// either one of its typed problems or, as `application/json`, an `Error` with `code`
/// and `message`. The spec wins over what X is seen to send, so these carry X's
/// classic error code and message beside the problem's fields, as `application/json`.
fn blank_error(status: u16, title: &str, detail: &str, code: u16, message: &str) -> Reply {
    Reply::json(
        status,
        json!({
            "title": title,
            "detail": detail,
            "type": "about:blank",
            "status": status,
            "code": code,
            "message": message,
        }),
    )
}

fn unauthorized() -> Reply {
    blank_error(
        401,
        "Unauthorized",
        "Unauthorized",
        89,
        "Invalid or expired token.",
    )
}

fn invalid_request(messages: Vec<String>) -> Reply {
    let errors: Vec<Value> = messages
        .into_iter()
        .map(|m| json!({ "message": m }))
        .collect();
    Reply::json(
        400,
        json!({
            "errors": errors,
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": INVALID_REQUEST,
            "status": 400,
        }),
    )
    .with_header("content-type", PROBLEM_JSON)
}

fn forbidden(detail: &str) -> Reply {
    blank_error(403, "Forbidden", detail, 187, detail)
}

fn route_not_found() -> Reply {
    Reply::json(
        404,
        json!({"title": "Not Found", "type": "about:blank", "status": 404, "detail": "Not Found"}),
    )
}

fn tweet_not_found(id: &str) -> Reply {
    Reply::json(
        404,
        json!({
            "title": "Not Found Error",
            "type": NOT_FOUND,
            "status": 404,
            "detail": format!("Could not find tweet with id: [{id}]."),
            "resource_type": "tweet",
            "resource_id": id,
            "parameter": "id",
        }),
    )
    .with_header("content-type", PROBLEM_JSON)
}

// ---- helpers ------------------------------------------------------------------

/// The user a bearer token belongs to.
fn authenticate(state: &XState, req: &Incoming) -> Result<String, Reply> {
    req.auth_token(&["Bearer"])
        .and_then(|token| state.tokens.get(token))
        .cloned()
        .ok_or_else(unauthorized)
}

/// Weighted length of a post's text, as X counts it (twitter-text v3: NFC, URLs 23,
/// emoji sequences 2, CJK 2). The algorithm is core's, unit-tested against
/// twitter-text's rules on its own; sharing it keeps the fake and the client from
/// disagreeing on where 280 is.
fn weighted_length(text: &str) -> usize {
    crosspost_core::text::x::weighted_length(text)
}

/// Checks query parameter names against those an endpoint knows.
fn check_query_names(pairs: &[(String, String)], allowed: &[&str]) -> Result<(), Reply> {
    let unknown: Vec<String> = pairs
        .iter()
        .filter(|(name, _)| !allowed.contains(&name.as_str()))
        .map(|(name, _)| {
            format!(
                "The query parameter [{name}] is not one of [{}]",
                allowed.join(",")
            )
        })
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(invalid_request(unknown))
    }
}

/// Checks the comma-separated values of a `*.fields`-style parameter.
fn check_field_list(param: &str, value: &str, allowed: &[&str]) -> Result<Vec<String>, Reply> {
    let mut fields = Vec::new();
    for field in value.split(',') {
        if !allowed.contains(&field) {
            return Err(invalid_request(vec![format!(
                "The `{param}` query parameter value [{field}] is not one of [{}]",
                allowed.join(",")
            )]));
        }
        fields.push(field.to_owned());
    }
    Ok(fields)
}

/// Reads an object member that must itself be an object with only `allowed` keys.
fn sub_object<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    allowed: &[&str],
    errors: &mut Vec<String>,
) -> Option<&'a Map<String, Value>> {
    match parent.get(key)? {
        Value::Object(object) => {
            for name in object.keys() {
                if !allowed.contains(&name.as_str()) {
                    errors.push(format!(
                        "$.{key}.{name}: is not defined in the schema and the schema does not allow additional properties"
                    ));
                }
            }
            Some(object)
        }
        other => {
            errors.push(format!("$.{key}: {} found, object expected", kind(other)));
            None
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

// ---- endpoints ----------------------------------------------------------------

/// `POST /2/tweets`
fn create_tweet(state: &mut XState, req: &Incoming) -> Answer {
    let author = authenticate(state, req)?;
    if !req.content_type_is("application/json") {
        return Err(invalid_request(vec![
            "The request body must be JSON (Content-Type: application/json).".to_owned(),
        ]));
    }
    let body: Value = serde_json::from_slice(&req.body).map_err(|error| {
        invalid_request(vec![format!("The request body is not valid JSON: {error}")])
    })?;
    let Value::Object(body) = body else {
        return Err(invalid_request(vec![format!(
            "$: {} found, object expected",
            kind(&body)
        )]));
    };

    let mut errors = Vec::new();
    for name in body.keys() {
        if !["text", "reply", "media"].contains(&name.as_str()) {
            errors.push(format!(
                "$.{name}: is not defined in the schema and the schema does not allow additional properties"
            ));
        }
    }
    let text = match body.get("text") {
        None => None,
        Some(Value::String(text)) => Some(text.as_str()),
        Some(other) => {
            errors.push(format!("$.text: {} found, string expected", kind(other)));
            None
        }
    };
    let in_reply_to =
        sub_object(&body, "reply", &["in_reply_to_tweet_id"], &mut errors).and_then(|reply| {
            match reply.get("in_reply_to_tweet_id") {
                Some(Value::String(id)) if is_digits(id) && id.len() <= 19 => Some(id.clone()),
                Some(other) => {
                    errors.push(format!(
                        "$.reply.in_reply_to_tweet_id: {other} does not match ^[0-9]{{1,19}}$"
                    ));
                    None
                }
                None => {
                    errors.push(
                        "$.reply.in_reply_to_tweet_id: is missing but it is required".to_owned(),
                    );
                    None
                }
            }
        });
    let media = sub_object(&body, "media", &["media_ids"], &mut errors);
    let media_ids = media.and_then(|media| match media.get("media_ids") {
        Some(Value::Array(ids)) => {
            if ids.is_empty() || ids.len() > 4 {
                errors.push(format!(
                    "$.media.media_ids: there must be between 1 and 4 items, found {}",
                    ids.len()
                ));
                return None;
            }
            let mut out = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                match id {
                    Value::String(id) if is_digits(id) && id.len() <= 19 => out.push(id.clone()),
                    other => errors.push(format!(
                        "$.media.media_ids[{i}]: {other} does not match ^[0-9]{{1,19}}$"
                    )),
                }
            }
            Some(out)
        }
        Some(other) => {
            errors.push(format!(
                "$.media.media_ids: {} found, array expected",
                kind(other)
            ));
            None
        }
        None => {
            errors.push("$.media.media_ids: is missing but it is required".to_owned());
            None
        }
    });
    if !errors.is_empty() {
        return Err(invalid_request(errors));
    }
    media::check_attachable(state, &author, media_ids.as_deref().unwrap_or_default())?;
    let text = text.unwrap_or("");
    if text.is_empty() && media.is_none() {
        return Err(invalid_request(vec![
            "$.text: is missing but it is required when no media is attached".to_owned(),
        ]));
    }
    if weighted_length(text) > MAX_WEIGHTED_LENGTH {
        return Err(forbidden(
            "Your Tweet text is too long. For more information on how X determines text length see https://github.com/twitter/twitter-text.",
        ));
    }
    if let Some(parent) = &in_reply_to {
        if state.live(parent).is_none() {
            return Err(invalid_request(vec![format!(
                "Your Tweet could not be created because the Tweet you are replying to ({parent}) has been deleted or is not visible to you."
            )]));
        }
    }
    let duplicate = !text.is_empty()
        && state
            .tweets
            .iter()
            .any(|t| !t.deleted && t.tweet.author_id == author && t.tweet.text == text);
    if duplicate {
        return Err(forbidden(
            "You are not allowed to create a Tweet with duplicate content.",
        ));
    }
    let media_ids = media_ids.unwrap_or_default();
    let has_media = !media_ids.is_empty();
    let id = state.insert(
        &author,
        text,
        in_reply_to,
        media_ids,
        now_ms(),
        req.header(http::HeaderName::from_static("idempotency-key"))
            .map(str::to_owned),
    );
    let shown = shown_text(text, &id, has_media);
    Ok(Reply::json(
        201,
        json!({"data": {"id": id, "text": shown, "edit_history_tweet_ids": [id]}}),
    ))
}

/// A post's text as X shows it: with media, X appends the media's own t.co link
/// (`https://t.co/` and a 10-character slug, here made from the post id), after a
/// space when there is text.
fn shown_text(text: &str, id: &str, has_media: bool) -> String {
    if !has_media {
        return text.to_owned();
    }
    const SLUG: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut n: u64 = id.parse().unwrap_or(0);
    let slug: String = (0..10)
        .map(|_| {
            let c = SLUG[(n % 62) as usize] as char;
            n /= 62;
            c
        })
        .collect();
    let link = format!("https://t.co/{slug}");
    if text.is_empty() {
        link
    } else {
        format!("{text} {link}")
    }
}

/// `DELETE /2/tweets/{id}`
fn delete_tweet(state: &mut XState, req: &Incoming, id: &str) -> Answer {
    let user = authenticate(state, req)?;
    if !is_digits(id) || id.len() > 19 {
        return Err(invalid_request(vec![format!(
            "The `id` query parameter value [{id}] does not match ^[0-9]{{1,19}}$"
        )]));
    }
    let Some(stored) = state
        .tweets
        .iter_mut()
        .find(|t| !t.deleted && t.tweet.id == id)
    else {
        return Err(tweet_not_found(id));
    };
    if stored.tweet.author_id != user {
        return Err(forbidden(
            "You are not permitted to delete a Tweet that you did not author.",
        ));
    }
    stored.deleted = true;
    Ok(Reply::json(200, json!({"data": {"deleted": true}})))
}

/// `GET /2/users/me`
fn users_me(state: &XState, req: &Incoming) -> Answer {
    let user_id = authenticate(state, req)?;
    let pairs = req.query_pairs();
    check_query_names(&pairs, &["user.fields"])?;
    for (name, value) in &pairs {
        check_field_list(name, value, &["id", "name", "username"])?;
    }
    let user = state.users.get(&user_id).ok_or_else(unauthorized)?;
    Ok(Reply::json(
        200,
        json!({"data": {"id": user_id, "name": user.name, "username": user.username}}),
    ))
}

/// `GET /2/users/{id}/tweets`
fn user_tweets(state: &XState, req: &Incoming, id: &str) -> Answer {
    let user = authenticate(state, req)?;
    let pairs = req.query_pairs();
    check_query_names(
        &pairs,
        &[
            "start_time",
            "end_time",
            "since_id",
            "until_id",
            "max_results",
            "pagination_token",
            "post.fields",
            "expansions",
        ],
    )?;
    if !is_digits(id) || id.len() > 19 {
        return Err(invalid_request(vec![format!(
            "The `id` query parameter value [{id}] does not match ^[0-9]{{1,19}}$"
        )]));
    }
    if id != user {
        return Err(forbidden(
            "Sorry, you are not authorized to see this user's Tweets.",
        ));
    }

    let mut start_ms = i64::MIN;
    let mut end_ms = i64::MAX;
    let mut since_id = 0u64;
    let mut until_id = u64::MAX;
    let mut before_id = u64::MAX; // from pagination_token
    let mut max_results = 10usize;
    let mut fields = Vec::new();
    let mut expansions = Vec::new();
    for (name, value) in &pairs {
        let bad = |why: &str| invalid_request(vec![format!("Invalid '{name}':'{value}'. {why}")]);
        match name.as_str() {
            "start_time" | "end_time" => {
                let ms = parse_rfc3339_ms(value)
                    .ok_or_else(|| bad("It must be a valid RFC 3339 date-time."))?;
                if name == "start_time" {
                    start_ms = ms;
                } else {
                    end_ms = ms;
                }
            }
            "since_id" | "until_id" | "pagination_token" => {
                let parsed = value
                    .parse::<u64>()
                    .ok()
                    .filter(|_| is_digits(value))
                    .ok_or_else(|| bad("It must be a post id."))?;
                match name.as_str() {
                    "since_id" => since_id = parsed,
                    "until_id" => until_id = parsed,
                    _ => before_id = parsed,
                }
            }
            "max_results" => {
                max_results = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (5..=100).contains(n))
                    .ok_or_else(|| {
                        invalid_request(vec![format!(
                            "The `max_results` query parameter value [{value}] is not between 5 and 100"
                        )])
                    })?;
            }
            "expansions" => {
                // The ones X's OpenAPI lists that this fake answers.
                expansions = check_field_list(
                    name,
                    value,
                    &["author_id", "referenced_posts", "attachments.media_keys"],
                )?;
            }
            _ => {
                fields = check_field_list(
                    name,
                    value,
                    &["id", "text", "created_at", "author_id", "attachments"],
                )?;
            }
        }
    }

    let mut matching: Vec<&Tweet> = state
        .tweets
        .iter()
        .filter(|t| !t.deleted && t.tweet.author_id == user)
        .map(|t| &t.tweet)
        .filter(|t| {
            let ms = i64::try_from(t.created_at_ms).unwrap_or(i64::MAX);
            let n: u64 = t.id.parse().unwrap_or(0);
            ms >= start_ms && ms <= end_ms && n > since_id && n < until_id && n < before_id
        })
        .collect();
    matching
        .sort_by_key(|t| std::cmp::Reverse((t.created_at_ms, t.id.parse::<u64>().unwrap_or(0))));
    let more = matching.len() > max_results;
    matching.truncate(max_results);

    if matching.is_empty() {
        return Ok(Reply::json(200, json!({"meta": {"result_count": 0}})));
    }
    // Like X, only `id`, `text` and `edit_history_tweet_ids` unless `post.fields` (the name in X's OpenAPI description; X's docs still say `tweet.fields`) asks for more.
    let data: Vec<Value> = matching
        .iter()
        .map(|t| {
            let text = shown_text(&t.text, &t.id, !t.media_ids.is_empty());
            let mut item = json!({"id": t.id, "text": text, "edit_history_tweet_ids": [t.id]});
            if fields.iter().any(|f| f == "created_at") {
                item["created_at"] = json!(x_time(t.created_at_ms));
            }
            if fields.iter().any(|f| f == "author_id") {
                item["author_id"] = json!(t.author_id);
            }
            // Like X, only present when there is something to say.
            if let (true, Some(parent)) = (
                expansions.iter().any(|f| f == "referenced_posts"),
                &t.in_reply_to,
            ) {
                item["referenced_posts"] = json!([{"type": "replied_to", "id": parent}]);
            }
            if fields.iter().any(|f| f == "attachments") && !t.media_ids.is_empty() {
                let keys: Vec<String> = t.media_ids.iter().map(|m| format!("3_{m}")).collect();
                item["attachments"] = json!({"media_keys": keys});
            }
            item
        })
        .collect();
    let mut meta = json!({
        "result_count": data.len(),
        "newest_id": matching[0].id,
        "oldest_id": matching[matching.len() - 1].id,
    });
    if more {
        meta["next_token"] = json!(matching[matching.len() - 1].id);
    }
    Ok(Reply::json(200, json!({"data": data, "meta": meta})))
}

#[cfg(test)]
mod tests {
    use super::weighted_length;

    #[test]
    fn weights() {
        assert_eq!(weighted_length("abc"), 3);
        assert_eq!(
            super::mentioned("@Lily 和 @小王, @lily @team/hikers a@b ＠Bob"),
            ["Lily", "team", "Bob"]
        );
        assert!(super::mentioned("@\u{2060}Lily 和 @小王").is_empty());
        assert_eq!(weighted_length("é—"), 2);
        assert_eq!(weighted_length("中文"), 4);
        assert_eq!(weighted_length("🙂"), 2);
        assert_eq!(
            weighted_length("see https://example.com/a/very/long/path"),
            4 + 23
        );
        assert_eq!(weighted_length("👨‍👩‍👧‍👦"), 2);
    }
}
