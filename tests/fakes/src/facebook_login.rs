//! The login side of the fake Graph API: the login dialog (`GET /dialog/oauth`), the code
//! exchange and long-lived user tokens (`GET /oauth/access_token`), and the Pages a
//! person can grant with their Page tokens (`GET /me/accounts`).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{
    check_appsecret_proof, check_names, fields, graph_error, invalid_parameter, invalid_token,
    param, Answer, FakeFacebook, GraphState,
};
use crate::server::{lock, trace_id, Incoming, Reply};

/// Lifetime of a short-lived user token, and of a long-lived one (about 60 days).
const SHORT_LIVED_SECS: u64 = 5_400;
const LONG_LIVED_SECS: u64 = 5_183_944;

impl FakeFacebook {
    /// The app id the code exchange expects as `client_id`.
    pub fn set_app_id(&self, app_id: &str) {
        lock(&self.api.state).login.app_id = Some(app_id.to_owned());
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
        let roles = state.login.users.entry(user_id.to_owned()).or_default();
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
        lock(&self.api.state)
            .login
            .redirect_uris
            .push(uri.to_owned());
    }

    /// `user_id` is logged in to Facebook and approves the login dialog at once.
    pub fn sign_in(&self, user_id: &str) {
        let mut state = lock(&self.api.state);
        state.login.users.entry(user_id.to_owned()).or_default();
        state.login.signed_in = Some(user_id.to_owned());
    }

    /// The next login dialog is cancelled: Facebook redirects with
    /// `error=access_denied&error_reason=user_denied`.
    pub fn deny_next_login(&self) {
        lock(&self.api.state).login.deny_next = true;
    }

    /// A login code for `user_id`, as the login dialog would redirect with to
    /// `redirect_uri`: usable once, with that same `redirect_uri`.
    pub fn issue_code(&self, user_id: &str, redirect_uri: &str) -> String {
        let mut state = lock(&self.api.state);
        state.login.users.entry(user_id.to_owned()).or_default();
        state.login.issue_code(user_id, redirect_uri)
    }
}

/// The login side of the fake's state.
#[derive(Default)]
pub(super) struct LoginState {
    app_id: Option<String>,
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

impl LoginState {
    /// A fresh login code for `user_id`, usable once with `redirect_uri`.
    fn issue_code(&mut self, user_id: &str, redirect_uri: &str) -> String {
        let code = format!("AQ{}", trace_id());
        self.codes.insert(
            code.clone(),
            LoginCode {
                user_id: user_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                used: false,
            },
        );
        code
    }
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

/// `GET /{version}/dialog/oauth` (on www.facebook.com for real): the login dialog. An
/// unknown app or a redirect URI not registered is an error page (400 here), never a
/// redirect. Otherwise the logged-in person approves at once, or cancels when a test
/// said so, and the browser goes back to the redirect URI with `code` and `state`.
pub(super) fn login_dialog(state: &mut GraphState, req: &Incoming) -> Answer {
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
    if state.login.app_id.as_deref() != Some(get("client_id")) {
        return Err(invalid_parameter("Invalid App ID"));
    }
    let redirect_uri = get("redirect_uri");
    if !state.login.redirect_uris.iter().any(|u| u == redirect_uri) {
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
    if std::mem::take(&mut state.login.deny_next) {
        return Ok(back(&[
            ("error", "access_denied"),
            ("error_code", "200"),
            ("error_description", "Permissions error"),
            ("error_reason", "user_denied"),
            ("state", &st),
        ]));
    }
    let Some(user_id) = state.login.signed_in.clone() else {
        return Err(invalid_parameter(
            "Nobody is logged in to the fake Facebook.",
        ));
    };
    let code = state.login.issue_code(&user_id, redirect_uri);
    Ok(back(&[("code", &code), ("state", &st)]))
}

/// `GET /{version}/oauth/access_token`: a login code for a short-lived user token
/// (`client_id`, `redirect_uri`, `client_secret`, `code`), or a user token for a
/// long-lived one (`grant_type=fb_exchange_token`, `client_id`, `client_secret`,
/// `fb_exchange_token`).
pub(super) fn access_token(state: &mut GraphState, req: &Incoming) -> Answer {
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
    if state.login.app_id.as_deref() != Some(client_id) {
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
        let Some((user_id, _)) = state.login.user_tokens.get(token) else {
            return Err(invalid_token());
        };
        (user_id.clone(), true)
    } else {
        let code = required("code")?;
        let redirect_uri = required("redirect_uri")?;
        let Some(login) = state.login.codes.get_mut(code) else {
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
        .login
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
pub(super) fn my_accounts(state: &GraphState, req: &Incoming) -> Answer {
    let params = req.query_pairs();
    let token = req
        .auth_token(&["Bearer", "OAuth"])
        .or_else(|| param(&params, "access_token"));
    let Some((token, (user_id, _))) = token.and_then(|t| state.login.user_tokens.get_key_value(t))
    else {
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
    let fields = fields(&params, KNOWN_FIELDS, KNOWN_FIELDS, "Page")?;
    let roles = state
        .login
        .users
        .get(user_id)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
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
