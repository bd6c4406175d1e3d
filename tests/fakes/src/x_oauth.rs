//! Fake X OAuth 2.0 endpoints for a confidential client: the consent page
//! `GET /i/oauth2/authorize` (approved at once by the person signed in, or refused when
//! a test says so), `POST /2/oauth2/token` with `grant_type=authorization_code` (PKCE
//! S256, single-use codes that live 30 s, the redirect URI given at authorize) and
//! `grant_type=refresh_token`, and `POST /2/oauth2/revoke`; the last two authenticate
//! the client with HTTP Basic. Access tokens expire.
//!
//! Refresh tokens rotate as on X: each refresh gives a new one and the old one stops
//! working. A refresh token X does not know (used before, revoked, made up) is answered
//! the way X answers it: 400 `invalid_request`, "Value passed for the token was
//! invalid." — X's spelling of RFC 6749's `invalid_grant`.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{unauthorized, Answer, FakeX, XState};
use crate::server::{lock, now_ms, parse_form, Incoming, Reply};

/// How long the access tokens the fake gives out live, as on X.
const ACCESS_TOKEN_SECS: i64 = 7200;
const SCOPES: &str = "tweet.read tweet.write users.read offline.access media.write";
const TOKEN_PATH: &str = "/2/oauth2/token";
/// How long an authorization code can be exchanged, as on X.
const CODE_LIFE_MS: i64 = 30_000;

/// The OAuth side of the fake X's state.
#[derive(Default)]
pub(super) struct OAuthState {
    /// The client id and secret the endpoints accept; none accepted until set.
    client: Option<(String, String)>,
    /// Live refresh token → user id.
    refresh_tokens: HashMap<String, String>,
    /// Access token → when it stops working (Unix ms). Tokens not here never expire.
    expires_at_ms: HashMap<String, i64>,
    /// Tokens handed out so far, to make each one unique.
    minted: u64,
    /// The app's registered callback URLs: authorize refuses any other.
    redirect_uris: Vec<String>,
    /// Who approves the consent page; nobody until a test signs someone in.
    signed_in: Option<String>,
    /// The next consent is refused (`error=access_denied`).
    deny_next: bool,
    /// Authorization codes handed out, by code.
    codes: HashMap<String, AuthCode>,
    /// How long a code lives; X's 30 s unless a test shortens it.
    code_life_ms: Option<i64>,
}

struct AuthCode {
    user_id: String,
    redirect_uri: String,
    challenge: String,
    issued_ms: i64,
    used: bool,
}

impl FakeX {
    /// The OAuth client (id and secret, sent with HTTP Basic) the token and revoke
    /// endpoints accept. Until it is set they accept none.
    pub fn set_client(&self, client_id: &str, client_secret: &str) {
        let mut state = lock(&self.api.state);
        state.oauth.client = Some((client_id.to_owned(), client_secret.to_owned()));
    }

    /// Like [`FakeX::add_account`], with an access token that stops working
    /// `expires_in_secs` from now (already expired when negative) and a refresh token
    /// that the token endpoint exchanges once.
    pub fn add_account_with_tokens(
        &self,
        user_id: &str,
        access_token: &str,
        refresh_token: &str,
        expires_in_secs: i64,
    ) {
        self.add_account(user_id, access_token);
        let mut state = lock(&self.api.state);
        state.oauth.expires_at_ms.insert(
            access_token.to_owned(),
            now_ms() as i64 + expires_in_secs * 1000,
        );
        state
            .oauth
            .refresh_tokens
            .insert(refresh_token.to_owned(), user_id.to_owned());
    }

    /// Registers a callback URL of the app (matched exactly, as X does).
    pub fn register_redirect_uri(&self, uri: &str) {
        let mut state = lock(&self.api.state);
        state.oauth.redirect_uris.push(uri.to_owned());
    }

    /// `user_id` (created with this `@username` if new) is signed in at X and approves
    /// the consent page at once from now on.
    pub fn sign_in(&self, user_id: &str, username: &str) {
        let mut state = lock(&self.api.state);
        state.users.insert(
            user_id.to_owned(),
            super::User {
                username: username.to_owned(),
                name: format!("User {user_id}"),
            },
        );
        state.oauth.signed_in = Some(user_id.to_owned());
    }

    /// The next consent page is refused by the person: X redirects with
    /// `error=access_denied`.
    pub fn deny_next_authorization(&self) {
        lock(&self.api.state).oauth.deny_next = true;
    }

    /// Authorization codes expire after `life` instead of X's 30 s.
    pub fn set_code_life(&self, life: std::time::Duration) {
        lock(&self.api.state).oauth.code_life_ms = Some(life.as_millis() as i64);
    }

