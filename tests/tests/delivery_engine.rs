//! The delivery engine on the local stack (DESIGN sections 4 and 5): retries, rate
//! limits, lost answers, crashed workers, doubled messages, permanent errors, expiry
//! and revoked tokens, each against the fake networks' injected faults.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_aws::aws_sdk_dynamodb::types::AttributeValue;
use crosspost_cli::sandbox::DEMO_X_ACCOUNT;
use crosspost_cli::{Sandbox, DEMO_USER};
use crosspost_core::signing::{self, SignedHeaders, SigningSecret};
use crosspost_core::{keys, DeliveryMessage, DeliveryOp, DeliveryStatus, Network, PostId};
use crosspost_fakes::{Fault, FaultRule};
use crosspost_tests::{
    accepted, assert_queues_empty, compressed_lease, messages_left, post, sandbox, wait_for,
};
use serde_json::json;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

fn to_x(text: &str) -> serde_json::Value {
    let mut body = post(text);
    body["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    body
}

fn x_posts(sb: &Sandbox) -> Vec<crosspost_fakes::RecordedRequest> {
    sb.x.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/2/tweets")
        .collect()
}

async fn x_delivery(sb: &Sandbox, id: &PostId) -> crosspost_aws::DeliveryRecord {
    sb.posts
        .deliveries(id)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.network == Network::X)
        .expect("an X delivery")
}

