//! What the HTTP functions share: a route table (which dispatch, the OpenAPI
//! document's test and the template's test all read), the request checks every call
//! passes first (size, signature, webhook id used once, content type, duplicate JSON
//! keys), and reading the request.

use crate::problem::problem;
use crosspost_aws::PostsStore;
use crosspost_core::signing::{self, SignedHeaders, SigningSecret};
use lambda_http::http::{header, HeaderMap, StatusCode};
use lambda_http::{Body, Request, Response};

/// How a route's caller proves who it is (`crosspost_core::signing` has the schemes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// Not signed: a browser's OAuth callback, where the state is the proof.
    Unsigned,
    /// Plain Standard Webhooks over the body: the intake, which source apps sign with a
    /// stock library. A repeated webhook id is the intake's own business (the first
    /// answer again, or 409 for another body).
    Body,
    /// A request signature (method, path, query and body), and the webhook id works once.
    Request,
}

impl Signing {
    /// The OpenAPI `securitySchemes` entry of this scheme.
    pub fn scheme_name(self) -> Option<&'static str> {
        match self {
            Signing::Unsigned => None,
            Signing::Body => Some("standardWebhooks"),
            Signing::Request => Some("requestSignature"),
        }
    }
}

/// Bodies above this are refused before anything else is read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One route: what it matches, whether the source app signs it and sends a JSON body,
/// and every status it can answer.
pub struct Route<E> {
    pub endpoint: E,
    pub method: &'static str,
    pub path: &'static str,
    /// How the source app signs it (a browser's callback is not signed).
    pub signing: Signing,
    pub json_body: bool,
    pub statuses: &'static [u16],
}

/// The route of a request, with the values of its `{…}` segments in order,
/// percent-decoded (an id holding `#` or `/` arrives as `%23` or `%2F`) and
/// NFC-normalised as ids in bodies are (`crosspost_core::post::user_id`). A segment
/// that does not decode to UTF-8 matches no route.
pub fn find_route<'r, E>(
    routes: &'r [Route<E>],
    method: &str,
    path: &str,
) -> Option<(&'r Route<E>, Vec<String>)> {
    let path = path.trim_end_matches('/');
    let given: Vec<&str> = path.split('/').collect();
    routes.iter().find_map(|route| {
        if route.method != method {
            return None;
        }
        let pattern: Vec<&str> = route.path.split('/').collect();
        if pattern.len() != given.len() {
            return None;
        }
        let mut params = Vec::new();
        for (p, g) in pattern.iter().zip(&given) {
            if p.starts_with('{') && p.ends_with('}') {
                if g.is_empty() {
                    return None;
                }
                let decoded = percent_encoding::percent_decode_str(g).decode_utf8().ok()?;
                params.push(unicode_normalization::UnicodeNormalization::nfc(&*decoded).collect());
            } else if p != g {
                return None;
            }
        }
        Some((route, params))
    })
}

pub fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub fn is_json(headers: &HeaderMap) -> bool {
    header_str(headers, header::CONTENT_TYPE.as_str())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false)
}

/// The request's path and, when it has one, `?` and its query, as sent.
pub fn request_target(req: &Request) -> String {
    match req.uri().query() {
        Some(q) if !q.is_empty() => format!("{}?{q}", req.uri().path()),
        _ => req.uri().path().to_owned(),
    }
}

/// The size and signature checks of a call signed by `signing`: the problem answer
/// when it fails (413, or 401 with no detail: the reason goes to the log only), None
/// when it passes.
pub fn refuse_unsigned(
    secrets: &[SigningSecret],
    signing: Signing,
    req: &Request,
    now_unix: i64,
) -> Option<Response<Body>> {
    let body = body_bytes(req.body());
    if body.len() > MAX_BODY_BYTES {
        return Some(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than 1 MiB",
            &[],
        ));
    }
    let headers = req.headers();
    let signed = SignedHeaders {
        id: header_str(headers, "webhook-id"),
        timestamp: header_str(headers, "webhook-timestamp"),
        signature: header_str(headers, "webhook-signature"),
    };
    let verified = match signing {
        Signing::Unsigned => return None,
        Signing::Body => signing::verify(secrets, signed, body, now_unix),
        Signing::Request => {
            let content =
                signing::request_content(req.method().as_str(), &request_target(req), body);
            signing::verify(secrets, signed, &content, now_unix)
        }
    };
    let reason = verified.err()?;
    tracing::warn!(%reason, "signature refused");
    Some(problem(StatusCode::UNAUTHORIZED, "", &[]))
}

/// A request-signed call's webhook id is claimed for 24 h: the same headers again (on
/// this route or any other) get 401. Storage down is 503; nothing was done.
pub async fn refuse_replayed(
    posts: &PostsStore,
    signing: Signing,
    req: &Request,
    now: time::OffsetDateTime,
) -> Option<Response<Body>> {
    if signing != Signing::Request {
        return None;
    }
    let id = header_str(req.headers(), "webhook-id").unwrap_or_default();
    let digest = signing::body_digest(body_bytes(req.body()));
    match posts.claim_webhook_id(id, &digest, now).await {
        Ok(true) => None,
        Ok(false) => {
            tracing::warn!(webhook_id = id, "a webhook id was used again");
            Some(problem(StatusCode::UNAUTHORIZED, "", &[]))
        }
        Err(e) => Some(crate::problem::unavailable(&e)),
    }
}

