//! Runs the whole of Crosspost on this machine, on the real local emulators: DynamoDB
//! Local, moto (SQS, KMS, Secrets Manager), every function's real binary behind a Lambda
//! Runtime API of our own, a local HTTP API and the SQS event sources.
//!
//! Everything comes from `template.yaml`: tables, queues, KMS keys and aliases, secrets,
//! functions, their environment, routes and event sources. Nothing here is a second list
//! of resources.
//!
//! Functions scale out as in Lambda: concurrent invocations run in separate instances
//! (separate processes), up to [`StackOptions::max_instances`] per function (fewer when
//! the template gives `ReservedConcurrentExecutions`); each SQS event source runs
//! [`StackOptions::poller_concurrency`] concurrent batches.
//!
//! Secrets exist, with their values, before any function starts. Functions read secrets
//! at cold start, so after [`LocalStack::put_secret_value`] a function sees the new value
//! only once it is restarted ([`LocalStack::restart_function`] or
//! [`LocalStack::restart_functions`]).

pub mod call_count;
mod emulators;
mod http_api;
mod pds;
mod process;
mod resources;
mod runtime;
mod sqs_poller;
pub mod template;

pub use http_api::{build_event as build_http_event, RequestParts, Route, RouteTable};
pub use pds::{Pds, PdsAccount};
pub use runtime::{InstanceStats, InvokeError};

use anyhow::{anyhow, bail, Context, Result};
use emulators::{make_sdk_config, EmulatorTools, Emulators, WorkDir, DUMMY_KEY_ID, DUMMY_SECRET};
use process::{Child, KillOnDrop, Registry};
use runtime::{FunctionConfig, FunctionHost};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use template::{FunctionSpec, Resolver, Template, REGION};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What to run and how.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The SAM template (template.yaml).
    pub template: PathBuf,
    /// Directory holding the built function binaries (cargo's target/debug).
    pub bin_dir: PathBuf,
    /// The project's .tools directory (moto venv, DynamoDB Local).
    pub tools_dir: PathBuf,
    /// Like `sam deploy --parameter-overrides`.
    pub parameter_overrides: BTreeMap<String, String>,
    /// Extra environment for every function; wins over the template.
    pub env_overrides: BTreeMap<String, String>,
    /// Also copy function output to stderr, prefixed with the function's name.
    pub echo_logs: bool,
    /// Values of `AWS::SecretsManager::Secret` resources, by logical id; win over the
    /// template's `SecretString` and `GenerateSecretString`.
    pub secret_values: BTreeMap<String, String>,
    /// Most instances (processes) of one function running at once; a function's
    /// `ReservedConcurrentExecutions` lowers it (0 counts as 1 locally). At least 1.
    pub max_instances: usize,
    /// Concurrent receive/invoke/delete loops per SQS event source, like Lambda's
    /// concurrent batches. At least 1.
    pub poller_concurrency: usize,
    /// Changes to the template before it is read, as (dotted path, YAML value): e.g.
    /// `("Resources.XQueue.Properties.VisibilityTimeout", "20")`. Tests use them to
    /// compress time (a 360 s visibility timeout, a 60 s lease) without a second
    /// template.
    pub template_patches: Vec<(String, String)>,
    /// Put a counting proxy between each function and the emulators, so
    /// [`LocalStack::aws_calls`] tells which AWS calls each function made.
    pub count_aws_calls: bool,
    /// Also run Bluesky's reference server (the ATProto PDS, [`Pds`]) on loopback, for
    /// runs that publish to Bluesky: about 3 s more to start and 250 MB of memory. The
    /// template's `BlueskyServices` parameter becomes its URL unless overridden.
    /// [`StackOptions::from_env`] sets it when `CROSSPOST_LOCAL_PDS=1`.
    pub bluesky_pds: bool,
}

/// The template parameter listing the Bluesky services accounts may be linked on.
const BLUESKY_SERVICES: &str = "BlueskyServices";

/// `max_instances` of [`StackOptions::from_env`] unless `CROSSPOST_LOCAL_MAX_INSTANCES` is set.
pub const DEFAULT_MAX_INSTANCES: usize = 4;
/// `poller_concurrency` of [`StackOptions::from_env`] unless `CROSSPOST_LOCAL_POLLERS` is set.
pub const DEFAULT_POLLER_CONCURRENCY: usize = 2;

