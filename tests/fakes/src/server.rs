//! What both fakes share: the HTTP listener, request recording, fault injection, the
//! reply type and small helpers for time and parameters.
//!
//! Each fake implements [`Api`]: one synchronous `handle` that routes a fully read
//! request to one function per endpoint and returns a [`Reply`]. `entry` reads the
//! request, takes the first matching injected [`Fault`] (if any) and either answers
//! for it without calling `Api::handle`, or calls `Api::handle` and then alters how
//! (or whether) the answer is sent.
//!
//! Connections are accepted through [`FaultListener`], whose streams can be reset from
//! a handler: that is how a fake drops a connection without any answer, which a
//! handler alone cannot do.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use axum::Router;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::fault::{Fault, FaultRule, Faults};

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
    /// Every header, names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// Raw body (lossily decoded as UTF-8).
    pub body: String,
    /// Status code the fake answered with; 0 when it sent no answer at all (an
    /// injected `Fault::ResetConnection` or `Fault::AcceptThenHang`).
    pub status: u16,
}

impl RecordedRequest {
    /// The first value of a header (name in any case).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
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

/// One part of a multipart body.
pub(crate) struct FormPart {
    pub name: String,
    pub data: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Parses a `multipart/form-data` body (RFC 7578) sent with `content_type`; the error
/// says what is malformed.
pub(crate) fn multipart(content_type: &str, raw: &[u8]) -> Result<Vec<FormPart>, String> {
    let bad = |why: &str| why.to_owned();
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"'))
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad("The multipart body has no boundary."))?;
    let mut body = b"\r\n".to_vec();
    body.extend_from_slice(raw);
    let delimiter = [b"\r\n--", boundary.as_bytes()].concat();
    let mut parts = Vec::new();
    let mut at = find(&body, &delimiter, 0).ok_or_else(|| bad("The multipart body is empty."))?;
    loop {
        let start = at + delimiter.len();
        if body[start..].starts_with(b"--") {
            return Ok(parts);
        }
        let next = find(&body, &delimiter, start)
            .ok_or_else(|| bad("The multipart body is not terminated."))?;
        let part = body
            .get(start..next)
            .and_then(|p| p.strip_prefix(b"\r\n"))
            .ok_or_else(|| bad("A multipart part is malformed."))?;
        let split = find(part, b"\r\n\r\n", 0).ok_or_else(|| bad("A part has no headers."))?;
        let headers = String::from_utf8_lossy(&part[..split]);
        let mut name = None;
        for line in headers.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                name = value
                    .split(';')
                    .filter_map(|p| p.trim().strip_prefix("name="))
                    .next()
                    .map(|n| n.trim_matches('"').to_owned());
            }
        }
        parts.push(FormPart {
            name: name.ok_or_else(|| bad("A part has no name."))?,
            data: part[split + 4..].to_vec(),
        });
        at = next;
    }
}

/// The Content-Type of the fakes' answers unless a reply sets its own.
const JSON: &str = "application/json; charset=utf-8";

/// What a fake answers.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Value,
    /// Set on the answer after `Content-Type` (so they can replace it); a later pair
    /// replaces an earlier one of the same name.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
            headers: Vec::new(),
        }
    }

    /// Sets a header; pairs that are not valid HTTP are skipped (`Faults::push` refuses
    /// them in injected faults, and the fakes' own names and values are valid).
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => self.headers.push((name, value)),
            _ => tracing::warn!(name, value, "invalid header skipped"),
        }
        self
    }

    /// The Content-Type the answer goes out with.
    pub fn content_type(&self) -> &str {
        self.headers
            .iter()
            .rev()
            .find(|(name, _)| name == header::CONTENT_TYPE)
            .and_then(|(_, value)| value.to_str().ok())
            .unwrap_or(JSON)
    }

    fn with_headers(self, headers: &[(String, String)]) -> Reply {
        headers
            .iter()
            .fold(self, |reply, (name, value)| reply.with_header(name, value))
    }

    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body.to_string()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

/// A fake API: routes a request to one of its endpoints.
pub(crate) trait Api: Send + Sync + 'static {
    fn handle(&self, req: &Incoming) -> Reply;
    fn recorder(&self) -> &Recorder;
    fn faults(&self) -> &Faults;
    /// Answer for a body that could not be read (too large or broken).
    fn unreadable_body(&self) -> Reply;
    /// The network's answer for a server error with this status ([`Fault::ServerError`]).
    fn server_error(&self, status: StatusCode) -> Reply;
    /// The network's answer for a request over a rate limit that resets at
    /// `reset_unix` ([`Fault::RateLimited`]).
    fn rate_limited(&self, req: &Incoming, reset_unix: i64) -> Reply;
    /// Checks a request, and the answer the fake gave it (None when it gave none),
    /// against the network's own API description; nothing for a fake without one.
    fn check_contract(&self, _req: &Incoming, _answer: Option<&Reply>) -> ContractCheck {
        ContractCheck::default()
    }
}

