//! An estimate of what a million posts cost on AWS, from what `make bench` measured
//! (AWS calls by step, invocation times) and the public prices in
//! `infra/bench/prices.json`. The prices file names its sources, its date and every
//! assumption; the estimate is only as good as they are.

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// `infra/bench/prices.json`: USD, on-demand, one region.
#[derive(Debug, Clone, Deserialize)]
pub struct Prices {
    pub as_of: String,
    pub region: String,
    pub lambda_arm64_gb_second: f64,
    pub lambda_per_million_requests: f64,
    pub dynamodb_per_million_write_request_units: f64,
    pub dynamodb_per_million_read_request_units: f64,
    pub sqs_standard_per_million_requests: f64,
    pub kms_per_million_requests: f64,
    pub secrets_manager_per_million_calls: f64,
    pub http_api_per_million_requests: f64,
    pub assumptions: Assumptions,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Assumptions {
    /// Added to each delivery's measured worker time: the network's own answer time,
    /// which the local fakes do not have.
    pub network_wait_ms_per_delivery: f64,
}

impl Prices {
    pub fn load(repo: &Path) -> Result<Prices> {
        let path = repo.join("infra/bench/prices.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a price table", path.display()))
    }
}

/// What the estimate is built from, all measured by the bench.
#[derive(Debug, Clone)]
pub struct Measured {
    /// `service.Operation` → calls, for one post accepted to one network and to two.
    pub accept_one: BTreeMap<String, u64>,
    pub accept_two: BTreeMap<String, u64>,
    /// `service.Operation` → calls, for one single-part delivery in a batch of one.
    pub delivery: BTreeMap<String, u64>,
    /// One accepted post's `POST /v1/posts` answer time, ms, on a warm instance (an
    /// upper bound of the webhook's run).
    pub webhook_ms: f64,
    /// One single-part delivery's invocation, ms, on the local fakes.
    pub delivery_ms: f64,
    /// Memory (MB) of the webhook, a worker and the notifier, from the template.
    pub webhook_mb: u64,
    pub worker_mb: u64,
    pub notify_mb: u64,
}

/// One line of the estimate.
#[derive(Debug, Clone, Serialize)]
pub struct CostLine {
    pub item: String,
    /// Billed units per post (requests, request units or GB-seconds).
    pub units_per_post: f64,
    pub usd_per_million_posts: f64,
}

/// The estimate for a million posts, each to `networks` networks.
#[derive(Debug, Clone, Serialize)]
pub struct CostEstimate {
    pub networks: usize,
    pub prices_as_of: String,
    pub region: String,
    pub lines: Vec<CostLine>,
    pub usd_per_million_posts: f64,
}

/// Request units one call bills, items at most 1 KB written / 4 KB read;
/// `transaction_items` for a TransactWriteItems.
fn dynamodb_units(operation: &str, transaction_items: f64) -> (f64, f64) {
    match operation {
        "GetItem" | "Query" | "Scan" => (1.0, 0.0),
        "TransactGetItems" => (2.0 * transaction_items, 0.0),
        "PutItem" | "UpdateItem" | "DeleteItem" => (0.0, 1.0),
        "TransactWriteItems" => (0.0, 2.0 * transaction_items),
        "BatchWriteItem" => (0.0, transaction_items),
        "BatchGetItem" => (transaction_items, 0.0),
        _ => (0.0, 0.0),
    }
}

/// Calls per post to `n` networks at intake: one network's calls plus (n − 1) times
/// what a second network adds.
fn accepted_for(m: &Measured, n: usize) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let ops: std::collections::BTreeSet<&String> =
        m.accept_one.keys().chain(m.accept_two.keys()).collect();
    for op in ops {
        let one = *m.accept_one.get(op).unwrap_or(&0) as f64;
        let two = *m.accept_two.get(op).unwrap_or(&0) as f64;
        out.insert(op.clone(), one + (n as f64 - 1.0) * (two - one).max(0.0));
    }
    out
}

