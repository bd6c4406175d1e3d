//! The AWS calls each step of the hot path makes, counted by the local stack's
//! counting proxies (every call a function makes to DynamoDB, SQS, KMS or Secrets
//! Manager passes through one), as `make bench` reports them: per accepted post, per
//! single-part delivery, per 3-part thread and per 10-record batch. The X worker's
//! event source is disabled, so the batches are exactly the ones measured.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_cli::{Sandbox, SandboxOptions};
use std::collections::BTreeMap;

fn count(calls: &BTreeMap<String, u64>, op: &str) -> u64 {
    calls.get(op).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hot_path_reads_limits_once_and_sends_events_in_one_batch() {
    let mut options = SandboxOptions::from_env();
    options.count_aws_calls = true;
    options.template_patches = vec![(
        "Resources.PublishXFunction.Properties.Events.Deliveries.Properties.Enabled".into(),
        "false".into(),
    )];
    let sb = Sandbox::start(options).await.unwrap();
    let (calls, _) = crosspost_cli::bench::hot_path(&sb).await.unwrap();
    for (step, ops) in &calls {
        println!("aws calls: {step}: {ops:?}");
    }
    let step = |name: &str| calls.get(name).cloned().unwrap_or_default();
    // An accepted post: one read of the user's accounts, one transaction (the webhook
    // id and source id checked by its conditions), one SQS call per network.
    for (name, networks) in [
        ("accepted post, 1 network", 1),
        ("accepted post, 2 networks", 2),
    ] {
        let post = step(name);
        assert_eq!(count(&post, "sqs.SendMessageBatch"), networks, "{post:?}");
        assert_eq!(post.values().sum::<u64>(), 2 + networks, "{name}: {post:?}");
    }
    // A thread reads its post and account once, and the app-wide limit at most once,
    // not before every part.
    let thread = step("3-part thread");
    assert!(count(&thread, "dynamodb.GetItem") <= 3, "{thread:?}");
    assert_eq!(
        count(&thread, "dynamodb.TransactWriteItems"),
        3,
        "one per part"
    );
    // Ten deliveries' events leave in one SendMessageBatch, not ten SendMessage.
    let batch = step("10-record batch");
    assert_eq!(count(&batch, "sqs.SendMessageBatch"), 1, "{batch:?}");
    assert_eq!(count(&batch, "sqs.SendMessage"), 0, "{batch:?}");
    sb.shutdown().await;
}
