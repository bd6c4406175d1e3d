//! A Lambda Runtime API host per function: the real function binary runs against it as
//! it would in Lambda. Like Lambda, a function scales out: each instance is its own
//! process running one invocation at a time, and concurrent invocations run in separate
//! instances, up to the function's `max_instances`.
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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, watch, Semaphore, SemaphorePermit};
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

/// One process of a function, with its own runtime API listener.
struct Instance {
    /// 1 for the function's first instance, counting every cold start.
    number: usize,
    child: Child,
    /// From the spawn to its first `/next` (its init), once it got there.
    init: Mutex<Option<Duration>>,
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

/// One live instance (process) of a function, as a benchmark reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStats {
    /// 1 for the function's first instance, counting every cold start.
    pub number: usize,
    pub pid: u32,
    /// From the spawn to its first `/next`: Lambda's init phase.
    pub init: Option<Duration>,
}

pub struct FunctionConfig {
    pub logical_id: String,
    pub binary: PathBuf,
    pub timeout: Duration,
    /// The function's whole environment except the runtime API address.
    pub env: BTreeMap<String, String>,
    pub echo_logs: bool,
    /// Most instances running at once (at least 1).
    pub max_instances: usize,
}

/// The function's instances.
#[derive(Default)]
struct Pool {
    /// Warm instances waiting for an invocation; the most recently used last.
    idle: Vec<Arc<Instance>>,
    /// Every instance, idle, busy or starting.
    all: Vec<Arc<Instance>>,
}

/// A function's instance pool, scaled out the way Lambda does it: an invocation takes an
/// idle warm instance, else cold-starts a new one while fewer than `max_instances`
/// exist, else waits for one to become free.
///
/// `slots` holds one permit per allowed instance; an invocation holds one for its whole
/// run. So every instance is either idle or used by exactly one permit holder, and a
/// holder that finds no idle instance may always start one.
pub struct FunctionHost {
    cfg: FunctionConfig,
    log: LogBuffer,
    registry: Registry,
    slots: Semaphore,
    pool: Mutex<Pool>,
    started: AtomicUsize,
    stopping: watch::Receiver<bool>,
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

impl FunctionHost {
    pub fn new(
        mut cfg: FunctionConfig,
        registry: Registry,
        stopping: watch::Receiver<bool>,
    ) -> Self {
        cfg.max_instances = cfg.max_instances.clamp(1, Semaphore::MAX_PERMITS);
        FunctionHost {
            slots: Semaphore::new(cfg.max_instances),
            cfg,
            log: LogBuffer::default(),
            registry,
            pool: Mutex::new(Pool::default()),
            started: AtomicUsize::new(0),
            stopping,
        }
    }

    pub fn name(&self) -> &str {
        &self.cfg.logical_id
    }

    /// Captured output of every instance, in arrival order.
    pub fn logs(&self) -> Vec<String> {
        self.log.lines()
    }

    /// Pids of the function's instances (idle, busy or starting).
    #[cfg(test)]
    fn instance_pids(&self) -> Vec<u32> {
        self.pool().all.iter().map(|i| i.child.pid).collect()
    }

    /// The environment its instances start with (without the runtime API address).
    pub fn environment(&self) -> &BTreeMap<String, String> {
        &self.cfg.env
    }

