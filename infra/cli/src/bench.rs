//! `crosspost bench`: start-up, memory and AWS calls of every function, measured side by
//! side in one run on the local stack, against a hello-world `lambda_runtime` function
//! (the floor) and a Python/boto3 function doing the webhook's start-up work (what a
//! user might write instead). Rounds are interleaved, so a busy machine slows every
//! function alike and the ratios hold where the absolute times do not.
//!
//! Measured per round and function: init (spawn to the first `/next`, as the runtime
//! API host sees it), the first invocation's latency, CPU time (user + system, from
//! `/proc/<pid>/stat`) at init and after the first invocation, and peak RSS
//! (`VmHWM`). Then peak RSS on a 10-record batch of each worker, and the AWS calls of
//! each hot-path step, counted by the local stack's proxies.

use crate::{Sandbox, SandboxOptions, DEMO_USER};
use anyhow::{anyhow, bail, Context, Result};
use crosspost_local::call_count::AwsCall;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub mod cost;
pub mod package;
pub mod throughput;

/// The template's functions, in the table's order.
pub const FUNCTIONS: [&str; 6] = [
    "WebhookFunction",
    "PublishXFunction",
    "PublishFacebookFunction",
    "PublishBlueskyFunction",
    "ConnectFunction",
    "NotifyFunction",
];
const HELLO: &str = "hello";
const PEER: &str = "python-boto3";

/// One function's figures over the rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub function: String,
    pub init_ms: Vec<f64>,
    pub first_invoke_ms: Vec<f64>,
    pub init_cpu_ms: Vec<f64>,
    pub cpu_ms: Vec<f64>,
    pub peak_rss_kib: Vec<u64>,
}

/// Everything `make bench` prints, also written to `bench.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub rounds: usize,
    pub functions: Vec<Figures>,
    /// Peak RSS (KiB) of a fresh worker instance after one 10-record batch.
    pub batch_peak_rss_kib: BTreeMap<String, u64>,
    /// AWS calls by step, then by `service.Operation`.
    pub aws_calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// Zipped size (bytes) of each arm64 bootstrap: from the package timing's build when
    /// it ran, else from what `make package` left under `.aws-sam/build`.
    pub zip_bytes: BTreeMap<String, u64>,
    /// `make package` against the per-function builds before it, when asked for.
    pub package: Option<package::PackageTiming>,
    /// Why the package timing asked for did not give figures (a build that failed);
    /// the other figures stand, and the bench exits non-zero after printing them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package_failure: Option<String>,
    /// Posts × every network through the whole local path, when asked for.
    pub throughput: Option<throughput::Throughput>,
    /// The hot path's times, which the cost estimate uses.
    pub hot_path_ms: HotPathTimes,
    /// What a million posts cost, to one network and to every network.
    pub cost: Vec<cost::CostEstimate>,
}

/// Clock ticks per second of `/proc/<pid>/stat`'s CPU fields (`getconf CLK_TCK`).
fn ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|t| t.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// CPU time of a process so far, in milliseconds: the sum of its live threads'
/// `se.sum_exec_runtime` (`/proc/<pid>/task/*/sched`, milliseconds to the nanosecond),
/// else `/proc/<pid>/stat`'s user + system ticks (10 ms steps, too coarse for a small
/// init).
fn cpu_ms(pid: u32) -> Result<f64> {
    let mut total = 0.0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let sched = std::fs::read_to_string(task.path().join("sched")).unwrap_or_default();
            total += sched
                .lines()
                .find_map(|l| l.strip_prefix("se.sum_exec_runtime"))
                .and_then(|v| v.trim_start_matches([' ', ':']).trim().parse::<f64>().ok())
                .unwrap_or(0.0);
        }
    }
    if total > 0.0 {
        return Ok(total);
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may hold spaces: fields count from the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow!("unreadable /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let ticks: f64 = fields
        .get(11..13)
        .ok_or_else(|| anyhow!("short /proc/{pid}/stat"))?
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum();
    Ok(ticks * 1000.0 / ticks_per_second())
}

/// Peak resident set size of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmHWM for pid {pid}"))
}

