//! Facebook Login for linking Pages: the login dialog's URL, the code exchange, the
//! long-lived user token, and the Pages the person manages, each with its Page token.
//! Token calls go through the workspace's one OAuth approach ([`crate::oauth`]); Graph
//! documents the code exchange as a GET with the client secret in the query
//! (`GET /{version}/oauth/access_token`), not RFC 6749's POST form.
//!
//! A Page token obtained from a long-lived user token does not expire (a password
//! change or a lost Page role still invalidates it), so the Page token is what the
//! account stores; the user tokens are used only while linking.

use super::{appsecret_proof, Graph};
use crate::excerpt;
use crate::oauth::{consent_url, request_tokens, TokenFailure};
use crosspost_core::Secret;
use serde::Deserialize;

/// Permissions the login dialog asks for: list the Pages, read them, publish on them.
pub const SCOPES: &[&str] = &[
    "pages_show_list",
    "pages_read_engagement",
    "pages_manage_posts",
];

/// Page tasks that allow publishing: a Page is linked by default when the person can
/// perform one of them.
const PUBLISHING_TASKS: &[&str] = &["CREATE_CONTENT", "MANAGE"];

/// A failed linking call. Never carries a token, code or secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Facebook refused: a code used twice or for another redirect URI, a wrong app
    /// secret, an expired or revoked token. The person must log in again.
    #[error("Facebook refused the login (error {code}): {message}")]
    Refused { code: i64, message: String },
    /// Facebook could not be reached or answered with a server error; trying again
    /// may work.
    #[error("Facebook is unavailable: {detail}")]
    Unavailable { detail: String },
    /// Facebook answered something we cannot read.
    #[error("unexpected answer from Facebook: {detail}")]
    Unexpected { detail: String },
}

/// The Facebook app, as the `FacebookApp` secret holds it:
/// `{"app_id": "...", "app_secret": "..."}`.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub app_id: String,
    pub app_secret: Secret,
}

impl AppCredentials {
    /// Reads the secret's JSON; errors name the secret, never quote its text.
    pub fn parse(raw: &Secret, secret_id: &str) -> Result<Self, String> {
        let json: serde_json::Value = serde_json::from_str(raw.expose())
            .map_err(|_| format!("secret {secret_id} is not JSON {{\"app_id\",\"app_secret\"}}"))?;
        let field = |name: &str| match json[name].as_str() {
            Some(v) if !v.is_empty() => Ok(v.to_owned()),
            _ => Err(format!("secret {secret_id} has no {name}")),
        };
        Ok(AppCredentials {
            app_id: field("app_id")?,
            app_secret: Secret::new(field("app_secret")?),
        })
    }
}

/// A user access token, with its lifetime when Facebook gives one.
#[derive(Debug, Clone)]
pub struct UserToken {
    pub token: Secret,
    pub expires_in_secs: Option<u64>,
}

/// A Page the person has a role on, as `/me/accounts` lists it.
#[derive(Debug, Clone)]
pub struct LinkablePage {
    pub page_id: String,
    pub name: String,
    pub page_token: Secret,
    /// What the person can do on the Page (`CREATE_CONTENT`, `MANAGE`, `MODERATE`, …).
    pub tasks: Vec<String>,
}

impl LinkablePage {
    /// Whether the person can publish on the Page: the Pages linked by default.
    pub fn can_publish(&self) -> bool {
        self.tasks
            .iter()
            .any(|t| PUBLISHING_TASKS.contains(&t.as_str()))
    }
}

/// Where Facebook Login and the Graph API answer, and the app that asks.
#[derive(Clone, Debug)]
pub struct LoginSettings {
    /// `https://graph.facebook.com` and the version in production.
    pub graph: Graph,
    /// Where the login dialog is: `https://www.facebook.com` in production.
    pub dialog_url: String,
    pub app: AppCredentials,
}

/// The Facebook app's side of the login.
#[derive(Clone, Debug)]
pub struct FacebookLogin {
    http: reqwest::Client,
    settings: LoginSettings,
}

