//! A Lambda Runtime API host per function: the real function binary runs against it as
//! it would in Lambda, one invocation at a time (one warm instance).
//!
//! Each process instance gets its own listener, so a request still in flight from a
//! killed instance can never take the next instance's invocation.

use crate::process::{self, Child, LogBuffer, Registry, SpawnSpec};
use crate::template::{ACCOUNT_ID, REGION};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How long a new instance may take to reach its first `/next` (Lambda allows 10 s of
/// init; a loaded build machine needs more).
const INIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response a function may return (Lambda's synchronous payload limit).
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// Why an invocation produced no result.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InvokeError {
    /// The function reported an error through the runtime API (its handler returned Err).
    #[error("{function} returned an error: {error_type}: {message}")]
    Function {
        function: String,
        error_type: String,
        message: String,
    },
    #[error("{function} timed out after {timeout_s} s; its process was killed")]
    Timeout { function: String, timeout_s: u64 },
    #[error("{function}'s process exited during the invocation ({status})")]
    Crashed { function: String, status: String },
    #[error("{function} failed to start: {message}")]
    Init { function: String, message: String },
    #[error("the local stack is stopping")]
    Stopped,
}

struct Invocation {
    id: String,
    payload: Value,
    deadline_ms: u128,
    reply: oneshot::Sender<Result<Value, InvokeError>>,
}

struct ApiState {
    function: String,
    arn: String,
    inv_rx: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Result<Value, InvokeError>>>>,
    next_calls: watch::Sender<u64>,
    shutdown: watch::Receiver<bool>,
    init_error: Mutex<Option<String>>,
}

struct Instance {
    child: Child,
    inv_tx: mpsc::Sender<Invocation>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Instance {
    async fn end(&self) {
        self.child.kill().await;
        let _ = self.shutdown.send(true);
        self.server.abort();
    }
}

pub struct FunctionConfig {
    pub logical_id: String,
    pub binary: PathBuf,
    pub timeout: Duration,
    /// The function's whole environment except the runtime API address.
    pub env: BTreeMap<String, String>,
    pub echo_logs: bool,
}

pub struct FunctionHost {
    cfg: FunctionConfig,
    log: LogBuffer,
    registry: Registry,
    current: Mutex<Option<Arc<Instance>>>,
    /// Held for a whole invocation: one at a time, like one Lambda instance.
    invoke_lock: tokio::sync::Mutex<()>,
    stopping: watch::Receiver<bool>,
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

impl FunctionHost {
    pub fn new(cfg: FunctionConfig, registry: Registry, stopping: watch::Receiver<bool>) -> Self {
        FunctionHost {
            cfg,
            log: LogBuffer::default(),
            registry,
            current: Mutex::new(None),
            invoke_lock: tokio::sync::Mutex::new(()),
            stopping,
        }
    }

    pub fn name(&self) -> &str {
        &self.cfg.logical_id
    }

    pub fn logs(&self) -> Vec<String> {
        self.log.lines()
    }

    /// Starts an instance now (cold start) unless one is running.
    pub async fn ensure_started(&self) -> Result<(), InvokeError> {
        let _g = self.invoke_lock.lock().await;
        self.live_instance().await.map(|_| ())
    }

    async fn live_instance(&self) -> Result<Arc<Instance>, InvokeError> {
        let existing = self.current.lock().expect("instance lock").clone();
        if let Some(inst) = existing {
            if inst.child.has_exited().is_none() {
                return Ok(inst);
            }
            inst.end().await;
        }
        *self.current.lock().expect("instance lock") = None;
        let inst = Arc::new(self.start_instance().await?);
        *self.current.lock().expect("instance lock") = Some(inst.clone());
        Ok(inst)
    }

    async fn start_instance(&self) -> Result<Instance, InvokeError> {
        let name = self.cfg.logical_id.clone();
        let init_err = |message: String| InvokeError::Init {
            function: name.clone(),
            message,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| init_err(format!("cannot bind the runtime API: {e}")))?;
        let addr = listener.local_addr().map_err(|e| init_err(e.to_string()))?;
        let (inv_tx, inv_rx) = mpsc::channel(1);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (next_tx, mut next_rx) = watch::channel(0u64);
        let state = Arc::new(ApiState {
            function: name.clone(),
            arn: format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"),
            inv_rx: tokio::sync::Mutex::new(inv_rx),
            pending: Mutex::new(HashMap::new()),
            next_calls: next_tx,
            shutdown: shutdown_rx.clone(),
            init_error: Mutex::new(None),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .layer(DefaultBodyLimit::max(MAX_PAYLOAD))
            .with_state(state.clone());
        let mut stop = shutdown_rx;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
        });

        let mut env = self.cfg.env.clone();
        env.insert("AWS_LAMBDA_RUNTIME_API".into(), addr.to_string());
        let spawned = process::spawn(
            SpawnSpec {
                name: &name,
                program: &self.cfg.binary,
                args: vec![],
                env,
                cwd: None,
                log: self.log.clone(),
                echo: self.cfg.echo_logs,
            },
            &self.registry,
        );
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let _ = shutdown_tx.send(true);
                server.abort();
                return Err(init_err(format!("{e:#}")));
            }
        };
        let inst = Instance {
            child,
            inv_tx,
            shutdown: shutdown_tx,
            server,
        };
        let ready = tokio::time::timeout(INIT_TIMEOUT, async {
            tokio::select! {
                _ = next_rx.wait_for(|n| *n > 0) => None,
                status = inst.child.wait() => Some(status),
            }
        })
        .await;
        let problem = match ready {
            Ok(None) => return Ok(inst),
            Ok(Some(status)) => {
                format!("it exited ({status}) before asking for its first invocation")
            }
            Err(_) => format!(
                "it did not ask for its first invocation within {} s",
                INIT_TIMEOUT.as_secs()
            ),
        };
        inst.end().await;
        let reported = state.init_error.lock().expect("init error lock").clone();
        let mut message = problem;
        if let Some(r) = reported {
            message.push_str(&format!("; init error: {r}"));
        }
        message.push_str(&format!("; its output:\n{}", self.log.tail(40)));
        Err(init_err(message))
    }

    pub async fn invoke(&self, payload: Value) -> Result<Value, InvokeError> {
        let _g = self.invoke_lock.lock().await;
        if *self.stopping.borrow() {
            return Err(InvokeError::Stopped);
        }
        let inst = self.live_instance().await?;
        let name = self.cfg.logical_id.clone();
        let (reply_tx, reply_rx) = oneshot::channel();
        let id = uuid::Uuid::now_v7().to_string();
        let invocation = Invocation {
            id,
            payload,
            deadline_ms: epoch_ms() + self.cfg.timeout.as_millis(),
            reply: reply_tx,
        };
        if inst.inv_tx.send(invocation).await.is_err() {
            return Err(InvokeError::Crashed {
                function: name,
                status: "runtime API closed".into(),
            });
        }
        let mut stopping = self.stopping.clone();
        let outcome = tokio::select! {
            biased;
            r = reply_rx => match r {
                Ok(r) => return r,
                Err(_) => Err(InvokeError::Crashed { function: name.clone(), status: "runtime API closed".into() }),
            },
            status = inst.child.wait() => Err(InvokeError::Crashed { function: name.clone(), status }),
            _ = tokio::time::sleep(self.cfg.timeout) => Err(InvokeError::Timeout {
                function: name.clone(),
                timeout_s: self.cfg.timeout.as_secs(),
            }),
            _ = stopping.wait_for(|s| *s) => Err(InvokeError::Stopped),
        };
        // The instance is unusable: end it; the next invocation starts a fresh one.
        inst.end().await;
        let mut current = self.current.lock().expect("instance lock");
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &inst)) {
            *current = None;
        }
        outcome
    }

    /// SIGKILLs the running instance, if any, and waits for it to exit.
    pub async fn kill(&self) {
        let inst = self.current.lock().expect("instance lock").clone();
        if let Some(inst) = inst {
            inst.child.kill().await;
        }
    }

    /// Waits for the invocation in flight, if any, ends the running instance and starts
    /// a fresh one (a cold start: the function's init runs again).
    pub async fn restart(&self) -> Result<(), InvokeError> {
        let _g = self.invoke_lock.lock().await;
        if *self.stopping.borrow() {
            return Err(InvokeError::Stopped);
        }
        let old = self.current.lock().expect("instance lock").take();
        if let Some(old) = old {
            old.end().await;
        }
        self.live_instance().await.map(|_| ())
    }

    /// Ends the instance for good (the stopping signal is already set).
    pub async fn stop(&self) {
        let inst = self.current.lock().expect("instance lock").take();
        if let Some(inst) = inst {
            inst.end().await;
        }
    }
}

