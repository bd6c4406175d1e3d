//! Sessions on a PDS: `com.atproto.server.createSession` with an identifier (handle,
//! DID or email) and an app password, `refreshSession` with the refresh token (it
//! rotates: the answer holds a new refresh token). The access token lives 2 h, the
//! refresh token 90 days; when the refresh token is refused the app password makes a
//! new session, and when that is refused too the person must link again.
//!
//! What is sealed in AccountsTable: as the access token, [`AccessToken`] (service and
//! access JWT); as the refresh token, [`SessionCredentials`] (service, DID, refresh JWT
//! and the app password). Both are JSON inside the sealed value.

use super::error::{classify, XrpcError};
use super::send;
use crate::PublishError;
use base64::Engine;
use crosspost_core::{RefreshedTokens, Secret, TokenRefresher};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What the publisher needs to call the account's PDS. Its `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessToken {
    pub service: String,
    pub access_jwt: String,
}

/// What makes a new session: the refresh token, and the app password when that is
/// refused. Its `Debug` hides the tokens and the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCredentials {
    pub service: String,
    pub did: String,
    pub refresh_jwt: String,
    pub app_password: String,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SessionCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCredentials")
            .field("service", &self.service)
            .field("did", &self.did)
            .finish_non_exhaustive()
    }
}

impl AccessToken {
    /// The sealed form's plain text.
    pub fn to_secret(&self) -> Secret {
        Secret::new(serde_json::to_string(self).unwrap_or_default())
    }

    pub fn from_secret(secret: &Secret) -> Result<AccessToken, PublishError> {
        serde_json::from_str(secret.expose()).map_err(|_| PublishError::AuthRevoked {
            detail: "the stored Bluesky access token is not a Bluesky session".into(),
        })
    }
}

impl SessionCredentials {
    pub fn to_secret(&self) -> Secret {
        Secret::new(serde_json::to_string(self).unwrap_or_default())
    }

    pub fn from_secret(secret: &Secret) -> Result<SessionCredentials, PublishError> {
        serde_json::from_str(secret.expose()).map_err(|_| PublishError::AuthRevoked {
            detail: "the stored Bluesky credentials are not a Bluesky session".into(),
        })
    }
}

/// A session the PDS gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlueskySession {
    pub did: String,
    pub handle: String,
    pub access: AccessToken,
    pub credentials: SessionCredentials,
    /// Seconds the access token lives, read from its `exp` claim when it has one.
    pub expires_in_secs: Option<u64>,
    /// Whether the session was made with an app password (its access token's scope),
    /// not the account's own password.
    pub app_password: bool,
}