/// The estimate. Each post: one HTTP API request and one webhook invocation; each
/// delivery: one worker invocation (a batch of one, the dearest case), its measured
/// calls, one ReceiveMessage and one DeleteMessageBatch by the event source mapping,
/// and one notifier invocation for its event (with its own receive and delete).
pub fn estimate(m: &Measured, prices: &Prices, networks: usize) -> Result<CostEstimate> {
    if networks == 0 {
        return Err(anyhow!("a post goes to at least one network"));
    }
    let n = networks as f64;
    let gb = |mb: u64| mb as f64 / 1024.0;
    let worker_s = (m.delivery_ms + prices.assumptions.network_wait_ms_per_delivery) / 1000.0;
    // The notifier's run is taken as the delivery's own measured time: one signed POST.
    let gb_seconds = gb(m.webhook_mb) * m.webhook_ms / 1000.0
        + n * gb(m.worker_mb) * worker_s
        + n * gb(m.notify_mb) * m.delivery_ms / 1000.0;

    let deliveries: BTreeMap<String, f64> = m
        .delivery
        .iter()
        .map(|(op, c)| (op.clone(), n * *c as f64))
        .chain([
            // Event source mappings: the worker's and the notifier's queues.
            ("sqs.ReceiveMessage".to_owned(), 2.0 * n),
            ("sqs.DeleteMessageBatch".to_owned(), 2.0 * n),
        ])
        .collect();
    let (mut rru, mut wru, mut sqs, mut kms, mut secrets) = (0.0, 0.0, 0.0, 0.0, 0.0);
    // The intake transaction holds the post, its source-id guard, the webhook id and
    // one delivery per network; a worker's, a part and its REMOTE item.
    for (calls, transaction_items) in [(accepted_for(m, networks), 3.0 + n), (deliveries, 2.0)] {
        for (op, c) in &calls {
            let (service, operation) = op.split_once('.').unwrap_or((op.as_str(), ""));
            match service.to_ascii_lowercase().as_str() {
                "dynamodb" => {
                    let (r, w) = dynamodb_units(operation, transaction_items);
                    rru += r * c;
                    wru += w * c;
                }
                "sqs" => sqs += c,
                "kms" => kms += c,
                "secretsmanager" => secrets += c,
                _ => {}
            }
        }
    }

    // (item, billed units per post, USD per million units)
    let lines: Vec<CostLine> = [
        (
            "HTTP API requests",
            1.0,
            prices.http_api_per_million_requests,
        ),
        (
            "Lambda requests (webhook, workers, notifier)",
            1.0 + 2.0 * n,
            prices.lambda_per_million_requests,
        ),
        (
            "Lambda compute (arm64 GB-s)",
            gb_seconds,
            prices.lambda_arm64_gb_second * 1e6,
        ),
        (
            "DynamoDB read request units",
            rru,
            prices.dynamodb_per_million_read_request_units,
        ),
        (
            "DynamoDB write request units",
            wru,
            prices.dynamodb_per_million_write_request_units,
        ),
        (
            "SQS requests",
            sqs,
            prices.sqs_standard_per_million_requests,
        ),
        ("KMS requests", kms, prices.kms_per_million_requests),
        (
            "Secrets Manager calls",
            secrets,
            prices.secrets_manager_per_million_calls,
        ),
    ]
    .into_iter()
    .map(|(item, units, price)| CostLine {
        item: item.to_owned(),
        units_per_post: units,
        usd_per_million_posts: units * price,
    })
    .collect();
    let total = lines.iter().map(|l| l.usd_per_million_posts).sum();
    Ok(CostEstimate {
        networks,
        prices_as_of: prices.as_of.clone(),
        region: prices.region.clone(),
        lines,
        usd_per_million_posts: total,
    })
}

/// The estimate as `make bench` prints it.
pub fn render(e: &CostEstimate) -> String {
    let mut out = format!(
        "Cost per million posts, each to {} network{} (every delivery as the X worker's measured one), USD ({} on-demand prices as of {}, infra/bench/prices.json)\n",
        e.networks,
        if e.networks == 1 { "" } else { "s" },
        e.region,
        e.prices_as_of
    );
    for l in &e.lines {
        out.push_str(&format!(
            "{:<46} {:>10.4} per post {:>10.2}\n",
            l.item, l.units_per_post, l.usd_per_million_posts
        ));
    }
    out.push_str(&format!(
        "{:<66} {:>10.2}\n",
        "total", e.usd_per_million_posts
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> Prices {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        Prices::load(&repo).unwrap()
    }

    fn ops(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn measured() -> Measured {
        Measured {
            accept_one: ops(&[
                ("dynamodb.TransactWriteItems", 1),
                ("dynamodb.Query", 1),
                ("sqs.SendMessageBatch", 1),
            ]),
            accept_two: ops(&[
                ("dynamodb.TransactWriteItems", 1),
                ("dynamodb.Query", 1),
                ("sqs.SendMessageBatch", 2),
            ]),
            delivery: ops(&[
                ("dynamodb.UpdateItem", 2),
                ("dynamodb.TransactWriteItems", 1),
                ("dynamodb.GetItem", 1),
                ("sqs.SendMessageBatch", 1),
            ]),
            webhook_ms: 20.0,
            delivery_ms: 10.0,
            webhook_mb: 256,
            worker_mb: 256,
            notify_mb: 256,
        }
    }

    #[test]
    fn the_repo_price_table_loads_and_is_positive() {
        let p = prices();
        assert!(p.lambda_arm64_gb_second > 0.0 && p.dynamodb_per_million_write_request_units > 0.0);
    }

    #[test]
    fn units_follow_the_calls_and_the_networks() {
        let e = estimate(&measured(), &prices(), 3).unwrap();
        let units = |item: &str| {
            e.lines
                .iter()
                .find(|l| l.item.starts_with(item))
                .unwrap()
                .units_per_post
        };
        // Intake: one transaction of 3 + 3 items, 2 WRU each; deliveries: 2 writes
        // and a transaction of 2 items each.
        assert_eq!(units("DynamoDB write"), 12.0 + 3.0 * (2.0 + 4.0));
        assert_eq!(units("DynamoDB read"), 1.0 + 3.0);
        // Intake sends one batch per network; each delivery one event, and two event
        // source mappings receive and delete.
        assert_eq!(units("SQS"), 3.0 + 3.0 + 3.0 * 4.0);
        assert_eq!(units("Lambda requests"), 7.0);
        let sum: f64 = e.lines.iter().map(|l| l.usd_per_million_posts).sum();
        assert!((sum - e.usd_per_million_posts).abs() < 1e-9 && sum > 0.0);
        assert!(estimate(&measured(), &prices(), 0).is_err());
    }
}
