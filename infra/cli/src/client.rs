//! A client of the webhook API that signs every call as the source app does: the
//! intake (`POST /v1/posts`) with plain Standard Webhooks, every other call with a
//! request signature bound to its method, path, query and body (see
//! `crosspost_core::signing`).

use anyhow::{Context, Result};
use crosspost_core::signing::{self, SigningSecret};
use crosspost_core::Secret;
use time::OffsetDateTime;

/// An answer of the API: status, headers and parsed JSON body (null when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
    pub headers: reqwest::header::HeaderMap,
}

pub struct SignedClient {
    base_url: String,
    secret: SigningSecret,
    http: reqwest::Client,
}

impl SignedClient {
    pub fn new(base_url: &str, secret: &Secret) -> Result<Self> {
        Ok(SignedClient {
            base_url: base_url.trim_end_matches('/').to_owned(),
            secret: SigningSecret::parse(secret).context("the signing secret")?,
            http: reqwest::Client::new(),
        })
    }

    /// The Standard Webhooks headers for a body, with a fresh id and the current time:
    /// what the intake takes.
    pub fn sign(&self, body: &[u8]) -> [(&'static str, String); 3] {
        let (id, ts) = fresh_id_and_time();
        let signature = self.secret.sign(&id, ts, body);
        headers(id, ts, signature.expose())
    }

    /// The request-signature headers for `method` on `target` (path and query, as the
    /// URL sends them) with `body`, with a fresh id and the current time.
    pub fn sign_request(
        &self,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> [(&'static str, String); 3] {
        let (id, ts) = fresh_id_and_time();
        let signature = signing::sign_request(&self.secret, &id, ts, method, target, body);
        headers(id, ts, signature.expose())
    }

    /// The headers a call of `method` on `path` is signed with: plain Standard Webhooks
    /// for the intake, a request signature for everything else.
    pub fn sign_call(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<[(&'static str, String); 3]> {
        let method = method.to_ascii_uppercase();
        let target = self.target(path)?;
        Ok(if method == "POST" && target == "/v1/posts" {
            self.sign(body)
        } else {
            self.sign_request(&method, &target, body)
        })
    }

    /// The path and query of `path` as the request's URL will carry them (the URL
    /// parser's percent-encoding and dot-segment rules applied).
    fn target(&self, path: &str) -> Result<String> {
        let url = reqwest::Url::parse(&format!("{}{path}", self.base_url))
            .with_context(|| format!("{path} does not make a URL"))?;
        Ok(match url.query() {
            Some(q) if !q.is_empty() => format!("{}?{q}", url.path()),
            _ => url.path().to_owned(),
        })
    }

    /// A signed call; a body is sent as application/json.
    pub async fn call(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Answer> {
        let body = body.unwrap_or_default();
        let signed = self.sign_call(method, path, body)?;
        let mut headers: Vec<(&str, &str)> = signed.iter().map(|(k, v)| (*k, v.as_str())).collect();
        headers.push(("content-type", "application/json"));
        self.call_with_headers(method, path, body, &headers).await
    }

    /// A call with exactly these headers (for tests of signatures and content types).
    pub async fn call_with_headers(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<Answer> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url))
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let body = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("answer {status} is not JSON: {text}"))?
        };
        Ok(Answer {
            status,
            body,
            headers,
        })
    }
}

fn fresh_id_and_time() -> (String, i64) {
    (
        format!("msg_{}", uuid::Uuid::now_v7().simple()),
        OffsetDateTime::now_utc().unix_timestamp(),
    )
}

fn headers(id: String, ts: i64, signature: &str) -> [(&'static str, String); 3] {
    [
        ("webhook-id", id),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", signature.to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crosspost_core::signing::{request_content, verify, SignedHeaders};

    fn client() -> (SignedClient, SigningSecret) {
        let text = SigningSecret::encode(&[9; 32]);
        let secret = SigningSecret::parse(&text).unwrap();
        (
            SignedClient::new("http://127.0.0.1:1/", &text).unwrap(),
            secret,
        )
    }

    fn verifies(h: &[(&str, String); 3], content: &[u8], secret: &SigningSecret) -> bool {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let signed = SignedHeaders {
            id: Some(&h[0].1),
            timestamp: Some(&h[1].1),
            signature: Some(&h[2].1),
        };
        verify(std::slice::from_ref(secret), signed, content, now).is_ok()
    }

    #[test]
    fn the_intake_is_plain_standard_webhooks_and_every_other_call_is_bound() {
        let (c, secret) = client();
        let body = br#"{"id":"1"}"#;
        let intake = c.sign_call("POST", "/v1/posts", body).unwrap();
        assert!(verifies(&intake, body, &secret));
        let get = c
            .sign_call("get", "/v1/users/u 1/accounts?a=b", b"")
            .unwrap();
        assert!(verifies(
            &get,
            &request_content("GET", "/v1/users/u%201/accounts?a=b", b""),
            &secret
        ));
        assert!(!verifies(&get, b"", &secret), "not a plain signature");
        assert!(!verifies(
            &get,
            &request_content("DELETE", "/v1/users/u%201/accounts?a=b", b""),
            &secret
        ));
        assert_ne!(intake[0].1, get[0].1, "every call has its own webhook-id");
    }
}