async fn send_raw(sb: &Sandbox, queue: &str, body: &str) {
    let sqs = crosspost_aws::aws_sdk_sqs::Client::new(&sb.stack.sdk_config());
    sqs.send_message()
        .queue_url(sb.stack.queue_url(queue).unwrap())
        .message_body(body)
        .send()
        .await
        .unwrap();
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_then_success_publishes_once_after_two_attempts() {
    let sb = sandbox().await;
    sb.x.inject(FaultRule::new(Fault::ServerError(500)).on("POST", "/2/tweets"));
    let id = accepted(&sb, &to_x("第一次失败，第二次成功")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    assert_eq!(ds[0].attempts, 2);
    assert_eq!(sb.x.tweets().len(), 1);
    let statuses: Vec<u16> = x_posts(&sb).iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 201]);
    assert_queues_empty(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_account_waits_without_calling_x_while_another_account_publishes() {
    let sb = sandbox().await;
    let other_token = sb.link_x_account(DEMO_USER, "2002").await.unwrap();
    let reset = now_unix() + 60;
    sb.x.inject(FaultRule::new(Fault::rate_limited_until(reset)).on("POST", "/2/tweets"));
    let first = accepted(&sb, &to_x("被限流的第一条")).await;
    let d = wait_for("the 429 to be recorded", SETTLE, || async {
        let d = x_delivery(&sb, &first).await;
        (d.status == DeliveryStatus::Retrying).then_some(d)
    })
    .await;
    assert_eq!(d.last_error.as_ref().unwrap().kind, "rate_limited");
    let due = d.next_attempt_at.unwrap().unix_timestamp();
    assert!(
        (reset - 1..=reset + 2).contains(&due),
        "due {due}, reset {reset}"
    );
    let account = sb
        .accounts
        .get(DEMO_USER, Network::X, DEMO_X_ACCOUNT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.rate_limited_until, Some(reset));

    // The same account's next delivery waits without a call; another account goes on.
    let second = accepted(&sb, &to_x("同一账号的第二条")).await;
    let mut body = post("另一个账号");
    body["targets"] = json!([{"network": "x", "account_id": "2002"}]);
    let third = accepted(&sb, &body).await;
    let ds = sb.wait_until_settled(&third, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published);
    let second_d = wait_for("the second delivery to be held", SETTLE, || async {
        let d = x_delivery(&sb, &second).await;
        (d.status == DeliveryStatus::Retrying).then_some(d)
    })
    .await;
    assert_eq!(second_d.attempts, 0, "waiting is not an attempt");
    assert!(second_d.next_attempt_at.unwrap().unix_timestamp() >= reset - 1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let posts = x_posts(&sb);
    let demo_calls = posts
        .iter()
        .filter(|r| r.authorization.as_deref() == Some(&format!("Bearer {}", sb.x_token.expose())))
        .count();
    assert_eq!(
        demo_calls, 1,
        "only the rate-limited call reached X for that account"
    );
    let other_calls = posts
        .iter()
        .filter(|r| r.authorization.as_deref() == Some(&format!("Bearer {}", other_token.expose())))
        .count();
    assert_eq!(other_calls, 1);
    // Both held messages are invisible until the reset: a receive now gets nothing.
    let counts = messages_left(&sb).await;
    let x_queue = counts.iter().find(|(q, _)| q == "XQueue").unwrap().1;
    assert_eq!(x_queue, 2, "{counts:?}");
    let sqs = crosspost_aws::aws_sdk_sqs::Client::new(&sb.stack.sdk_config());
    let got = sqs
        .receive_message()
        .queue_url(sb.stack.queue_url("XQueue").unwrap())
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert!(got.messages().is_empty(), "held messages stay invisible");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_whose_answer_is_lost_is_reconciled_not_posted_twice() {
    let sb = sandbox().await;
    sb.x.inject(FaultRule::new(Fault::AcceptThenHang).on("POST", "/2/tweets"));
    let id = accepted(&sb, &to_x("发出去了但回答丢了")).await;
    wait_for("UNCERTAIN", SETTLE, || async {
        (x_delivery(&sb, &id).await.status == DeliveryStatus::Uncertain).then_some(())
    })
    .await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    let tweets = sb.x.tweets();
    assert_eq!(tweets.len(), 1, "still one remote post");
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    assert_eq!(
        ds[0].parts[0].remote_id, tweets[0].id,
        "the delivery names the post that exists"
    );
    assert_eq!(x_posts(&sb).len(), 1, "no second POST");
    let lookups =
        sb.x.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/tweets"))
            .count();
    assert!(lookups >= 1, "reconciled through the timeline");
    let checked = sb.x.contract_operations();
    assert!(
        checked.iter().any(|c| c == "GET /2/users/{id}/tweets"),
        "the timeline read was checked against X's OpenAPI description: {checked:?}"
    );
    let logs = sb.stack.function_logs("PublishXFunction").join("\n");
    assert!(
        logs.contains("\"Reconciled\":1"),
        "the Reconciled metric is emitted"
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_thread_resumes_after_the_last_confirmed_part() {
    let options = compressed_lease("PublishXFunction", "XQueue");
    let sb = Sandbox::start(options).await.unwrap();
    // Part 3's request stalls: the worker is killed while waiting for it.
    sb.x.inject(FaultRule::new(Fault::Hang).on("POST", "/2/tweets").after(2));
    let text = "山".repeat(520);
    let id = accepted(&sb, &to_x(&text)).await;
    wait_for("two parts confirmed and the third sent", SETTLE, || async {
        let d = x_delivery(&sb, &id).await;
        (d.parts.len() == 2 && x_posts(&sb).len() == 3).then_some(())
    })
    .await;
    sb.stack.kill_function("PublishXFunction").await;

    let ds = sb
        .wait_until_settled(&id, Duration::from_secs(90))
        .await
        .unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    let tweets = sb.x.tweets();
    assert_eq!(tweets.len(), 4, "{tweets:?}");
    for (i, t) in tweets.iter().enumerate() {
        assert!(t.text.ends_with(&format!("({}/4)", i + 1)), "{}", t.text);
        let parent = if i == 0 {
            None
        } else {
            Some(tweets[i - 1].id.clone())
        };
        assert_eq!(t.in_reply_to, parent, "part {} replies to part {i}", i + 1);
    }
    let posted: Vec<String> = x_posts(&sb)
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for (i, t) in tweets.iter().enumerate().take(2) {
        assert_eq!(
            posted.iter().filter(|p| **p == t.text).count(),
            1,
            "part {} posted once",
            i + 1
        );
    }
    let parts: Vec<&str> = ds[0].parts.iter().map(|p| p.remote_id.as_str()).collect();
    let ids: Vec<&str> = tweets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(parts, ids);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_message_delivered_twice_at_once_publishes_once() {
    let sb = sandbox().await;
    // A slow answer keeps the first worker inside its lease while the copy arrives.
    sb.x.inject(FaultRule::new(Fault::Slow(Duration::from_millis(1500))).on("POST", "/2/tweets"));
    let id = accepted(&sb, &to_x("同一条消息来了两次")).await;
    let copy = DeliveryMessage {
        op: DeliveryOp::Publish,
        post_id: id.clone(),
        network: Network::X,
        account_id: DEMO_X_ACCOUNT.into(),
    };
    send_raw(&sb, "XQueue", &serde_json::to_string(&copy).unwrap()).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published);
    assert_eq!(ds[0].attempts, 1);
    assert_eq!(sb.x.tweets().len(), 1);
    assert_eq!(x_posts(&sb).len(), 1);
    wait_for("both copies acknowledged", SETTLE, || async {
        messages_left(&sb)
            .await
            .iter()
            .all(|(_, n)| *n == 0)
            .then_some(())
    })
    .await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_error_fails_once_and_a_malformed_message_fails_alone() {
    let sb = sandbox().await;
    sb.x.inject(
        FaultRule::new(Fault::Respond {
            status: 400,
            body: json!({"title": "Invalid Request", "detail": "One or more parameters to your request was invalid.", "type": "https://api.x.com/2/problems/invalid-request"}),
            headers: vec![],
        })
        .on("POST", "/2/tweets"),
    );
    let id = accepted(&sb, &to_x("这条会被拒绝")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Failed);
    assert_eq!(ds[0].attempts, 1);
    let err = ds[0].last_error.as_ref().unwrap();
    assert_eq!(err.kind, "permanent");
    assert!(
        err.message.contains("parameters to your request"),
        "{err:?}"
    );
    assert_queues_empty(&sb).await;

    send_raw(&sb, "XQueue", "this is not a delivery").await;
    let good = accepted(&sb, &to_x("坏消息旁边的好消息")).await;
    let ds = sb.wait_until_settled(&good, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published);
    wait_for("the malformed record to be reported", SETTLE, || async {
        let logs = sb.stack.function_logs("PublishXFunction").join("\n");
        logs.contains("malformed message body").then_some(())
    })
    .await;
    // It comes back at once each time, so maxReceiveCount moves it to the DLQ soon.
    wait_for(
        "the malformed message in the DLQ",
        Duration::from_secs(120),
        || async {
            let counts = messages_left(&sb).await;
            let n = |q: &str| counts.iter().find(|(name, _)| name == q).map(|(_, n)| *n);
            (n("XDeadLetterQueue") == Some(1) && n("XQueue") == Some(0)).then_some(())
        },
    )
    .await;
    let sqs = crosspost_aws::aws_sdk_sqs::Client::new(&sb.stack.sdk_config());
    let dead = sqs
        .receive_message()
        .queue_url(sb.stack.queue_url("XDeadLetterQueue").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(dead.messages()[0].body(), Some("this is not a delivery"));
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_past_max_age_fails_as_expired() {
    let sb = sandbox().await;
    sb.x.inject(
        FaultRule::new(Fault::ServerError(503))
            .on("POST", "/2/tweets")
            .times(1000),
    );
    let id = accepted(&sb, &to_x("永远发不出去")).await;
    // A 5xx may have been applied: the delivery waits UNCERTAIN (it looks first).
    wait_for("a first failed attempt", SETTLE, || async {
        (x_delivery(&sb, &id).await.status == DeliveryStatus::Uncertain).then_some(())
    })
    .await;
    // Make the delivery two days old, as if it had been retrying all that time.
    let ddb = crosspost_aws::aws_sdk_dynamodb::Client::new(&sb.stack.sdk_config());
    ddb.update_item()
        .table_name(sb.stack.table_name("PostsTable").unwrap())
        .key("pk", AttributeValue::S(keys::post_pk(&id)))
        .key(
            "sk",
            AttributeValue::S(keys::delivery_sk(Network::X, DEMO_X_ACCOUNT)),
        )
        .update_expression("SET created_at = :old")
        .expression_attribute_values(":old", AttributeValue::S("2026-01-01T00:00:00Z".into()))
        .send()
        .await
        .unwrap();
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Failed);
    let err = ds[0].last_error.as_ref().unwrap();
    assert_eq!(err.kind, "expired");
    assert!(
        err.message.contains("503"),
        "the last error is kept: {err:?}"
    );
    assert_queues_empty(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_token_flags_the_account_and_sends_a_signed_event() {
    let sb = sandbox().await;
    sb.x.remove_account(DEMO_X_ACCOUNT);
    let id = accepted(&sb, &to_x("令牌已被撤销")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::NeedsReauth);
    let account = sb
        .accounts
        .get(DEMO_USER, Network::X, DEMO_X_ACCOUNT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status.as_str(), "NEEDS_REAUTH");

    let events = wait_for("the events", SETTLE, || async {
        let r = sb.events.requests();
        (r.len() >= 2).then_some(r)
    })
    .await;
    let secret = SigningSecret::parse(&sb.events_secret).unwrap();
    let mut kinds = Vec::new();
    for e in &events {
        let headers = SignedHeaders {
            id: e.header_value("webhook-id"),
            timestamp: e.header_value("webhook-timestamp"),
            signature: e.header_value("webhook-signature"),
        };
        signing::verify(
            std::slice::from_ref(&secret),
            headers,
            e.body.as_bytes(),
            now_unix(),
        )
        .expect("each event is signed with the events secret");
        let body: serde_json::Value = serde_json::from_str(&e.body).unwrap();
        assert_eq!(
            Some(body["id"].as_str().unwrap()),
            e.header_value("webhook-id")
        );
        kinds.push(body["type"].as_str().unwrap().to_owned());
        if body["type"] == "account.needs_reauth" {
            assert_eq!(body["data"]["account_id"], DEMO_X_ACCOUNT);
            assert_eq!(body["data"]["network"], "x");
        }
    }
    kinds.sort();
    assert_eq!(kinds, ["account.needs_reauth", "delivery.failed"]);

    // Later posts to that account are refused at once, naming it.
    let later = sb.submit(&to_x("之后的帖子")).await.unwrap();
    assert_eq!(later.status, 422, "{}", later.body);
    assert!(later.body["detail"]
        .as_str()
        .unwrap()
        .contains("NEEDS_REAUTH"));
    assert_eq!(x_posts(&sb).len(), 1);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_that_fails_keeps_looking_back_to_the_first_uncertain_attempt() {
    let sb = sandbox().await;
    // The post is made but its answer lost; then the timeline lookups fail three times,
    // so the lookup that finally works runs well after the attempt that posted.
    sb.x.inject(FaultRule::new(Fault::AcceptThenHang).on("POST", "/2/tweets"));
    sb.x.inject(
        FaultRule::new(Fault::ServerError(503))
            .on("GET", "/tweets")
            .times(3),
    );
    let id = accepted(&sb, &to_x("回答丢了，查询也失败了三次")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    assert_eq!(sb.x.tweets().len(), 1, "still one remote post");
    assert_eq!(x_posts(&sb).len(), 1, "never posted again");
    assert_eq!(ds[0].parts[0].remote_id, sb.x.tweets()[0].id);
    sb.stop().await;
}
