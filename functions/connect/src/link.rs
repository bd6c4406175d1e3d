//! Linking: `POST /v1/connect/{network}` starts it, the network's consent page sends
//! the browser to `GET /v1/oauth/{network}/callback`, which finishes it.

use crate::App;
use crosspost_aws::PendingLink;
use crosspost_core::linking::{
    return_to, state_digest, Grant, LinkFailure, LinkOutcome, Linker, STATE_LIFETIME_SECS,
};
use crosspost_core::{keys, LinkedAccount, Network, Secret};
use crosspost_lambda::problem::{json, problem, unavailable, FieldError};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use time::OffsetDateTime;
use url::Url;

#[derive(Serialize)]
struct Started {
    network: Network,
    authorize_url: String,
    expires_at: String,
}

/// A body's fields by name.
pub(crate) type Fields = serde_json::Map<String, serde_json::Value>;

/// A JSON object body whose fields are all among `allowed`: the fields, and an error
/// for each unknown one; or the answer when it is no JSON object (`shape` names the
/// object expected). Every connect body is read through here.
pub(crate) fn read_object(
    body: &[u8],
    allowed: &[&str],
    shape: &str,
) -> Result<(Fields, Vec<FieldError>), Box<Response<Body>>> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Box::new(problem(
            StatusCode::BAD_REQUEST,
            &format!("the body is not JSON: {e}"),
            &[],
        ))
    })?;
    let serde_json::Value::Object(fields) = value else {
        return Err(Box::new(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("the body must be a JSON object {shape}"),
            &[],
        )));
    };
    let errors = fields
        .keys()
        .filter(|name| !allowed.contains(&name.as_str()))
        .map(|name| FieldError {
            pointer: format!("/{name}"),
            detail: format!("unknown field `{name}`"),
        })
        .collect();
    Ok((fields, errors))
}

/// The body's `user_id`, checked and NFC-normalised as everywhere
/// ([`crosspost_core::post::user_id`]), or an error for it.
pub(crate) fn user_id_field(fields: &Fields, errors: &mut Vec<FieldError>) -> Option<String> {
    let problem = match fields.get("user_id").and_then(|v| v.as_str()) {
        Some(u) => match crosspost_core::post::user_id(u) {
            Ok(u) => return Some(u),
            Err(e) => e,
        },
        None => "`user_id` (a string) is required".into(),
    };
    errors.push(FieldError {
        pointer: "/user_id".into(),
        detail: problem,
    });
    None
}

/// The `{user_id, return_url}` body, or the answer naming every field that is wrong.
fn read_start(body: &[u8], app: &App) -> Result<(String, Url), Box<Response<Body>>> {
    let (fields, mut errors) =
        read_object(body, &["user_id", "return_url"], "{user_id, return_url}")?;
    let user_id = user_id_field(&fields, &mut errors);
    let mut err = |pointer: &str, detail: String| {
        errors.push(FieldError {
            pointer: pointer.to_owned(),
            detail,
        })
    };
    let return_url = match fields.get("return_url").and_then(|v| v.as_str()) {
        Some(r) => match app.return_urls.check(r) {
            Ok(url) => Some(url),
            Err(why) => {
                err("/return_url", format!("`return_url` {why}"));
                None
            }
        },
        None => {
            err("/return_url", "`return_url` (a string) is required".into());
            None
        }
    };
    match (user_id, return_url) {
        (Some(u), Some(r)) if errors.is_empty() => Ok((u, r)),
        _ => Err(Box::new(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the link request is invalid",
            &errors,
        ))),
    }
}