/// A positive count from the environment, else `default`.
fn env_count(var: &str, default: usize) -> Result<usize> {
    match std::env::var(var) {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => bail!("{var} must be a whole number of at least 1, found `{v}`"),
        },
        Err(std::env::VarError::NotPresent) => Ok(default),
        Err(e) => bail!("{var}: {e}"),
    }
}

impl StackOptions {
    /// template = `<root>/template.yaml`; tools from `CROSSPOST_TOOLS`, else `<root>/.tools`;
    /// binaries from `CROSSPOST_BIN_DIR`, else `$CARGO_TARGET_DIR/debug`, else
    /// `<root>/target/debug`; `max_instances` from `CROSSPOST_LOCAL_MAX_INSTANCES`, else
    /// [`DEFAULT_MAX_INSTANCES`]; `poller_concurrency` from `CROSSPOST_LOCAL_POLLERS`, else
    /// [`DEFAULT_POLLER_CONCURRENCY`].
    pub fn from_env(repo_root: &Path) -> Result<Self> {
        let template = repo_root.join("template.yaml");
        if !template.is_file() {
            bail!("no template at {}", template.display());
        }
        let tools_dir = match std::env::var_os("CROSSPOST_TOOLS") {
            Some(d) => PathBuf::from(d),
            None => repo_root.join(".tools"),
        };
        if !tools_dir.is_dir() {
            bail!(
                "tools directory {} is missing (set CROSSPOST_TOOLS or install the local tools into <repo>/.tools)",
                tools_dir.display()
            );
        }
        let bin_dir = if let Some(d) = std::env::var_os("CROSSPOST_BIN_DIR") {
            PathBuf::from(d)
        } else if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
            PathBuf::from(t).join("debug")
        } else {
            repo_root.join("target").join("debug")
        };
        if !bin_dir.is_dir() {
            bail!(
                "binary directory {} is missing (set CROSSPOST_BIN_DIR, or run cargo build --workspace)",
                bin_dir.display()
            );
        }
        Ok(StackOptions {
            template,
            bin_dir,
            tools_dir,
            parameter_overrides: BTreeMap::new(),
            env_overrides: BTreeMap::new(),
            echo_logs: false,
            secret_values: BTreeMap::new(),
            max_instances: env_count("CROSSPOST_LOCAL_MAX_INSTANCES", DEFAULT_MAX_INSTANCES)?,
            poller_concurrency: env_count("CROSSPOST_LOCAL_POLLERS", DEFAULT_POLLER_CONCURRENCY)?,
            template_patches: Vec::new(),
            count_aws_calls: false,
            bluesky_pds: std::env::var("CROSSPOST_LOCAL_PDS").is_ok_and(|v| v.trim() == "1"),
        })
    }
}

/// The running local system. Dropping it kills every child process; `stop` also waits.
pub struct LocalStack {
    api_url: String,
    dynamodb_endpoint: String,
    moto_endpoint: String,
    tables: BTreeMap<String, String>,
    queues: Vec<(String, String)>,
    /// logical id → ARN
    secrets: BTreeMap<String, String>,
    kms_keys: BTreeMap<String, template::KmsKeyInfo>,
    pds: Option<Pds>,
    functions: BTreeMap<String, Arc<FunctionHost>>,
    emulators: Vec<Child>,
    pollers: Vec<JoinHandle<()>>,
    server: Option<JoinHandle<()>>,
    stop_tx: watch::Sender<bool>,
    registry: Registry,
    /// Present when the stack counts the functions' AWS calls.
    calls: Option<call_count::CallCounts>,
    /// Every SQS event source of the template, enabled or not.
    event_sources: Vec<sqs_poller::Poller>,
    _work_dir: WorkDir,
    // Last field: kills whatever is left when the stack is dropped, even mid-start.
    _kill_guard: KillOnDrop,
}

