//! What the HTTP functions share: a route table (which dispatch, the OpenAPI
//! document's test and the template's test all read), the request checks every call
//! passes first (size, signature, content type), and reading the request.

use crate::problem::problem;
use crosspost_core::signing::{self, SignedHeaders, SigningSecret};
use lambda_http::http::{header, HeaderMap, StatusCode};
use lambda_http::{Body, Response};

/// Bodies above this are refused before anything else is read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One route: what it matches, whether the source app signs it and sends a JSON body,
/// and every status it can answer.
pub struct Route<E> {
    pub endpoint: E,
    pub method: &'static str,
    pub path: &'static str,
    /// Signed with the source app's webhook secret (a browser's callback is not).
    pub signed: bool,
    pub json_body: bool,
    pub statuses: &'static [u16],
}

/// The route of a request, with the values of its `{…}` segments in order.
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
                params.push((*g).to_owned());
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

/// The size and signature checks of a signed call: the problem answer when it fails
/// (413, or 401 with no detail: the reason goes to the log only), None when it passes.
pub fn refuse_unsigned(
    secrets: &[SigningSecret],
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Option<Response<Body>> {
    if body.len() > MAX_BODY_BYTES {
        return Some(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than 1 MiB",
            &[],
        ));
    }
    let signed = SignedHeaders {
        id: header_str(headers, "webhook-id"),
        timestamp: header_str(headers, "webhook-timestamp"),
        signature: header_str(headers, "webhook-signature"),
    };
    let reason = signing::verify(secrets, signed, body, now_unix).err()?;
    tracing::warn!(%reason, "signature refused");
    Some(problem(StatusCode::UNAUTHORIZED, "", &[]))
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
        let signed = !op["security"].as_array().is_some_and(|s| {
            s.iter()
                .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
        });
        if signed != route.signed {
            return Err(format!(
                "{} {}: openapi.yaml's security says signed={signed}",
                route.method, route.path
            ));
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
