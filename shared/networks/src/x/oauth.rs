//! X OAuth 2.0 for a confidential client (the workspace's one OAuth approach,
//! [`crate::oauth`]): the consent page's URL with PKCE S256, the authorization-code
//! exchange, refreshing an access token and revoking a token.
//!
//! X rotates refresh tokens: each refresh answers a new one and the old one stops
//! working. A refresh token X no longer accepts is answered with `invalid_grant`, or in
//! X's own spelling `invalid_request` "Value passed for the token was invalid.": both mean
//! the person must link the account again. A failure of the token endpoint itself (5xx,
//! 429, timeout, no connection) is only ever a reason to try again.

use crate::oauth::{client_auth, pkce_challenge, request_tokens, ErrorAnswer, TokenFailure};
use crate::PublishError;
use crosspost_core::{RefreshedTokens, Secret, TokenRefresher};
use serde::Deserialize;
use std::future::Future;

pub use crate::oauth::new_pkce_verifier;

/// The X OAuth client's credentials, as the `XOAuthClient` secret holds them:
/// `{"client_id": "...", "client_secret": "..."}`.
#[derive(Deserialize)]
pub struct ClientCredentials {
    pub client_id: String,
    client_secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

impl ClientCredentials {
    pub fn new(client_id: impl Into<String>, client_secret: &Secret) -> Self {
        ClientCredentials {
            client_id: client_id.into(),
            client_secret: client_secret.expose().to_owned(),
        }
    }

    /// Reads the secret's JSON. The error never repeats the secret's text.
    pub fn parse(secret: &Secret) -> Result<Self, SetupError> {
        serde_json::from_str(secret.expose()).map_err(|e| SetupError::Credentials {
            line: e.line(),
            column: e.column(),
        })
    }
}

/// Why the X OAuth client could not be set up, or a consent page URL not built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the X OAuth client secret is not JSON {{\"client_id\",\"client_secret\"}} (at line {line}, column {column})")]
    Credentials { line: usize, column: usize },
    #[error("the X token URL is not a URL: {0}")]
    Url(String),
}

/// Which token a revocation names (RFC 7009's `token_type_hint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access_token",
            TokenKind::Refresh => "refresh_token",
        }
    }
}

/// X's consent page.
pub const AUTHORIZE_URL: &str = "https://x.com/i/oauth2/authorize";
/// What Crosspost asks X for: post, upload media, read the account, and a refresh token.
pub const SCOPES: &[&str] = &[
    "tweet.read",
    "tweet.write",
    "users.read",
    "offline.access",
    "media.write",
];

/// X's token and revoke endpoints, called with the function's one HTTP client.
#[derive(Clone, Debug)]
pub struct XOAuth {
    http: reqwest::Client,
    authorize_url: String,
    token_url: String,
    revoke_url: String,
    client_id: String,
    client_secret: Secret,
}

fn checked_url(url: String) -> Result<String, SetupError> {
    reqwest::Url::parse(&url)
        .map(|_| url)
        .map_err(|e| SetupError::Url(e.to_string()))
}