/// One SQS record asking a worker for a delivery that does not exist: a claim, then
/// nothing (the worker's lightest real call).
fn unknown_delivery(network: &str) -> Value {
    let body = json!({
        "op": "publish",
        "post_id": uuid::Uuid::now_v7().to_string(),
        "network": network,
        "account_id": "bench",
    });
    json!({"Records": [{
        "messageId": uuid::Uuid::now_v7().to_string(),
        "receiptHandle": "bench",
        "body": body.to_string(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench",
        "awsRegion": "us-east-1"
    }]})
}

/// The first invocation of a fresh instance: a light request of the function's own.
async fn first_invoke(sb: &Sandbox, function: &str) -> Result<()> {
    match function {
        "WebhookFunction" => {
            let id = uuid::Uuid::now_v7();
            let a = sb.call("GET", &format!("/v1/posts/{id}"), None).await?;
            if a.status != 404 {
                bail!("webhook answered {} to an unknown post", a.status);
            }
        }
        "ConnectFunction" => {
            let url = format!(
                "{}/v1/oauth/x/callback?state=bench&code=x",
                sb.stack.api_url()
            );
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?;
            let status = client.get(url).send().await?.status();
            if status.is_server_error() {
                bail!("connect answered {status}");
            }
        }
        "PublishXFunction" => {
            sb.stack.invoke(function, unknown_delivery("x")).await?;
        }
        "PublishFacebookFunction" => {
            sb.stack
                .invoke(function, unknown_delivery("facebook"))
                .await?;
        }
        "PublishBlueskyFunction" => {
            sb.stack
                .invoke(function, unknown_delivery("bluesky"))
                .await?;
        }
        "NotifyFunction" => {
            sb.stack.invoke(function, json!({"Records": []})).await?;
        }
        _ => {
            sb.stack.invoke(function, json!({})).await?;
        }
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Init, first invocation, CPU and RSS of every function over `rounds` interleaved
/// cold starts.
async fn cold_starts(sb: &Sandbox, names: &[String], rounds: usize) -> Result<Vec<Figures>> {
    let mut figures: Vec<Figures> = names
        .iter()
        .map(|n| Figures {
            function: n.clone(),
            init_ms: Vec::new(),
            first_invoke_ms: Vec::new(),
            init_cpu_ms: Vec::new(),
            cpu_ms: Vec::new(),
            peak_rss_kib: Vec::new(),
        })
        .collect();
    for round in 1..=rounds {
        for f in figures.iter_mut() {
            sb.stack.restart_function(&f.function).await?;
            let instance = sb
                .stack
                .instances(&f.function)
                .pop()
                .ok_or_else(|| anyhow!("{} has no instance", f.function))?;
            let init = instance
                .init
                .ok_or_else(|| anyhow!("{} reported no init", f.function))?;
            let init_cpu = cpu_ms(instance.pid)?;
            let started = Instant::now();
            first_invoke(sb, &f.function)
                .await
                .with_context(|| format!("first invocation of {}", f.function))?;
            let first = started.elapsed();
            f.init_ms.push(ms(init));
            f.first_invoke_ms.push(ms(first));
            f.init_cpu_ms.push(init_cpu);
            f.cpu_ms.push(cpu_ms(instance.pid)?);
            f.peak_rss_kib.push(peak_rss_kib(instance.pid)?);
        }
        eprintln!("bench: round {round}/{rounds} done");
    }
    Ok(figures)
}

/// A post body to X only.
fn x_post(text: &str) -> Value {
    json!({
        "user_id": DEMO_USER,
        "id": uuid::Uuid::now_v7().to_string(),
        "text": text,
        "targets": [{"network": "x", "account_id": crate::sandbox::DEMO_X_ACCOUNT}],
    })
}

async fn accept(sb: &Sandbox, body: &Value) -> Result<()> {
    let a = sb
        .call("POST", "/v1/posts", Some(body.to_string().as_bytes()))
        .await?;
    if a.status != 202 {
        bail!("POST /v1/posts answered {}: {}", a.status, a.body);
    }
    Ok(())
}

/// The calls `function` made since the last reset, by `service.Operation`.
pub fn calls_of(sb: &Sandbox, function: &str) -> BTreeMap<String, u64> {
    sb.stack
        .aws_calls()
        .into_iter()
        .filter(|(call, _)| call.function == function)
        .map(
            |(
                AwsCall {
                    service, operation, ..
                },
                n,
            )| (format!("{service}.{operation}"), n),
        )
        .collect()
}

/// Times (ms) taken on the hot path, one at a time on a quiet stack.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct HotPathTimes {
    /// `POST /v1/posts` for a post to two networks, the webhook warm.
    pub accept_ms: f64,
    /// The invocation of a single-part delivery's batch of one.
    pub delivery_ms: f64,
}

/// The hot path's AWS calls, peak RSS on a 10-record batch, and the times of an
/// accepted post and a single-part delivery, on a stack whose X worker is driven by
/// hand.
pub async fn hot_path(
    sb: &Sandbox,
) -> Result<(
    BTreeMap<String, BTreeMap<String, u64>>,
    BTreeMap<String, u64>,
    HotPathTimes,
)> {
    let x = "PublishXFunction";
    let mut calls = BTreeMap::new();
    let batch = |n| sb.stack.invoke_batch(x, n, Duration::from_secs(30));

    sb.stack.reset_aws_calls();
    accept(sb, &x_post("早安，今天也要加油！")).await?;
    calls.insert(
        "accepted post, 1 network".into(),
        calls_of(sb, "WebhookFunction"),
    );
    sb.stack.reset_aws_calls();
    let started = Instant::now();
    batch(1).await?;
    let mut times = HotPathTimes {
        delivery_ms: ms(started.elapsed()),
        ..HotPathTimes::default()
    };
    calls.insert("single-part delivery".into(), calls_of(sb, x));

    let mut both = x_post("晚安");
    both["targets"] = json!([
        {"network": "x", "account_id": crate::sandbox::DEMO_X_ACCOUNT},
        {"network": "facebook", "account_id": crate::sandbox::DEMO_FACEBOOK_PAGE},
    ]);
    sb.stack.reset_aws_calls();
    let started = Instant::now();
    accept(sb, &both).await?;
    times.accept_ms = ms(started.elapsed());
    calls.insert(
        "accepted post, 2 networks".into(),
        calls_of(sb, "WebhookFunction"),
    );
    batch(1).await?;

    let thread: String = ["第一部分。", "第二部分。", "第三部分。"]
        .iter()
        .map(|p| p.repeat(25))
        .collect::<Vec<_>>()
        .join("\n\n");
    accept(sb, &x_post(&thread)).await?;
    sb.stack.reset_aws_calls();
    batch(1).await?;
    calls.insert("3-part thread".into(), calls_of(sb, x));

    for i in 0..10 {
        accept(sb, &x_post(&format!("第{i}条：批量发布。"))).await?;
    }
    sb.stack.restart_function(x).await?;
    sb.stack.reset_aws_calls();
    let (received, _) = batch(10).await?;
    if received != 10 {
        bail!("the 10-record batch held {received} records");
    }
    calls.insert("10-record batch".into(), calls_of(sb, x));
    let mut rss = BTreeMap::new();
    if let Some(instance) = sb.stack.instances(x).pop() {
        rss.insert(x.to_owned(), peak_rss_kib(instance.pid)?);
    }
    Ok((calls, rss, times))
}

/// Zipped size (deflate at zlib's default level, as `sam deploy` zips) of every
/// bootstrap in a SAM build folder (`<build>/<LogicalId>/bootstrap`), by logical id.
fn zip_sizes(build: &Path) -> BTreeMap<String, u64> {
    let mut sizes = BTreeMap::new();
    let Ok(dirs) = std::fs::read_dir(build) else {
        return sizes;
    };
    for dir in dirs.flatten() {
        let bootstrap = dir.path().join("bootstrap");
        if !bootstrap.is_file() {
            continue;
        }
        let zipped = std::env::temp_dir().join(format!(
            "crosspost-bench-{}.zip",
            dir.file_name().to_string_lossy()
        ));
        let made = std::process::Command::new("python3")
            .args(["-c", "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED) as z: z.write(sys.argv[1], 'bootstrap')"])
            .arg(&bootstrap)
            .arg(&zipped)
            .status()
            .is_ok_and(|s| s.success());
        if let (true, Ok(meta)) = (made, std::fs::metadata(&zipped)) {
            sizes.insert(dir.file_name().to_string_lossy().into_owned(), meta.len());
        }
        let _ = std::fs::remove_file(&zipped);
    }
    sizes
}

/// min, median, max.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

/// The functions log at the template's default level (`LogLevel: info`), as deployed,
/// not at the local stack's `debug`: formatting debug lines is work a deployed function
/// does not do (a sixth of the webhook's start-up instructions, by callgrind).
fn deployed_logging(mut options: SandboxOptions) -> SandboxOptions {
    options
        .parameter_overrides
        .insert("LogLevel".into(), "info".into());
    options
}

/// Runs the whole bench: `rounds` interleaved cold starts, the hot path, then
/// `throughput_posts` posts to every network (none when 0), the cost estimate, and
/// with `package_scratch` the two cold package builds in that folder.
pub async fn run(
    repo: &Path,
    rounds: usize,
    examples_dir: &Path,
    throughput_posts: usize,
    package_scratch: Option<&Path>,
) -> Result<Report> {
    let prices = cost::Prices::load(repo)?;
    // Start-up: the template's functions, the floor and the peer, all on one stack.
    let mut sb = Sandbox::start(deployed_logging(SandboxOptions::from_env())).await?;
    let hello = examples_dir.join("hello-lambda");
    if !hello.is_file() {
        bail!(
            "{} is missing (cargo build --release --examples)",
            hello.display()
        );
    }
    sb.stack.add_function(HELLO, hello, BTreeMap::new()).await?;
    let mut peer_env = sb
        .stack
        .function_environment("WebhookFunction")
        .ok_or_else(|| anyhow!("no webhook function"))?;
    peer_env.retain(|k, _| !k.starts_with("AWS_LAMBDA_"));
    sb.stack
        .add_function(PEER, repo.join("infra/bench/peer.py"), peer_env)
        .await
        .context("starting the Python/boto3 peer (is boto3 in the tools venv on PATH?)")?;
    let mut names: Vec<String> = vec![HELLO.to_owned()];
    names.extend(FUNCTIONS.iter().map(|f| f.to_string()));
    names.push(PEER.to_owned());
    let functions = cold_starts(&sb, &names, rounds).await;
    sb.shutdown().await;
    let functions = functions?;

    // The hot path, on a stack that counts calls and leaves the X queue to us.
    let mut options = deployed_logging(SandboxOptions::from_env());
    options.count_aws_calls = true;
    options.template_patches = vec![(
        "Resources.PublishXFunction.Properties.Events.Deliveries.Properties.Enabled".into(),
        "false".into(),
    )];
    let sb = Sandbox::start(options).await?;
    let hot = hot_path(&sb).await;
    sb.shutdown().await;
    let (aws_calls, batch_peak_rss_kib, times) = hot?;

    // Throughput: every network, the PDS included, every worker on its own poller.
    let throughput = if throughput_posts > 0 {
        let mut options = deployed_logging(SandboxOptions::from_env());
        options.bluesky = true;
        let sb = Sandbox::start(options).await?;
        let timeout = Duration::from_secs(120 + throughput_posts as u64);
        let t = throughput::run(&sb, throughput_posts, timeout).await;
        sb.shutdown().await;
        Some(t?)
    } else {
        None
    };

    let template = crosspost_local::template::Template::parse(
        &std::fs::read_to_string(repo.join("template.yaml")).context("reading template.yaml")?,
    )?;
    let memory = |id: &str| {
        template
            .functions
            .iter()
            .find(|f| f.logical_id == id)
            .map(|f| f.memory_mb)
            .ok_or_else(|| anyhow!("template.yaml has no {id}"))
    };
    let step = |name: &str| aws_calls.get(name).cloned().unwrap_or_default();
    let measured = cost::Measured {
        accept_one: step("accepted post, 1 network"),
        accept_two: step("accepted post, 2 networks"),
        delivery: step("single-part delivery"),
        webhook_ms: times.accept_ms,
        delivery_ms: times.delivery_ms,
        webhook_mb: memory("WebhookFunction")?,
        worker_mb: memory("PublishXFunction")?,
        notify_mb: memory("NotifyFunction")?,
    };
    let networks = throughput.as_ref().map_or(3, |t| t.networks.len());
    let cost = vec![
        cost::estimate(&measured, &prices, 1)?,
        cost::estimate(&measured, &prices, networks)?,
    ];

    // Last: the builds would slow everything measured above.
    // A failed build costs the timing only, not the figures measured above.
    let (package, package_failure) =
        match package_scratch.map(|s| package::run(repo, s, &FUNCTIONS)) {
            None => (None, None),
            Some(Ok(timing)) => (Some(timing), None),
            // Shown once in the table printed right after, and in the exit's error.
            Some(Err(e)) => (None, Some(format!("{e:#}"))),
        };
    let zip_bytes = match &package {
        Some(p) => p.zip_bytes.clone(),
        None => zip_sizes(&repo.join(".aws-sam/build")),
    };

    Ok(Report {
        rounds,
        functions,
        batch_peak_rss_kib,
        aws_calls,
        zip_bytes,
        package,
        package_failure,
        throughput,
        hot_path_ms: times,
        cost,
    })
}

/// The report as the table `make bench` prints.
pub fn render(report: &Report) -> String {
    let floor = report.functions.iter().find(|f| f.function == HELLO);
    let peer = report.functions.iter().find(|f| f.function == PEER);
    let median = |v: &[f64]| spread(v).1;
    let mut out = format!(
        "Start-up, {} interleaved cold starts each (min / median / max; ratios of medians; the floor ratios are of CPU, the peer's of init time)\n",
        report.rounds
    );
    out.push_str(&format!(
        "{:<24} {:>22} {:>22} {:>22} {:>22} {:>11} {:>10} {:>9} {:>10}\n",
        "function",
        "init ms",
        "first invoke ms",
        "CPU init ms",
        "CPU init+1st ms",
        "max RSS MiB",
        "init/floor",
        "CPU/floor",
        "peer/init"
    ));
    for f in &report.functions {
        let (i0, i1, i2) = spread(&f.init_ms);
        let (v0, v1, v2) = spread(&f.first_invoke_ms);
        let (n0, n1, n2) = spread(&f.init_cpu_ms);
        let (c0, c1, c2) = spread(&f.cpu_ms);
        let rss = f.peak_rss_kib.iter().max().copied().unwrap_or(0) as f64 / 1024.0;
        let init_vs_floor = floor.map_or(0.0, |h| {
            median(&f.init_cpu_ms) / median(&h.init_cpu_ms).max(0.1)
        });
        let vs_floor = floor.map_or(0.0, |h| median(&f.cpu_ms) / median(&h.cpu_ms).max(0.1));
        let peer_ratio = peer.map_or(0.0, |p| median(&p.init_ms) / median(&f.init_ms).max(0.001));
        out.push_str(&format!(
            "{:<24} {:>6.1} /{:>6.1} /{:>6.1} {:>6.1} /{:>6.1} /{:>6.1} {:>6.1} /{:>6.1} /{:>6.1} {:>6.1} /{:>6.1} /{:>6.1} {:>11.1} {:>9.1}x {:>8.1}x {:>9.1}x\n",
            f.function, i0, i1, i2, v0, v1, v2, n0, n1, n2, c0, c1, c2, rss, init_vs_floor, vs_floor, peer_ratio
        ));
    }
    out.push_str("\nPeak RSS on a 10-record batch\n");
    for (f, kib) in &report.batch_peak_rss_kib {
        out.push_str(&format!("{f:<24} {:>6.1} MiB\n", *kib as f64 / 1024.0));
    }
    out.push_str("\nAWS calls (counted by the local stack's proxies)\n");
    for (step, calls) in &report.aws_calls {
        let total: u64 = calls.values().sum();
        let ops: Vec<String> = calls.iter().map(|(op, n)| format!("{op} x{n}")).collect();
        out.push_str(&format!("{step:<28} {total:>3}  {}\n", ops.join(", ")));
    }
    if let Some(p) = &report.package {
        out.push_str(&format!(
            "\nmake package, cold, same machine and run: {:.0} s; one cargo-lambda run per function (before): {:.0} s; ratio {:.2}\n",
            p.one_build_seconds,
            p.per_function_seconds,
            p.one_build_seconds / p.per_function_seconds.max(0.001)
        ));
    }
    if let Some(failed) = &report.package_failure {
        out.push_str(&format!("\nmake package: the timing failed: {failed}\n"));
    }
    out.push_str("\nZipped arm64 bootstraps (make package)\n");
    if report.zip_bytes.is_empty() {
        out.push_str(match report.package_failure {
            Some(_) => "none: the package timing failed (above)\n",
            None => "none built: run `make package` first, or bench with BENCH_PACKAGE=1\n",
        });
    }
    for (f, bytes) in &report.zip_bytes {
        out.push_str(&format!("{f:<24} {:>6.2} MB\n", *bytes as f64 / 1e6));
    }
    if let Some(t) = &report.throughput {
        out.push_str(&format!(
            "\nThroughput: {} posts, each to {} ({} deliveries, {} published), {} requests in flight\n\
             accepted in {:.1} s; every delivery ended {:.1} s after the first post: {:.1} deliveries/s\n\
             POST /v1/posts answer: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms\n",
            t.posts,
            t.networks.join(", "),
            t.deliveries,
            t.published,
            throughput::IN_FLIGHT,
            t.accept_seconds,
            t.settle_seconds,
            t.deliveries_per_second,
            t.webhook_p50_ms,
            t.webhook_p99_ms,
            t.webhook_max_ms
        ));
    }
    for e in &report.cost {
        out.push('\n');
        out.push_str(&cost::render(e));
    }
    out
}

/// Checks that the figures can be written to `path` once measured: not a folder, in a
/// folder that exists, writable. An existing file is left as it is; one this check
/// makes is removed again.
///
/// Errors name the path and what is wrong with it.
pub fn check_json_path(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("--json {}: is a folder, not a file", path.display());
    }
    // A link counts as there even when what it points to is not: it is not removed.
    let existed = path.symlink_metadata().is_ok();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("--json {}: cannot be written", path.display()))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Where the release build's examples are, beside the functions' binaries.
pub fn examples_dir(bin_dir: &Path) -> PathBuf {
    bin_dir.join("examples")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("crosspost-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_json_path_that_cannot_be_written_is_refused_before_measuring() {
        let dir = scratch("json");
        let folder = check_json_path(&dir).unwrap_err().to_string();
        assert!(folder.contains("is a folder"), "{folder}");
        let missing = check_json_path(&dir.join("no-such-folder/b.json")).unwrap_err();
        assert!(
            missing.to_string().contains("cannot be written"),
            "{missing}"
        );

        // A new file is not left behind; an existing one keeps its figures.
        let new = dir.join("new.json");
        check_json_path(&new).unwrap();
        assert!(!new.exists());
        let old = dir.join("old.json");
        std::fs::write(&old, "{\"rounds\":15}").unwrap();
        check_json_path(&old).unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "{\"rounds\":15}");
        // A link to a file not made yet stays a link.
        let link = dir.join("link.json");
        std::os::unix::fs::symlink(dir.join("target.json"), &link).unwrap();
        check_json_path(&link).unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_package_timing_is_shown_with_its_reason() {
        let report = Report {
            rounds: 1,
            functions: Vec::new(),
            batch_peak_rss_kib: BTreeMap::new(),
            aws_calls: BTreeMap::new(),
            zip_bytes: BTreeMap::new(),
            package: None,
            package_failure: Some("sam build failed (exit status: 1)".into()),
            throughput: None,
            hot_path_ms: HotPathTimes::default(),
            cost: Vec::new(),
        };
        let table = render(&report);
        assert!(
            table.contains("make package: the timing failed: sam build failed"),
            "{table}"
        );
        // Not the hint for a run that never asked for the timing.
        assert!(!table.contains("BENCH_PACKAGE=1"), "{table}");
        assert!(table.contains("none: the package timing failed"), "{table}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["package_failure"], "sam build failed (exit status: 1)");
    }
}
