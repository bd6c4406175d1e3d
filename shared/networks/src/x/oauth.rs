//! X OAuth 2.0 for a confidential client, through the `oauth2` crate: the consent
//! page's URL (PKCE S256), the authorization-code exchange, refreshing an access token
//! and revoking a token.
//!
//! X rotates refresh tokens: each refresh answers a new one and the old one stops
//! working. A refresh token X no longer accepts is answered with `invalid_grant`, or in
//! X's own spelling `invalid_request` "Value passed for the token was invalid.": both mean
//! the person must link the account again. A failure of the token endpoint itself (5xx,
//! 429, timeout, no connection) is only ever a reason to try again.

use crate::PublishError;
use crosspost_core::{RefreshedTokens, Secret, TokenRefresher};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;
use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

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

/// Why the X OAuth client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the X OAuth client secret is not JSON {{\"client_id\",\"client_secret\"}} (at line {line}, column {column})")]
    Credentials { line: usize, column: usize },
    #[error("the X token URL is not a URL: {0}")]
    Url(String),
}

type XOAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

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

/// A fresh PKCE S256 code verifier (32 random bytes, base64url: 43 characters).
pub fn new_pkce_verifier() -> Secret {
    let (_, verifier) = PkceCodeChallenge::new_random_sha256();
    Secret::new(verifier.into_secret())
}

/// X's token and revoke endpoints, called with the function's one HTTP client.
#[derive(Clone, Debug)]
pub struct XOAuth {
    http: Http,
    client: XOAuthClient,
    revoke_url: String,
    client_id: String,
    client_secret: Secret,
}

impl XOAuth {
    /// `base_url` is X's API base (`https://api.x.com`, or a fake's); the consent page
    /// is X's own ([`AUTHORIZE_URL`]) unless [`XOAuth::with_authorize_url`] says otherwise.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        credentials: ClientCredentials,
    ) -> Result<Self, SetupError> {
        let base = base_url.trim_end_matches('/');
        let token_url = TokenUrl::new(format!("{base}/2/oauth2/token"))
            .map_err(|e| SetupError::Url(e.to_string()))?;
        let auth_url =
            AuthUrl::new(AUTHORIZE_URL.to_owned()).map_err(|e| SetupError::Url(e.to_string()))?;
        let client = BasicClient::new(ClientId::new(credentials.client_id.clone()))
            .set_client_secret(ClientSecret::new(credentials.client_secret.clone()))
            .set_auth_type(AuthType::BasicAuth)
            .set_auth_uri(auth_url)
            .set_token_uri(token_url);
        Ok(XOAuth {
            http: Http(http),
            client,
            revoke_url: format!("{base}/2/oauth2/revoke"),
            client_id: credentials.client_id,
            client_secret: Secret::new(credentials.client_secret),
        })
    }

    /// The same client with another consent page (a fake's).
    pub fn with_authorize_url(mut self, url: &str) -> Result<Self, SetupError> {
        let auth_url = AuthUrl::new(url.to_owned()).map_err(|e| SetupError::Url(e.to_string()))?;
        self.client = self.client.set_auth_uri(auth_url);
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
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| SetupError::Url(e.to_string()))?;
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            verifier.expose().to_owned(),
        ));
        let state = state.expose().to_owned();
        let (url, _) = self
            .client
            .authorize_url(|| CsrfToken::new(state))
            .set_redirect_uri(Cow::Owned(redirect))
            .add_scopes(SCOPES.iter().map(|s| Scope::new((*s).to_owned())))
            .set_pkce_challenge(challenge)
            .url();
        Ok(url.into())
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
        let redirect =
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| PublishError::Permanent {
                reason: format!("the redirect URI is not a URL: {e}"),
            })?;
        let answer = self
            .client
            .exchange_code(AuthorizationCode::new(code.expose().to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()))
            .set_redirect_uri(Cow::Owned(redirect))
            .request_async(&self.http)
            .await
            .map_err(|e| classify("authorization code", e))?;
        Ok(tokens_of(&answer))
    }

    /// `grant_type=refresh_token`: new tokens for the refresh token, which X retires.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<RefreshedTokens, PublishError> {
        let token = RefreshToken::new(refresh_token.expose().to_owned());
        let answer = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&self.http)
            .await
            .map_err(|e| classify("refresh", e))?;
        Ok(tokens_of(&answer))
    }

    /// `POST /2/oauth2/revoke` (RFC 7009) for a token of the kind `hint` says
    /// ([`TokenKind`]). A token X does not know counts as revoked. Sent without oauth2's
    /// revocation request, which refuses a plain-HTTP endpoint (the fake's).
    pub async fn revoke(&self, token: &Secret, hint: TokenKind) -> Result<(), PublishError> {
        let form = [
            ("token", token.expose()),
            ("token_type_hint", hint.as_str()),
        ];
        let response = self
            .http
            .0
            .post(&self.revoke_url)
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| PublishError::Retryable {
                after: None,
                detail: format!("X token endpoint (revoke) unreachable: {}", without_url(&e)),
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
        let answer = serde_json::from_str::<BasicErrorResponse>(&body).ok();
        Err(PublishError::Permanent {
            reason: format!(
                "X token endpoint (revoke) refused: {} {}",
                status.as_u16(),
                answer
                    .map(|a| format!("{} {}", a.code(), a.description().unwrap_or("")))
                    .unwrap_or_else(|| crate::excerpt(&body, 200))
            )
            .trim_end()
            .to_owned(),
        })
    }
}

