//! The routes this function serves, in one table that dispatch, the OpenAPI document's
//! test and the template's test all read.

use crate::App;
use crosspost_core::linking::Linker;
use crosspost_core::signing::SigningSecret;
use crosspost_core::Network;
use crosspost_lambda::http::{
    body_bytes, find_route, note_undocumented, refuse_content_type, refuse_duplicate_keys,
    refuse_replayed, refuse_unsigned, Route, Signing,
};
use crosspost_lambda::problem::problem;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    LinkBluesky,
    StartLink,
    Callback,
    Unlink,
}

pub const ROUTES: &[Route<Endpoint>] = &[
    // Before `/v1/connect/{network}`: the first route that matches is taken.
    Route {
        endpoint: Endpoint::LinkBluesky,
        method: "POST",
        path: "/v1/connect/bluesky",
        signing: Signing::Request,
        json_body: true,
        statuses: &[200, 400, 401, 413, 415, 422, 503],
    },
    Route {
        endpoint: Endpoint::StartLink,
        method: "POST",
        path: "/v1/connect/{network}",
        signing: Signing::Request,
        json_body: true,
        statuses: &[200, 400, 401, 404, 413, 415, 422, 503],
    },
    Route {
        endpoint: Endpoint::Callback,
        method: "GET",
        path: "/v1/oauth/{network}/callback",
        signing: Signing::Unsigned,
        json_body: false,
        statuses: &[302, 400, 404, 503],
    },
    Route {
        endpoint: Endpoint::Unlink,
        method: "DELETE",
        path: "/v1/users/{user_id}/accounts/{network}/{account_id}",
        signing: Signing::Request,
        json_body: false,
        statuses: &[200, 401, 404, 413, 503],
    },
];

impl App {
    /// The route's network's linker, built on the network's app credentials at its
    /// first use. The outer error is a 404 naming the networks accounts can be linked
    /// on; the inner one says the credentials could not be read or used (logged here
    /// with the secret's id; the caller answers without the detail, which names AWS
    /// resources).
    pub async fn find_linker(
        &self,
        name: &str,
    ) -> Result<Result<&dyn Linker, Unusable>, Box<Response<Body>>> {
        let Some((network, linker)) = self.linkers.iter().find(|(n, _)| n.as_str() == name) else {
            let known: Vec<&str> = self.linkers.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Box::new(problem(
                StatusCode::NOT_FOUND,
                &format!(
                    "unknown network `{name}`; accounts can be linked on {}",
                    known.join(", ")
                ),
                &[],
            )));
        };
        Ok(match linker.get().await {
            Ok(linker) => Ok(linker.as_ref()),
            Err(detail) => {
                tracing::error!(%network, %detail, "the network's app credentials are unusable");
                Err(Unusable(*network))
            }
        })
    }

    /// The linker of the route's network: a 404 for an unknown network, a 503 when its
    /// app credentials are unusable.
    pub async fn linker(&self, name: &str) -> Result<&dyn Linker, Box<Response<Body>>> {
        self.find_linker(name)
            .await?
            .map_err(|unusable| Box::new(unusable.problem()))
    }

    /// The source app's signing secrets, read at the first signed request; a 503 when
    /// they cannot be read or parsed (logged with the secret's id).
    async fn signing_secrets(&self) -> Result<&[SigningSecret], Box<Response<Body>>> {
        match self.signing.get().await {
            Ok(secrets) => Ok(secrets),
            Err(detail) => {
                tracing::error!(%detail, "the signing secrets are unusable");
                Err(Box::new(problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "signed requests cannot be checked for now; try again later",
                    &[],
                )))
            }
        }
    }
}

/// A network's app credentials could not be read or used (the detail is in the log).
#[derive(Debug, Clone, Copy)]
pub struct Unusable(pub Network);

impl Unusable {
    /// What the caller is told: no secret names, ARNs or AWS messages.
    pub fn detail(&self) -> String {
        format!(
            "linking {} accounts is unavailable for now: the app credentials are unusable; try again later",
            self.0
        )
    }

