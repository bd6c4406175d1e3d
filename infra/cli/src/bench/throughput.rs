//! Throughput: many posts, each to every linked network, through the local stack's
//! webhook → SQS → workers → networks path with no faults injected, as a source app
//! with a few requests in flight would send them.
//!
//! Measured: each `POST /v1/posts` answer time (p50, p99, max), and deliveries per
//! second from the first post sent to the last delivery ended, the end taken from the
//! deliveries' own `updated_at` (so the polling interval does not count).

use crate::{Sandbox, DEMO_USER};
use anyhow::{anyhow, bail, Result};
use crosspost_core::post::PostId;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Requests in flight to the webhook at once.
pub const IN_FLIGHT: usize = 8;

/// What one throughput run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub posts: usize,
    /// The networks every post went to.
    pub networks: Vec<String>,
    pub deliveries: usize,
    pub published: usize,
    /// Seconds from the first post sent to the last one accepted.
    pub accept_seconds: f64,
    /// Seconds from the first post sent to the last delivery ended.
    pub settle_seconds: f64,
    pub deliveries_per_second: f64,
    /// `POST /v1/posts` answer times in milliseconds: p50, p99, max.
    pub webhook_p50_ms: f64,
    pub webhook_p99_ms: f64,
    pub webhook_max_ms: f64,
}

/// The value at quantile `q` (0..=1) of `sorted` (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sends `posts` posts to every network the sandbox linked and waits (at most
/// `timeout`) until every delivery has ended. Errors when a post is not accepted or
/// a delivery has not ended in time.
pub async fn run(sb: &Sandbox, posts: usize, timeout: Duration) -> Result<Throughput> {
    let mut networks = vec!["x", "facebook"];
    if sb.bluesky.is_some() {
        networks.push("bluesky");
    }
    let targets: Vec<Value> = networks.iter().map(|n| json!({"network": n})).collect();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let answers: Vec<Result<(PostId, f64)>> = futures::stream::iter(0..posts)
        .map(|i| {
            let body = json!({
                "user_id": DEMO_USER,
                "id": format!("bench-{run}-{i}"),
                // Every text differs, so no network refuses one as a duplicate.
                "text": format!("吞吐测试 {run} 第{i}条：早安，今天也要加油！"),
                "targets": targets,
            });
            async move {
                let sent = Instant::now();
                let a = sb.submit(&body).await?;
                let ms = sent.elapsed().as_secs_f64() * 1000.0;
                if a.status != 202 {
                    bail!("POST /v1/posts answered {}: {}", a.status, a.body);
                }
                let id = a.body["post_id"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no post_id in {}", a.body))?;
                let id =
                    PostId::parse(id).ok_or_else(|| anyhow!("post_id {id} is not a post id"))?;
                Ok((id, ms))
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let accept_seconds = started.elapsed().as_secs_f64();
    let mut ids = Vec::with_capacity(posts);
    let mut latencies = Vec::with_capacity(posts);
    for a in answers {
        let (id, ms) = a?;
        ids.push(id);
        latencies.push(ms);
    }
    latencies.sort_by(f64::total_cmp);

    // Wait on the events the source app receives (one per ended delivery), then read
    // every delivery once.
    let expected = posts * networks.len();
    let deadline = Instant::now() + timeout;
    while ended_events(sb) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut deliveries = Vec::with_capacity(expected);
    for id in &ids {
        deliveries.extend(sb.posts.deliveries(id).await?);
    }
    let open = deliveries
        .iter()
        .filter(|d| !d.status.is_terminal())
        .count();
    if deliveries.len() != expected || open > 0 {
        bail!(
            "after {timeout:?}: {} deliveries of {expected} expected, {open} not ended",
            deliveries.len()
        );
    }
    let last = deliveries
        .iter()
        .map(|d| d.updated_at)
        .max()
        .unwrap_or(started_at);
    let settle_seconds = ((last - started_at).as_seconds_f64()).max(0.001);
    Ok(Throughput {
        posts,
        networks: networks.iter().map(|n| n.to_string()).collect(),
        deliveries: deliveries.len(),
        published: deliveries
            .iter()
            .filter(|d| d.status == crosspost_core::delivery::DeliveryStatus::Published)
            .count(),
        accept_seconds,
        settle_seconds,
        deliveries_per_second: deliveries.len() as f64 / settle_seconds,
        webhook_p50_ms: quantile(&latencies, 0.50),
        webhook_p99_ms: quantile(&latencies, 0.99),
        webhook_max_ms: latencies.last().copied().unwrap_or(0.0),
    })
}

/// Distinct deliveries the source app has heard the end of so far.
fn ended_events(sb: &Sandbox) -> usize {
    let mut seen = std::collections::HashSet::new();
    for r in sb.events.requests() {
        let Ok(event) = serde_json::from_str::<Value>(&r.body) else {
            continue;
        };
        if matches!(
            event["type"].as_str(),
            Some("delivery.published" | "delivery.failed")
        ) {
            let d = &event["data"];
            seen.insert(format!(
                "{}/{}/{}",
                d["post_id"], d["network"], d["account_id"]
            ));
        }
    }
    seen.len()
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
