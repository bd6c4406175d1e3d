//! The routes this function serves, in one table that dispatch, the OpenAPI document's
//! test and the template's test all read.

use crate::App;
use crosspost_lambda::http::{
    body_bytes, find_route, note_undocumented, refuse_content_type, refuse_duplicate_keys,
    refuse_replayed, refuse_unsigned, Route, Signing,
};
use crosspost_lambda::problem::problem;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    CreatePost,
    GetPost,
    DeletePost,
    RetryPost,
    Preview,
    ListAccounts,
}

pub const ROUTES: &[Route<Endpoint>] = &[
    Route {
        endpoint: Endpoint::CreatePost,
        method: "POST",
        path: "/v1/posts",
        signing: Signing::Body,
        json_body: true,
        statuses: &[200, 202, 400, 401, 409, 413, 415, 422, 503],
    },
    Route {
        endpoint: Endpoint::GetPost,
        method: "GET",
        path: "/v1/posts/{id}",
        signing: Signing::Request,
        json_body: false,
        statuses: &[200, 401, 404, 413, 503],
    },
    Route {
        endpoint: Endpoint::DeletePost,
        method: "DELETE",
        path: "/v1/posts/{id}",
        signing: Signing::Request,
        json_body: false,
        statuses: &[202, 401, 404, 409, 413, 503],
    },
    Route {
        endpoint: Endpoint::RetryPost,
        method: "POST",
        path: "/v1/posts/{id}/retry",
        signing: Signing::Request,
        json_body: false,
        statuses: &[202, 401, 404, 413, 503],
    },
    Route {
        endpoint: Endpoint::ListAccounts,
        method: "GET",
        path: "/v1/users/{user_id}/accounts",
        signing: Signing::Request,
        json_body: false,
        statuses: &[200, 401, 413, 503],
    },
    Route {
        endpoint: Endpoint::Preview,
        method: "POST",
        path: "/v1/preview",
        signing: Signing::Request,
        json_body: true,
        statuses: &[200, 400, 401, 413, 415, 422, 503],
    },
];

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let body = body_bytes(req.body());
    let headers = req.headers();
    let now = time::OffsetDateTime::now_utc();
    let found = find_route(ROUTES, req.method().as_str(), req.uri().path());
    // Every route is signed: an unsigned caller learns nothing, not even the routes (an
    // unknown one is checked as a request signature).
    let signing = found.as_ref().map_or(Signing::Request, |(r, _)| r.signing);
    if let Some(refused) = refuse_unsigned(&app.secrets, signing, &req, now.unix_timestamp()) {
        return refused;
    }
    let Some((route, params)) = found else {
        return problem(StatusCode::NOT_FOUND, "no such route", &[]);
    };
    if let Some(refused) = refuse_replayed(&app.posts, signing, &req, now).await {
        return refused;
    }
    if let Some(refused) = refuse_content_type(route, headers) {
        return refused;
    }
    if let Some(refused) = refuse_duplicate_keys(route, body) {
        return refused;
    }
    let webhook_id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let id = params.into_iter().next().unwrap_or_default();
    let resp = match route.endpoint {
        Endpoint::CreatePost => app.create_post(webhook_id, body, now).await,
        Endpoint::GetPost => app.get_post(&id).await,
        Endpoint::DeletePost => app.delete_post(&id, now).await,
        Endpoint::RetryPost => app.retry_post(&id, now).await,
        Endpoint::Preview => app.preview(body).await,
        Endpoint::ListAccounts => app.list_accounts(&id).await,
    };
    note_undocumented(route, &resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_their_id() {
        let find = |m, p| {
            find_route(ROUTES, m, p).map(|(r, params)| (r.endpoint, params.into_iter().next()))
        };
        assert_eq!(
            find("GET", "/v1/posts/abc"),
            Some((Endpoint::GetPost, Some("abc".into())))
        );
        assert_eq!(
            find("POST", "/v1/posts/abc/retry/"),
            Some((Endpoint::RetryPost, Some("abc".into())))
        );
        assert_eq!(
            find("POST", "/v1/posts"),
            Some((Endpoint::CreatePost, None))
        );
        assert!(find("PUT", "/v1/posts").is_none());
        assert!(find("GET", "/v1/posts//retry").is_none());
        assert!(find("GET", "/v2/posts/abc").is_none());
        assert_eq!(
            find("GET", "/v1/users/u1/accounts"),
            Some((Endpoint::ListAccounts, Some("u1".into())))
        );
        assert_eq!(
            find("GET", "/v1/users/u1%23K%2Fb/accounts"),
            Some((Endpoint::ListAccounts, Some("u1#K/b".into()))),
            "path parameters are percent-decoded"
        );
        assert_eq!(
            find("GET", "/v1/users/Cafe%CC%81/accounts"),
            Some((Endpoint::ListAccounts, Some("Caf\u{e9}".into()))),
            "and NFC-normalised, as ids in bodies are"
        );
        assert!(find("GET", "/v1/users/%FF/accounts").is_none());
    }

    /// Every route and status is in the OpenAPI document, and template.yaml routes
    /// exactly these routes to this function.
    #[test]
    fn the_route_table_is_documented_and_deployed() {
        crosspost_lambda::http::check_route_table(ROUTES, "webhook", "WebhookFunction").unwrap();
        // A request-signed route that does not list 503 (the webhook-id claim's
        // answer when storage is down) is refused by the check.
        let without_503: Vec<Route<Endpoint>> = ROUTES
            .iter()
            .map(|r| Route {
                statuses: if r.endpoint == Endpoint::Preview {
                    &[200, 400, 401, 413, 415, 422]
                } else {
                    r.statuses
                },
                ..*r
            })
            .collect();
        let refused =
            crosspost_lambda::http::check_route_table(&without_503, "webhook", "WebhookFunction")
                .unwrap_err();
        assert!(
            refused.contains("POST /v1/preview is request-signed"),
            "{refused}"
        );
    }
}