impl LocalStack {
    /// Starts the emulators, creates the template's resources, starts one instance of
    /// every function (waiting for its init; more instances start on demand), the HTTP
    /// API and the SQS pollers.
    pub async fn start(opts: StackOptions) -> Result<LocalStack> {
        let (template, parameters) = load_template(&opts)?;
        let tools = EmulatorTools::find(&opts.tools_dir)?;
        let pds_tools = if opts.bluesky_pds {
            Some(pds::PdsTools::find(&opts.tools_dir)?)
        } else {
            None
        };

        // The emulators' working directory: DynamoDB Local writes a metadata file into it.
        let work_dir = WorkDir::create()?;
        let registry = Registry::default();
        let kill_guard = KillOnDrop(registry.clone());
        let (stop_tx, stop_rx) = watch::channel(false);

        let (emulators, pds) = match &pds_tools {
            None => (Emulators::start(&tools, &work_dir, &registry).await?, None),
            Some(pds_tools) => {
                let (emulators, pds) = tokio::try_join!(
                    Emulators::start(&tools, &work_dir, &registry),
                    Pds::start(pds_tools, &work_dir, &registry),
                )?;
                (emulators, Some(pds))
            }
        };
        let mut emulator_processes = emulators.processes.clone();
        let pds = pds.map(|(pds, child)| {
            emulator_processes.push(child);
            pds
        });
        // The functions link Bluesky accounts on the local PDS only.
        let mut parameters = parameters;
        if let Some(pds) = &pds {
            if parameters.contains_key(BLUESKY_SERVICES)
                && !opts.parameter_overrides.contains_key(BLUESKY_SERVICES)
            {
                parameters.insert(BLUESKY_SERVICES.to_owned(), pds.url().to_owned());
            }
        }
        let resolver =
            create_resources(&emulators, &template, parameters, &opts.secret_values).await?;
        let calls = opts.count_aws_calls.then(call_count::CallCounts::default);
        let functions = start_functions(
            &opts,
            &template,
            &resolver,
            &emulators,
            &registry,
            calls.as_ref(),
            &stop_rx,
        )
        .await?;
        let (api_url, server) = serve_http_api(&template, &functions, &stop_rx).await?;
        let (pollers, event_sources) = start_pollers(
            &template,
            &resolver,
            &functions,
            &emulators.sqs,
            opts.poller_concurrency,
            &stop_rx,
        )?;

        Ok(LocalStack {
            api_url,
            dynamodb_endpoint: emulators.dynamodb_endpoint,
            moto_endpoint: emulators.moto_endpoint,
            tables: resolver
                .tables
                .iter()
                .map(|(k, (name, _))| (k.clone(), name.clone()))
                .collect(),
            queues: template
                .queues
                .iter()
                .filter_map(|q| {
                    resolver
                        .queues
                        .get(&q.logical_id)
                        .map(|i| (q.logical_id.clone(), i.url.clone()))
                })
                .collect(),
            secrets: resolver.secrets.clone(),
            kms_keys: resolver.kms_keys.clone(),
            pds,
            functions,
            emulators: emulator_processes,
            pollers,
            server: Some(server),
            stop_tx,
            registry,
            calls,
            event_sources,
            _work_dir: work_dir,
            _kill_guard: kill_guard,
        })
    }

