//! Clients of the networks Crosspost publishes to, one module per network, each turning
//! every answer into either a remote post or a [`PublishError`] that says what the
//! caller must do next.

pub mod bluesky;
pub mod facebook;
pub mod fetch;
pub mod images;
pub mod media;
pub mod oauth;
pub mod page;
pub mod x;

pub use crosspost_core::{PublishError, RemotePost};
/// The HTTP client every network call goes through, for the functions that hold one.
pub use reqwest;

/// For calls that publish nothing (reads, uploads not yet attached to a post): an
/// unknown outcome is only worth another try.
fn nothing_published(err: PublishError) -> PublishError {
    match err {
        PublishError::Uncertain { detail } => PublishError::Retryable {
            after: None,
            detail,
        },
        other => other,
    }
}

/// Transport failures: before the request left, nothing can have been published;
/// after, the network may have acted on it.
fn from_transport(err: &reqwest::Error) -> PublishError {
    // The URL is cut out of the text: Facebook URLs can carry `access_token`.
    let detail = err.without_url_ref();
    if err.is_connect() || err.is_builder() {
        PublishError::Retryable {
            after: None,
            detail,
        }
    } else {
        PublishError::Uncertain { detail }
    }
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    /// The error's text without the URL: Facebook URLs can carry `access_token`.
    fn without_url_ref(&self) -> String {
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(url.as_str(), "<url>");
        }
        text
    }
}

/// The first `max` characters of a response body, for error messages.
fn excerpt(body: &str, max: usize) -> String {
    body.chars().take(max).collect()
}

/// The one HTTP client a function builds at start-up: rustls, bounded timeouts, and no
/// redirects followed (a 3xx is the answer: followed, a POST would turn into a GET
/// without its body, and its headers and body would go to whatever host `Location`
/// names). Past `timeout` the outcome of a sent post is unknown.
pub fn http_client(timeout: std::time::Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(tls_config())
        .connect_timeout(std::time::Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("crosspost/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The TLS configuration of every network client: rustls on ring, trusting the roots of
/// Mozilla's CA program as `webpki-roots` compiles them in. Built once per process (the
/// clients share its verifier), at start-up: no certificate store is read or parsed,
/// which reqwest's platform verifier did for every client (about 1 ms per client for a
/// bundle of some 150 roots, several ms for a directory of them).
pub fn tls_config() -> rustls::ClientConfig {
    static CONFIG: std::sync::OnceLock<rustls::ClientConfig> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            #[allow(clippy::expect_used)] // start-up; ring has suites for both versions
            rustls::ClientConfig::builder_with_provider(provider)
                .with_protocol_versions(rustls::DEFAULT_VERSIONS)
                .expect("ring supports TLS 1.2 and 1.3")
                .with_root_certificates(roots)
                .with_no_client_auth()
        })
        .clone()
}
