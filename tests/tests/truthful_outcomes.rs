//! Truthful outcomes on the local stack: a delivery records only the remote post its
//! own request made, a duplicate refusal ends it `duplicate_content`, an answer that
//! may have been applied is looked up before sending again, X's own words reach
//! `last_error`, a reply whose parent is not visible yet is retried, and X's 24-hour
//! caps hold at their scope.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_cli::sandbox::{DEMO_FACEBOOK_PAGE, DEMO_X_ACCOUNT};
use crosspost_cli::{Sandbox, SandboxOptions, DEMO_USER};
use crosspost_core::{DeliveryKey, DeliveryRecord, DeliveryStatus, Network, PostId};
use crosspost_fakes::{tiny_png, Fault, FaultRule, MediaHost};
use crosspost_tests::{accepted, assert_queues_empty, post, sandbox, wait_for};
use serde_json::json;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

fn to(text: &str, targets: serde_json::Value) -> serde_json::Value {
    let mut body = post(text);
    body["targets"] = targets;
    body
}

fn both() -> serde_json::Value {
    json!([
        {"network": "x", "account_id": DEMO_X_ACCOUNT},
        {"network": "facebook", "account_id": DEMO_FACEBOOK_PAGE},
    ])
}

fn x_only() -> serde_json::Value {
    json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}])
}