    /// `http://127.0.0.1:PORT` of the local HTTP API.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    pub fn dynamodb_endpoint(&self) -> &str {
        &self.dynamodb_endpoint
    }

    pub fn moto_endpoint(&self) -> &str {
        &self.moto_endpoint
    }

    /// Bluesky's reference server, when [`StackOptions::bluesky_pds`] started it.
    pub fn pds(&self) -> Option<&Pds> {
        self.pds.as_ref()
    }

    /// Local name of a table of the template (its logical id).
    pub fn table_name(&self, logical_id: &str) -> Option<&str> {
        self.tables.get(logical_id).map(String::as_str)
    }

    pub fn queue_url(&self, logical_id: &str) -> Option<&str> {
        self.queues
            .iter()
            .find(|(id, _)| id == logical_id)
            .map(|(_, u)| u.as_str())
    }

    /// Every queue as (logical id, URL), dead-letter queues first.
    pub fn queues(&self) -> Vec<(String, String)> {
        self.queues.clone()
    }

    /// ARN of a secret of the template (what `!Ref` gives the functions).
    pub fn secret_arn(&self, logical_id: &str) -> Option<&str> {
        self.secrets.get(logical_id).map(String::as_str)
    }

    /// Key id of a KMS key of the template (what `!Ref` gives the functions).
    pub fn kms_key_id(&self, logical_id: &str) -> Option<&str> {
        self.kms_keys.get(logical_id).map(|k| k.key_id.as_str())
    }

    /// ARN of a KMS key of the template (`!GetAtt Key.Arn`).
    pub fn kms_key_arn(&self, logical_id: &str) -> Option<&str> {
        self.kms_keys.get(logical_id).map(|k| k.arn.as_str())
    }

    /// Stores a new current value of a secret of the template (PutSecretValue on moto).
    ///
    /// Functions read secrets at cold start: a running function keeps the old value until
    /// [`LocalStack::restart_function`] (or [`LocalStack::restart_functions`]).
    pub async fn put_secret_value(&self, logical_id: &str, value: &str) -> Result<()> {
        let arn = self
            .secret_arn(logical_id)
            .ok_or_else(|| anyhow!("no secret {logical_id} in the template"))?;
        aws_sdk_secretsmanager::Client::new(&self.sdk_config())
            .put_secret_value()
            .secret_id(arn)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "PutSecretValue {logical_id} on moto: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(())
    }

    /// Lets the invocations in flight finish (holding back new ones meanwhile), then ends
    /// every instance of the function and starts one fresh instance, waiting for its init
    /// (a cold start: it reads its secrets again). Further instances start on demand.
    pub async fn restart_function(&self, function_logical_id: &str) -> Result<()> {
        let f = self
            .functions
            .get(function_logical_id)
            .ok_or_else(|| anyhow!("no function {function_logical_id} in the template"))?;
        Ok(f.restart().await?)
    }

    /// [`LocalStack::restart_function`] for every function, all at once.
    pub async fn restart_functions(&self) -> Result<()> {
        futures::future::try_join_all(self.functions.values().map(|f| f.restart())).await?;
        Ok(())
    }

    /// The AWS calls each function made since the stack started or the last
    /// [`LocalStack::reset_aws_calls`], counted by the proxies
    /// ([`StackOptions::count_aws_calls`]); empty when the stack does not count.
    pub fn aws_calls(&self) -> BTreeMap<call_count::AwsCall, u64> {
        self.calls
            .as_ref()
            .map(call_count::CallCounts::snapshot)
            .unwrap_or_default()
    }

    /// Forgets the calls counted so far.
    pub fn reset_aws_calls(&self) {
        if let Some(calls) = &self.calls {
            calls.reset();
        }
    }

    /// Logical ids of the functions.
    pub fn functions(&self) -> Vec<String> {
        self.functions.keys().cloned().collect()
    }

    /// Dummy credentials, region us-east-1, DynamoDB to DynamoDB Local and every other
    /// service to moto.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        make_sdk_config(&self.dynamodb_endpoint, &self.moto_endpoint)
    }

    /// Captured stdout and stderr lines of every instance of the function so far.
    pub fn function_logs(&self, function_logical_id: &str) -> Vec<String> {
        self.functions
            .get(function_logical_id)
            .map(|f| f.logs())
            .unwrap_or_default()
    }

    /// Invokes a function directly, as `aws lambda invoke` would.
    pub async fn invoke(
        &self,
        function_logical_id: &str,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let f = self
            .functions
            .get(function_logical_id)
            .ok_or_else(|| anyhow!("no function {function_logical_id} in the template"))?;
        Ok(f.invoke(payload).await?)
    }

    /// The whole environment a function's instances start with.
    pub fn function_environment(
        &self,
        function_logical_id: &str,
    ) -> Option<BTreeMap<String, String>> {
        self.functions
            .get(function_logical_id)
            .map(|f| f.environment().clone())
    }

    /// The function's live instances (pid, and how long each took to init).
    pub fn instances(&self, function_logical_id: &str) -> Vec<InstanceStats> {
        self.functions
            .get(function_logical_id)
            .map(|f| f.instances())
            .unwrap_or_default()
    }

    /// Adds a function the template does not declare (a benchmark's baseline): the
    /// program runs against its own runtime API, with the stack's endpoints and
    /// credentials and then `env`, like a template function; one instance is started.
    pub async fn add_function(
        &mut self,
        logical_id: &str,
        program: PathBuf,
        env: BTreeMap<String, String>,
    ) -> Result<()> {
        let spec = FunctionSpec {
            logical_id: logical_id.to_owned(),
            binary: String::new(),
            timeout_s: 30,
            memory_mb: 128,
            reserved_concurrency: None,
            environment: BTreeMap::new(),
            routes: Vec::new(),
            sqs_events: Vec::new(),
        };
        let endpoints = (self.dynamodb_endpoint.clone(), self.moto_endpoint.clone());
        let mut full = function_env(&spec, &Resolver::default(), &endpoints, &env)?;
        full.extend(env);
        let host = FunctionHost::new(
            FunctionConfig {
                logical_id: logical_id.to_owned(),
                binary: program,
                timeout: Duration::from_secs(30),
                env: full,
                echo_logs: false,
                max_instances: 1,
            },
            self.registry.clone(),
            self.stop_tx.subscribe(),
        );
        host.ensure_started().await?;
        self.functions.insert(logical_id.to_owned(), Arc::new(host));
        Ok(())
    }

    /// Works one batch of the function's SQS event source by hand, as Lambda's poller
    /// would: gathers `n` (at most 10) messages from its queue, waiting up to `within`,
    /// invokes the function once with them, and deletes those it reports done. Meant
    /// for a source disabled in the template (`Enabled: false` through
    /// [`StackOptions::template_patches`]), so no poller of the stack takes its
    /// messages. Returns (messages in the batch, messages deleted); fewer than `n` in
    /// the batch when `within` ran out first.
    pub async fn invoke_batch(
        &self,
        function_logical_id: &str,
        n: usize,
        within: Duration,
    ) -> Result<(usize, usize)> {
        let source = self
            .event_sources
            .iter()
            .find(|p| p.function.name() == function_logical_id)
            .ok_or_else(|| anyhow!("{function_logical_id} has no SQS event source"))?;
        let deadline = tokio::time::Instant::now() + within;
        let mut messages = Vec::new();
        while messages.len() < n.min(10) && tokio::time::Instant::now() < deadline {
            let more = source
                .receive(n.min(10) - messages.len(), 1)
                .await
                .map_err(|e| anyhow!(e))?;
            messages.extend(more);
        }
        if messages.is_empty() {
            return Ok((0, 0));
        }
        let deleted = source
            .invoke_batch(&messages)
            .await
            .map_err(|e| anyhow!(e))?;
        Ok((messages.len(), deleted))
    }

    /// SIGKILLs every instance (process) of the function now and waits for them to exit;
    /// invocations in flight fail as crashed, and the next invocation cold-starts a new
    /// instance.
    pub async fn kill_function(&self, function_logical_id: &str) {
        if let Some(f) = self.functions.get(function_logical_id) {
            f.kill().await;
        }
    }

    /// (name, pid) of every child process running now: the emulators and every instance
    /// of every function (named by the function's logical id).
    pub fn child_pids(&self) -> Vec<(String, u32)> {
        self.registry.pids()
    }

    /// Ends every child process, poller and server, and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop_tx.send(true);
        for p in self.pollers.drain(..) {
            if tokio::time::timeout(Duration::from_secs(5), p)
                .await
                .is_err()
            {
                tracing::warn!("an SQS poller did not stop in time");
            }
        }
        for f in self.functions.values() {
            f.stop().await;
        }
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        for e in &self.emulators {
            e.kill().await;
        }
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        let _ = self.stop_tx.send(true);
        for p in &self.pollers {
            p.abort();
        }
        if let Some(s) = &self.server {
            s.abort();
        }
        self.registry.kill_all();
    }
}

