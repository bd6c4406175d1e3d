//! What both fakes share: the HTTP listener, request recording, the reply type and
//! small helpers for time and parameters.
//!
//! Each fake implements [`Api`]: one synchronous `handle` that routes a fully read
//! request to one function per endpoint and returns a [`Reply`]. Fault injection
//! (5xx, 429, slow answers, accepted-then-timed-out) is meant to slot in between
//! `entry` and `Api::handle`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Largest request body the fakes read.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// One request as a fake received it, and the status it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Raw query string without the leading `?` (empty when there was none).
    pub query: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// Raw body (lossily decoded as UTF-8).
    pub body: String,
    /// Status code the fake answered with.
    pub status: u16,
}

/// A request whose body has been read completely.
pub(crate) struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Incoming {
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the Content-Type's media type (parameters ignored) is `mime`.
    pub fn content_type_is(&self, mime: &str) -> bool {
        self.header(header::CONTENT_TYPE)
            .map(|ct| ct.split(';').next().unwrap_or("").trim())
            .is_some_and(|essence| essence.eq_ignore_ascii_case(mime))
    }

    /// Token of an `Authorization: <scheme> <token>` header whose scheme is one of `schemes`.
    pub fn auth_token(&self, schemes: &[&str]) -> Option<&str> {
        let value = self.header(header::AUTHORIZATION)?;
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)) && !token.is_empty())
            .then_some(token)
    }

    pub fn query_pairs(&self) -> Vec<(String, String)> {
        parse_form(self.query.as_bytes())
    }

    /// Path split on `/` without the leading slash.
    pub fn segments(&self) -> Vec<&str> {
        self.path
            .strip_prefix('/')
            .unwrap_or(&self.path)
            .split('/')
            .collect()
    }
}

pub(crate) fn parse_form(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).into_owned().collect()
}

/// What a fake answers.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        }
    }

    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body.to_string()));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response
    }
}

/// A fake API: routes a request to one of its endpoints.
pub(crate) trait Api: Send + Sync + 'static {
    fn handle(&self, req: &Incoming) -> Reply;
    fn recorder(&self) -> &Recorder;
    /// Answer for a body that could not be read (too large or broken).
    fn unreadable_body(&self) -> Reply;
}

#[derive(Default)]
pub(crate) struct Recorder(Mutex<Vec<RecordedRequest>>);

impl Recorder {
    pub fn push(&self, request: RecordedRequest) {
        lock(&self.0).push(request);
    }

    pub fn all(&self) -> Vec<RecordedRequest> {
        lock(&self.0).clone()
    }

    pub fn clear(&self) {
        lock(&self.0).clear();
    }
}

/// A running listener. Stops when `shutdown` is called or when the handle is dropped.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl Server {
    pub async fn start<A: Api>(api: Arc<A>) -> std::io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let app = Router::new().fallback(entry::<A>).with_state(api);
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // Ends on `shutdown()` or when the sender (the handle) is dropped.
                let _ = stopped.wait_for(|stop| *stop).await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "fake server stopped with an error");
            }
        });
        Ok(Server { addr, stop })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

async fn entry<A: Api>(State(api): State<Arc<A>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, BODY_LIMIT).await;
    let incoming = Incoming {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body: body.as_ref().cloned().unwrap_or_default(),
    };
    let reply = match body {
        Ok(_) => api.handle(&incoming),
        Err(_) => api.unreadable_body(),
    };
    tracing::debug!(
        method = %incoming.method,
        path = %incoming.path,
        status = reply.status.as_u16(),
        "fake answered"
    );
    api.recorder().push(RecordedRequest {
        method: incoming.method.to_string(),
        path: incoming.path.clone(),
        query: incoming.query.clone(),
        authorization: incoming.header(header::AUTHORIZATION).map(str::to_owned),
        content_type: incoming.header(header::CONTENT_TYPE).map(str::to_owned),
        body: String::from_utf8_lossy(&incoming.body).into_owned(),
        status: reply.status.as_u16(),
    });
    reply.into_response()
}

/// Locks a mutex, ignoring poisoning (a panicking test must not hide the state).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp.
pub(crate) fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

fn utc(ms: u64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `2026-11-25T10:00:00.000Z`, as X writes `created_at`.
pub(crate) fn x_time(ms: u64) -> String {
    let t = utc(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// `2026-11-25T10:00:00+0000`, as the Graph API writes `created_time`.
pub(crate) fn graph_time(ms: u64) -> String {
    let t = utc(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A random-looking id, like the ids networks put in answers for support.
pub(crate) fn trace_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u64(now_ms());
    let mut bits = hasher.finish();
    (0..11)
        .map(|_| {
            let c = ALPHABET[(bits % 64) as usize] as char;
            bits /= 64;
            c
        })
        .collect()
}

pub(crate) fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}