fn runtime_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorType": error_type, "errorMessage": message})),
    )
        .into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

async fn next(State(st): State<Arc<ApiState>>) -> Response {
    st.next_calls.send_modify(|n| *n += 1);
    let mut shutdown = st.shutdown.clone();
    let mut rx = st.inv_rx.lock().await;
    let inv = tokio::select! {
        inv = rx.recv() => inv,
        _ = shutdown.wait_for(|s| *s) => None,
    };
    drop(rx);
    let Some(inv) = inv else {
        return runtime_error(
            StatusCode::GONE,
            "ShuttingDown",
            "the instance is being shut down",
        );
    };
    let body = serde_json::to_vec(&inv.payload).unwrap_or_default();
    let trace = {
        let u = uuid::Uuid::now_v7().simple().to_string();
        let secs = epoch_ms() / 1000;
        format!(
            "Root=1-{secs:08x}-{};Parent={};Sampled=0",
            &u[8..32],
            &u[..16]
        )
    };
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    set("lambda-runtime-aws-request-id", inv.id.clone());
    set("lambda-runtime-deadline-ms", inv.deadline_ms.to_string());
    set("lambda-runtime-invoked-function-arn", st.arn.clone());
    set("lambda-runtime-trace-id", trace);
    set("content-type", "application/json".into());
    st.pending
        .lock()
        .expect("pending lock")
        .insert(inv.id, inv.reply);
    (StatusCode::OK, headers, body).into_response()
}

fn take_pending(st: &ApiState, id: &str) -> Option<oneshot::Sender<Result<Value, InvokeError>>> {
    st.pending.lock().expect("pending lock").remove(id)
}

async fn response(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(reply) = take_pending(&st, &id) else {
        return runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "unknown or already answered request id",
        );
    };
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    let _ = reply.send(Ok(value));
    accepted()
}

async fn error(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(reply) = take_pending(&st, &id) else {
        return runtime_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "unknown or already answered request id",
        );
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let error_type = parsed
        .get("errorType")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            headers
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "Unhandled".to_string());
    let message = parsed
        .get("errorMessage")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    let _ = reply.send(Err(InvokeError::Function {
        function: st.function.clone(),
        error_type,
        message,
    }));
    accepted()
}

async fn init_error(State(st): State<Arc<ApiState>>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    *st.init_error.lock().expect("init error lock") = Some(text);
    accepted()
}
