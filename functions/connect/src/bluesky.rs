//! Linking a Bluesky account: `POST /v1/connect/bluesky` with `{user_id, identifier,
//! app_password, service?}`. There is no consent page: the identifier (handle, DID or
//! email) and an app password the person made for Crosspost are checked on the
//! account's service by making a session (`com.atproto.server.createSession`), and the
//! account is linked at once with the session's tokens and the app password, all
//! sealed. Only the services of the deployment's `BLUESKY_SERVICES` list are called;
//! the first is the default.

use crate::App;
use crosspost_core::linking::Grant;
use crosspost_core::{Network, PublishError, Secret};
use crosspost_lambda::problem::{json, problem, FieldError};
use crosspost_networks::bluesky::{service_url, BlueskyRefresher};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;
use time::OffsetDateTime;

/// Longest identifier: a handle is a domain name (253), an email up to 254.
const MAX_IDENTIFIER: usize = 254;
/// Longest app password accepted (Bluesky's are 19 characters, `xxxx-xxxx-xxxx-xxxx`).
const MAX_PASSWORD: usize = 256;

/// Bluesky linking as the connect function holds it.
pub struct BlueskyLinking {
    pub sessions: BlueskyRefresher,
    /// Origins accounts may be linked on; the first is the default.
    pub services: Vec<String>,
}

impl BlueskyLinking {
    /// `list`: comma-separated service origins (see [`service_url`]), at least one.
    pub fn new(sessions: BlueskyRefresher, list: &str) -> Result<BlueskyLinking, String> {
        let services = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| service_url(s).map_err(|e| format!("BLUESKY_SERVICES `{s}`: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if services.is_empty() {
            return Err("BLUESKY_SERVICES names no service".into());
        }
        Ok(BlueskyLinking { sessions, services })
    }
}

#[derive(Serialize)]
struct Linked {
    network: Network,
    user_id: String,
    account_id: String,
    display_name: String,
    service: String,
}

struct LinkBody {
    user_id: String,
    identifier: String,
    app_password: Secret,
    service: String,
}

/// The body, or the answer naming every field that is wrong (never echoing the
/// password).
fn read_body(body: &[u8], linking: &BlueskyLinking) -> Result<LinkBody, Box<Response<Body>>> {
    let (fields, mut errors) = crate::link::read_object(
        body,
        &["user_id", "identifier", "app_password", "service"],
        "{user_id, identifier, app_password, service?}",
    )?;
    let user_id = crate::link::user_id_field(&fields, &mut errors);
    let mut err = |pointer: &str, detail: String| {
        errors.push(FieldError {
            pointer: pointer.to_owned(),
            detail,
        })
    };
    let mut text = |name: &str, max: usize| match fields.get(name) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
            Some(s.trim().to_owned())
        }
        Some(serde_json::Value::String(_)) => {
            err(
                &format!("/{name}"),
                format!("`{name}` must be 1 to {max} characters"),
            );
            None
        }
        _ => {
            err(
                &format!("/{name}"),
                format!("`{name}` (a string) is required"),
            );
            None
        }
    };
    let identifier = text("identifier", MAX_IDENTIFIER);
    let app_password = text("app_password", MAX_PASSWORD);
    let service = match fields.get("service") {
        None | Some(serde_json::Value::Null) => Some(linking.services[0].clone()),
        Some(serde_json::Value::String(s)) => match service_url(s) {
            Ok(url) if linking.services.contains(&url) => Some(url),
            Ok(url) => {
                err(
                    "/service",
                    format!(
                        "`service` {url} is not one this deployment links on ({})",
                        linking.services.join(", ")
                    ),
                );
                None
            }
            Err(why) => {
                err("/service", format!("`service`: {why}"));
                None
            }
        },
        Some(_) => {
            err("/service", "`service` must be a string".into());
            None
        }
    };
    match (user_id, identifier, app_password, service) {
        (Some(user_id), Some(identifier), Some(password), Some(service)) if errors.is_empty() => {
            Ok(LinkBody {
                user_id,
                identifier,
                app_password: Secret::new(password),
                service,
            })
        }
        _ => Err(Box::new(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the link request is invalid",
            &errors,
        ))),
    }
}

