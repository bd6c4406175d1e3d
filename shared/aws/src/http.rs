//! The SDK's HTTP client: its requests go through reqwest with the TLS configuration the
//! network clients use (rustls on ring, roots compiled in), so start-up reads and parses
//! no certificate store. The SDK's own hyper client loads the system's roots when its
//! first connector is made, which every SDK client did at start-up (3–4 ms of the
//! functions' init CPU on a directory of roots, about 1 ms on a single bundle).
//!
//! Requests and answers of the APIs used here (DynamoDB, SQS, KMS, Secrets Manager)
//! are small JSON documents, sent and read whole.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An [`HttpClient`] for the SDK: one reqwest client per connector settings (the SDK
/// asks with its connect and read timeouts), all on one TLS configuration.
#[derive(Debug, Clone)]
pub struct SdkHttpClient {
    tls: rustls::ClientConfig,
    connectors: Arc<Mutex<HashMap<TimeoutKey, SharedHttpConnector>>>,
}

type TimeoutKey = (Option<Duration>, Option<Duration>);

impl SdkHttpClient {
    pub fn new(tls: rustls::ClientConfig) -> Self {
        SdkHttpClient {
            tls,
            connectors: Arc::default(),
        }
    }

    fn connector(&self, key: TimeoutKey) -> SharedHttpConnector {
        let (connect, read) = key;
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(self.tls.clone())
            // The SDK signs the Host it resolved; endpoints come from its resolver.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(t) = connect {
            builder = builder.connect_timeout(t);
        }
        if let Some(t) = read {
            builder = builder.read_timeout(t);
        }
        match builder.build() {
            Ok(client) => SharedHttpConnector::new(ReqwestConnector { client }),
            Err(e) => SharedHttpConnector::new(Unbuildable(e.to_string())),
        }
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        connectors
            .entry(key)
            .or_insert_with(|| self.connector(key))
            .clone()
    }
}

#[derive(Debug)]
struct ReqwestConnector {
    client: reqwest::Client,
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let (parts, body) = request.into_parts();
            let Some(bytes) = body.bytes() else {
                return Err(ConnectorError::user(
                    "a streaming request body (none of the APIs used sends one)".into(),
                ));
            };
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(bytes.to_vec())
                .send()
                .await
                .map_err(connector_error)?;
            let mut answer = http::Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                headers.extend(
                    response
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
            }
            let body = response.bytes().await.map_err(connector_error)?;
            let answer = answer
                .body(SdkBody::from(body))
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            HttpResponse::try_from(answer).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// The SDK retries timeouts and I/O failures as transient.
fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
}

/// A connector whose client could not be built: every call fails with why.
#[derive(Debug)]
struct Unbuildable(String);

impl HttpConnector for Unbuildable {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let why = self.0.clone();
        HttpConnectorFuture::ready(Err(ConnectorError::other(why.into(), None)))
    }
}