    /// The function's live instances, oldest first.
    pub fn instances(&self) -> Vec<InstanceStats> {
        self.pool()
            .all
            .iter()
            .map(|i| InstanceStats {
                number: i.number,
                pid: i.child.pid,
                init: *i.init.lock().unwrap_or_else(|p| p.into_inner()),
            })
            .collect()
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopped(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Waits for `n` concurrency slots (or for the stack to stop).
    async fn slots(&self, n: u32) -> Result<SemaphorePermit<'_>, InvokeError> {
        let mut stopping = self.stopping.clone();
        tokio::select! {
            biased;
            _ = stopping.wait_for(|s| *s) => Err(InvokeError::Stopped),
            p = self.slots.acquire_many(n) => p.map_err(|_| InvokeError::Stopped),
        }
    }

    /// Makes sure one warm instance exists, starting it (a cold start) if none does.
    pub async fn ensure_started(&self) -> Result<(), InvokeError> {
        let _slot = self.slots(1).await?;
        let inst = self.checkout().await?;
        self.checkin(inst).await;
        Ok(())
    }

    /// An idle live instance, or a new one. The caller holds a slot.
    async fn checkout(&self) -> Result<Arc<Instance>, InvokeError> {
        loop {
            let idle = self.pool().idle.pop();
            match idle {
                Some(inst) if inst.child.has_exited().is_none() => return Ok(inst),
                Some(dead) => self.discard(&dead).await,
                None => break,
            }
        }
        self.start_instance().await
    }

    /// Back to the idle list after an invocation that left the instance usable.
    async fn checkin(&self, inst: Arc<Instance>) {
        {
            let mut pool = self.pool();
            if !self.stopped() && inst.child.has_exited().is_none() {
                pool.idle.push(inst);
                return;
            }
        }
        self.discard(&inst).await;
    }

    /// Ends an instance and forgets it.
    async fn discard(&self, inst: &Arc<Instance>) {
        inst.end().await;
        let mut pool = self.pool();
        pool.all.retain(|i| !Arc::ptr_eq(i, inst));
        pool.idle.retain(|i| !Arc::ptr_eq(i, inst));
    }

    async fn start_instance(&self) -> Result<Arc<Instance>, InvokeError> {
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

        let number = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let spawned_at = std::time::Instant::now();
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
                instance: Some(number),
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
        let inst = Arc::new(Instance {
            number,
            child,
            init: Mutex::new(None),
            inv_tx,
            shutdown: shutdown_tx,
            server,
        });
        // Registered before any await, and never once stopping: `stop` ends everything
        // registered, so no instance can outlive it.
        let registered = {
            let mut pool = self.pool();
            if self.stopped() {
                false
            } else {
                pool.all.push(inst.clone());
                true
            }
        };
        if !registered {
            inst.end().await;
            return Err(InvokeError::Stopped);
        }
        let ready = tokio::time::timeout(INIT_TIMEOUT, async {
            tokio::select! {
                _ = next_rx.wait_for(|n| *n > 0) => None,
                status = inst.child.wait() => Some(status),
            }
        })
        .await;
        let problem = match ready {
            Ok(None) => {
                *inst.init.lock().unwrap_or_else(|p| p.into_inner()) = Some(spawned_at.elapsed());
                tracing::debug!(function = %name, instance = inst.number, pid = inst.child.pid, "instance ready");
                return Ok(inst);
            }
            Ok(Some(status)) => {
                format!("it exited ({status}) before asking for its first invocation")
            }
            Err(_) => format!(
                "it did not ask for its first invocation within {} s",
                INIT_TIMEOUT.as_secs()
            ),
        };
        self.discard(&inst).await;
        let reported = state
            .init_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut message = problem;
        if let Some(r) = reported {
            message.push_str(&format!("; init error: {r}"));
        }
        message.push_str(&format!("; its output:\n{}", self.log.tail(40)));
        Err(init_err(message))
    }

    /// Runs one invocation on an idle or new instance, waiting for a free slot when
    /// `max_instances` instances are all busy. A timeout or crash ends only the instance
    /// that ran the invocation.
    pub async fn invoke(&self, payload: Value) -> Result<Value, InvokeError> {
        let _slot = self.slots(1).await?;
        let inst = self.checkout().await?;
        match self.run_on(&inst, payload).await {
            Ok(answer) => {
                self.checkin(inst).await;
                answer
            }
            Err(e) => {
                // The instance is unusable: end it; a later invocation starts a fresh one.
                self.discard(&inst).await;
                Err(e)
            }
        }
    }

    /// `Ok(answer)` when the instance answered (a function error included) and stays
    /// usable; `Err` when it must be ended.
    async fn run_on(
        &self,
        inst: &Instance,
        payload: Value,
    ) -> Result<Result<Value, InvokeError>, InvokeError> {
        let name = self.cfg.logical_id.clone();
        let (reply_tx, reply_rx) = oneshot::channel();
        let invocation = Invocation {
            id: uuid::Uuid::now_v7().to_string(),
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
        tokio::select! {
            biased;
            r = reply_rx => match r {
                Ok(r) => Ok(r),
                Err(_) => Err(InvokeError::Crashed { function: name, status: "runtime API closed".into() }),
            },
            status = inst.child.wait() => Err(InvokeError::Crashed { function: name, status }),
            _ = tokio::time::sleep(self.cfg.timeout) => Err(InvokeError::Timeout {
                function: name,
                timeout_s: self.cfg.timeout.as_secs(),
            }),
            _ = stopping.wait_for(|s| *s) => Err(InvokeError::Stopped),
        }
    }

    /// SIGKILLs every instance of the function and waits for them to exit. Invocations
    /// in flight fail as crashed; the next invocation cold-starts a new instance.
    pub async fn kill(&self) {
        let all = self.pool().all.clone();
        futures::future::join_all(all.iter().map(|i| i.child.kill())).await;
        let idle = std::mem::take(&mut self.pool().idle);
        for inst in idle {
            self.discard(&inst).await;
        }
    }

    /// Waits for every invocation in flight (holding back new ones meanwhile), ends every
    /// instance and starts one fresh instance (a cold start: the function's init runs
    /// again). Further instances start on demand.
    pub async fn restart(&self) -> Result<(), InvokeError> {
        let n = u32::try_from(self.cfg.max_instances).unwrap_or(u32::MAX);
        let _all_slots = self.slots(n).await?;
        let old = {
            let mut pool = self.pool();
            pool.idle.clear();
            std::mem::take(&mut pool.all)
        };
        futures::future::join_all(old.iter().map(|i| i.end())).await;
        let inst = self.checkout().await?;
        self.checkin(inst).await;
        Ok(())
    }

    /// Ends every instance for good (the stopping signal is already set).
    pub async fn stop(&self) {
        self.slots.close();
        let all = {
            let mut pool = self.pool();
            pool.idle.clear();
            std::mem::take(&mut pool.all)
        };
        futures::future::join_all(all.iter().map(|i| i.end())).await;
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
        .unwrap_or_else(|p| p.into_inner())
        .insert(inv.id, inv.reply);
    (StatusCode::OK, headers, body).into_response()
}

fn take_pending(st: &ApiState, id: &str) -> Option<oneshot::Sender<Result<Value, InvokeError>>> {
    st.pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(id)
}

/// The Runtime API's answer for an invocation id that is unknown or already answered.
fn unknown_request_id() -> Response {
    runtime_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "unknown or already answered request id",
    )
}

async fn response(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(reply) = take_pending(&st, &id) else {
        return unknown_request_id();
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
        return unknown_request_id();
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
    *st.init_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
    accepted()
}

#[cfg(test)]
mod tests {
    //! The pool against the real `echo-lambda` example (built by `cargo test`); no
    //! emulators needed.

    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::time::Instant;

    fn echo_lambda() -> PathBuf {
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile> directory");
        let bin = profile_dir.join("examples").join("echo-lambda");
        assert!(
            bin.is_file(),
            "{} is missing: run `cargo test -p crosspost-local` (which builds the examples)",
            bin.display()
        );
        bin
    }

    struct Fixture {
        host: Arc<FunctionHost>,
        registry: Registry,
        stop_tx: watch::Sender<bool>,
    }

    impl Fixture {
        fn new(max_instances: usize, timeout: Duration) -> Fixture {
            let registry = Registry::default();
            let (stop_tx, stop_rx) = watch::channel(false);
            let host = FunctionHost::new(
                FunctionConfig {
                    logical_id: "Echo".into(),
                    binary: echo_lambda(),
                    timeout,
                    env: BTreeMap::from(
                        [
                            ("AWS_LAMBDA_FUNCTION_NAME", "Echo"),
                            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
                            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                            ("AWS_LAMBDA_LOG_STREAM_NAME", "local"),
                            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/Echo"),
                        ]
                        .map(|(k, v)| (k.to_string(), v.to_string())),
                    ),
                    echo_logs: false,
                    max_instances,
                },
                registry.clone(),
                stop_rx,
            );
            Fixture {
                host: Arc::new(host),
                registry,
                stop_tx,
            }
        }

        /// `n` concurrent invocations sleeping `ms` each.
        async fn sleepers(&self, n: usize, ms: u64) -> Vec<Result<Value, InvokeError>> {
            futures::future::join_all(
                (0..n).map(|i| self.host.invoke(json!({"sleep_ms": ms, "i": i}))),
            )
            .await
        }

        /// Waits until `n` invocations with `sleep_ms: ms` have reached the function.
        async fn running(&self, n: usize, ms: u64) {
            let needle = format!("\"sleep_ms\":{ms}");
            let deadline = Instant::now() + Duration::from_secs(30);
            while self
                .host
                .logs()
                .iter()
                .filter(|l| l.starts_with("ECHO ") && l.contains(&needle))
                .count()
                < n
            {
                assert!(Instant::now() < deadline, "{n} invocations never ran");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        async fn stop(self) {
            let _ = self.stop_tx.send(true);
            self.host.stop().await;
            assert!(self.registry.pids().is_empty(), "instances left after stop");
        }
    }

    fn pid_of(answer: &Value) -> u32 {
        answer["pid"].as_u64().expect("pid in the answer") as u32
    }

    fn pids(results: &[Result<Value, InvokeError>]) -> BTreeSet<u32> {
        results
            .iter()
            .map(|r| pid_of(r.as_ref().expect("invocation succeeds")))
            .collect()
    }

    #[tokio::test]
    async fn concurrent_invocations_scale_out_up_to_max_instances() {
        let f = Fixture::new(3, Duration::from_secs(30));
        f.host.ensure_started().await.unwrap();
        assert_eq!(
            f.host.instance_pids().len(),
            1,
            "one warm instance at start"
        );

        let t0 = Instant::now();
        let results = f.sleepers(8, 500).await;
        let elapsed = t0.elapsed();
        let distinct = pids(&results);
        assert!(
            (2..=3).contains(&distinct.len()),
            "8 concurrent invocations, max 3 instances: pids {distinct:?}"
        );
        // Serialised, they would take 8 × 500 ms at least.
        assert!(elapsed < Duration::from_millis(8 * 500), "{elapsed:?}");
        let live: BTreeSet<u32> = f.host.instance_pids().into_iter().collect();
        assert!(live.len() <= 3 && distinct.is_subset(&live), "{live:?}");
        assert_eq!(f.registry.pids().len(), live.len());

        // One at a time, a warm instance is reused: no further cold start.
        let again = f.host.invoke(json!({"n": 1})).await.unwrap();
        assert!(live.contains(&pid_of(&again)));
        f.stop().await;
    }

    #[tokio::test]
    async fn one_instance_serialises() {
        let f = Fixture::new(1, Duration::from_secs(30));
        let results = f.sleepers(3, 100).await;
        assert_eq!(pids(&results).len(), 1);
        f.stop().await;
    }

    #[tokio::test]
    async fn a_timeout_ends_only_its_instance() {
        let f = Fixture::new(2, Duration::from_secs(1));
        let (slow, quick) = tokio::join!(f.host.invoke(json!({"sleep_ms": 10_000})), async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            f.host.invoke(json!({"sleep_ms": 10})).await
        });
        assert!(matches!(slow, Err(InvokeError::Timeout { .. })), "{slow:?}");
        let survivor = pid_of(&quick.unwrap());
        assert_eq!(f.host.instance_pids(), [survivor]);
        let next = f.host.invoke(json!({"n": 1})).await.unwrap();
        assert_eq!(pid_of(&next), survivor, "the warm survivor is reused");
        f.stop().await;
    }

    #[tokio::test]
    async fn restart_waits_for_every_invocation_and_kill_ends_every_instance() {
        let f = Fixture::new(3, Duration::from_secs(30));
        let (results, restarted) = tokio::join!(f.sleepers(3, 1_000), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            f.host.restart().await
        });
        restarted.unwrap();
        // Every invocation finished (none was cut short by the restart).
        let old = pids(&results);
        let fresh = f.host.instance_pids();
        assert_eq!(
            fresh.len(),
            1,
            "one fresh instance after restart: {fresh:?}"
        );
        assert!(!old.contains(&fresh[0]));
        let registered: Vec<u32> = f.registry.pids().into_iter().map(|(_, p)| p).collect();
        assert_eq!(registered, fresh, "old instances are gone");

        let (results, ()) = tokio::join!(f.sleepers(3, 20_000), async {
            f.running(3, 20_000).await;
            f.host.kill().await;
        });
        for r in &results {
            assert!(matches!(r, Err(InvokeError::Crashed { .. })), "{r:?}");
        }
        assert!(f.host.instance_pids().is_empty());
        assert!(f.registry.pids().is_empty());
        let after = f.host.invoke(json!({"n": 2})).await.unwrap();
        assert_eq!(after["event"]["n"], 2);
        f.stop().await;
    }

    #[tokio::test]
    async fn stop_fails_waiting_invocations() {
        let f = Fixture::new(1, Duration::from_secs(30));
        let (results, ()) = tokio::join!(f.sleepers(2, 20_000), async {
            f.running(1, 20_000).await;
            let _ = f.stop_tx.send(true);
            f.host.stop().await;
        });
        for r in &results {
            assert!(matches!(r, Err(InvokeError::Stopped)), "{r:?}");
        }
        assert_eq!(
            f.host.invoke(json!({})).await.unwrap_err(),
            InvokeError::Stopped
        );
        f.stop().await;
    }
}