    /// Requests the token endpoint received so far, rejected and faulted ones included.
    pub fn token_requests(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path == TOKEN_PATH)
            .count()
    }

    /// The user's refresh token that works now (the newest), if any.
    pub fn current_refresh_token(&self, user_id: &str) -> Option<String> {
        let state = lock(&self.api.state);
        state
            .oauth
            .refresh_tokens
            .iter()
            .find(|(_, user)| *user == user_id)
            .map(|(token, _)| token.clone())
    }

    /// Whether `access_token` works now.
    pub fn access_token_works(&self, access_token: &str) -> bool {
        let state = lock(&self.api.state);
        state.tokens.contains_key(access_token) && !state.oauth.expired(access_token)
    }

    /// The person withdrew the app's access at X: every token of the user, access and
    /// refresh, stops working. The user and its posts stay.
    pub fn revoke_grant(&self, user_id: &str) {
        let mut state = lock(&self.api.state);
        state.tokens.retain(|_, user| user != user_id);
        state.oauth.refresh_tokens.retain(|_, user| user != user_id);
    }
}

impl OAuthState {
    /// The user's refresh tokens stop working.
    pub(super) fn forget_user(&mut self, user_id: &str) {
        self.refresh_tokens.retain(|_, user| user != user_id);
    }

    fn expired(&self, access_token: &str) -> bool {
        self.expires_at_ms
            .get(access_token)
            .is_some_and(|at| *at <= now_ms() as i64)
    }
}

/// 401 for a request whose bearer token has expired, on every endpoint, as X does.
pub(super) fn refuse_expired(state: &XState, req: &Incoming) -> Option<Reply> {
    let token = req.auth_token(&["Bearer"])?;
    state.oauth.expired(token).then(unauthorized)
}

fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

/// The client credentials of an `Authorization: Basic` header (each part URL-encoded
/// first, as RFC 6749 section 2.3.1 asks) must be the fake's client.
fn authenticate_client(state: &XState, req: &Incoming) -> Result<(), Reply> {
    let refused = || {
        oauth_error(
            401,
            "unauthorized_client",
            "Missing valid authorization header",
        )
    };
    let encoded = req.auth_token(&["Basic"]).ok_or_else(refused)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(refused)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(refused)?;
    let unescape = |part: &str| {
        parse_form(format!("v={part}").as_bytes())
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or_default()
    };
    match &state.oauth.client {
        Some((want_id, want_secret))
            if unescape(id) == *want_id && unescape(secret) == *want_secret =>
        {
            Ok(())
        }
        _ => Err(refused()),
    }
}

/// The form body of a token or revoke request.
fn form(req: &Incoming) -> Result<HashMap<String, String>, Reply> {
    if !req.content_type_is("application/x-www-form-urlencoded") {
        return Err(oauth_error(
            400,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded.",
        ));
    }
    Ok(parse_form(&req.body).into_iter().collect())
}

/// `GET /i/oauth2/authorize`: the consent page. A request X would not show the page for
/// (unknown client, unregistered redirect URI, no S256 challenge, unknown scope) is
/// answered 400 here, never redirected. Otherwise the signed-in person approves at
/// once (or refuses, when a test said so) and the browser goes back to the redirect
/// URI with `code` and `state`, or with `error=access_denied` and `state`.
pub(super) fn authorize(state: &mut XState, req: &Incoming) -> Answer {
    let params: HashMap<String, String> = req.query_pairs().into_iter().collect();
    let get = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    let refuse = |what: &str| oauth_error(400, "invalid_request", what);
    if state.oauth.client.as_ref().map(|(id, _)| id.as_str()) != Some(get("client_id")) {
        return Err(refuse("Value passed for the client id was invalid."));
    }
    let redirect_uri = get("redirect_uri");
    if !state.oauth.redirect_uris.iter().any(|u| u == redirect_uri) {
        return Err(refuse("Value passed for the redirect uri was invalid."));
    }
    if get("response_type") != "code" {
        return Err(refuse("Value passed for the response type was invalid."));
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
        return Err(refuse("Missing or invalid code challenge (S256 required)."));
    }
    let scopes: Vec<&str> = get("scope").split(' ').collect();
    if scopes.iter().any(|s| !SCOPES.split(' ').any(|k| k == *s)) {
        return Err(refuse("Value passed for the scope was invalid."));
    }
    let st = get("state");
    if st.is_empty() || st.len() > 500 {
        return Err(refuse("Value passed for the state was invalid."));
    }
    let back = |pairs: &[(&str, &str)]| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        let sep = if redirect_uri.contains('?') { '&' } else { '?' };
        Reply::json(302, json!({})).with_header(
            "location",
            &format!("{redirect_uri}{sep}{}", query.finish()),
        )
    };
    if std::mem::take(&mut state.oauth.deny_next) {
        return Ok(back(&[("error", "access_denied"), ("state", st)]));
    }
    let Some(user_id) = state.oauth.signed_in.clone() else {
        return Err(refuse("Nobody is signed in at the fake X."));
    };
    state.oauth.minted += 1;
    let code = format!("fake-x-code-{}-{}", state.oauth.minted, now_ms());
    state.oauth.codes.insert(
        code.clone(),
        AuthCode {
            user_id,
            redirect_uri: redirect_uri.to_owned(),
            challenge: get("code_challenge").to_owned(),
            issued_ms: now_ms() as i64,
            used: false,
        },
    );
    Ok(back(&[("state", st), ("code", &code)]))
}