/// What a token endpoint answer gives, each token wrapped.
fn tokens_of(answer: &oauth2::basic::BasicTokenResponse) -> RefreshedTokens {
    RefreshedTokens {
        access_token: Secret::new(answer.access_token().secret().clone()),
        refresh_token: answer
            .refresh_token()
            .map(|t| Secret::new(t.secret().clone())),
        expires_in_secs: answer.expires_in().map(|d| d.as_secs()),
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

/// A token endpoint call that got no OAuth answer.
#[derive(Debug, thiserror::Error)]
enum Transport {
    /// Not sent, or sent and no answer came (timeout, dropped connection).
    #[error("{0}")]
    Send(String),
    /// The endpoint itself failed or is overloaded: 5xx or 429.
    #[error("X token endpoint answered {status}")]
    Unavailable {
        status: u16,
        after: Option<Duration>,
    },
    #[error("the request could not be built: {0}")]
    Build(String),
}

/// oauth2's HTTP seam, over the workspace's reqwest (oauth2 5.0 implements it for
/// reqwest 0.12 only).
#[derive(Clone, Debug)]
struct Http(reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for Http {
    type Error = Transport;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, Transport>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

/// One token-endpoint exchange. 5xx and 429 answers stop here, so
/// oauth2 never mistakes an overloaded endpoint's body for an OAuth error.
async fn send(http: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, Transport> {
    let request =
        reqwest::Request::try_from(request).map_err(|e| Transport::Build(without_url(&e)))?;
    let response = http
        .execute(request)
        .await
        .map_err(|e| Transport::Send(without_url(&e)))?;
    let status = response.status();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(Transport::Unavailable {
            status: status.as_u16(),
            after,
        });
    }
    let mut builder = http::Response::builder().status(status);
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| Transport::Send(without_url(&e)))?;
    builder
        .body(body.to_vec())
        .map_err(|e| Transport::Build(e.to_string()))
}

fn without_url(e: &reqwest::Error) -> String {
    use crate::WithoutUrl;
    e.without_url_ref()
}

/// An OAuth error answer's code and description.
trait OAuthErrorCode {
    fn code(&self) -> &str;
    fn description(&self) -> Option<&str>;
}

impl OAuthErrorCode for BasicErrorResponse {
    fn code(&self) -> &str {
        self.error().as_ref()
    }
    fn description(&self) -> Option<&str> {
        self.error_description().map(String::as_str)
    }
}

/// What a failed token-endpoint call means for the caller. Never carries a token: the
/// body of an answer that could not be read is left out (a 200 holds tokens).
fn classify(call: &str, err: RequestTokenError<Transport, BasicErrorResponse>) -> PublishError {
    match err {
        RequestTokenError::Request(Transport::Unavailable { status, after }) => {
            PublishError::Retryable {
                after,
                detail: format!("X token endpoint ({call}) answered {status}"),
            }
        }
        RequestTokenError::Request(Transport::Send(detail)) => PublishError::Retryable {
            after: None,
            detail: format!("X token endpoint ({call}) unreachable: {detail}"),
        },
        RequestTokenError::Request(Transport::Build(detail)) => PublishError::Permanent {
            reason: format!("X token request ({call}) could not be built: {detail}"),
        },
        RequestTokenError::ServerResponse(answer) => {
            let code = answer.code();
            let description = answer.description().unwrap_or("");
            let detail = format!("X token endpoint ({call}) refused: {code} {description}")
                .trim_end()
                .to_owned();
            if grant_is_gone(code, description) {
                PublishError::AuthRevoked { detail }
            } else {
                PublishError::Permanent { reason: detail }
            }
        }
        RequestTokenError::Parse(e, _body) => PublishError::Permanent {
            reason: format!(
                "unexpected answer from the X token endpoint ({call}) at `{}`",
                e.path()
            ),
        },
        RequestTokenError::Other(detail) => PublishError::Permanent {
            reason: format!("unexpected answer from the X token endpoint ({call}): {detail}"),
        },
    }
}

/// `invalid_grant`, or X's `invalid_request` about the token's value: the refresh token
/// is used, expired or revoked.
fn grant_is_gone(code: &str, description: &str) -> bool {
    code == BasicErrorResponseType::InvalidGrant.as_ref()
        || (code == BasicErrorResponseType::InvalidRequest.as_ref()
            && description.contains("token was invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crosspost_fakes::{FakeX, Fault, FaultRule};
    use serde_json::json;

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
        let verifier = new_pkce_verifier();
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
            .exchange_code(&Secret::new(code.clone()), &new_pkce_verifier(), CALLBACK)
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
            .authorize_url(CALLBACK, &Secret::new("s"), &new_pkce_verifier())
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
