//! Child processes: spawned so they cannot outlive us, output captured line by line.
// Killing and reaping child processes needs libc calls; nothing else here is unsafe.
#![allow(unsafe_code)]

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

/// Lines kept per log buffer; older lines are dropped first.
const MAX_LINES: usize = 100_000;

/// Captured output lines of one process (or of every instance of one function).
#[derive(Clone, Default)]
pub struct LogBuffer {
    lines: Arc<Mutex<Vec<String>>>,
}

impl LogBuffer {
    pub fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() >= MAX_LINES {
            lines.drain(..MAX_LINES / 10);
        }
        lines.push(line);
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The last `n` lines, joined, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let start = lines.len().saturating_sub(n);
        lines[start..].join("\n")
    }
}

/// Every child still running, by pid, so that dropping the stack can kill them
/// synchronously.
#[derive(Clone, Default)]
pub struct Registry {
    alive: Arc<Mutex<BTreeMap<u32, String>>>,
}

impl Registry {
    pub fn pids(&self) -> Vec<(String, u32)> {
        let alive = self.alive.lock().unwrap_or_else(|p| p.into_inner());
        alive
            .iter()
            .map(|(pid, name)| (name.clone(), *pid))
            .collect()
    }

    /// SIGKILL one child if it is still running (never a reaped pid).
    pub fn kill(&self, pid: u32) {
        let alive = self.alive.lock().unwrap_or_else(|p| p.into_inner());
        if alive.contains_key(&pid) {
            // SAFETY: plain syscall. The pid is our own child: it leaves the registry right
            // after it is reaped, so it cannot name an unrelated process (short of a pid
            // reuse within that instant).
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }

    pub fn kill_all(&self) {
        let alive = self.alive.lock().unwrap_or_else(|p| p.into_inner());
        for pid in alive.keys() {
            // SAFETY: as in `kill`.
            unsafe {
                libc::kill(*pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

/// Kills every registered child when dropped.
pub struct KillOnDrop(pub Registry);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill_all();
    }
}

/// A running (or exited) child.
#[derive(Clone)]
pub struct Child {
    pub pid: u32,
    /// `Some(description of the exit status)` once it has exited.
    pub exited: watch::Receiver<Option<String>>,
    registry: Registry,
}

impl Child {
    pub fn has_exited(&self) -> Option<String> {
        self.exited.borrow().clone()
    }

    /// Resolves once the child has exited (and been reaped).
    pub async fn wait(&self) -> String {
        let mut rx = self.exited.clone();
        let status = match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or_default(),
            Err(_) => "gone".to_string(),
        };
        status
    }

    /// SIGKILL and wait for the exit.
    pub async fn kill(&self) -> String {
        self.registry.kill(self.pid);
        self.wait().await
    }
}

pub struct SpawnSpec<'a> {
    pub name: &'a str,
    pub program: &'a Path,
    pub args: Vec<String>,
    /// Set after the parent's AWS_* variables have been removed.
    pub env: BTreeMap<String, String>,
    /// Working directory (default: ours).
    pub cwd: Option<&'a Path>,
    pub log: LogBuffer,
    /// Copy each line to stderr with a `[name]` prefix (`[name#n]` for instance `n` of a
    /// function).
    pub echo: bool,
    /// Which instance of a function this is, if it is one.
    pub instance: Option<usize>,
}

/// Spawns a child. Must be called from async context on a runtime thread (the death
/// signal below fires when the spawning thread ends).
pub fn spawn(spec: SpawnSpec<'_>, registry: &Registry) -> Result<Child> {
    let mut cmd = Command::new(spec.program);
    cmd.args(&spec.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Never let a local run reach real AWS with the caller's credentials or profile.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&k);
        }
    }
    cmd.envs(&spec.env);
    if let Some(dir) = spec.cwd {
        cmd.current_dir(dir);
    }
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe and touches only the child being set up.
    unsafe {
        cmd.pre_exec(|| {
            // Die with the parent, even when the parent is SIGKILLed.
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Hold the registry lock across spawn so a concurrent kill_all cannot miss it.
    let mut alive = registry.alive.lock().unwrap_or_else(|p| p.into_inner());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {} ({})", spec.name, spec.program.display()))?;
    let pid = child.id().context("spawned child has no pid")?;
    alive.insert(pid, spec.name.to_string());
    drop(alive);

    let (tx, rx) = watch::channel(None);
    let label = match spec.instance {
        Some(n) => format!("{}#{n}", spec.name),
        None => spec.name.to_string(),
    };
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(pump(
            out,
            label.clone(),
            spec.log.clone(),
            spec.echo,
        )));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(pump(
            err,
            label.clone(),
            spec.log.clone(),
            spec.echo,
        )));
    }
    let reg = registry.clone();
    let name = spec.name.to_string();
    tokio::spawn(async move {
        let status = child.wait().await;
        // The child is reaped now: its pid may be reused, so forget it at once.
        reg.alive
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&pid);
        // Let the output already written reach the log before announcing the exit.
        for r in readers {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), r).await;
        }
        let desc = match status {
            Ok(s) => s.to_string(),
            Err(e) => format!("wait failed: {e}"),
        };
        tracing::debug!(process = %name, pid, status = %desc, "child exited");
        let _ = tx.send(Some(desc));
    });
    Ok(Child {
        pid,
        exited: rx,
        registry: registry.clone(),
    })
}

async fn pump(stream: impl AsyncRead + Unpin, name: String, log: LogBuffer, echo: bool) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                if echo {
                    eprintln!("[{name}] {line}");
                }
                log.push(line);
            }
        }
    }
}

/// A free loopback port (bound then released).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(l.local_addr()?.port())
}