/// 422 naming the first key a JSON body of a JSON route repeats in one object (JSON
/// parsers disagree on which value wins, so neither is taken). A body that is not JSON
/// is left to the route, which says so.
pub fn refuse_duplicate_keys<E>(route: &Route<E>, body: &[u8]) -> Option<Response<Body>> {
    if !route.json_body {
        return None;
    }
    let duplicate = crosspost_core::json::find_duplicate_key(body)?;
    let detail = format!("the key `{}` appears twice in one object", duplicate.key);
    Some(problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        &detail,
        &[crate::problem::FieldError {
            pointer: duplicate.pointer,
            detail: detail.clone(),
        }],
    ))
}

/// 415 when a route that takes JSON got something else.
pub fn refuse_content_type<E>(route: &Route<E>, headers: &HeaderMap) -> Option<Response<Body>> {
    (route.json_body && !is_json(headers)).then(|| {
        problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json",
            &[],
        )
    })
}

/// Logs an answer outside the route's documented statuses: a bug worth an alarm.
pub fn note_undocumented<E>(route: &Route<E>, resp: &Response<Body>) {
    if !route.statuses.contains(&resp.status().as_u16()) {
        tracing::error!(
            status = resp.status().as_u16(),
            route = route.path,
            "undocumented status"
        );
    }
}

#[cfg(feature = "route-checks")]
/// The API's OpenAPI document (`functions/openapi.yaml`) describes exactly the routes of
/// `function` (its operations' `x-function`) and exactly their statuses.
pub fn check_openapi<E>(
    routes: &[Route<E>],
    function: &str,
    doc: &serde_json::Value,
) -> Result<(), String> {
    if doc["openapi"].as_str() != Some("3.1.0") {
        return Err("openapi.yaml is not OpenAPI 3.1.0".into());
    }
    for route in routes {
        // `refuse_replayed` answers 503 when the webhook id cannot be claimed.
        if route.signing == Signing::Request && !route.statuses.contains(&503) {
            return Err(format!(
                "{} {} is request-signed, so it answers 503 when storage is down, which its statuses do not list",
                route.method, route.path
            ));
        }
        let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
        if !op.is_object() {
            return Err(format!(
                "{} {} is not in openapi.yaml",
                route.method, route.path
            ));
        }
        if op["x-function"].as_str() != Some(function) {
            return Err(format!(
                "{} {} has x-function {}, not {function}",
                route.method, route.path, op["x-function"]
            ));
        }
        let responses = op["responses"].as_object().cloned().unwrap_or_default();
        for status in route.statuses {
            if !responses.contains_key(&status.to_string()) {
                return Err(format!(
                    "{} {} answers {status}, which openapi.yaml does not list",
                    route.method, route.path
                ));
            }
        }
        if responses.len() != route.statuses.len() {
            return Err(format!(
                "{} {} documents statuses it never answers",
                route.method, route.path
            ));
        }
        // An operation without `security` has the document's.
        let security = match &op["security"] {
            serde_json::Value::Null => &doc["security"],
            own => own,
        };
        let schemes: Vec<&str> = security
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_object())
            .flat_map(|o| o.keys().map(String::as_str))
            .collect();
        let expected: Vec<&str> = route.signing.scheme_name().into_iter().collect();
        if schemes != expected {
            return Err(format!(
                "{} {}: openapi.yaml's security is {schemes:?}, the route is signed by {expected:?}",
                route.method, route.path
            ));
        }
        for scheme in &schemes {
            if !doc["components"]["securitySchemes"][scheme].is_object() {
                return Err(format!("openapi.yaml has no securitySchemes.{scheme}"));
            }
        }
    }
    let documented = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(|p| p.as_object())
        .flat_map(|ops| ops.values())
        .filter(|op| op["x-function"].as_str() == Some(function))
        .count();
    if documented != routes.len() {
        return Err(format!(
            "openapi.yaml gives {function} {documented} operations; it serves {}",
            routes.len()
        ));
    }
    Ok(())
}

#[cfg(feature = "route-checks")]
/// template.yaml routes exactly these to the function `logical_id`.
pub fn check_template_routes<E>(
    routes: &[Route<E>],
    logical_id: &str,
    template: &serde_json::Value,
) -> Result<(), String> {
    let events = template["Resources"][logical_id]["Properties"]["Events"]
        .as_object()
        .ok_or_else(|| format!("{logical_id} has no events"))?;
    let mut routed: Vec<(String, String)> = events
        .values()
        .filter(|e| e["Type"].as_str() == Some("HttpApi"))
        .map(|e| {
            (
                e["Properties"]["Method"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_uppercase(),
                e["Properties"]["Path"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let mut served: Vec<(String, String)> = routes
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    routed.sort();
    served.sort();
    if routed != served {
        return Err(format!(
            "template.yaml routes {routed:?} to {logical_id}, which serves {served:?}"
        ));
    }
    Ok(())
}

/// The API's OpenAPI document and the template describe exactly the routes of the
/// function `function` (`x-function`), template logical id `logical_id`: for each HTTP
/// function's own test.
#[cfg(feature = "route-checks")]
pub fn check_route_table<E>(
    routes: &[Route<E>],
    function: &str,
    logical_id: &str,
) -> Result<(), String> {
    let yaml = |name: &str, text: &str| -> Result<serde_json::Value, String> {
        let v: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| format!("{name} does not parse: {e}"))?;
        serde_json::to_value(v).map_err(|e| format!("{name} does not convert: {e}"))
    };
    let doc = yaml(
        "openapi.yaml",
        include_str!("../../../functions/openapi.yaml"),
    )?;
    check_openapi(routes, function, &doc)?;
    let template = yaml("template.yaml", include_str!("../../../template.yaml"))?;
    check_template_routes(routes, logical_id, &template)
}