async fn settled(sb: &Sandbox, id: &PostId, network: Network) -> DeliveryRecord {
    sb.wait_until_settled(id, SETTLE)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.network == network)
        .expect("a delivery on that network")
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_greeting_twice_fails_the_second_as_a_duplicate_and_deletes_stay_apart() {
    let sb = sandbox().await;
    let greeting = "早安，今天也要加油！";
    let a = accepted(&sb, &to(greeting, both())).await;
    for network in [Network::X, Network::Facebook] {
        assert_eq!(
            settled(&sb, &a, network).await.status,
            DeliveryStatus::Published
        );
    }
    let b = accepted(&sb, &to(greeting, both())).await;
    for network in [Network::X, Network::Facebook] {
        let d = settled(&sb, &b, network).await;
        assert_eq!(d.status, DeliveryStatus::Failed, "{network}: {d:?}");
        let error = d.last_error.as_ref().unwrap();
        assert_eq!(error.kind, "duplicate_content", "{network}: {error:?}");
        assert!(d.parts.is_empty(), "{network}: never the first post's id");
        assert_eq!(d.attempts, 1, "{network}: refused once, not retried");
    }
    // Each network holds one post, the first delivery's.
    assert_eq!(sb.x.tweets().len(), 1);
    assert_eq!(sb.facebook.posts().len(), 1);
    let first_x = settled(&sb, &a, Network::X).await.parts[0]
        .remote_id
        .clone();
    assert_eq!(sb.x.tweets()[0].id, first_x);
    // X knows which request made it: the first delivery's first part.
    assert_eq!(
        sb.x.tweets()[0].created_by.as_deref(),
        Some(format!("{a}.0").as_str())
    );
    // The source app hears of the refusal.
    let failed = wait_for("the delivery.failed events", SETTLE, || async {
        let kinds: Vec<serde_json::Value> = sb
            .events
            .requests()
            .into_iter()
            .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.body).ok())
            .filter(|e| e["type"] == "delivery.failed" && e["data"]["post_id"] == b.as_str())
            .collect();
        (kinds.len() == 2).then_some(kinds)
    })
    .await;
    assert!(failed
        .iter()
        .all(|e| e["data"]["error"]["kind"] == "duplicate_content"));

    // Deleting the second removes nothing; the first's posts stay.
    assert_eq!(
        sb.call("DELETE", &format!("/v1/posts/{b}"), None)
            .await
            .unwrap()
            .status,
        202
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sb.x.tweets().len(), 1);
    assert_eq!(sb.facebook.posts().len(), 1);
    // Deleting the first removes exactly its own.
    assert_eq!(
        sb.call("DELETE", &format!("/v1/posts/{a}"), None)
            .await
            .unwrap()
            .status,
        202
    );
    wait_for("the first post's deletes", SETTLE, || async {
        (sb.x.tweets().is_empty() && sb.facebook.posts().is_empty()).then_some(())
    })
    .await;
    assert_queues_empty(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_greeting_twice_at_once_with_lost_answers_is_one_post_recorded_by_its_maker() {
    let sb = sandbox().await;
    // The first two create calls on each network are applied (or refused as a
    // duplicate) and their answers lost: both deliveries could be left unsure.
    sb.x.inject(
        FaultRule::new(Fault::AppliedThenReset)
            .on("POST", "/2/tweets")
            .times(2),
    );
    sb.facebook.inject(
        FaultRule::new(Fault::AppliedThenReset)
            .on("POST", "/feed")
            .times(2),
    );
    let greeting = "晚安，明天见！";
    let a = accepted(&sb, &to(greeting, both())).await;
    let b = accepted(&sb, &to(greeting, both())).await;
    for network in [Network::X, Network::Facebook] {
        let ds = [
            settled(&sb, &a, network).await,
            settled(&sb, &b, network).await,
        ];
        let made_by: Vec<(String, Option<String>)> = match network {
            Network::X => {
                sb.x.tweets()
                    .into_iter()
                    .map(|t| (t.id, t.created_by))
                    .collect()
            }
            Network::Facebook => sb
                .facebook
                .posts()
                .into_iter()
                .map(|p| (p.id, p.created_by))
                .collect(),
            Network::Bluesky => unreachable!("the loop covers X and Facebook"),
        };
        assert_eq!(made_by.len(), 1, "{network}: posted once: {made_by:?}");
        let published: Vec<&DeliveryRecord> = ds
            .iter()
            .filter(|d| d.status == DeliveryStatus::Published)
            .collect();
        assert_eq!(published.len(), 1, "{network}: {ds:?}");
        let maker = published[0];
        assert_eq!(maker.parts[0].remote_id, made_by[0].0, "{network}");
        assert_eq!(
            made_by[0].1.as_deref(),
            Some(format!("{}.0", maker.post_id).as_str()),
            "{network}: the post is recorded by the delivery whose request made it"
        );
        let other = ds.iter().find(|d| d.post_id != maker.post_id).unwrap();
        assert_eq!(
            (
                other.status,
                other.last_error.as_ref().map(|e| e.kind.as_str())
            ),
            (DeliveryStatus::Failed, Some("duplicate_content")),
            "{network}: {other:?}"
        );
        assert!(other.parts.is_empty());
    }
    assert_queues_empty(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_error_after_the_post_was_made_leaves_one_post_recorded_published() {
    let sb = sandbox().await;
    sb.x.inject(FaultRule::new(Fault::AppliedThenServerError(503)).on("POST", "/2/tweets"));
    sb.facebook
        .inject(FaultRule::new(Fault::AppliedThenServerError(500)).on("POST", "/feed"));
    // With a link: Graph shows the linked page's picture on the post, which the lookup
    // must not take for photos.
    let mut body = to("失败了，其实发出去了", both());
    body["link"] = json!("https://moments.example.com/p/7");
    let id = accepted(&sb, &body).await;
    for network in [Network::X, Network::Facebook] {
        let d = settled(&sb, &id, network).await;
        assert_eq!(d.status, DeliveryStatus::Published, "{network}: {d:?}");
        // Looked up on the next attempt (X lists a post a moment after it made it, so
        // an early lookup may need one more try: a resend is refused as a duplicate
        // our own request explains, and the delivery looks again).
        assert!(d.attempts >= 2, "{network}: {d:?}");
    }
    let tweets = sb.x.tweets();
    assert_eq!(tweets.len(), 1, "posted once");
    let x = settled(&sb, &id, Network::X).await;
    assert_eq!(x.parts[0].remote_id, tweets[0].id);
    assert_eq!(sb.facebook.posts().len(), 1, "posted once");
    let fb = settled(&sb, &id, Network::Facebook).await;
    assert_eq!(fb.parts[0].remote_id, sb.facebook.posts()[0].id);
    // No create request after the failed one made a post (a resend, if the lookup
    // came before X listed the post, was refused as the duplicate our own request
    // explains).
    let x_made =
        sb.x.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/2/tweets" && r.status == 201)
            .count();
    assert_eq!(
        x_made, 0,
        "the only post is the one the failed request made"
    );
    assert_queues_empty(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_whose_parent_is_not_visible_yet_is_retried_then_published_with_x_own_words() {
    let sb = sandbox().await;
    // X refuses the second part once, as it can about a post it has just created.
    sb.x.inject(
        FaultRule::new(Fault::Respond {
            status: 400,
            body: json!({
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request",
                "errors": [{"message": "Your Tweet could not be created because the Tweet you are replying to has been deleted or is not visible to you."}],
            }),
            headers: Vec::new(),
        })
        .on("POST", "/2/tweets")
        .after(1),
    );
    let text = ["第一部分。", "第二部分。"]
        .iter()
        .map(|p| p.repeat(25))
        .collect::<Vec<_>>()
        .join("\n\n");
    let id = accepted(&sb, &to(&text, x_only())).await;
    let retrying = wait_for("the refused reply to be recorded", SETTLE, || async {
        let ds = sb.posts.deliveries(&id).await.unwrap();
        ds.into_iter().find(|d| d.last_error.is_some())
    })
    .await;
    let error = retrying.last_error.unwrap();
    assert_eq!(error.kind, "reply_parent_unavailable");
    assert!(
        error
            .message
            .contains("replying to has been deleted or is not visible"),
        "{}",
        error.message
    );
    let d = settled(&sb, &id, Network::X).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    assert_eq!(d.parts.len(), 2);
    assert_eq!(sb.x.tweets().len(), 2, "each part once");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_daily_cap_holds_its_account_or_the_app_without_calling_x() {
    let sb = sandbox().await;
    let other_token = sb.link_x_account(DEMO_USER, "2002").await.unwrap();
    let reset = now_unix() + 3600;
    // The first post is accepted, and X says the user's 24-hour cap is spent.
    sb.x.inject(
        FaultRule::new(Fault::WithHeaders(vec![
            ("x-user-limit-24hour-limit".into(), "100".into()),
            ("x-user-limit-24hour-remaining".into(), "0".into()),
            ("x-user-limit-24hour-reset".into(), reset.to_string()),
        ]))
        .on("POST", "/2/tweets"),
    );
    let first = accepted(&sb, &to("今天的最后一条", x_only())).await;
    assert_eq!(
        settled(&sb, &first, Network::X).await.status,
        DeliveryStatus::Published
    );
    let creates = |sb: &Sandbox| {
        sb.x.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/2/tweets")
            .count()
    };
    // The same account's next post waits for the reset, with no call.
    let second = accepted(&sb, &to("明天再发", x_only())).await;
    let held = wait_for("the second post to be held", SETTLE, || async {
        let d = sb.posts.deliveries(&second).await.unwrap().remove(0);
        (d.status == DeliveryStatus::Retrying).then_some(d)
    })
    .await;
    assert_eq!(held.attempts, 0, "waiting is not an attempt");
    assert!((reset - 1..=reset + 1).contains(&held.next_attempt_at.unwrap().unix_timestamp()));
    // The other account is not held by the user's cap.
    let mut body = post("另一个账号照常发");
    body["targets"] = json!([{"network": "x", "account_id": "2002"}]);
    let third = accepted(&sb, &body).await;
    assert_eq!(
        settled(&sb, &third, Network::X).await.status,
        DeliveryStatus::Published
    );
    assert_eq!(creates(&sb), 2);

    // The app's cap holds every account.
    sb.x.inject(
        FaultRule::new(Fault::WithHeaders(vec![
            ("x-app-limit-24hour-limit".into(), "1000".into()),
            ("x-app-limit-24hour-remaining".into(), "0".into()),
            ("x-app-limit-24hour-reset".into(), reset.to_string()),
        ]))
        .on("POST", "/2/tweets"),
    );
    let mut body = post("应用的额度用完了");
    body["targets"] = json!([{"network": "x", "account_id": "2002"}]);
    let fourth = accepted(&sb, &body).await;
    assert_eq!(
        settled(&sb, &fourth, Network::X).await.status,
        DeliveryStatus::Published
    );
    let mut body = post("再发一条");
    body["targets"] = json!([{"network": "x", "account_id": "2002"}]);
    let fifth = accepted(&sb, &body).await;
    wait_for("the app-wide hold", SETTLE, || async {
        let d = sb.posts.deliveries(&fifth).await.unwrap().remove(0);
        (d.status == DeliveryStatus::Retrying && d.attempts == 0).then_some(())
    })
    .await;
    assert_eq!(creates(&sb), 3, "no call while the app is capped");
    let _ = other_token;
    sb.stop().await;
}

/// A delivery that ended while the outcome of a send was unknown (X made the post, its
/// answer was a 503, and the lookup failed on the last attempt) is run again by a
/// retry: it looks first and records the post X made, instead of posting a second copy
/// (which X would refuse as a duplicate, leaving the live post unrecorded).
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_of_a_delivery_that_ended_with_its_outcome_unknown_records_the_post_made() {
    let mut options = SandboxOptions::from_env();
    options
        .parameter_overrides
        .insert("MaxAttempts".into(), "2".into());
    let sb = Sandbox::start(options).await.unwrap();
    sb.x.inject(FaultRule::new(Fault::AppliedThenServerError(503)).on("POST", "/2/tweets"));
    sb.x.inject(FaultRule::new(Fault::ServerError(503)).on("GET", "/tweets"));
    let id = accepted(&sb, &to("发出去了吗？", x_only())).await;
    let d = settled(&sb, &id, Network::X).await;
    assert_eq!(d.status, DeliveryStatus::Failed, "{d:?}");
    assert!(d.parts.is_empty(), "{d:?}");
    let made = sb.x.tweets();
    assert_eq!(made.len(), 1, "X made the post");

    let retried = sb
        .call("POST", &format!("/v1/posts/{id}/retry"), None)
        .await
        .unwrap();
    assert_eq!(retried.status, 202, "{}", retried.body);
    assert_eq!(
        retried.body["deliveries"][0]["status"], "UNCERTAIN",
        "{}",
        retried.body
    );
    let d = settled(&sb, &id, Network::X).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    assert_eq!(d.parts[0].remote_id, made[0].id, "the post X made");
    assert_eq!(sb.x.tweets().len(), 1, "posted once");
    // No create request made a post after the one that failed (a resend, if the
    // lookup came before X listed the post, was refused as the duplicate our own
    // request explains).
    let made_again =
        sb.x.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/2/tweets" && r.status == 201)
            .count();
    assert_eq!(made_again, 0);
    assert_queues_empty(&sb).await;
    sb.stop().await;
}

/// A delete or a retry whose request stopped after changing the deliveries and before
/// queueing their messages (the caller got a 503, "send the request again") is
/// finished by asking again: the DELETING delivery gets its delete message, the
/// PENDING one its publish message.
#[tokio::test(flavor = "multi_thread")]
async fn a_delete_or_retry_that_stopped_before_queueing_is_finished_by_asking_again() {
    let sb = sandbox().await;
    let now = time::OffsetDateTime::now_utc();
    let key = DeliveryKey {
        network: Network::X,
        account_id: DEMO_X_ACCOUNT.into(),
    };
    let published = accepted(&sb, &to("删掉它", x_only())).await;
    assert_eq!(
        settled(&sb, &published, Network::X).await.status,
        DeliveryStatus::Published
    );
    // What a DELETE left when its messages could not be sent.
    let moved = sb
        .posts
        .transition(
            &published,
            &key,
            &[DeliveryStatus::Published],
            DeliveryStatus::Deleting,
            false,
            now,
        )
        .await
        .unwrap();
    assert!(moved);
    let again = sb
        .call("DELETE", &format!("/v1/posts/{published}"), None)
        .await
        .unwrap();
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(again.body["deliveries"][0]["status"], "DELETING");
    wait_for("the delete", SETTLE, || async {
        sb.x.tweets().is_empty().then_some(())
    })
    .await;

    sb.x.inject(
        FaultRule::new(Fault::Respond {
            status: 400,
            body: json!({"title": "Invalid Request", "detail": "refused", "type": "about:blank"}),
            headers: Vec::new(),
        })
        .on("POST", "/2/tweets"),
    );
    let host = MediaHost::start().await.unwrap();
    host.serve("/photo.png", "image/png", tiny_png());
    let mut body = to("再试一次", x_only());
    body["media"] = json!([{"url": host.url("/photo.png")}]);
    let failed = accepted(&sb, &body).await;
    let d = settled(&sb, &failed, Network::X).await;
    assert_eq!(d.status, DeliveryStatus::Failed, "{d:?}");
    assert_eq!(
        d.uploads.len(),
        1,
        "the photo went up before X refused the post"
    );
    assert!(d.unconfirmed_since.is_some());
    // What a retry left when its messages could not be sent.
    let moved = sb
        .posts
        .transition(
            &failed,
            &key,
            &[DeliveryStatus::Failed],
            DeliveryStatus::Pending,
            true,
            now,
        )
        .await
        .unwrap();
    assert!(moved);
    // A fresh start: nothing of the failed attempt is reused or looked for.
    let d = sb.posts.deliveries(&failed).await.unwrap().remove(0);
    assert!(d.uploads.is_empty(), "{d:?}");
    assert_eq!(d.unconfirmed_since, None);
    let again = sb
        .call("POST", &format!("/v1/posts/{failed}/retry"), None)
        .await
        .unwrap();
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(again.body["deliveries"][0]["status"], "PENDING");
    let d = settled(&sb, &failed, Network::X).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    assert_eq!(sb.x.tweets().len(), 1);
    assert_eq!(sb.x.uploaded_media().len(), 2, "the photo went up again");
    assert_queues_empty(&sb).await;
    sb.stop().await;
}