/// What checking one request against a network's API description found.
#[derive(Default)]
pub(crate) struct ContractCheck {
    /// The operation the description holds for it (`POST /2/media/upload/{id}/append`),
    /// None when it holds none.
    pub operation: Option<String>,
    /// Every way the request or the answer broke it.
    pub violations: Vec<String>,
}

#[derive(Default)]
pub(crate) struct Recorder {
    requests: Mutex<Vec<RecordedRequest>>,
    violations: Mutex<Vec<String>>,
    checked: Mutex<std::collections::BTreeSet<String>>,
}

impl Recorder {
    pub fn push(&self, request: RecordedRequest) {
        lock(&self.requests).push(request);
    }

    pub fn all(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub fn clear(&self) {
        lock(&self.requests).clear();
    }

    fn checked(&self, check: ContractCheck) {
        if let Some(operation) = check.operation {
            lock(&self.checked).insert(operation);
        }
        for violation in &check.violations {
            tracing::warn!(%violation, "API contract broken");
        }
        lock(&self.violations).extend(check.violations);
    }

    fn operations(&self) -> Vec<String> {
        lock(&self.checked).iter().cloned().collect()
    }

    fn violations(&self) -> Vec<String> {
        lock(&self.violations).clone()
    }
}

/// A running listener. Stops when `shutdown` is called or when the handle is dropped.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
}

/// What `entry` gets: the fake and a way to learn that the server is stopping.
struct Shared<A> {
    api: Arc<A>,
    stopped: watch::Receiver<bool>,
}

impl<A> Clone for Shared<A> {
    fn clone(&self) -> Self {
        Shared {
            api: self.api.clone(),
            stopped: self.stopped.clone(),
        }
    }
}

impl<A> Shared<A> {
    /// Resolves once `shutdown()` was called or the handle was dropped.
    async fn stopping(&self) {
        let mut stopped = self.stopped.clone();
        let _ = stopped.wait_for(|stop| *stop).await;
    }
}

/// What every fake's handle offers (through `Deref`): its address, the requests it
/// received, the faults it is to inject, and stopping it. Clones share the server; it
/// stops when the last clone is dropped or on [`Controls::shutdown`].
#[derive(Clone)]
pub struct Controls {
    api: Arc<dyn Api>,
    server: Arc<Server>,
}

impl Controls {
    pub(crate) async fn start<A: Api>(api: Arc<A>) -> std::io::Result<Controls> {
        let server = Arc::new(Server::start(api.clone()).await?);
        Ok(Controls { api, server })
    }

    /// `http://127.0.0.1:PORT`, to be used where the real API has its own address.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Every request received so far, rejected and faulted ones included.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.api.recorder().all()
    }

    pub fn clear_requests(&self) {
        self.api.recorder().clear();
    }

    /// Every way the requests received so far, and the fake's own answers to them,
    /// broke the network's published API description (see `crate::contract`); empty
    /// for a fake without one. Kept by `clear_requests`. An answer a test injected
    /// with [`Fault::Respond`] is the test's, and not checked.
    pub fn contract_violations(&self) -> Vec<String> {
        self.api.recorder().violations()
    }

    /// The operations of the network's API description that requests received so far
    /// were checked against (e.g. `POST /2/media/upload/{id}/append`), sorted; shows
    /// what a test's contract check covered.
    pub fn contract_operations(&self) -> Vec<String> {
        self.api.recorder().operations()
    }

    /// Adds a fault for the next `rule.times` requests matching `rule`, after the rules
    /// already there (the first matching rule is used). See [`crate::Fault`] for what
    /// each fault looks like from each network.
    ///
    /// # Panics
    ///
    /// When a header in the fault is not valid HTTP.
    pub fn inject(&self, rule: FaultRule) {
        self.api.faults().push(rule);
    }

    /// Faults for a share of the requests from now on (None stops them).
    pub fn inject_randomly(&self, random: Option<crate::RandomFaults>) {
        self.api.faults().set_random(random);
    }

    /// Injected faults not yet delivered (the sum of the rules' remaining `times`).
    pub fn pending_faults(&self) -> usize {
        self.api.faults().pending()
    }

    /// Stops accepting connections.
    pub fn shutdown(&self) {
        self.server.shutdown();
    }
}

