//! A client of the webhook API that signs every call as the source app does.

use anyhow::{Context, Result};
use crosspost_core::signing::SigningSecret;
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

    /// The Standard Webhooks headers for a body, with a fresh id and the current time.
    pub fn sign(&self, body: &[u8]) -> [(&'static str, String); 3] {
        let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
        let ts = OffsetDateTime::now_utc().unix_timestamp();
        let signature = self.secret.sign(&id, ts, body);
        [
            ("webhook-id", id),
            ("webhook-timestamp", ts.to_string()),
            ("webhook-signature", signature.expose().to_owned()),
        ]
    }

    /// A signed call; a body is sent as application/json.
    pub async fn call(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Answer> {
        let body = body.unwrap_or_default();
        let signed = self.sign(body);
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