impl XOAuth {
    /// `base_url` is X's API base (`https://api.x.com`, or a fake's): the token endpoint
    /// is `{base_url}/2/oauth2/token`, revocation `{base_url}/2/oauth2/revoke`. The
    /// consent page is X's own ([`AUTHORIZE_URL`]) unless [`XOAuth::with_authorize_url`]
    /// says otherwise.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        credentials: ClientCredentials,
    ) -> Result<Self, SetupError> {
        let base = base_url.trim_end_matches('/');
        Ok(XOAuth {
            http,
            authorize_url: AUTHORIZE_URL.to_owned(),
            token_url: checked_url(format!("{base}/2/oauth2/token"))?,
            revoke_url: checked_url(format!("{base}/2/oauth2/revoke"))?,
            client_id: credentials.client_id,
            client_secret: Secret::new(credentials.client_secret),
        })
    }

    /// The same client with another consent page (a fake's).
    pub fn with_authorize_url(mut self, url: &str) -> Result<Self, SetupError> {
        self.authorize_url = checked_url(url.to_owned())?;
        Ok(self)
    }

    /// Where to send the person to grant [`SCOPES`]: X's consent page with this `state`
    /// and the S256 challenge of `verifier`; X comes back to `redirect_uri` (which must
    /// be registered with the app, character for character).
    pub fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &Secret,
        verifier: &Secret,
    ) -> Result<String, SetupError> {
        checked_url(redirect_uri.to_owned())?;
        let challenge = pkce_challenge(verifier);
        let scope = SCOPES.join(" ");
        crate::oauth::consent_url(
            &self.authorize_url,
            &[
                ("response_type", "code"),
                ("client_id", self.client_id.as_str()),
                ("state", state.expose()),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("redirect_uri", redirect_uri),
                ("scope", scope.as_str()),
            ],
        )
        .map_err(SetupError::Url)
    }

    /// `grant_type=authorization_code`: the code X redirected with, for tokens, proving
    /// with `verifier` that this client asked for it. A code X refuses (spent, older
    /// than 30 s, another verifier) is [`PublishError::AuthRevoked`] or
    /// [`PublishError::Permanent`]; an unavailable endpoint is retryable.
    pub async fn exchange_code(
        &self,
        code: &Secret,
        verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<RefreshedTokens, PublishError> {
        self.token(
            "authorization code",
            &[
                ("grant_type", "authorization_code"),
                ("code", code.expose()),
                ("code_verifier", verifier.expose()),
                ("redirect_uri", redirect_uri),
            ],
        )
        .await
    }

    /// `grant_type=refresh_token`: new tokens for the refresh token, which X retires.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<RefreshedTokens, PublishError> {
        self.token(
            "refresh",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
            ],
        )
        .await
    }

    /// `POST /2/oauth2/token` with the client's Basic credentials and the grant in the
    /// form body.
    async fn token(
        &self,
        call: &str,
        form: &[(&str, &str)],
    ) -> Result<RefreshedTokens, PublishError> {
        let request = self.http.post(&self.token_url).form(form);
        request_tokens(client_auth(request, &self.client_id, &self.client_secret))
            .await
            .map_err(|e| classify(call, e))
    }

    /// `POST /2/oauth2/revoke` (RFC 7009) for a token of the kind `hint` says
    /// ([`TokenKind`]). A token X does not know counts as revoked.
    pub async fn revoke(&self, token: &Secret, hint: TokenKind) -> Result<(), PublishError> {
        let form = [
            ("token", token.expose()),
            ("token_type_hint", hint.as_str()),
        ];
        let request = self
            .http
            .post(&self.revoke_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form);
        let response = client_auth(request, &self.client_id, &self.client_secret)
            .send()
            .await
            .map_err(|e| PublishError::Retryable {
                after: None,
                detail: format!(
                    "X token endpoint (revoke) unreachable: {}",
                    crate::WithoutUrl::without_url_ref(&e)
                ),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(PublishError::Retryable {
                after: None,
                detail: format!("X token endpoint (revoke) answered {}", status.as_u16()),
            });
        }
        let body = response.text().await.unwrap_or_default();
        let answer = serde_json::from_str::<ErrorAnswer>(&body).ok();
        Err(PublishError::Permanent {
            reason: format!(
                "X token endpoint (revoke) refused: {} {}",
                status.as_u16(),
                answer
                    .map(|a| a.summary())
                    .unwrap_or_else(|| crate::excerpt(&body, 200))
            )
            .trim_end()
            .to_owned(),
        })
    }
}

impl TokenRefresher for XOAuth {
    fn refresh(
        &self,
        refresh_token: &Secret,
    ) -> impl Future<Output = Result<RefreshedTokens, PublishError>> + Send {
        XOAuth::refresh(self, refresh_token)
    }
}

