//! A fault proxy in front of a real server (the local Bluesky PDS): every request is
//! passed on as it came, and the answer passed back, except for the requests a test
//! asked to lose: those are applied by the server, and their answer is never sent
//! (the connection is held until the client gives up), as a network that drops an
//! answer on its way back. Random faults ([`FaultProxy::inject_randomly`]) hit a share
//! of the requests as the fakes' do, with a PDS's answers: XRPC error bodies, and
//! `ratelimit-*` headers on a 429.

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::Router;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::fault::{Fault, Faults, RandomFaults};
use crate::server::{lock, Connection, FaultListener};

/// Largest request body passed on.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// One request the proxy passed on: method, path, and the status the server answered
/// (0 when the answer was lost on purpose).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
}

struct ProxyState {
    target: String,
    http: reqwest::Client,
    /// (path substring, matching requests still let through, answers still to lose)
    lose: Mutex<Vec<(String, usize, usize)>>,
    requests: Mutex<Vec<ProxiedRequest>>,
    /// Path substrings of the next requests to hold before passing them on.
    hold: Mutex<Vec<String>>,
    /// How many requests are held now.
    held: Mutex<usize>,
    /// Bumped to pass the held requests on.
    release: watch::Sender<u64>,
    faults: Faults,
    stopped: watch::Receiver<bool>,
}

/// The proxy's handle; it stops when dropped.
pub struct FaultProxy {
    url: String,
    state: Arc<ProxyState>,
    stop: watch::Sender<bool>,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` in front of `target` (`http://host:port`).
    pub async fn start(target: &str) -> std::io::Result<FaultProxy> {
        let listener = FaultListener(TcpListener::bind(("127.0.0.1", 0)).await?);
        let addr = listener.0.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let state = Arc::new(ProxyState {
            target: target.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            lose: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            hold: Mutex::new(Vec::new()),
            held: Mutex::new(0),
            release: watch::channel(0).0,
            faults: Faults::default(),
            stopped: stopped.clone(),
        });
        let app = Router::new().fallback(pass_on).with_state(state.clone());
        tokio::spawn(async move {
            let mut stopped = stopped;
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<Connection>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
        });
        Ok(FaultProxy {
            url: format!("http://localhost:{}", addr.port()),
            state,
            stop,
        })
    }

    /// `http://localhost:PORT`, to be used as the server's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next `times` requests whose path contains `path_contains` are applied by
    /// the server, and their answers lost.
    pub fn lose_answers(&self, path_contains: &str, times: usize) {
        self.lose_answers_after(path_contains, 0, times);
    }

    /// As [`FaultProxy::lose_answers`], after letting `skip` matching requests through
    /// untouched (e.g. the answer of a thread's third part is lost).
    pub fn lose_answers_after(&self, path_contains: &str, skip: usize, times: usize) {
        lock(&self.state.lose).push((path_contains.to_owned(), skip, times));
    }

    /// Random faults for a share of the requests (None: no more). Of the fault kinds,
    /// `ServerError`, `RateLimited`/`RateLimitedFor` (429 `RateLimitExceeded` with
    /// `ratelimit-remaining: 0` and `ratelimit-reset`), `Hang` and `ResetConnection` are
    /// answered without passing the request on; `Slow` passes it on and answers late;
    /// `AcceptThenHang`, `AppliedThenServerError` and `AppliedThenReset` pass it on
    /// (the PDS applies it) and answer with the fault. Others pass the request on.
    pub fn inject_randomly(&self, random: Option<RandomFaults>) {
        self.state.faults.set_random(random);
    }

    /// The next request whose path contains `path_contains` waits in the proxy, not yet
    /// passed on, until [`FaultProxy::release`] (e.g. a test changes the server's state
    /// between the moment a request is made and the moment the server sees it).
    pub fn hold_next(&self, path_contains: &str) {
        lock(&self.state.hold).push(path_contains.to_owned());
    }

    /// How many requests wait in the proxy now.
    pub fn held(&self) -> usize {
        *lock(&self.state.held)
    }

    /// Passes every held request on to the server.
    pub fn release(&self) {
        self.state.release.send_modify(|n| *n += 1);
    }