impl App {
    /// `POST /v1/connect/bluesky`: the credentials checked on the service, then the
    /// account linked (ACTIVE, the tokens and app password sealed). 422 when the
    /// service refuses them, 503 when it cannot be reached.
    pub async fn link_bluesky(&self, body: &[u8], now: OffsetDateTime) -> Response<Body> {
        let linking = &self.bluesky;
        let link = match read_body(body, linking) {
            Ok(l) => l,
            Err(resp) => return *resp,
        };
        let session = match linking
            .sessions
            .create_session(&link.service, &link.identifier, &link.app_password)
            .await
        {
            Ok(s) => s,
            Err(PublishError::AuthRevoked { detail }) => {
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Bluesky refused the identifier and app password",
                    &[FieldError {
                        pointer: "/app_password".into(),
                        detail,
                    }],
                )
            }
            Err(PublishError::Permanent { reason }) => {
                return problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Bluesky refused the sign-in",
                    &[FieldError {
                        pointer: "/identifier".into(),
                        detail: reason,
                    }],
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, service = %link.service, "Bluesky sign-in failed");
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the Bluesky service could not be reached; try again",
                    &[],
                );
            }
        };
        if !session.app_password {
            // The account's own password: a session that can change the email or
            // delete the account. Ended at once, never stored.
            if let Err(e) = linking.sessions.delete_session(&session.credentials).await {
                tracing::warn!(error = %e, "the session made with the account's password could not be ended");
            }
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Bluesky took the account's own password, not an app password",
                &[FieldError {
                    pointer: "/app_password".into(),
                    detail: "this is the account's own password; make an app password for Crosspost (Bluesky: Settings → Privacy and security → App passwords) and link with it".into(),
                }],
            );
        }
        let code = Secret::new(String::new());
        let grant = Grant {
            user_id: &link.user_id,
            code: &code,
            verifier: None,
            redirect_uri: "",
            now_unix: now.unix_timestamp(),
        };
        let account = grant.account(
            Network::Bluesky,
            session.did.clone(),
            format!("@{}", session.handle),
            session.tokens(),
        );
        if let Err(e) = self.vault.link(&account, now).await {
            tracing::error!(error = %e, "the Bluesky account could not be stored");
            return problem(StatusCode::SERVICE_UNAVAILABLE, "try again", &[]);
        }
        json(
            StatusCode::OK,
            &Linked {
                network: Network::Bluesky,
                user_id: link.user_id,
                account_id: session.did,
                display_name: account.display_name,
                service: link.service,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linking() -> BlueskyLinking {
        BlueskyLinking::new(
            BlueskyRefresher::new(
                crosspost_networks::http_client(std::time::Duration::from_secs(5)).unwrap(),
            ),
            "https://bsky.social, http://localhost:2583",
        )
        .unwrap()
    }

    #[test]
    fn the_body_is_checked_field_by_field_without_echoing_the_password() {
        let l = linking();
        let ok = read_body(
            br#"{"user_id":"u1","identifier":"alice.test","app_password":"abcd-efgh-ijkl-mnop"}"#,
            &l,
        )
        .unwrap_or_else(|_| panic!("valid"));
        assert_eq!(ok.service, "https://bsky.social");
        let local = read_body(
            br#"{"user_id":"u1","identifier":"a","app_password":"p","service":"http://localhost:2583/"}"#,
            &l,
        )
        .unwrap_or_else(|_| panic!("valid"));
        assert_eq!(local.service, "http://localhost:2583");
        let refused = read_body(
            br#"{"user_id":"","identifier":"a","app_password":"secret-pw","service":"https://evil.example","x":1}"#,
            &l,
        )
        .err()
        .unwrap();
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let text = match refused.body() {
            Body::Text(t) => t.clone(),
            other => panic!("{other:?}"),
        };
        for pointer in ["/user_id", "/service", "/x"] {
            assert!(text.contains(pointer), "{text}");
        }
        assert!(!text.contains("secret-pw"), "{text}");
        assert!(BlueskyLinking::new(
            BlueskyRefresher::new(
                crosspost_networks::http_client(std::time::Duration::from_secs(5)).unwrap()
            ),
            " "
        )
        .is_err());
    }
}