/// What a failed token-endpoint call means for the caller. Never carries a token.
fn classify(call: &str, failure: TokenFailure) -> PublishError {
    match failure {
        TokenFailure::Unreachable(detail) => PublishError::Retryable {
            after: None,
            detail: format!("X token endpoint ({call}) unreachable: {detail}"),
        },
        // An overloaded endpoint's body is never taken for an OAuth refusal.
        TokenFailure::Answered {
            status,
            retry_after,
            ..
        } if status >= 500 || status == 429 => PublishError::Retryable {
            after: retry_after,
            detail: format!("X token endpoint ({call}) answered {status}"),
        },
        TokenFailure::Answered { status, body, .. } => {
            match serde_json::from_str::<ErrorAnswer>(&body) {
                Ok(answer) => {
                    let detail = format!("X token endpoint ({call}) refused: {}", answer.summary());
                    let description = answer.error_description.as_deref().unwrap_or("");
                    if grant_is_gone(&answer.error, description) {
                        PublishError::AuthRevoked { detail }
                    } else {
                        PublishError::Permanent { reason: detail }
                    }
                }
                Err(_) => PublishError::Permanent {
                    reason: format!(
                        "unexpected answer from the X token endpoint ({call}): {status} without an OAuth error"
                    ),
                },
            }
        }
        TokenFailure::Unreadable(detail) => PublishError::Permanent {
            reason: format!("unexpected answer from the X token endpoint ({call}): {detail}"),
        },
    }
}