// The phases of `LocalStack::start`, in the order it runs them.

/// Reads, patches and parses the template, and checks what the run is given against it:
/// the counts, the parameter overrides, the secret values and the functions' binaries.
/// Returns the template with its parameter values.
fn load_template(opts: &StackOptions) -> Result<(Template, BTreeMap<String, String>)> {
    if opts.max_instances == 0 {
        bail!("max_instances must be at least 1");
    }
    if opts.poller_concurrency == 0 {
        bail!("poller_concurrency must be at least 1");
    }
    let text = std::fs::read_to_string(&opts.template)
        .with_context(|| format!("cannot read {}", opts.template.display()))?;
    let text = patch_template(&text, &opts.template_patches)?;
    let template =
        Template::parse(&text).with_context(|| format!("in {}", opts.template.display()))?;
    let parameters = template.parameter_values(&opts.parameter_overrides)?;
    for id in opts.secret_values.keys() {
        if !template.secrets.iter().any(|s| &s.logical_id == id) {
            bail!("secret value given for {id}, which is not an AWS::SecretsManager::Secret of the template");
        }
    }
    for f in &template.functions {
        let bin = opts.bin_dir.join(&f.binary);
        if !bin.is_file() {
            bail!(
                "binary of {} not found at {}; run cargo build --workspace",
                f.logical_id,
                bin.display()
            );
        }
    }
    Ok((template, parameters))
}

