//! Linking an account the way the source app does it: ask `POST /v1/connect/{network}`
//! for the consent page, then (standing in for the person's browser) follow the
//! redirects through the network and the callback back to the return URL. Bluesky has
//! no consent page yet: [`bluesky`] sends the handle and an app password instead.

use crate::client::SignedClient;
use anyhow::{bail, Context, Result};
use crosspost_core::{Network, Secret};
use serde_json::json;
use url::Url;

/// The consent page to open, as `POST /v1/connect/{network}` answered.
pub async fn start(
    client: &SignedClient,
    network: Network,
    user_id: &str,
    return_url: &str,
) -> Result<String> {
    let body = json!({"user_id": user_id, "return_url": return_url}).to_string();
    let answer = client
        .call(
            "POST",
            &format!("/v1/connect/{network}"),
            Some(body.as_bytes()),
        )
        .await?;
    if answer.status != 200 {
        bail!(
            "POST /v1/connect/{network} answered {}: {}",
            answer.status,
            answer.body
        );
    }
    answer.body["authorize_url"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no authorize_url in {}", answer.body))
}

/// The environment variable `crosspost link bluesky` reads the app password from
/// (standard input when it is not set).
pub const APP_PASSWORD_ENV: &str = "CROSSPOST_BLUESKY_APP_PASSWORD";

/// Links `identifier`'s Bluesky account (a handle, DID or email) for `user_id` with an
/// app password, through `POST /v1/connect/bluesky` (signed); `service` is the
/// account's PDS when it is not the stack's default. The answer: `{network, user_id,
/// account_id, display_name, service}`. The password goes only in the request body,
/// and the error of a refused link is the API's (which never repeats it).
pub async fn bluesky(
    client: &SignedClient,
    user_id: &str,
    identifier: &str,
    app_password: &Secret,
    service: Option<&str>,
) -> Result<serde_json::Value> {
    let mut body = json!({
        "user_id": user_id,
        "identifier": identifier,
        "app_password": app_password.expose(),
    });
    if let Some(service) = service {
        body["service"] = json!(service);
    }
    let answer = client
        .call(
            "POST",
            "/v1/connect/bluesky",
            Some(body.to_string().as_bytes()),
        )
        .await?;
    if answer.status != 200 {
        bail!(
            "POST /v1/connect/bluesky answered {}: {}",
            answer.status,
            answer.body
        );
    }
    Ok(answer.body)
}

/// The app password: from [`APP_PASSWORD_ENV`], else the first line of `stdin`
/// (never from the command line, where the process list would show it). Surrounding
/// white space is dropped; an empty password is refused.
pub fn app_password(from_env: Option<String>, stdin: impl std::io::BufRead) -> Result<Secret> {
    let given = match from_env {
        Some(v) => v,
        None => {
            let mut line = String::new();
            let mut stdin = stdin;
            stdin
                .read_line(&mut line)
                .context("reading the app password from standard input")?;
            line
        }
    };
    let password = given.trim();
    if password.is_empty() {
        bail!(
            "no app password: set {APP_PASSWORD_ENV} or give it on standard input \
             (make one in Bluesky under Settings → Privacy and security → App passwords)"
        );
    }
    Ok(Secret::new(password.to_owned()))
}

/// Where the browser ended up, and what the return URL's query says.
#[derive(Debug, Clone)]
pub struct Returned {
    pub url: Url,
    /// `linked` or `error`.
    pub status: String,
    pub account_ids: Vec<String>,
    pub reason: Option<String>,
}

impl Returned {
    pub fn linked(&self) -> bool {
        self.status == "linked"
    }
}

/// A browser's answer on one hop: where it was sent, or the page it stopped at.
pub enum Hop {
    Redirect(String),
    Page { status: u16, body: String },
}

/// One request as a browser makes it, redirects not followed.
pub async fn visit(url: &str) -> Result<Hop> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let resp = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    if status.is_redirection() {
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .with_context(|| format!("{status} without a Location from {url}"))?;
        return Ok(Hop::Redirect(location.to_owned()));
    }
    Ok(Hop::Page {
        status: status.as_u16(),
        body: resp.text().await.unwrap_or_default(),
    })
}

/// Follows the consent page's redirects until one leads to `return_url` (not fetched).
pub async fn follow(authorize_url: &str, return_url: &str) -> Result<Returned> {
    let mut url = authorize_url.to_owned();
    for _ in 0..5 {
        match visit(&url).await? {
            Hop::Redirect(next) if next.starts_with(return_url) => return returned(&next),
            Hop::Redirect(next) => url = next,
            Hop::Page { status, body } => bail!("the browser stopped at {url}: {status} {body}"),
        }
    }
    bail!("more than 5 redirects from {authorize_url}")
}

/// Reads the outcome from the return URL's query.
pub fn returned(location: &str) -> Result<Returned> {
    let url = Url::parse(location).with_context(|| format!("bad return URL {location}"))?;
    let mut status = None;
    let mut account_ids = Vec::new();
    let mut reason = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "status" => status = Some(v.into_owned()),
            "account_id" => account_ids.push(v.into_owned()),
            "reason" => reason = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok(Returned {
        status: status.with_context(|| format!("no status in {location}"))?,
        account_ids,
        reason,
        url,
    })
}