/// `invalid_grant`, or X's `invalid_request` about the token's value: the refresh token
/// is used, expired or revoked (RFC 6749 section 5.2 names the codes).
fn grant_is_gone(code: &str, description: &str) -> bool {
    code == "invalid_grant"
        || (code == "invalid_request" && description.contains("token was invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crosspost_fakes::{FakeX, Fault, FaultRule};
    use serde_json::json;
    use std::time::Duration;

    const ID: &str = "client-1";
    const SECRET: &str = "client-secret-1";

    async fn fake() -> (FakeX, XOAuth) {
        let x = FakeX::start().await.unwrap();
        x.set_client(ID, SECRET);
        let http = crate::http_client(Duration::from_secs(2)).unwrap();
        let oauth = XOAuth::new(
            http,
            &x.base_url(),
            ClientCredentials::new(ID, &Secret::new(SECRET)),
        )
        .unwrap();
        (x, oauth)
    }

    #[test]
    fn refused_grants_are_revoked_authorizations_and_other_refusals_permanent() {
        assert!(grant_is_gone("invalid_grant", ""));
        assert!(grant_is_gone(
            "invalid_request",
            "Value passed for the token was invalid."
        ));
        assert!(!grant_is_gone(
            "invalid_request",
            "Missing required parameter [refresh_token]."
        ));
        assert!(!grant_is_gone("invalid_client", ""));
        assert!(!grant_is_gone("unauthorized_client", "token was invalid"));
    }

    #[tokio::test]
    async fn a_refresh_rotates_the_refresh_token_and_the_old_one_is_then_refused() {
        let (x, oauth) = fake().await;
        x.add_account_with_tokens("42", "access-0", "refresh-0", 60);
        let first = oauth.refresh(&Secret::new("refresh-0")).await.unwrap();
        assert_eq!(first.expires_in_secs, Some(7200));
        let next = first.refresh_token.clone().expect("a new refresh token");
        assert_eq!(
            x.current_refresh_token("42").as_deref(),
            Some(next.expose())
        );
        assert!(x.access_token_works(first.access_token.expose()));

        let again = oauth.refresh(&Secret::new("refresh-0")).await.unwrap_err();
        assert_eq!(again.kind(), "auth_revoked", "{again}");
        assert!(!again.to_string().contains("refresh-0"));
        oauth.refresh(&next).await.unwrap();

        // Confidential client: HTTP Basic, the grant in the form body.
        let req = &x.requests()[0];
        assert_eq!(req.path, "/2/oauth2/token");
        assert!(req.authorization.as_deref().unwrap().starts_with("Basic "));
        assert!(req.body.contains("grant_type=refresh_token"));
        assert!(!req.body.contains(SECRET));
        assert_eq!(x.token_requests(), 3);
    }

    #[tokio::test]
    async fn invalid_grant_is_auth_revoked() {
        let (x, oauth) = fake().await;
        x.inject(
            FaultRule::new(Fault::Respond {
                status: 400,
                body: json!({"error": "invalid_grant", "error_description": "Token revoked"}),
                headers: vec![],
            })
            .on("POST", "/2/oauth2/token"),
        );
        let e = oauth.refresh(&Secret::new("r")).await.unwrap_err();
        assert_eq!(e.kind(), "auth_revoked", "{e}");
    }

    #[tokio::test]
    async fn an_unavailable_endpoint_is_retryable_never_revoked() {
        let (x, oauth) = fake().await;
        x.add_account_with_tokens("42", "a", "r", 60);
        for fault in [
            Fault::ServerError(503),
            Fault::ServerError(500),
            Fault::RateLimitedFor(Duration::from_secs(30)),
            Fault::ResetConnection,
            Fault::Hang,
        ] {
            x.inject(FaultRule::new(fault.clone()).on("POST", "/2/oauth2/token"));
            let e = oauth.refresh(&Secret::new("r")).await.unwrap_err();
            assert_eq!(e.kind(), "retryable", "{fault:?}: {e}");
        }
        // The refresh token survived every failed call.
        oauth.refresh(&Secret::new("r")).await.unwrap();
    }

    #[tokio::test]
    async fn a_wrong_client_is_permanent() {
        let (x, _) = fake().await;
        let http = crate::http_client(Duration::from_secs(2)).unwrap();
        let wrong = XOAuth::new(
            http,
            &x.base_url(),
            ClientCredentials::new(ID, &Secret::new("not-the-secret")),
        )
        .unwrap();
        x.add_account_with_tokens("42", "a", "r", 60);
        let e = wrong.refresh(&Secret::new("r")).await.unwrap_err();
        assert_eq!(e.kind(), "permanent", "{e}");
        assert!(!e.to_string().contains("not-the-secret"));
    }

    #[tokio::test]
    async fn revoking_a_refresh_token_retires_it() {
        let (x, oauth) = fake().await;
        x.add_account_with_tokens("42", "a", "r", 60);
        oauth
            .revoke(&Secret::new("r"), TokenKind::Refresh)
            .await
            .unwrap();
        assert_eq!(x.current_refresh_token("42"), None);
        let e = oauth.refresh(&Secret::new("r")).await.unwrap_err();
        assert_eq!(e.kind(), "auth_revoked");
        // Unknown tokens are revoked already.
        oauth
            .revoke(&Secret::new("never-issued"), TokenKind::Access)
            .await
            .unwrap();
        let revoke = x
            .requests()
            .into_iter()
            .find(|r| r.path == "/2/oauth2/revoke")
            .unwrap();
        assert!(revoke.body.contains("token_type_hint=refresh_token"));
        assert_eq!(
            x.requests()
                .iter()
                .filter(|r| r.body.contains("token_type_hint=access_token"))
                .count(),
            1
        );
    }

    const CALLBACK: &str = "https://api.example.com/v1/oauth/x/callback";

    /// Follows the consent page as a browser would; the code X redirected with.
    async fn consent(url: &str) -> String {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = http.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
        let location = reqwest::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        assert!(location.as_str().starts_with(CALLBACK));
        let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(q["state"], "st-1");
        q["code"].clone()
    }

    async fn linking() -> (FakeX, XOAuth, Secret, String) {
        let (x, oauth) = fake().await;
        let oauth = oauth
            .with_authorize_url(&format!("{}/i/oauth2/authorize", x.base_url()))
            .unwrap();
        x.register_redirect_uri(CALLBACK);
        x.sign_in("777", "linked_person");
        let verifier = new_pkce_verifier().unwrap();
        let url = oauth
            .authorize_url(CALLBACK, &Secret::new("st-1"), &verifier)
            .unwrap();
        assert!(url.contains("code_challenge_method=S256"), "{url}");
        assert!(
            url.contains("scope=tweet.read+tweet.write+users.read+offline.access+media.write"),
            "{url}"
        );
        assert!(
            !url.contains(verifier.expose()),
            "the verifier never leaves"
        );
        let code = consent(&url).await;
        (x, oauth, verifier, code)
    }

    #[tokio::test]
    async fn a_code_is_exchanged_once_with_its_verifier() {
        let (x, oauth, verifier, code) = linking().await;
        let tokens = oauth
            .exchange_code(&Secret::new(code.clone()), &verifier, CALLBACK)
            .await
            .unwrap();
        assert!(x.access_token_works(tokens.access_token.expose()));
        assert!(tokens.refresh_token.is_some());
        assert_eq!(tokens.expires_in_secs, Some(7200));
        let again = oauth
            .exchange_code(&Secret::new(code.clone()), &verifier, CALLBACK)
            .await
            .unwrap_err();
        assert_eq!(again.kind(), "auth_revoked", "{again}");
        assert!(!again.to_string().contains(&code));
    }

    #[tokio::test]
    async fn a_wrong_verifier_or_redirect_uri_spends_the_code_for_nothing() {
        let (_x, oauth, verifier, code) = linking().await;
        let e = oauth
            .exchange_code(
                &Secret::new(code.clone()),
                &new_pkce_verifier().unwrap(),
                CALLBACK,
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "permanent", "{e}");
        assert!(e.to_string().contains("code verifier"), "{e}");
        // The code is spent even by a failed exchange.
        let e = oauth
            .exchange_code(&Secret::new(code), &verifier, CALLBACK)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "auth_revoked", "{e}");

        let (_x, oauth, verifier, code) = linking().await;
        let e = oauth
            .exchange_code(
                &Secret::new(code),
                &verifier,
                "https://elsewhere.example/cb",
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("redirect uri"), "{e}");
    }

    #[tokio::test]
    async fn a_code_older_than_its_life_is_refused() {
        let (x, oauth, verifier, code) = linking().await;
        x.set_code_life(Duration::from_millis(50));
        tokio::time::sleep(Duration::from_millis(120)).await;
        let e = oauth
            .exchange_code(&Secret::new(code), &verifier, CALLBACK)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "auth_revoked", "{e}");
    }

    #[tokio::test]
    async fn the_consent_page_refuses_unregistered_callbacks_and_can_be_denied() {
        let (x, oauth) = fake().await;
        let oauth = oauth
            .with_authorize_url(&format!("{}/i/oauth2/authorize", x.base_url()))
            .unwrap();
        x.sign_in("777", "p");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = oauth
            .authorize_url(CALLBACK, &Secret::new("s"), &new_pkce_verifier().unwrap())
            .unwrap();
        assert_eq!(http.get(&url).send().await.unwrap().status(), 400);
        x.register_redirect_uri(CALLBACK);
        x.deny_next_authorization();
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 302);
        assert_eq!(
            resp.headers()["location"],
            format!("{CALLBACK}?error=access_denied&state=s").as_str()
        );
    }

    #[test]
    fn credentials_parse_without_echoing_the_secret() {
        let ok = ClientCredentials::parse(&Secret::new(
            r#"{"client_id":"id","client_secret":"s3cret"}"#,
        ))
        .unwrap();
        assert_eq!(ok.client_id, "id");
        assert!(!format!("{ok:?}").contains("s3cret"));
        let bad = ClientCredentials::parse(&Secret::new(r#"{"client_id":"s3cret"}"#)).unwrap_err();
        assert!(!bad.to_string().contains("s3cret"));
    }
}