    /// Every request passed on so far.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        lock(&self.state.requests).clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// An XRPC error answer.
fn xrpc_error(status: u16, error: &str, headers: &[(&str, String)]) -> Response {
    let mut response = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        response = response.header(*name, value);
    }
    let body = serde_json::json!({ "error": error, "message": "injected by the fault proxy" });
    response
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

async fn pass_on(
    State(state): State<Arc<ProxyState>>,
    ConnectInfo(connection): ConnectInfo<Connection>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or(path.clone(), |p| p.as_str().to_owned());
    let body = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let mut forward = state
        .http
        .request(
            parts.method.clone(),
            format!("{}{path_and_query}", state.target),
        )
        .body(body);
    for (name, value) in &parts.headers {
        if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
            forward = forward.header(name, value);
        }
    }
    let hold = {
        let mut holds = lock(&state.hold);
        let found = holds.iter().position(|p| path.contains(p.as_str()));
        found.map(|i| holds.remove(i)).is_some()
    };
    if hold {
        let mut released = state.release.subscribe();
        *lock(&state.held) += 1;
        let mut stopped = state.stopped.clone();
        tokio::select! {
            _ = released.changed() => {}
            _ = stopped.wait_for(|s| *s) => {}
        }
        *lock(&state.held) -= 1;
    }
    let lose = {
        let mut rules = lock(&state.lose);
        match rules
            .iter_mut()
            .find(|(p, _, times)| *times > 0 && path.contains(p.as_str()))
        {
            Some((_, skip, _)) if *skip > 0 => {
                *skip -= 1;
                false
            }
            Some((_, _, times)) => {
                *times -= 1;
                true
            }
            None => false,
        }
    };
    let record = |status: u16| {
        lock(&state.requests).push(ProxiedRequest {
            method: parts.method.to_string(),
            path: path.clone(),
            status,
        });
    };
    let fault = state.faults.take(parts.method.as_str(), &path);
    // Faults answered without passing the request on.
    let rate_limited = |reset: i64| {
        let headers = [
            ("ratelimit-limit", "3000".to_owned()),
            ("ratelimit-remaining", "0".to_owned()),
            ("ratelimit-reset", reset.to_string()),
        ];
        xrpc_error(429, "RateLimitExceeded", &headers)
    };
    match &fault {
        Some(Fault::ServerError(status)) => {
            record(*status);
            return xrpc_error(*status, "InternalServerError", &[]);
        }
        Some(Fault::RateLimited { reset_unix }) => {
            record(429);
            return rate_limited(*reset_unix);
        }
        Some(Fault::RateLimitedFor(window)) => {
            record(429);
            let reset = unix_now() + i64::try_from(window.as_secs()).unwrap_or(0).max(1);
            return rate_limited(reset);
        }
        Some(Fault::Hang) => {
            record(0);
            let mut stopped = state.stopped.clone();
            let _ = stopped.wait_for(|s| *s).await;
            return connection.reset();
        }
        Some(Fault::ResetConnection) => {
            record(0);
            return connection.reset();
        }
        _ => {}
    }
    let answer = match forward.send().await {
        Ok(answer) => answer,
        Err(_) => {
            record(502);
            return Response::builder()
                .status(502)
                .body(Body::empty())
                .unwrap_or_default();
        }
    };
    if lose || matches!(fault, Some(Fault::AcceptThenHang)) {
        // The server has applied the request; its answer never reaches the client.
        record(0);
        let mut stopped = state.stopped.clone();
        let _ = stopped.wait_for(|s| *s).await;
        return connection.reset();
    }
    match fault {
        Some(Fault::AppliedThenServerError(status)) => {
            record(status);
            return xrpc_error(status, "InternalServerError", &[]);
        }
        Some(Fault::AppliedThenReset) => {
            record(0);
            return connection.reset();
        }
        Some(Fault::Slow(delay)) => {
            let mut stopped = state.stopped.clone();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stopped.wait_for(|s| *s) => {}
            }
        }
        _ => {}
    }
    let status = answer.status();
    record(status.as_u16());
    let mut response = Response::builder().status(status);
    for (name, value) in answer.headers() {
        if name != http::header::TRANSFER_ENCODING && name != http::header::CONTENT_LENGTH {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(Body::from(bytes)).unwrap_or_default()
}