    /// 503, problem+json.
    pub fn problem(&self) -> Response<Body> {
        problem(StatusCode::SERVICE_UNAVAILABLE, &self.detail(), &[])
    }
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let Some((route, params)) = find_route(ROUTES, req.method().as_str(), req.uri().path()) else {
        return problem(StatusCode::NOT_FOUND, "no such route", &[]);
    };
    let body = body_bytes(req.body());
    let headers = req.headers();
    let now = time::OffsetDateTime::now_utc();
    if route.signing != Signing::Unsigned {
        let secrets = match app.signing_secrets().await {
            Ok(secrets) => secrets,
            Err(resp) => return *resp,
        };
        if let Some(refused) = refuse_unsigned(secrets, route.signing, &req, now.unix_timestamp()) {
            return refused;
        }
        if let Some(refused) = refuse_replayed(&app.posts, route.signing, &req, now).await {
            return refused;
        }
        if let Some(refused) = refuse_content_type(route, headers) {
            return refused;
        }
        if let Some(refused) = refuse_duplicate_keys(route, body) {
            return refused;
        }
    }
    let param = |i: usize| params.get(i).map(String::as_str).unwrap_or_default();
    let resp = match route.endpoint {
        Endpoint::LinkBluesky => app.link_bluesky(body, now).await,
        Endpoint::StartLink => app.start_link(param(0), &req, body, now).await,
        Endpoint::Callback => app.callback(param(0), &req, now).await,
        Endpoint::Unlink => app.unlink(param(0), param(1), param(2), now).await,
    };
    note_undocumented(route, &resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_their_parameters() {
        let (r, p) = find_route(ROUTES, "POST", "/v1/connect/x").unwrap();
        assert_eq!((r.endpoint, p), (Endpoint::StartLink, vec!["x".to_owned()]));
        let (r, p) = find_route(ROUTES, "POST", "/v1/connect/bluesky").unwrap();
        assert_eq!((r.endpoint, p), (Endpoint::LinkBluesky, vec![]));
        let (r, p) = find_route(ROUTES, "GET", "/v1/oauth/facebook/callback").unwrap();
        assert_eq!(
            (r.endpoint, p),
            (Endpoint::Callback, vec!["facebook".to_owned()])
        );
        let (r, p) = find_route(ROUTES, "DELETE", "/v1/users/u1/accounts/x/42").unwrap();
        assert_eq!(r.endpoint, Endpoint::Unlink);
        assert_eq!(p, ["u1", "x", "42"]);
        assert!(find_route(ROUTES, "GET", "/v1/connect/x").is_none());
        assert!(find_route(ROUTES, "DELETE", "/v1/users/u1/accounts/x").is_none());
        assert_eq!(
            find_route(ROUTES, "GET", "/v1/oauth/x/callback")
                .unwrap()
                .0
                .signing,
            Signing::Unsigned
        );
    }

    /// Every route and status is in the OpenAPI document, and template.yaml routes
    /// exactly these routes to this function.
    #[test]
    fn the_route_table_is_documented_and_deployed() {
        crosspost_lambda::http::check_route_table(ROUTES, "connect", "ConnectFunction").unwrap();
    }

    /// Only the functions that need plaintext tokens may decrypt (DESIGN section 8).
    #[test]
    fn only_connect_and_the_publish_functions_may_decrypt_tokens() {
        let template: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../template.yaml")).unwrap();
        let mut decrypting: Vec<&str> = template["Resources"]
            .as_mapping()
            .unwrap()
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
            .filter(|(_, r)| {
                let policies = serde_yaml::to_string(&r["Properties"]["Policies"]).unwrap();
                policies.contains("KMSDecryptPolicy") || policies.contains("kms:Decrypt")
            })
            .filter_map(|(id, _)| id.as_str())
            .collect();
        decrypting.sort();
        assert_eq!(
            decrypting,
            [
                "ConnectFunction",
                "PublishBlueskyFunction",
                "PublishFacebookFunction",
                "PublishXFunction"
            ]
        );
    }
}