impl BlueskySession {
    /// The tokens to store.
    pub fn tokens(&self) -> RefreshedTokens {
        RefreshedTokens {
            access_token: self.access.to_secret(),
            refresh_token: Some(self.credentials.to_secret()),
            expires_in_secs: self.expires_in_secs,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionAnswer {
    did: String,
    handle: String,
    access_jwt: String,
    refresh_jwt: String,
}

/// A JWT's claims (read, not verified: the PDS verifies its own tokens).
fn claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Seconds from now until a JWT's `exp`.
fn seconds_left(jwt: &str) -> Option<u64> {
    let exp = claims(jwt)?["exp"].as_i64()?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    u64::try_from(exp.saturating_sub(now)).ok()
}

/// Whether an access JWT is an app password's: its `scope` is
/// `com.atproto.appPass` (or `com.atproto.appPassPrivileged`), where the account's
/// own password gives `com.atproto.access`, which can also change the account's
/// email, delete it or make app passwords (the PDS's `AuthScope`).
fn is_app_password_scope(jwt: &str) -> bool {
    claims(jwt).is_some_and(|c| {
        c["scope"]
            .as_str()
            .is_some_and(|s| s.starts_with("com.atproto.appPass"))
    })
}

/// Makes and renews sessions on any PDS.
#[derive(Clone, Debug)]
pub struct BlueskyRefresher {
    http: reqwest::Client,
}

impl BlueskyRefresher {
    pub fn new(http: reqwest::Client) -> Self {
        BlueskyRefresher { http }
    }

    /// `createSession` on `service` (checked by [`super::service_url`]) with
    /// `identifier` (handle, DID or email) and `app_password`. Wrong credentials are
    /// [`PublishError::AuthRevoked`] naming the PDS's words; the password is never in
    /// the detail.
    pub async fn create_session(
        &self,
        service: &str,
        identifier: &str,
        app_password: &Secret,
    ) -> Result<BlueskySession, PublishError> {
        let request = self
            .http
            .post(format!("{service}/xrpc/com.atproto.server.createSession"))
            .json(&json!({ "identifier": identifier, "password": app_password.expose() }));
        let (status, headers, body) = send(request).await.map_err(crate::nothing_published)?;
        if !status.is_success() {
            let e = XrpcError::parse(&body);
            if status.as_u16() == 401 || e.error == "AuthenticationRequired" {
                return Err(PublishError::AuthRevoked {
                    detail: format!(
                        "Bluesky refused the identifier and app password ({})",
                        e.message
                    ),
                });
            }
            return Err(crate::nothing_published(classify(status, &headers, &body)));
        }
        self.session(service, &body, app_password.expose())
    }

    fn session(
        &self,
        service: &str,
        body: &str,
        app_password: &str,
    ) -> Result<BlueskySession, PublishError> {
        let s: SessionAnswer = serde_json::from_str(body).map_err(|e| PublishError::Retryable {
            after: None,
            detail: format!("unexpected session answer from Bluesky ({e})"),
        })?;
        Ok(BlueskySession {
            expires_in_secs: seconds_left(&s.access_jwt),
            app_password: is_app_password_scope(&s.access_jwt),
            access: AccessToken {
                service: service.to_string(),
                access_jwt: s.access_jwt,
            },
            credentials: SessionCredentials {
                service: service.to_string(),
                did: s.did.clone(),
                refresh_jwt: s.refresh_jwt,
                app_password: app_password.to_string(),
            },
            did: s.did,
            handle: s.handle,
        })
    }

    /// `refreshSession` with the stored refresh token; if the PDS refuses it (expired
    /// or revoked), a new session from the app password; if that is refused too,
    /// [`PublishError::AuthRevoked`].
    pub async fn renew(&self, creds: &SessionCredentials) -> Result<BlueskySession, PublishError> {
        let request = self
            .http
            .post(format!(
                "{}/xrpc/com.atproto.server.refreshSession",
                creds.service
            ))
            .bearer_auth(&creds.refresh_jwt);
        let (status, headers, body) = send(request).await.map_err(crate::nothing_published)?;
        if status.is_success() {
            return self.session(&creds.service, &body, &creds.app_password);
        }
        match crate::nothing_published(classify(status, &headers, &body)) {
            PublishError::AuthRevoked { .. } => {
                tracing::info!(
                    "Bluesky refused the refresh token; signing in with the app password"
                );
                self.create_session(
                    &creds.service,
                    &creds.did,
                    &Secret::new(creds.app_password.clone()),
                )
                .await
            }
            other => Err(other),
        }
    }
}

impl BlueskyRefresher {
    /// `com.atproto.server.deleteSession` with the refresh token: the session ends and
    /// its refresh token is refused from then on. A session the PDS no longer knows
    /// (refused token) counts as ended.
    pub async fn delete_session(&self, creds: &SessionCredentials) -> Result<(), PublishError> {
        let request = self
            .http
            .post(format!(
                "{}/xrpc/com.atproto.server.deleteSession",
                creds.service
            ))
            .bearer_auth(&creds.refresh_jwt);
        let (status, headers, body) = send(request).await.map_err(crate::nothing_published)?;
        if status.is_success() {
            return Ok(());
        }
        match classify(status, &headers, &body) {
            PublishError::AuthRevoked { .. } => Ok(()),
            other => Err(crate::nothing_published(other)),
        }
    }
}

impl TokenRefresher for BlueskyRefresher {
    async fn refresh(&self, refresh_token: &Secret) -> Result<RefreshedTokens, PublishError> {
        let creds = SessionCredentials::from_secret(refresh_token)?;
        Ok(self.renew(&creds).await?.tokens())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sealed_forms_round_trip_and_a_foreign_token_is_refused() {
        let a = AccessToken {
            service: "https://bsky.social".into(),
            access_jwt: "a.b.c".into(),
        };
        assert_eq!(AccessToken::from_secret(&a.to_secret()).unwrap(), a);
        assert_eq!(
            AccessToken::from_secret(&Secret::new("x-oauth-token"))
                .unwrap_err()
                .kind(),
            "auth_revoked"
        );
    }

    #[test]
    fn the_expiry_is_read_from_the_jwt() {
        let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 7200;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!(r#"{{"exp":{exp},"scope":"com.atproto.appPass"}}"#));
        let left = seconds_left(&format!("e30.{payload}.sig")).unwrap();
        assert!((7190..=7200).contains(&left), "{left}");
        assert_eq!(seconds_left("not-a-jwt"), None);
        assert!(is_app_password_scope(&format!("e30.{payload}.sig")));
        let jwt = |scope: &str| {
            let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!(r#"{{"exp":{exp},"scope":"{scope}"}}"#));
            format!("e30.{claims}.sig")
        };
        assert!(is_app_password_scope(&jwt("com.atproto.appPassPrivileged")));
        assert!(!is_app_password_scope(&jwt("com.atproto.access")));
        assert!(!is_app_password_scope("not-a-jwt"));
    }
}