#[derive(Deserialize)]
struct Accounts {
    #[serde(default)]
    data: Vec<Account>,
}

#[derive(Deserialize)]
struct Account {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    tasks: Vec<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
}

impl FacebookLogin {
    pub fn new(http: reqwest::Client, settings: LoginSettings) -> Self {
        FacebookLogin { http, settings }
    }

    fn app_id(&self) -> &str {
        &self.settings.app.app_id
    }

    fn app_secret(&self) -> &Secret {
        &self.settings.app.app_secret
    }

    /// Where to send the person to log in and grant [`SCOPES`]:
    /// `{dialog}/{version}/dialog/oauth?client_id&redirect_uri&state&scope&response_type=code`.
    /// Facebook comes back to `redirect_uri` with `code` and this `state`.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> Result<String, LinkError> {
        let settings = &self.settings;
        let page = format!(
            "{}/{}/dialog/oauth",
            settings.dialog_url, settings.graph.version
        );
        let scope = SCOPES.join(",");
        consent_url(
            &page,
            &[
                ("client_id", self.app_id()),
                ("redirect_uri", redirect_uri),
                ("state", state),
                ("scope", scope.as_str()),
                ("response_type", "code"),
            ],
        )
        .map_err(|detail| LinkError::Unexpected { detail })
    }

    /// The login code for a (short-lived) user token:
    /// `GET /{version}/oauth/access_token?client_id&redirect_uri&client_secret&code`;
    /// `redirect_uri` must be the one the dialog was opened with.
    pub async fn exchange_code(
        &self,
        code: &Secret,
        redirect_uri: &str,
    ) -> Result<UserToken, LinkError> {
        self.token(&[
            ("client_id", self.app_id()),
            ("redirect_uri", redirect_uri),
            ("client_secret", self.app_secret().expose()),
            ("code", code.expose()),
        ])
        .await
    }

    /// A long-lived user token (about 60 days) for a short-lived one
    /// (`grant_type=fb_exchange_token`): Page tokens read with it do not expire.
    pub async fn long_lived(&self, user_token: &Secret) -> Result<UserToken, LinkError> {
        self.token(&[
            ("grant_type", "fb_exchange_token"),
            ("client_id", self.app_id()),
            ("client_secret", self.app_secret().expose()),
            ("fb_exchange_token", user_token.expose()),
        ])
        .await
    }

    /// `GET /{version}/oauth/access_token` with `query`: a user token.
    async fn token(&self, query: &[(&str, &str)]) -> Result<UserToken, LinkError> {
        let request = self
            .http
            .get(self.settings.graph.url("oauth/access_token"))
            .query(query);
        let tokens = request_tokens(request).await.map_err(|e| match e {
            TokenFailure::Unreachable(detail) => LinkError::Unavailable { detail },
            TokenFailure::Answered { status, body, .. } => refusal(status, &body),
            TokenFailure::Unreadable(detail) => LinkError::Unexpected {
                detail: format!("token answer unreadable ({detail})"),
            },
        })?;
        Ok(UserToken {
            token: tokens.access_token,
            expires_in_secs: tokens.expires_in_secs,
        })
    }

    /// Every Page the person has a role on, with its Page token:
    /// `GET /me/accounts?fields=id,name,access_token,tasks`. Pick the ones to link with
    /// [`LinkablePage::can_publish`] unless the person chose.
    pub async fn pages(&self, user_token: &Secret) -> Result<Vec<LinkablePage>, LinkError> {
        let proof = appsecret_proof(self.app_secret(), user_token);
        let request = self
            .http
            .get(self.settings.graph.url("me/accounts"))
            .bearer_auth(user_token.expose())
            .query(&[
                ("fields", "id,name,access_token,tasks"),
                ("limit", "100"),
                ("appsecret_proof", proof.as_str()),
            ]);
        let body = self.read(request).await?;
        let accounts: Accounts =
            serde_json::from_str(&body).map_err(|e| LinkError::Unexpected {
                detail: format!("page list unreadable ({e})"),
            })?;
        Ok(accounts
            .data
            .into_iter()
            .filter_map(|a| {
                Some(LinkablePage {
                    page_token: Secret::new(a.access_token?),
                    page_id: a.id,
                    name: a.name,
                    tasks: a.tasks,
                })
            })
            .collect())
    }

    /// Sends a request; the body of a success, or the error it stands for.
    async fn read(&self, request: reqwest::RequestBuilder) -> Result<String, LinkError> {
        let unavailable = |e: reqwest::Error| LinkError::Unavailable {
            detail: crate::WithoutUrl::without_url_ref(&e),
        };
        let resp = request.send().await.map_err(unavailable)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(unavailable)?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(refusal(status, &body))
    }
}

