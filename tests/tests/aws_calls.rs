//! The AWS calls each step of the hot path makes, counted by the local stack's
//! counting proxies (every call a function makes to DynamoDB, SQS, KMS or Secrets
//! Manager passes through one): per accepted post, per single-part delivery, per
//! 3-part thread and per 10-record batch. The X worker's event source is disabled, so
//! the test hands it exactly the batch it measures.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_cli::sandbox::{DEMO_FACEBOOK_PAGE, DEMO_X_ACCOUNT};
use crosspost_cli::{Sandbox, SandboxOptions};
use crosspost_core::{DeliveryStatus, PostId};
use crosspost_local::call_count::AwsCall;
use crosspost_tests::{accepted, post};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const X_WORKER: &str = "PublishXFunction";
const WEBHOOK: &str = "WebhookFunction";

/// The calls `function` made since the last reset, by `service.Operation`.
fn calls_of(sb: &Sandbox, function: &str) -> BTreeMap<String, u64> {
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

fn total(calls: &BTreeMap<String, u64>, service: &str) -> u64 {
    calls
        .iter()
        .filter(|(op, _)| service.is_empty() || op.starts_with(&format!("{service}.")))
        .map(|(_, n)| n)
        .sum()
}

fn x_post(text: &str) -> serde_json::Value {
    let mut body = post(text);
    body["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    body
}

/// Works `n` deliveries of the X queue in one invocation, and checks they published.
async fn x_batch(sb: &Sandbox, ids: &[PostId]) {
    let (received, deleted) = sb
        .stack
        .invoke_batch(X_WORKER, ids.len(), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!((received, deleted), (ids.len(), ids.len()));
    for id in ids {
        let ds = sb.posts.deliveries(id).await.unwrap();
        let x = ds.iter().find(|d| d.network.as_str() == "x").unwrap();
        assert_eq!(x.status, DeliveryStatus::Published, "{x:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hot_path_makes_few_aws_calls() {
    let mut options = SandboxOptions::from_env();
    options.count_aws_calls = true;
    options.template_patches = vec![(
        "Resources.PublishXFunction.Properties.Events.Deliveries.Properties.Enabled".into(),
        "false".into(),
    )];
    let sb = Sandbox::start(options).await.unwrap();
    let mut report = Vec::new();

    // One post to one network, then its single-part delivery.
    sb.stack.reset_aws_calls();
    let one = accepted(&sb, &x_post("早安，今天也要加油！")).await;
    let per_post_1 = calls_of(&sb, WEBHOOK);
    sb.stack.reset_aws_calls();
    x_batch(&sb, std::slice::from_ref(&one)).await;
    let per_delivery = calls_of(&sb, X_WORKER);

    // One post to two networks (the Facebook delivery is worked by its own poller).
    sb.stack.reset_aws_calls();
    let mut body = post("晚安");
    body["targets"] = json!([
        {"network": "x", "account_id": DEMO_X_ACCOUNT},
        {"network": "facebook", "account_id": DEMO_FACEBOOK_PAGE},
    ]);
    let two = accepted(&sb, &body).await;
    let per_post_2 = calls_of(&sb, WEBHOOK);
    x_batch(&sb, &[two]).await;

    // A three-part thread.
    let thread_text = ["第一部分。", "第二部分。", "第三部分。"]
        .iter()
        .map(|p| p.repeat(25))
        .collect::<Vec<_>>()
        .join("\n\n");
    let thread = accepted(&sb, &x_post(&thread_text)).await;
    sb.stack.reset_aws_calls();
    x_batch(&sb, &[thread]).await;
    let per_thread = calls_of(&sb, X_WORKER);

    // Ten single-part deliveries in one invocation.
    let mut ten = Vec::new();
    for i in 0..10 {
        ten.push(accepted(&sb, &x_post(&format!("第{i}条：批量发布。"))).await);
    }
    sb.stack.reset_aws_calls();
    x_batch(&sb, &ten).await;
    let per_batch = calls_of(&sb, X_WORKER);

    for (what, calls) in [
        ("accepted post, 1 network (webhook)", &per_post_1),
        ("accepted post, 2 networks (webhook)", &per_post_2),
        ("single-part delivery (publish-x)", &per_delivery),
        ("3-part thread (publish-x)", &per_thread),
        ("10-record batch (publish-x)", &per_batch),
    ] {
        let line = format!("{what}: {} calls {calls:?}", total(calls, ""));
        println!("aws calls: {line}");
        report.push(line);
    }
    assert!(
        total(&per_post_1, "") > 0,
        "the proxies counted: {report:?}"
    );
    sb.stop().await;
}
