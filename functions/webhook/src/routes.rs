//! The routes this function serves, in one table that dispatch, the OpenAPI document's
//! test and the template's test all read; and the checks every call passes first:
//! size, signature, route, content type.

use crate::App;
use crosspost_core::signing::{self, SignedHeaders};
use crosspost_lambda::problem::problem;
use lambda_http::http::{header, HeaderMap, StatusCode};
use lambda_http::{Body, Request, Response};

/// Bodies above this are refused before anything else is read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    CreatePost,
    GetPost,
    DeletePost,
    RetryPost,
    Preview,
    ListAccounts,
}

/// One route: what it matches, whether it takes a JSON body, and every status it can
/// answer (401 and 413 included: every route checks size and signature).
pub struct Route {
    pub endpoint: Endpoint,
    pub method: &'static str,
    pub path: &'static str,
    pub json_body: bool,
    pub statuses: &'static [u16],
}

pub const ROUTES: &[Route] = &[
    Route {
        endpoint: Endpoint::CreatePost,
        method: "POST",
        path: "/v1/posts",
        json_body: true,
        statuses: &[200, 202, 400, 401, 409, 413, 415, 422, 503],
    },
    Route {
        endpoint: Endpoint::GetPost,
        method: "GET",
        path: "/v1/posts/{id}",
        json_body: false,
        statuses: &[200, 401, 404, 413, 503],
    },
    Route {
        endpoint: Endpoint::DeletePost,
        method: "DELETE",
        path: "/v1/posts/{id}",
        json_body: false,
        statuses: &[202, 401, 404, 409, 413, 503],
    },
    Route {
        endpoint: Endpoint::RetryPost,
        method: "POST",
        path: "/v1/posts/{id}/retry",
        json_body: false,
        statuses: &[202, 401, 404, 413, 503],
    },
    Route {
        endpoint: Endpoint::ListAccounts,
        method: "GET",
        path: "/v1/users/{user_id}/accounts",
        json_body: false,
        statuses: &[200, 401, 413, 503],
    },
    Route {
        endpoint: Endpoint::Preview,
        method: "POST",
        path: "/v1/preview",
        json_body: true,
        statuses: &[200, 400, 401, 413, 415, 422],
    },
];

/// Finds the route of a request; the `{…}` segment's value, if any, comes back too.
pub fn find_route(method: &str, path: &str) -> Option<(&'static Route, Option<String>)> {
    let path = path.trim_end_matches('/');
    let given: Vec<&str> = path.split('/').collect();
    ROUTES.iter().find_map(|route| {
        if route.method != method {
            return None;
        }
        let pattern: Vec<&str> = route.path.split('/').collect();
        if pattern.len() != given.len() {
            return None;
        }
        let mut id = None;
        for (p, g) in pattern.iter().zip(&given) {
            if p.starts_with('{') && p.ends_with('}') {
                if g.is_empty() {
                    return None;
                }
                id = Some((*g).to_owned());
            } else if p != g {
                return None;
            }
        }
        Some((route, id))
    })
}

pub fn body_bytes(body: &Body) -> &[u8] {
    match body {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_json(headers: &HeaderMap) -> bool {
    header_str(headers, header::CONTENT_TYPE.as_str())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false)
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let body = body_bytes(req.body());
    if body.len() > MAX_BODY_BYTES {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than 1 MiB",
            &[],
        );
    }
    let headers = req.headers();
    let signed = SignedHeaders {
        id: header_str(headers, "webhook-id"),
        timestamp: header_str(headers, "webhook-timestamp"),
        signature: header_str(headers, "webhook-signature"),
    };
    let now = time::OffsetDateTime::now_utc();
    if let Err(reason) = signing::verify(&app.secrets, signed, body, now.unix_timestamp()) {
        // The reason is for operators; the caller learns nothing but 401.
        tracing::warn!(%reason, "signature refused");
        return problem(StatusCode::UNAUTHORIZED, "", &[]);
    }
    let Some((route, id)) = find_route(req.method().as_str(), req.uri().path()) else {
        return problem(StatusCode::NOT_FOUND, "no such route", &[]);
    };
    if route.json_body && !is_json(headers) {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json",
            &[],
        );
    }
    let webhook_id = signed.id.unwrap_or_default();
    let id = id.unwrap_or_default();
    let resp = match route.endpoint {
        Endpoint::CreatePost => app.create_post(webhook_id, body, now).await,
        Endpoint::GetPost => app.get_post(&id).await,
        Endpoint::DeletePost => app.delete_post(&id, now).await,
        Endpoint::RetryPost => app.retry_post(&id, now).await,
        Endpoint::Preview => app.preview(body),
        Endpoint::ListAccounts => app.list_accounts(&id).await,
    };
    // The route table is what the OpenAPI document is checked against; an answer
    // outside it is a bug worth an alarm.
    if !route.statuses.contains(&resp.status().as_u16()) {
        tracing::error!(
            status = resp.status().as_u16(),
            route = route.path,
            "undocumented status"
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_their_id() {
        let (r, id) = find_route("GET", "/v1/posts/abc").unwrap();
        assert_eq!(
            (r.endpoint, id.as_deref()),
            (Endpoint::GetPost, Some("abc"))
        );
        let (r, id) = find_route("POST", "/v1/posts/abc/retry/").unwrap();
        assert_eq!(
            (r.endpoint, id.as_deref()),
            (Endpoint::RetryPost, Some("abc"))
        );
        assert_eq!(
            find_route("POST", "/v1/posts").unwrap().0.endpoint,
            Endpoint::CreatePost
        );
        assert!(find_route("PUT", "/v1/posts").is_none());
        assert!(find_route("GET", "/v1/posts//retry").is_none());
        assert!(find_route("GET", "/v2/posts/abc").is_none());
        let (r, id) = find_route("GET", "/v1/users/u1/accounts").unwrap();
        assert_eq!(
            (r.endpoint, id.as_deref()),
            (Endpoint::ListAccounts, Some("u1"))
        );
    }

    /// Every route and each of its statuses is in the OpenAPI document.
    #[test]
    fn every_route_and_status_is_in_the_openapi_document() {
        let doc: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../openapi.yaml")).expect("openapi.yaml parses");
        assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
            assert!(
                op.is_mapping(),
                "{} {} is not in openapi.yaml",
                route.method,
                route.path
            );
            for status in route.statuses {
                assert!(
                    op["responses"][status.to_string()].is_mapping(),
                    "{} {} answers {status}, which openapi.yaml does not list",
                    route.method,
                    route.path
                );
            }
            let documented = op["responses"].as_mapping().map(|m| m.len()).unwrap_or(0);
            assert_eq!(
                documented,
                route.statuses.len(),
                "{} {} documents statuses it never answers",
                route.method,
                route.path
            );
        }
        let paths = doc["paths"].as_mapping().unwrap();
        let documented: usize = paths
            .values()
            .map(|p| {
                p.as_mapping()
                    .map(|m| {
                        m.keys()
                            .filter(|k| k.as_str() != Some("parameters"))
                            .count()
                    })
                    .unwrap_or(0)
            })
            .sum();
        assert_eq!(
            documented,
            ROUTES.len(),
            "openapi.yaml documents a route this function does not serve"
        );
    }

    /// The template routes exactly these to the webhook function.
    #[test]
    fn template_yaml_routes_every_route_to_this_function() {
        let template: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../template.yaml")).expect("template parses");
        let events = template["Resources"]["WebhookFunction"]["Properties"]["Events"]
            .as_mapping()
            .expect("WebhookFunction has events");
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
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        routed.sort();
        served.sort();
        assert_eq!(routed, served);
    }
}