/// What a Graph answer other than a success means for the link: throttling (codes 2, 4,
/// 17, 32) and 5xx are [`LinkError::Unavailable`], other Graph errors a refusal.
fn refusal(status: u16, body: &str) -> LinkError {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(ErrorBody { error }) if status < 500 && !matches!(error.code, 2 | 4 | 17 | 32) => {
            LinkError::Refused {
                code: error.code,
                message: error.message,
            }
        }
        Ok(ErrorBody { error }) => LinkError::Unavailable {
            detail: format!("Facebook error {}: {}", error.code, error.message),
        },
        Err(_) if status >= 500 => LinkError::Unavailable {
            detail: format!("Facebook answered {status}"),
        },
        Err(_) => LinkError::Unexpected {
            detail: format!("Facebook answered {status}: {}", excerpt(body, 200)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_credentials_parse_without_echoing_the_secret() {
        let ok = AppCredentials::parse(
            &Secret::new(r#"{"app_id":"1","app_secret":"s3cret"}"#),
            "FacebookApp",
        )
        .unwrap();
        assert_eq!(ok.app_id, "1");
        assert_eq!(ok.app_secret.expose(), "s3cret");
        for bad in [r#"{"app_id":"1"}"#, "s3cret", r#"{"app_secret":"s3cret"}"#] {
            let e = AppCredentials::parse(&Secret::new(bad), "FacebookApp").unwrap_err();
            assert!(e.contains("FacebookApp") && !e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn pages_with_publishing_tasks_are_linked_by_default() {
        let page = |tasks: &[&str]| LinkablePage {
            page_id: "1".into(),
            name: "p".into(),
            page_token: Secret::new("t"),
            tasks: tasks.iter().map(|t| (*t).to_owned()).collect(),
        };
        assert!(page(&["ANALYZE", "CREATE_CONTENT"]).can_publish());
        assert!(page(&["MANAGE"]).can_publish());
        assert!(!page(&["MODERATE", "ANALYZE"]).can_publish());
        assert!(!page(&[]).can_publish());
    }

    #[test]
    fn the_dialog_asks_for_the_page_permissions() {
        let login = FacebookLogin::new(
            reqwest::Client::new(),
            LoginSettings {
                graph: Graph::new("https://graph.facebook.com", "v26.0"),
                dialog_url: "https://www.facebook.com".into(),
                app: AppCredentials {
                    app_id: "123".into(),
                    app_secret: Secret::new("s"),
                },
            },
        );
        let url = login
            .authorize_url(
                "https://api.example.com/v1/oauth/facebook/callback",
                "st4te",
            )
            .unwrap();
        assert!(url.starts_with("https://www.facebook.com/v26.0/dialog/oauth?client_id=123&"));
        assert!(url.contains("state=st4te"));
        assert!(url.contains(
            "redirect_uri=https%3A%2F%2Fapi.example.com%2Fv1%2Foauth%2Ffacebook%2Fcallback"
        ));
        assert!(url.contains("scope=pages_show_list%2Cpages_read_engagement%2Cpages_manage_posts"));
        assert!(!url.contains("&s&"), "no secret in the dialog URL");
    }
}
