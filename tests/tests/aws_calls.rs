//! The AWS calls each step of the hot path makes, counted by the local stack's
//! counting proxies (every call a function makes to DynamoDB, SQS, KMS or Secrets
//! Manager passes through one), as `make bench` reports them: per accepted post, per
//! single-part delivery, per 3-part thread and per 10-record batch. The X worker's
//! event source is disabled, so the batches are exactly the ones measured.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_aws::aws_sdk_dynamodb::types::AttributeValue;
use crosspost_cli::sandbox::DEMO_X_ACCOUNT;
use crosspost_cli::{Sandbox, SandboxOptions};
use crosspost_core::{keys, DeliveryStatus, Network};
use crosspost_tests::{accepted, post};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

fn count(calls: &BTreeMap<String, u64>, op: &str) -> u64 {
    calls.get(op).copied().unwrap_or(0)
}

fn dynamodb(calls: &BTreeMap<String, u64>) -> u64 {
    calls
        .iter()
        .filter(|(op, _)| op.starts_with("dynamodb."))
        .map(|(_, n)| n)
        .sum()
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
    let (calls, _, _) = crosspost_cli::bench::hot_path(&sb).await.unwrap();
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
    // A single-part delivery: the claim (which returns the content intake copied into
    // the delivery), the account and app-wide limit in one BatchGetItem, and the part
    // recorded with the conclusion in one transaction. Intake took the first-part
    // lease.
    let single = step("single-part delivery");
    assert_eq!(count(&single, "dynamodb.GetItem"), 0, "{single:?}");
    assert_eq!(count(&single, "dynamodb.PutItem"), 0, "{single:?}");
    assert_eq!(count(&single, "dynamodb.BatchGetItem"), 1, "{single:?}");
    assert_eq!(
        count(&single, "dynamodb.UpdateItem"),
        1,
        "the claim: {single:?}"
    );
    assert!(dynamodb(&single) <= 3, "{single:?}");
    // A thread concludes with its last part: one UpdateItem, the claim.
    assert_eq!(count(&thread, "dynamodb.UpdateItem"), 1, "{thread:?}");
    assert_eq!(count(&thread, "dynamodb.PutItem"), 0, "{thread:?}");
    // Ten deliveries' events leave in one SendMessageBatch, not ten SendMessage. Each
    // record reads its account (so it sees an unlink or a new token of a moment ago),
    // the app-wide limit with the first of them only, and the instance opens the
    // account's data key once.
    let batch = step("10-record batch");
    assert_eq!(count(&batch, "sqs.SendMessageBatch"), 1, "{batch:?}");
    assert_eq!(count(&batch, "sqs.SendMessage"), 0, "{batch:?}");
    let account_reads = count(&batch, "dynamodb.BatchGetItem") + count(&batch, "dynamodb.GetItem");
    assert_eq!(account_reads, 10, "{batch:?}");
    assert_eq!(count(&batch, "kms.Decrypt"), 1, "{batch:?}");
    assert!(batch.values().sum::<u64>() <= 35, "{batch:?}");

    // The same text again, while the first post's lease stands: the intake
    // transaction is written once more without that lease, and the delivery takes it
    // when it publishes (the first post is published, so it is taken over).
    let mut again = post("早安，今天也要加油！");
    again["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    sb.stack.reset_aws_calls();
    let again = accepted(&sb, &again).await;
    let webhook = crosspost_cli::bench::calls_of(&sb, "WebhookFunction");
    println!("aws calls: accepted post whose first-part lease is held: {webhook:?}");
    assert_eq!(
        count(&webhook, "dynamodb.TransactWriteItems"),
        2,
        "{webhook:?}"
    );
    sb.stack.reset_aws_calls();
    sb.stack
        .invoke_batch("PublishXFunction", 1, Duration::from_secs(30))
        .await
        .unwrap();
    let taken_over = crosspost_cli::bench::calls_of(&sb, "PublishXFunction");
    println!("aws calls: its delivery: {taken_over:?}");
    assert_eq!(count(&taken_over, "dynamodb.PutItem"), 2, "{taken_over:?}");
    // X refuses the same text twice: the second ends so, never holding the first's.
    let d = sb.posts.deliveries(&again).await.unwrap();
    assert_eq!(d[0].status, DeliveryStatus::Failed, "{d:?}");
    assert!(d[0].parts.is_empty(), "{d:?}");

    // A post whose message never reached the worker reserved the lease at intake and
    // sent nothing: a later post with the same text takes the lease over (dropping
    // the first's mark, in one transaction) instead of waiting for it.
    let text = "消息丢了，文字还在。";
    let mut unqueued = post(text);
    unqueued["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    let unqueued = accepted(&sb, &unqueued).await;
    let mut later = post(text);
    later["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    let later = accepted(&sb, &later).await;
    let sqs = crosspost_aws::aws_sdk_sqs::Client::new(&sb.stack.sdk_config());
    let queue = sb.stack.queue_url("XQueue").unwrap();
    let received = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert_eq!(received.messages().len(), 2, "{received:?}");
    for m in received.messages() {
        let receipt = m.receipt_handle().unwrap();
        if m.body().unwrap().contains(unqueued.as_str()) {
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(receipt)
                .send()
                .await
                .unwrap();
        } else {
            sqs.change_message_visibility()
                .queue_url(queue)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
    }
    sb.stack.reset_aws_calls();
    sb.stack
        .invoke_batch("PublishXFunction", 1, Duration::from_secs(30))
        .await
        .unwrap();
    let took_over = crosspost_cli::bench::calls_of(&sb, "PublishXFunction");
    println!("aws calls: taking over a lease only reserved: {took_over:?}");
    let d = sb.posts.deliveries(&later).await.unwrap();
    assert_eq!(d[0].status, DeliveryStatus::Published, "{d:?}");
    let first = sb.posts.deliveries(&unqueued).await.unwrap();
    assert_eq!(
        (first[0].status, first[0].first_part_taken.as_ref()),
        (DeliveryStatus::Pending, None),
        "{first:?}"
    );

    // A delivery written before intake copied the content into it (and took its
    // first-part lease) is still published: its post is read.
    let mut body = post("旧的投递也要发出去。");
    body["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    let id = accepted(&sb, &body).await;
    let ddb = crosspost_aws::aws_sdk_dynamodb::Client::new(&sb.stack.sdk_config());
    ddb.update_item()
        .table_name(sb.stack.table_name("PostsTable").unwrap())
        .key("pk", AttributeValue::S(keys::post_pk(&id)))
        .key(
            "sk",
            AttributeValue::S(keys::delivery_sk(Network::X, DEMO_X_ACCOUNT)),
        )
        .update_expression("REMOVE content, first_part_digest, first_part_expires_at")
        .condition_expression("attribute_exists(content)")
        .send()
        .await
        .expect("intake wrote the content into the delivery");
    sb.stack.reset_aws_calls();
    let (received, _) = sb
        .stack
        .invoke_batch("PublishXFunction", 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(received, 1);
    let old = crosspost_cli::bench::calls_of(&sb, "PublishXFunction");
    println!("aws calls: delivery without content: {old:?}");
    // The post and the account (with the app-wide limit when this instance's copy of
    // it is stale).
    let reads = count(&old, "dynamodb.GetItem") + count(&old, "dynamodb.BatchGetItem");
    assert_eq!(reads, 2, "{old:?}");
    let d = sb.posts.deliveries(&id).await.unwrap();
    assert_eq!(d[0].status, DeliveryStatus::Published, "{d:?}");
    let sent = sb.x.tweets();
    assert!(
        sent.iter().any(|p| p.text == "旧的投递也要发出去。"),
        "{sent:?}"
    );
    sb.shutdown().await;
}