impl Server {
    pub async fn start<A: Api>(api: Arc<A>) -> std::io::Result<Server> {
        let listener = FaultListener(TcpListener::bind(("127.0.0.1", 0)).await?);
        let addr = listener.0.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let shared = Shared {
            api,
            stopped: stopped.clone(),
        };
        let app = Router::new().fallback(entry::<A>).with_state(shared);
        tokio::spawn(async move {
            let mut stopped = stopped;
            let serve = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<Connection>(),
            )
            .with_graceful_shutdown(async move {
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

async fn entry<A: Api>(
    State(shared): State<Shared<A>>,
    ConnectInfo(connection): ConnectInfo<Connection>,
    request: Request,
) -> Response {
    let api = &shared.api;
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, BODY_LIMIT).await;
    let incoming = Incoming {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body: body.as_ref().cloned().unwrap_or_default(),
    };
    let handle = || match body {
        Ok(_) => api.handle(&incoming),
        Err(_) => api.unreadable_body(),
    };
    let fault = api.faults().take(incoming.method.as_str(), &incoming.path);
    if let Some(fault) = &fault {
        tracing::debug!(method = %incoming.method, path = %incoming.path, ?fault, "fault injected");
    }
    let check = |answer: Option<&Reply>| {
        api.recorder()
            .checked(api.check_contract(&incoming, answer));
    };
    let reply = match fault {
        None => handle(),
        Some(Fault::Respond {
            status,
            body,
            headers,
        }) => {
            check(None);
            let reply = Reply::json(status, body).with_headers(&headers);
            record(api.recorder(), &incoming, reply.status.as_u16());
            return reply.into_response();
        }
        Some(Fault::ServerError(status)) => api.server_error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        ),
        Some(Fault::RateLimited { reset_unix }) => api.rate_limited(&incoming, reset_unix),
        Some(Fault::RateLimitedFor(window)) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default();
            api.rate_limited(&incoming, (now + window.as_secs_f64()).ceil() as i64)
        }
        Some(Fault::Hang) => {
            check(None);
            record(api.recorder(), &incoming, 0);
            shared.stopping().await;
            return connection.reset();
        }
        Some(Fault::WithHeaders(headers)) => handle().with_headers(&headers),
        Some(Fault::Slow(delay)) => {
            let reply = handle();
            check(Some(&reply));
            record(api.recorder(), &incoming, reply.status.as_u16());
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shared.stopping() => {}
            }
            return reply.into_response();
        }
        Some(Fault::ResetConnection) => {
            check(None);
            record(api.recorder(), &incoming, 0);
            return connection.reset();
        }
        Some(Fault::AppliedThenServerError(status)) => {
            let _ = handle();
            api.server_error(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            )
        }
        Some(Fault::AppliedThenReset) => {
            let _ = handle();
            record(api.recorder(), &incoming, 0);
            return connection.reset();
        }
        Some(Fault::AcceptThenHang) => {
            let reply = handle();
            check(Some(&reply));
            record(api.recorder(), &incoming, 0);
            shared.stopping().await;
            return connection.reset();
        }
    };
    check(Some(&reply));
    record(api.recorder(), &incoming, reply.status.as_u16());
    reply.into_response()
}

fn record(recorder: &Recorder, incoming: &Incoming, status: u16) {
    tracing::debug!(
        method = %incoming.method,
        path = %incoming.path,
        status,
        "fake answered"
    );
    recorder.push(RecordedRequest {
        method: incoming.method.to_string(),
        path: incoming.path.clone(),
        query: incoming.query.clone(),
        authorization: incoming.header(header::AUTHORIZATION).map(str::to_owned),
        content_type: incoming.header(header::CONTENT_TYPE).map(str::to_owned),
        headers: incoming
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&incoming.body).into_owned(),
        status,
    });
}

// ---- connections that a handler can reset -----------------------------------------

/// Accepts TCP connections as [`FaultStream`]s.
pub(crate) struct FaultListener(pub(crate) TcpListener);

impl Listener for FaultListener {
    type Io = FaultStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (FaultStream, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let stream = FaultStream {
                        stream,
                        reset: Arc::default(),
                    };
                    return (stream, addr);
                }
                Err(error) => {
                    // Like running out of file descriptors: wait instead of spinning.
                    tracing::warn!(%error, "fake server could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A TCP stream that fails every read and write once it has been reset, so that hyper
/// gives the connection up before writing anything and the socket is dropped.
pub(crate) struct FaultStream {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl FaultStream {
    fn check(&self) -> io::Result<()> {
        if self.reset.load(Ordering::SeqCst) {
            // Zero linger: closing sends a TCP reset, as a crashed peer or a proxy would.
            // (Deprecated for non-zero durations, which block on drop; zero does not.)
            #[allow(deprecated)]
            let _ = self.stream.set_linger(Some(Duration::ZERO));
            Err(io::ErrorKind::ConnectionReset.into())
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for FaultStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// Handed to each request (as connect info): resets the connection it came on.
#[derive(Clone)]
pub(crate) struct Connection(Arc<AtomicBool>);

impl Connected<IncomingStream<'_, FaultListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, FaultListener>) -> Self {
        Connection(stream.io().reset.clone())
    }
}

impl Connection {
    /// Marks the connection reset and returns a response that is never sent: hyper
    /// fails to write it and drops the connection.
    pub(crate) fn reset(&self) -> Response {
        self.0.store(true, Ordering::SeqCst);
        Response::new(Body::empty())
    }
}

/// Locks a mutex, ignoring poisoning (a panicking test must not hide the state).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn now_ms() -> u64 {
    crosspost_core::clock::unix_ms(time::OffsetDateTime::now_utc()).max(0) as u64
}

/// Milliseconds since the Unix epoch of an RFC 3339 timestamp.
pub(crate) fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    crosspost_core::clock::parse_rfc3339(text)
        .ok()
        .map(crosspost_core::clock::unix_ms)
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
