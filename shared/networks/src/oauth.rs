//! OAuth 2.0 as both networks speak it: the consent page's URL, PKCE S256, and calls
//! to a token endpoint read into tokens or into the answer a network's own rules
//! classify. Each network's `oauth` module says which endpoints and parameters it uses.
//!
//! Why not the `oauth2` crate: its newest release (5.0) fits neither network whole.
//! Facebook's code exchange is a GET with the client secret in the query
//! (`GET /{version}/oauth/access_token`), which oauth2's POST form cannot send; its
//! revocation refuses a plain-HTTP endpoint (the fake X's); it implements its HTTP seam
//! only for reqwest 0.12; and it alone brought thiserror 1, sha2 0.10 and rand 0.8
//! (getrandom 0.2) into every function beside the versions the rest of the workspace
//! uses. What both networks need of RFC 6749 and RFC 7636 is small and sits here.

use crate::WithoutUrl;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use crosspost_core::{RefreshedTokens, Secret};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// 256 random bits, base64url without padding (43 characters): an OAuth `state`, or a
/// PKCE code verifier (RFC 7636 section 4.1 asks for 43 to 128 such characters). Err
/// when the system has no randomness.
pub fn new_random_secret() -> Result<Secret, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(Secret::new(URL_SAFE_NO_PAD.encode(bytes)))
}

/// A fresh PKCE code verifier ([`new_random_secret`]).
pub fn new_pkce_verifier() -> Result<Secret, String> {
    new_random_secret()
}

/// The S256 challenge of a verifier (RFC 7636 section 4.2): base64url of its SHA-256.
pub fn pkce_challenge(verifier: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()))
}

/// A consent page's URL: `page` with `params` added to its query, in this order.
pub fn consent_url(page: &str, params: &[(&str, &str)]) -> Result<String, String> {
    reqwest::Url::parse_with_params(page, params)
        .map(String::from)
        .map_err(|e| format!("the consent page `{page}` is not a URL: {e}"))
}

/// A confidential client's credentials in HTTP Basic (RFC 6749 section 2.3.1: each
/// part form-encoded first).
pub(crate) fn client_auth(
    request: reqwest::RequestBuilder,
    client_id: &str,
    client_secret: &Secret,
) -> reqwest::RequestBuilder {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    request.basic_auth(encode(client_id), Some(encode(client_secret.expose())))
}

/// A token endpoint call that gave no tokens. Never carries a token: a success whose
/// body could not be read is described without it.
#[derive(Debug)]
pub(crate) enum TokenFailure {
    /// Not sent, or sent and no answer came (timeout, dropped connection).
    Unreachable(String),
    /// The endpoint answered something else than a success: what the network's rules
    /// make of it. `retry_after` is the `Retry-After` header, in seconds.
    Answered {
        status: u16,
        retry_after: Option<Duration>,
        body: String,
    },
    /// A success without a readable token answer; the detail names what is missing.
    Unreadable(String),
}

/// A token answer (RFC 6749 section 5.1); `expires_in` in seconds.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Sends a token request and reads its answer: the tokens of a success, otherwise what
/// the endpoint answered.
pub(crate) async fn request_tokens(
    request: reqwest::RequestBuilder,
) -> Result<RefreshedTokens, TokenFailure> {
    let response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| TokenFailure::Unreachable(e.without_url_ref()))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response
        .text()
        .await
        .map_err(|e| TokenFailure::Unreachable(e.without_url_ref()))?;
    if !status.is_success() {
        return Err(TokenFailure::Answered {
            status: status.as_u16(),
            retry_after,
            body,
        });
    }
    let answer: TokenAnswer = serde_json::from_str(&body).map_err(|e| {
        // The body holds tokens, and serde's messages can quote a value: only a missing
        // field is named, anything else by where it went wrong.
        let text = e.to_string();
        let what = match text.split(" at line").next() {
            Some(missing) if missing.starts_with("missing field") => missing.to_owned(),
            _ => format!("{:?} error", e.classify()).to_lowercase(),
        };
        TokenFailure::Unreadable(format!(
            "{what} at line {}, column {}",
            e.line(),
            e.column()
        ))
    })?;
    Ok(RefreshedTokens {
        access_token: Secret::new(answer.access_token),
        refresh_token: answer.refresh_token.map(Secret::new),
        expires_in_secs: answer.expires_in,
    })
}

/// An OAuth error answer (RFC 6749 section 5.2): `{"error", "error_description"?}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct ErrorAnswer {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

impl ErrorAnswer {
    /// `error error_description`, for messages.
    pub fn summary(&self) -> String {
        format!(
            "{} {}",
            self.error,
            self.error_description.as_deref().unwrap_or("")
        )
        .trim_end()
        .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s_example() {
        // RFC 7636 appendix B.
        let verifier = Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            pkce_challenge(&verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_are_43_characters_and_never_repeat() {
        let a = new_pkce_verifier().unwrap();
        let b = new_pkce_verifier().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert!(a
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn consent_urls_keep_the_parameters_in_order_and_encoded() {
        let url = consent_url(
            "https://x.com/i/oauth2/authorize",
            &[("client_id", "c 1"), ("scope", "a b"), ("state", "s&t")],
        )
        .unwrap();
        assert_eq!(
            url,
            "https://x.com/i/oauth2/authorize?client_id=c+1&scope=a+b&state=s%26t"
        );
        assert!(consent_url("not a url", &[]).is_err());
    }
}
