//! `crosspost`: the operator command.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use crosspost_cli::{table, Sandbox, SandboxOptions, DEMO_USER};
use crosspost_core::{DeliveryStatus, PostId};
use serde_json::json;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "crosspost", version, about = "Operate Crosspost and run it locally")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bring the local stack up, send three sample posts through it to the fake
    /// networks, print the delivery table, and bring it down. Exits 0 only if every
    /// delivery was published.
    Demo {
        /// How long to wait for the deliveries, in seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Bring the local stack up and keep it up until Ctrl-C.
    Dev,
}

/// The demo's posts: Latin text with a link, Chinese, and mixed text with emoji.
fn sample_posts(run: &str) -> Vec<serde_json::Value> {
    let texts = [
        "Crosspost says hello: one post, every network. https://example.com/hello",
        "今天在西湖边散步，秋天的阳光很温暖。晚上和朋友一起吃了火锅，聊到很晚。",
        "Weekend hike 🥾⛰️ 山顶的风景太美了！ #crosspost",
    ];
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json!({
                "id": format!("demo-{run}-{}", i + 1),
                "user_id": DEMO_USER,
                "text": text,
                "targets": [{"network": "x"}, {"network": "facebook"}],
            })
        })
        .collect()
}

async fn demo(sandbox: &Sandbox, timeout: Duration) -> Result<bool> {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut post_ids = Vec::new();
    for body in sample_posts(&run) {
        let (status, answer) = sandbox
            .submit(body.to_string().as_bytes(), "application/json")
            .await?;
        if status != 202 {
            bail!("the webhook answered {status}: {answer}");
        }
        let post_id = answer["post_id"]
            .as_str()
            .and_then(PostId::parse)
            .with_context(|| format!("no post_id in {answer}"))?;
        println!("accepted post {post_id}: {}", body["text"].as_str().unwrap_or(""));
        post_ids.push(post_id);
    }
    let mut rows = Vec::new();
    for id in &post_ids {
        rows.extend(sandbox.wait_until_settled(id, timeout).await?);
    }
    println!();
    print!("{}", table::render(&rows));
    let published = rows
        .iter()
        .filter(|d| d.status == DeliveryStatus::Published)
        .count();
    println!("\n{published} of {} deliveries PUBLISHED", rows.len());
    Ok(published == rows.len())
}

async fn dev(sandbox: &Sandbox) -> Result<()> {
    let body = json!({
        "id": "dev-1",
        "user_id": DEMO_USER,
        "text": "你好，Crosspost！",
        "targets": [{"network": "x"}, {"network": "facebook"}],
    });
    println!("Local stack is up. Webhook: {}", sandbox.posts_url());
    println!("Fake X: {}   Fake Facebook: {}", sandbox.x.base_url(), sandbox.facebook.base_url());
    println!("Try:\n  curl -sS -X POST {} -H 'content-type: application/json' -d '{}'", sandbox.posts_url(), body);
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    Ok(())
}

async fn run(cli: Cli) -> Result<bool> {
    let sandbox = Sandbox::start(SandboxOptions::from_env()).await?;
    // Whatever happens next, including Ctrl-C, the stack comes down before we exit.
    let outcome = tokio::select! {
        r = async {
            match cli.command {
                Command::Demo { timeout } => demo(&sandbox, Duration::from_secs(timeout)).await,
                Command::Dev => dev(&sandbox).await.map(|()| true),
            }
        } => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    sandbox.stop().await;
    outcome
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("crosspost: {e:#}");
            ExitCode::FAILURE
        }
    }
}
