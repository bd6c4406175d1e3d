//! What the end-to-end tests in `tests/tests/` share: bringing the local stack up
//! through `crosspost_cli::Sandbox` (the same way `make demo` does) and reading what
//! the AWS side holds afterwards.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_aws::aws_sdk_sqs::types::QueueAttributeName;
use crosspost_cli::{Sandbox, SandboxOptions, DEMO_USER};
use serde_json::{json, Value};

pub async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions::from_env())
        .await
        .expect("the local stack starts (run `make test`, which installs the tools)")
}

/// Messages on each queue of the stack (visible + in flight + delayed), by logical id.
pub async fn messages_left(sb: &Sandbox) -> Vec<(String, u64)> {
    let sqs = crosspost_aws::aws_sdk_sqs::Client::new(&sb.stack.sdk_config());
    let mut counts = Vec::new();
    for (name, url) in sb.stack.queues() {
        let out = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .expect("GetQueueAttributes");
        let attrs = out.attributes().cloned().unwrap_or_default();
        let total: u64 = [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ]
        .iter()
        .map(|k| {
            attrs
                .get(k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
        counts.push((name, total));
    }
    counts
}

/// Asserts every queue, dead-letter queues included, is empty, or becomes so within
/// 30 s: an event queued with a delivery's last write is still on its way to `notify`
/// for a moment after the delivery reads as ended. A message that stays (on a DLQ, or
/// never deleted) fails.
pub async fn assert_queues_empty(sb: &Sandbox) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left: Vec<(String, u64)> = messages_left(sb)
            .await
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .collect();
        if left.is_empty() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            let (queue, count) = &left[0];
            panic!("{queue} still holds {count} message(s) after 30 s: {left:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Every item in AccountsTable.
pub async fn accounts_table_items(
    sb: &Sandbox,
) -> Vec<std::collections::HashMap<String, crosspost_aws::aws_sdk_dynamodb::types::AttributeValue>>
{
    let ddb = crosspost_aws::aws_sdk_dynamodb::Client::new(&sb.stack.sdk_config());
    ddb.scan()
        .table_name(sb.stack.table_name("AccountsTable").expect("AccountsTable"))
        .send()
        .await
        .expect("Scan")
        .items
        .unwrap_or_default()
}

/// Every item in PostsTable, as (pk, sk), but the webhook ids claimed by accepted
/// request-signed calls (`WEBHOOK#…` items without a post): the sandbox's own linking
/// makes some, and a refused call never does.
pub async fn posts_table_keys(sb: &Sandbox) -> Vec<(String, String)> {
    let ddb = crosspost_aws::aws_sdk_dynamodb::Client::new(&sb.stack.sdk_config());
    let out = ddb
        .scan()
        .table_name(sb.stack.table_name("PostsTable").expect("PostsTable"))
        .send()
        .await
        .expect("Scan");
    let s = |v: Option<&crosspost_aws::aws_sdk_dynamodb::types::AttributeValue>| {
        v.and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
    };
    let mut keys: Vec<_> = out
        .items()
        .iter()
        .filter(|i| !s(i.get("pk")).starts_with("WEBHOOK#") || i.contains_key("post_id"))
        .map(|i| (s(i.get("pk")), s(i.get("sk"))))
        .collect();
    keys.sort();
    keys
}

/// A post body for the demo user with a fresh source id.
pub fn post(text: &str) -> Value {
    json!({
        "id": format!("src-{}", uuid::Uuid::now_v7().simple()),
        "user_id": DEMO_USER,
        "text": text,
    })
}

/// Waits until `check` gives a value (polling every 100 ms), or panics naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Submits a post and returns its id, asserting it was accepted.
pub async fn accepted(sb: &Sandbox, body: &Value) -> crosspost_core::PostId {
    let a = sb.submit(body).await.expect("the webhook answers");
    assert_eq!(a.status, 202, "{}", a.body);
    crosspost_core::PostId::parse(a.body["post_id"].as_str().expect("post_id")).expect("uuid")
}

/// `DELETE /v1/posts/{id}`, asserting 202, then waits (up to `timeout`) until every
/// delivery of the post is DELETED.
pub async fn delete_and_confirm(
    sb: &Sandbox,
    id: &crosspost_core::PostId,
    timeout: std::time::Duration,
) {
    let a = sb
        .call("DELETE", &format!("/v1/posts/{id}"), None)
        .await
        .expect("the webhook answers");
    assert_eq!(a.status, 202, "{}", a.body);
    wait_for("the delete to be confirmed", timeout, || async {
        let ds = sb.posts.deliveries(id).await.expect("deliveries read");
        ds.iter()
            .all(|d| d.status == crosspost_core::DeliveryStatus::Deleted)
            .then_some(())
    })
    .await;
}

/// The first value of parameter `name` in a request's decoded parameters.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Sandbox options with a worker's time compressed, for tests that kill it mid-thread:
/// a lease of 8 s (the function's timeout), its queue's messages back after 10 s, and
/// the HTTP timeout long enough that a stalled call is still waiting when it is killed.
pub fn compressed_lease(function_logical_id: &str, queue_logical_id: &str) -> SandboxOptions {
    let mut options = SandboxOptions::from_env();
    options.template_patches = vec![
        (
            format!("Resources.{function_logical_id}.Properties.Timeout"),
            "8".into(),
        ),
        (
            format!("Resources.{queue_logical_id}.Properties.VisibilityTimeout"),
            "10".into(),
        ),
    ];
    options
        .env_overrides
        .insert("HTTP_TIMEOUT_MS".into(), "60000".into());
    options
}

/// Links `account` of the local PDS to `user_id` with `service` as its PDS's address (a
/// fault proxy in front of the PDS): a session made through `service`, stored as the
/// connect function stores it (without its allow-list, which names the PDS itself).
pub async fn link_bluesky_via(
    sb: &Sandbox,
    user_id: &str,
    service: &str,
    account: &crosspost_local::PdsAccount,
) {
    use crosspost_core::{AccountStatus, LinkedAccount, Network, Secret};
    let session = crosspost_networks::bluesky::BlueskyRefresher::new(reqwest::Client::new())
        .create_session(
            service,
            &account.handle,
            &Secret::new(account.app_password.clone()),
        )
        .await
        .unwrap();
    let tokens = session.tokens();
    let now = time::OffsetDateTime::now_utc();
    let linked = LinkedAccount {
        user_id: user_id.into(),
        network: Network::Bluesky,
        account_id: account.did.clone(),
        display_name: format!("@{}", account.handle),
        status: AccountStatus::Active,
        access_token: tokens.access_token,
        rate_limited_until: None,
        refresh_token: tokens.refresh_token,
        access_expires_at: Some(now.unix_timestamp() + 7000),
        token_version: 0,
    };
    sb.accounts.link(&linked, now).await.unwrap();
}

/// Every `app.bsky.feed.post` record of `did` on the PDS at `service`, oldest first
/// (`com.atproto.repo.listRecords`, page by page).
pub async fn list_bluesky_posts(service: &str, did: &str) -> Vec<Value> {
    let http = reqwest::Client::new();
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![
            ("repo", did.to_owned()),
            ("collection", "app.bsky.feed.post".to_owned()),
            ("limit", "100".to_owned()),
        ];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let page: Value = http
            .get(format!("{service}/xrpc/com.atproto.repo.listRecords"))
            .query(&query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let got = page["records"].as_array().cloned().unwrap_or_default();
        let done = got.is_empty();
        records.extend(got);
        cursor = page["cursor"].as_str().map(str::to_owned);
        if done || cursor.is_none() {
            break;
        }
    }
    records.reverse();
    records
}

/// The local stack with Bluesky's PDS running and the demo user's Bluesky account
/// linked on it.
pub async fn bluesky_sandbox() -> Sandbox {
    bluesky_sandbox_with(SandboxOptions::from_env()).await
}

/// [`bluesky_sandbox`] with `options` (the PDS switched on).
pub async fn bluesky_sandbox_with(mut options: SandboxOptions) -> Sandbox {
    options.bluesky = true;
    Sandbox::start(options)
        .await
        .expect("the local stack starts with the PDS (run `make tools` to install it)")
}

/// Records a post exactly as intake's transaction does (the post, one PENDING delivery
/// per key, the source guard and the stored answer), without the webhook and without
/// queueing anything: for tests that start from a state a request left behind.
/// `body` is a `POST /v1/posts` body (its media hosts may be local), `answer` the
/// stored 202 body, and `enqueue_lease_until` when the queueing's lease runs out.
///
/// Panics (a test helper) when the body is not a valid post or the write fails.
pub async fn record_as_intake(
    sb: &Sandbox,
    id: &crosspost_core::PostId,
    body: &Value,
    keys: &[crosspost_aws::DeliveryKey],
    answer: &str,
    enqueue_lease_until: time::OffsetDateTime,
) {
    use crosspost_aws::{IntakeRecord, NewPost, StoredAnswer};
    let content =
        crosspost_core::ValidatedPost::parse(body, crosspost_core::MediaHosts::AllowLocal)
            .expect("a valid post body");
    sb.posts
        .create_post(
            &NewPost {
                post_id: id.clone(),
                content: content.clone(),
                received_at: time::OffsetDateTime::now_utc(),
            },
            keys,
            &IntakeRecord {
                body_hash: content.content_hash(),
                answer: StoredAnswer {
                    post_id: id.clone(),
                    status: 202,
                    body: answer.to_owned(),
                },
                webhook_id: None,
                request_hash: None,
                enqueue_lease_until,
            },
        )
        .await
        .expect("the post is recorded");
}

/// `DELETE /v1/users/{user}/accounts/{network}/{account_id}`, signed: its answer.
pub async fn unlink(
    sb: &Sandbox,
    user: &str,
    network: &str,
    account_id: &str,
) -> crosspost_cli::client::Answer {
    sb.call(
        "DELETE",
        &format!("/v1/users/{user}/accounts/{network}/{account_id}"),
        None,
    )
    .await
    .expect("the DELETE is answered")
}
