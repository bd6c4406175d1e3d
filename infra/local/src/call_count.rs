//! Counts the AWS calls each function makes, by service and operation: a pass-through
//! proxy in front of each emulator, one listener per function and emulator, so a call
//! is known by the endpoint it reached, not by anything the function says about itself.
//!
//! The operation is read from the request as AWS's JSON protocols name it: the
//! `X-Amz-Target` header (`DynamoDB_20120810.GetItem`, `AmazonSQS.SendMessageBatch`,
//! `TrentService.Decrypt`, `secretsmanager.GetSecretValue`), or the `Action` form field
//! of the query protocol.

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The largest request or answer the proxy passes on.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One counted kind of call: which function made it, to which service, and what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AwsCall {
    /// The function's logical id in the template.
    pub function: String,
    /// `dynamodb`, `sqs`, `kms`, `secretsmanager`, or the target's prefix as sent.
    pub service: String,
    /// The API operation, e.g. `GetItem`.
    pub operation: String,
}

/// Calls counted so far, shared by every proxy of one stack.
#[derive(Debug, Clone, Default)]
pub struct CallCounts(Arc<Mutex<BTreeMap<AwsCall, u64>>>);

impl CallCounts {
    /// Every kind of call made so far, with how many times.
    pub fn snapshot(&self) -> BTreeMap<AwsCall, u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets every count (before the calls a measurement is about).
    pub fn reset(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn add(&self, call: AwsCall) {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(call)
            .or_default() += 1;
    }
}

struct Proxy {
    function: String,
    upstream: String,
    client: reqwest::Client,
    counts: CallCounts,
}

/// `(service, operation)` of an AWS request, from its target header or form body.
fn operation(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (prefix, op) = target.split_once('.').unwrap_or(("", target));
        let service = match prefix {
            p if p.starts_with("DynamoDB") => "dynamodb",
            "AmazonSQS" => "sqs",
            "TrentService" => "kms",
            "secretsmanager" => "secretsmanager",
            other => other,
        };
        return (service.to_owned(), op.to_owned());
    }
    let action = std::str::from_utf8(body)
        .ok()
        .and_then(|b| b.split('&').find_map(|kv| kv.strip_prefix("Action=")))
        .unwrap_or("unknown");
    ("query".to_owned(), action.to_owned())
}

async fn forward(State(proxy): State<Arc<Proxy>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response(),
    };
    let (service, op) = operation(&parts.headers, &body);
    proxy.counts.add(AwsCall {
        function: proxy.function.clone(),
        service,
        operation: op,
    });
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut out = proxy
        .client
        .request(parts.method, format!("{}{path}", proxy.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
            out = out.header(name, value);
        }
    }
    match out.send().await {
        Ok(answer) => {
            let status = answer.status();
            let headers = answer.headers().clone();
            match answer.bytes().await {
                Ok(bytes) => {
                    let mut response = Response::new(Body::from(bytes));
                    *response.status_mut() = status;
                    for (name, value) in &headers {
                        if name != http::header::CONTENT_LENGTH
                            && name != http::header::TRANSFER_ENCODING
                        {
                            response.headers_mut().append(name, value.clone());
                        }
                    }
                    response
                }
                Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
            }
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Starts a counting proxy to `upstream` (`http://host:port`) for `function` on a free
/// loopback port, until `stop_rx` turns true. Returns its URL.
pub async fn start_proxy(
    function: &str,
    upstream: &str,
    counts: &CallCounts,
    stop_rx: &watch::Receiver<bool>,
) -> Result<String> {
    let proxy = Arc::new(Proxy {
        function: function.to_owned(),
        upstream: upstream.trim_end_matches('/').to_owned(),
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("the counting proxy's HTTP client")?,
        counts: counts.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind a counting proxy")?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY));
    let mut stop = stop_rx.clone();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "counting proxy stopped");
        }
    });
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operation_is_read_from_the_target_header_or_the_form_body() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-target",
            "DynamoDB_20120810.TransactWriteItems".parse().unwrap(),
        );
        assert_eq!(
            operation(&headers, b"{}"),
            ("dynamodb".into(), "TransactWriteItems".into())
        );
        headers.insert(
            "x-amz-target",
            "AmazonSQS.SendMessageBatch".parse().unwrap(),
        );
        assert_eq!(
            operation(&headers, b"{}"),
            ("sqs".into(), "SendMessageBatch".into())
        );
        assert_eq!(
            operation(&HeaderMap::new(), b"Action=SendMessage&Version=2012-11-05"),
            ("query".into(), "SendMessage".into())
        );
    }
}