/// A browser redirect that no cache keeps.
fn redirect(location: &str) -> Response<Body> {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::FOUND;
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// A callback that cannot be sent back to the app (no state, or one that is unknown
/// or used): 400, as a short page for a browser, problem+json for anything else.
fn dead_end(req: &Request, detail: &str) -> Response<Body> {
    dead_end_with(req, StatusCode::BAD_REQUEST, detail)
}

/// [`dead_end`] with another status (503 while the network's credentials are unusable).
fn dead_end_with(req: &Request, status: StatusCode, detail: &str) -> Response<Body> {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if !wants_html {
        return problem(status, detail, &[]);
    }
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>Link not completed</title>\
         </head><body><h1>Link not completed</h1><p>{}.</p></body></html>",
        detail.replace('&', "&amp;").replace('<', "&lt;")
    );
    let mut resp = Response::new(Body::Text(page));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

impl App {
    /// Where the API is reached, as the network must send the browser back to it:
    /// PUBLIC_BASE_URL when set, else the address this request came to.
    fn api_base(&self, req: &Request) -> String {
        if let Some(base) = &self.public_base_url {
            return base.clone();
        }
        let proto = req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|p| *p == "http" || *p == "https")
            .unwrap_or("https");
        let domain = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(ApiGatewayV2httpRequestContext {
                domain_name: Some(d),
                ..
            })) => Some(d.clone()),
            _ => None,
        };
        let host = domain
            .or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        format!("{proto}://{host}")
    }

    /// `POST /v1/connect/{network}`
    pub async fn start_link(
        &self,
        network: &str,
        req: &Request,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Response<Body> {
        let linker = match self.linker(network).await {
            Ok(linker) => linker,
            Err(resp) => return *resp,
        };
        let network = linker.network();
        let (user_id, return_url) = match read_start(body, self) {
            Ok(v) => v,
            Err(resp) => return *resp,
        };
        // 256 random bits, base64url.
        let state = match crosspost_networks::oauth::new_random_secret() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "no state");
                return problem(StatusCode::SERVICE_UNAVAILABLE, "try again", &[]);
            }
        };
        let digest = state_digest(&state);
        let redirect_uri = format!("{}/v1/oauth/{network}/callback", self.api_base(req));
        let expires = now + time::Duration::seconds(STATE_LIFETIME_SECS);
        let consent = match linker.consent(&redirect_uri, &state) {
            Ok(consent) => consent,
            Err(e) => {
                tracing::error!(error = %e, "the consent page URL could not be built");
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the network's consent page is misconfigured",
                    &[],
                );
            }
        };
        let sealed_verifier = match &consent.verifier {
            Some(v) => match self.vault.seal_secret(&keys::oauth_pk(&digest), v).await {
                Ok(sealed) => Some(sealed),
                Err(e) => return unavailable(&e),
            },
            None => None,
        };
        let pending = PendingLink {
            network,
            user_id: user_id.clone(),
            return_url: return_url.to_string(),
            redirect_uri,
            verifier: sealed_verifier,
            expires_at: expires.unix_timestamp(),
        };
        if let Err(e) = self.vault.store().put_pending_link(&digest, &pending).await {
            return unavailable(&e);
        }
        tracing::info!(%network, %user_id, "link started");
        json(
            StatusCode::OK,
            &Started {
                network,
                authorize_url: consent.authorize_url,
                expires_at: crosspost_core::clock::rfc3339(expires),
            },
        )
    }

    /// `GET /v1/oauth/{network}/callback`: the network sent the browser back.
    pub async fn callback(
        &self,
        network: &str,
        req: &Request,
        now: OffsetDateTime,
    ) -> Response<Body> {
        let linker = match self.find_linker(network).await {
            Ok(Ok(linker)) => linker,
            // The browser gets a page, as for every other dead end here.
            Ok(Err(unusable)) => {
                return dead_end_with(req, StatusCode::SERVICE_UNAVAILABLE, &unusable.detail())
            }
            Err(resp) => return *resp,
        };
        let network = linker.network();
        let query = req.query_string_parameters_ref();
        let param = |name: &str| query.and_then(|q| q.first(name)).filter(|v| !v.is_empty());
        let Some(state) = param("state") else {
            return dead_end(
                req,
                "the callback has no state; start linking again from the app",
            );
        };
        let state = Secret::new(state);
        let digest = state_digest(&state);
        // Taking the pending link marks it as this callback's, then deletes it: a state
        // works once.
        let pending = match self.vault.store().take_pending_link(&digest).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                tracing::warn!(%network, "callback with an unknown or used state");
                return dead_end(
                    req,
                    "this link is unknown or was used already; start linking again from the app",
                );
            }
            Err(e) => return unavailable(&e),
        };
        let Ok(return_url) = Url::parse(&pending.return_url) else {
            return dead_end(
                req,
                "the pending link is unusable; start linking again from the app",
            );
        };
        let outcome = self
            .finish_link(linker, &pending, &digest, param, now)
            .await;
        match &outcome {
            LinkOutcome::Linked { account_ids, .. } => {
                tracing::info!(%network, user_id = %pending.user_id, ?account_ids, "linked")
            }
            LinkOutcome::Failed { reason, .. } => {
                tracing::warn!(%network, user_id = %pending.user_id, %reason, "link failed")
            }
        }
        redirect(&return_to(&return_url, &outcome))
    }

    async fn finish_link<'q>(
        &self,
        linker: &dyn Linker,
        pending: &PendingLink,
        digest: &str,
        param: impl Fn(&str) -> Option<&'q str>,
        now: OffsetDateTime,
    ) -> LinkOutcome {
        let network = linker.network();
        let failed = |reason| LinkOutcome::Failed { network, reason };
        if pending.network != network {
            return failed(LinkFailure::AuthorizationFailed);
        }
        if now.unix_timestamp() > pending.expires_at {
            return failed(LinkFailure::StateExpired);
        }
        if let Some(error) = param("error") {
            return failed(if error == "access_denied" {
                LinkFailure::AccessDenied
            } else {
                LinkFailure::AuthorizationFailed
            });
        }
        let Some(code) = param("code") else {
            return failed(LinkFailure::MissingCode);
        };
        let code = Secret::new(code);
        match self.link(linker, pending, digest, &code, now).await {
            Ok(account_ids) => LinkOutcome::Linked {
                network,
                account_ids,
            },
            Err(reason) => failed(reason),
        }
    }

    /// The network's part ([`Linker::finish`]) with the pending link's verifier opened,
    /// then every account it names stored: their ids.
    async fn link(
        &self,
        linker: &dyn Linker,
        pending: &PendingLink,
        digest: &str,
        code: &Secret,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, LinkFailure> {
        let verifier = match &pending.verifier {
            Some(sealed) => Some(
                self.vault
                    .open_secret(&keys::oauth_pk(digest), sealed)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "the PKCE verifier does not open");
                        LinkFailure::ServerError
                    })?,
            ),
            None => None,
        };
        let accounts = linker
            .finish(Grant {
                user_id: &pending.user_id,
                code,
                verifier: verifier.as_ref(),
                redirect_uri: &pending.redirect_uri,
                now_unix: now.unix_timestamp(),
            })
            .await?;
        let mut linked = Vec::with_capacity(accounts.len());
        for account in accounts {
            self.store_linked(&account, now).await?;
            linked.push(account.account_id);
        }
        Ok(linked)
    }

    async fn store_linked(
        &self,
        account: &LinkedAccount,
        now: OffsetDateTime,
    ) -> Result<(), LinkFailure> {
        self.vault.link(account, now).await.map_err(|e| {
            tracing::error!(error = %e, network = %account.network, "the account could not be stored");
            LinkFailure::ServerError
        })
    }
}