/// Creates the tables on DynamoDB Local, then the queues, KMS keys, aliases and secrets
/// on moto, each kind after the ones it may refer to. Returns what the template's
/// references now resolve to.
async fn create_resources(
    emulators: &Emulators,
    template: &Template,
    parameters: BTreeMap<String, String>,
    secret_values: &BTreeMap<String, String>,
) -> Result<Resolver> {
    let mut resolver = Resolver {
        parameters,
        resource_types: template.resource_types.clone(),
        ..Default::default()
    };
    for t in &template.tables {
        let arn = resources::create_table(&emulators.dynamodb, t).await?;
        resolver
            .tables
            .insert(t.logical_id.clone(), (t.logical_id.clone(), arn));
    }
    for q in &template.queues {
        resources::create_queue(&emulators.sqs, q, &mut resolver).await?;
    }
    let kms_client = aws_sdk_kms::Client::new(&emulators.sdk);
    for k in &template.kms_keys {
        resources::create_kms_key(&kms_client, k, &mut resolver).await?;
    }
    for a in &template.kms_aliases {
        resources::create_kms_alias(&kms_client, a, &mut resolver).await?;
    }
    let secrets_client = aws_sdk_secretsmanager::Client::new(&emulators.sdk);
    for s in &template.secrets {
        let value = resources::secret_value(s, secret_values, &resolver)?;
        resources::create_secret(&secrets_client, s, value, &mut resolver).await?;
    }
    Ok(resolver)
}

/// One runtime API host per function, with one instance started (its init done); more
/// instances start on demand.
async fn start_functions(
    opts: &StackOptions,
    template: &Template,
    resolver: &Resolver,
    emulators: &Emulators,
    registry: &Registry,
    calls: Option<&call_count::CallCounts>,
    stop_rx: &watch::Receiver<bool>,
) -> Result<BTreeMap<String, Arc<FunctionHost>>> {
    let mut functions = BTreeMap::new();
    for f in &template.functions {
        let endpoints = match calls {
            Some(counts) => {
                let proxy = |upstream: String| async move {
                    call_count::start_proxy(&f.logical_id, &upstream, counts, stop_rx).await
                };
                (
                    proxy(emulators.dynamodb_endpoint.clone()).await?,
                    proxy(emulators.moto_endpoint.clone()).await?,
                )
            }
            None => (
                emulators.dynamodb_endpoint.clone(),
                emulators.moto_endpoint.clone(),
            ),
        };
        let host = FunctionHost::new(
            FunctionConfig {
                logical_id: f.logical_id.clone(),
                binary: opts.bin_dir.join(&f.binary),
                timeout: Duration::from_secs(f.timeout_s),
                env: function_env(f, resolver, &endpoints, &opts.env_overrides)?,
                echo_logs: opts.echo_logs,
                max_instances: match f.reserved_instances(resolver)? {
                    Some(r) => opts.max_instances.min(r.max(1)),
                    None => opts.max_instances,
                },
            },
            registry.clone(),
            stop_rx.clone(),
        );
        functions.insert(f.logical_id.clone(), Arc::new(host));
    }
    futures::future::try_join_all(functions.values().map(|h| h.ensure_started())).await?;
    Ok(functions)
}

/// A function's environment: the template's, resolved; then what Lambda sets and the
/// endpoints (DynamoDB, everything else) and credentials; then the run's overrides.
fn function_env(
    f: &FunctionSpec,
    resolver: &Resolver,
    (dynamodb, moto): &(String, String),
    overrides: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let mut env = resolver.environment(f)?;
    let infra = [
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.clone()),
        ("AWS_ENDPOINT_URL", moto.clone()),
        ("AWS_ACCESS_KEY_ID", DUMMY_KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET.to_string()),
        ("AWS_REGION", REGION.to_string()),
        ("AWS_DEFAULT_REGION", REGION.to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", f.logical_id.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", f.logical_id),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("local/[$LATEST]{}", uuid::Uuid::now_v7().simple()),
        ),
    ];
    for (k, v) in infra {
        env.insert(k.to_string(), v);
    }
    env.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}