/// `POST /2/oauth2/token`
pub(super) fn token(state: &mut XState, req: &Incoming) -> Answer {
    authenticate_client(state, req)?;
    let form = form(req)?;
    match form.get("grant_type").map(String::as_str) {
        Some("refresh_token") => {}
        Some("authorization_code") => return exchange_code(state, &form),
        Some(_) => {
            return Err(oauth_error(
                400,
                "unsupported_grant_type",
                "Value passed for the grant type was invalid.",
            ))
        }
        None => {
            return Err(oauth_error(
                400,
                "invalid_request",
                "Missing required parameter [grant_type].",
            ))
        }
    }
    let Some(old) = form.get("refresh_token") else {
        return Err(oauth_error(
            400,
            "invalid_request",
            "Missing required parameter [refresh_token].",
        ));
    };
    // Rotation: the refresh token works once.
    let Some(user) = state.oauth.refresh_tokens.remove(old) else {
        return Err(oauth_error(
            400,
            "invalid_request",
            "Value passed for the token was invalid.",
        ));
    };
    Ok(mint(state, user))
}

/// `grant_type=authorization_code`: the code works once, within its life, with the
/// redirect URI it was given for and the verifier of its challenge.
fn exchange_code(state: &mut XState, form: &HashMap<String, String>) -> Answer {
    let invalid = |what: &str| oauth_error(400, "invalid_request", what);
    for name in ["code", "redirect_uri", "code_verifier"] {
        if form.get(name).is_none_or(|v| v.is_empty()) {
            return Err(invalid(&format!("Missing required parameter [{name}].")));
        }
    }
    let life = state.oauth.code_life_ms.unwrap_or(CODE_LIFE_MS);
    let Some(code) = state.oauth.codes.get_mut(&form["code"]) else {
        return Err(invalid("Value passed for the token was invalid."));
    };
    // A code is spent by its first exchange, good or bad.
    let fresh = !std::mem::replace(&mut code.used, true);
    if !fresh || now_ms() as i64 - code.issued_ms > life {
        return Err(invalid("Value passed for the token was invalid."));
    }
    if code.redirect_uri != form["redirect_uri"] {
        return Err(invalid("Value passed for the redirect uri was invalid."));
    }
    let digest = Sha256::digest(form["code_verifier"].as_bytes());
    if base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) != code.challenge {
        return Err(invalid(
            "Value passed for the code verifier did not match the code challenge.",
        ));
    }
    let user = code.user_id.clone();
    Ok(mint(state, user))
}

/// New access and refresh tokens for `user`.
fn mint(state: &mut XState, user: String) -> Reply {
    state.oauth.minted += 1;
    let n = state.oauth.minted;
    let access = format!("fake-x-access-{user}-{n}");
    let refresh = format!("fake-x-refresh-{user}-{n}");
    state.tokens.insert(access.clone(), user.clone());
    state
        .oauth
        .expires_at_ms
        .insert(access.clone(), now_ms() as i64 + ACCESS_TOKEN_SECS * 1000);
    state.oauth.refresh_tokens.insert(refresh.clone(), user);
    Reply::json(
        200,
        json!({
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_SECS,
            "access_token": access,
            "scope": SCOPES,
            "refresh_token": refresh,
        }),
    )
}

/// `POST /2/oauth2/revoke`: an access or refresh token stops working. A token the fake
/// does not know is revoked already (RFC 7009 answers 200 for it too).
pub(super) fn revoke(state: &mut XState, req: &Incoming) -> Answer {
    authenticate_client(state, req)?;
    let form = form(req)?;
    let Some(token) = form.get("token") else {
        return Err(oauth_error(
            400,
            "invalid_request",
            "Missing required parameter [token].",
        ));
    };
    state.tokens.remove(token);
    state.oauth.expires_at_ms.remove(token);
    state.oauth.refresh_tokens.remove(token);
    Ok(Reply::json(200, json!({"revoked": true})))
}