/// The local HTTP API on a free loopback port, routing the template's `HttpApi` events
/// to their functions until the stack stops. Returns its URL and its task.
async fn serve_http_api(
    template: &Template,
    functions: &BTreeMap<String, Arc<FunctionHost>>,
    stop_rx: &watch::Receiver<bool>,
) -> Result<(String, JoinHandle<()>)> {
    let mut routes = Vec::new();
    for f in &template.functions {
        for r in &f.routes {
            routes.push(Route::new(r, &f.logical_id));
        }
    }
    let state = Arc::new(http_api::HttpApiState {
        routes: RouteTable::new(routes),
        functions: functions.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot bind the local HTTP API")?;
    let api_url = format!("http://{}", listener.local_addr()?);
    let app = http_api::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = server_stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "local HTTP API stopped");
        }
    });
    Ok((api_url, server))
}

/// `concurrency` receive/invoke/delete loops for every enabled SQS event source.
fn start_pollers(
    template: &Template,
    resolver: &Resolver,
    functions: &BTreeMap<String, Arc<FunctionHost>>,
    sqs: &aws_sdk_sqs::Client,
    concurrency: usize,
    stop_rx: &watch::Receiver<bool>,
) -> Result<(Vec<JoinHandle<()>>, Vec<sqs_poller::Poller>)> {
    let mut pollers = Vec::new();
    let mut sources = Vec::new();
    for f in &template.functions {
        for ev in &f.sqs_events {
            let q = resolver
                .queues
                .get(&ev.queue)
                .ok_or_else(|| anyhow!("{}: queue {} was not created", f.logical_id, ev.queue))?;
            let poller = sqs_poller::Poller {
                client: sqs.clone(),
                spec: ev.clone(),
                queue_url: q.url.clone(),
                queue_arn: q.arn.clone(),
                function: functions[&f.logical_id].clone(),
            };
            if ev.enabled {
                for n in 1..=concurrency {
                    pollers.push(tokio::spawn(poller.clone().run(n, stop_rx.clone())));
                }
            }
            sources.push(poller);
        }
    }
    Ok((pollers, sources))
}

/// Applies `(dotted path, YAML value)` changes to a template's text. Every step of a
/// path but the last must exist: a patch never invents a resource.
fn patch_template(text: &str, patches: &[(String, String)]) -> Result<String> {
    if patches.is_empty() {
        return Ok(text.to_owned());
    }
    let mut doc: serde_yaml::Value = serde_yaml::from_str(text).context("template is not YAML")?;
    for (path, value) in patches {
        let value: serde_yaml::Value = serde_yaml::from_str(value)
            .with_context(|| format!("patch value for {path} is not YAML"))?;
        let steps: Vec<&str> = path.split('.').collect();
        let (last, parents) = steps
            .split_last()
            .ok_or_else(|| anyhow!("empty patch path"))?;
        let mut node = &mut doc;
        for step in parents {
            node = node
                .get_mut(*step)
                .ok_or_else(|| anyhow!("patch path {path}: `{step}` is not in the template"))?;
        }
        let map = node
            .as_mapping_mut()
            .ok_or_else(|| anyhow!("patch path {path}: the parent is not a mapping"))?;
        map.insert(serde_yaml::Value::String((*last).to_owned()), value);
    }
    serde_yaml::to_string(&doc).context("patched template")
}

#[cfg(test)]
mod patch_tests {
    use super::*;

    #[test]
    fn patches_change_existing_paths_and_refuse_invented_ones() {
        let text = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 360\n      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt D.Arn\n";
        let out = patch_template(
            text,
            &[(
                "Resources.Q.Properties.VisibilityTimeout".into(),
                "20".into(),
            )],
        )
        .unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(
            v["Resources"]["Q"]["Properties"]["VisibilityTimeout"],
            serde_yaml::Value::from(20)
        );
        assert!(out.contains("!GetAtt"), "tags survive: {out}");
        assert!(
            patch_template(text, &[("Resources.Nope.Properties.X".into(), "1".into())]).is_err()
        );
    }
}
