//! The webhook API on the local stack: signatures, replays, idempotency, validation,
//! status, delete, retry and preview (DESIGN sections 7 and 8).
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_cli::client::SignedClient;
use crosspost_cli::sandbox::{new_signing_secret, DEMO_X_ACCOUNT};
use crosspost_cli::{Sandbox, DEMO_USER};
use crosspost_core::signing::SigningSecret;
use crosspost_core::{DeliveryStatus, PostId};
use crosspost_tests::{assert_queues_empty, post, posts_table_keys, record_as_intake, sandbox};
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

/// What a case is, its body, and its headers.
type Case = (&'static str, Vec<u8>, Vec<(String, String)>);

fn post_id(answer: &Value) -> PostId {
    PostId::parse(answer["post_id"].as_str().expect("post_id")).expect("a uuid")
}

/// Headers for a body signed with `secret` at `ts`, as (name, value) pairs.
fn signed(secret: &SigningSecret, id: &str, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        ("webhook-id".into(), id.into()),
        ("webhook-timestamp".into(), ts.to_string()),
        (
            "webhook-signature".into(),
            secret.sign(id, ts, body).expose().to_owned(),
        ),
    ]
}

async fn send(sb: &Sandbox, body: &[u8], headers: &[(String, String)]) -> (u16, Value) {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let a = sb
        .client
        .call_with_headers("POST", "/v1/posts", body, &h)
        .await
        .unwrap();
    (a.status, a.body)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_stale_and_unsigned_requests_get_401_and_write_nothing() {
    let sb = sandbox().await;
    let primary = SigningSecret::parse(&sb.signing[0]).unwrap();
    let stranger = SigningSecret::parse(&new_signing_secret().unwrap()).unwrap();
    let body = post("hello").to_string();
    let b = body.as_bytes();
    let t = now();
    let with_sig = |sig: &str| {
        let mut h = signed(&primary, "msg_1", t, b);
        h[3].1 = sig.to_owned();
        h
    };
    let good_sig = primary.sign("msg_1", t, b).expose().to_owned();
    let mut cases: Vec<Case> = vec![
        (
            "tampered body",
            body.replace("hello", "hullo").into_bytes(),
            signed(&primary, "msg_1", t, b),
        ),
        ("wrong secret", b.to_vec(), signed(&stranger, "msg_1", t, b)),
        ("empty v1,", b.to_vec(), with_sig("v1,")),
        (
            "unknown version",
            b.to_vec(),
            with_sig(&good_sig.replacen("v1,", "v2,", 1)),
        ),
        (
            "truncated",
            b.to_vec(),
            with_sig(&good_sig[..good_sig.len() - 6]),
        ),
        (
            "6 minutes old",
            b.to_vec(),
            signed(&primary, "msg_1", t - 360, b),
        ),
        (
            "6 minutes ahead",
            b.to_vec(),
            signed(&primary, "msg_1", t + 360, b),
        ),
    ];
    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let h: Vec<_> = signed(&primary, "msg_1", t, b)
            .into_iter()
            .filter(|(k, _)| k != missing)
            .collect();
        cases.push(("missing header", b.to_vec(), h));
    }
    for (what, body, headers) in cases {
        let (status, answer) = send(&sb, &body, &headers).await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert!(
            answer.get("detail").is_none(),
            "{what}: a 401 gives no detail: {answer}"
        );
    }
    assert!(
        posts_table_keys(&sb).await.is_empty(),
        "nothing may be written"
    );
    assert_queues_empty(&sb).await;
    // Every route checks the signature, not only POST /v1/posts.
    let a = sb
        .client
        .call_with_headers(
            "GET",
            "/v1/posts/0190a0b0-0000-7000-8000-000000000000",
            b"",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(a.status, 401);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn both_secrets_of_a_rotation_are_accepted_and_a_replayed_webhook_id_gets_the_first_answer() {
    let sb = sandbox().await;
    let old = SignedClient::new(sb.stack.api_url(), &sb.signing[1]).unwrap();
    let a = old
        .call(
            "POST",
            "/v1/posts",
            Some(post("signed with the second secret").to_string().as_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 202, "{}", a.body);

    let secret = SigningSecret::parse(&sb.signing[0]).unwrap();
    let body = post("replay me").to_string();
    let headers = signed(&secret, "msg_replayed", now(), body.as_bytes());
    let (s1, first) = send(&sb, body.as_bytes(), &headers).await;
    assert_eq!(s1, 202, "{first}");
    let (s2, again) = send(&sb, body.as_bytes(), &headers).await;
    assert_eq!(
        (s2, &again),
        (202, &first),
        "the replay gets the first answer"
    );
    let id = post_id(&first);
    sb.wait_until_settled(&id, SETTLE).await.unwrap();
    let wait = post_id(&a.body);
    sb.wait_until_settled(&wait, SETTLE).await.unwrap();
    let posts = posts_table_keys(&sb)
        .await
        .into_iter()
        .filter(|(_, sk)| sk == "POST")
        .count();
    assert_eq!(posts, 2, "one post per distinct request");
    // One X post and one Page post for each of the two posts, none for the replay.
    assert_eq!(sb.x.tweets().len(), 2);
    assert_eq!(sb.facebook.posts().len(), 2);
    assert_queues_empty(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_source_post_is_accepted_once_and_other_content_is_a_conflict() {
    let sb = sandbox().await;
    let mut body = post("只发一次");
    body["targets"] = json!([{"network": "x"}, {"network": "facebook"}]);
    let first = sb.submit(&body).await.unwrap();
    assert_eq!(first.status, 202, "{}", first.body);
    // Same content, new webhook id, keys and targets reordered: the first answer
    // with 200.
    let reordered = json!({
        "targets": [{"network": "facebook"}, {"network": "x"}],
        "text": body["text"],
        "id": body["id"],
        "user_id": body["user_id"],
    });
    let again = sb.submit(&reordered).await.unwrap();
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body, first.body);
    // Same source id, other text: 409.
    let mut other = body.clone();
    other["text"] = json!("改过的内容");
    let conflict = sb.submit(&other).await.unwrap();
    assert_eq!(conflict.status, 409, "{}", conflict.body);
    assert_eq!(conflict.headers["content-type"], "application/problem+json");

    sb.wait_until_settled(&post_id(&first.body), SETTLE)
        .await
        .unwrap();
    assert_eq!(sb.x.requests().len(), 1, "one X request");
    assert_eq!(sb.facebook.requests().len(), 1, "one Facebook request");
    let deliveries = posts_table_keys(&sb)
        .await
        .into_iter()
        .filter(|(_, sk)| sk.starts_with("DELIVERY#"))
        .count();
    assert_eq!(deliveries, 2);

    // A post naming its account, sent again after that account was unlinked: still the
    // first answer (the source id was accepted), not a 422 about the account.
    let mut named = post("发到 X 的一条");
    named["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    let first = sb.submit(&named).await.unwrap();
    assert_eq!(first.status, 202, "{}", first.body);
    sb.wait_until_settled(&post_id(&first.body), SETTLE)
        .await
        .unwrap();
    let unlinked = sb
        .call(
            "DELETE",
            &format!("/v1/users/{DEMO_USER}/accounts/x/{DEMO_X_ACCOUNT}"),
            None,
        )
        .await
        .unwrap();
    assert!(
        unlinked.status < 300,
        "{} {}",
        unlinked.status,
        unlinked.body
    );
    let again = sb.submit(&named).await.unwrap();
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body, first.body);
    assert_queues_empty(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_concurrent_identical_requests_make_one_post_and_one_message_per_target() {
    let sb = sandbox().await;
    let body = post("十个相同的请求").to_string();
    let secret = SigningSecret::parse(&sb.signing[0]).unwrap();
    let headers = signed(&secret, "msg_concurrent", now(), body.as_bytes());
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = SignedClient::new(sb.stack.api_url(), &sb.signing[0]).unwrap();
        let (body, headers) = (body.clone(), headers.clone());
        tasks.push(tokio::spawn(async move {
            let h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let a = client
                .call_with_headers("POST", "/v1/posts", body.as_bytes(), &h)
                .await
                .unwrap();
            (a.status, a.body)
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let ids: Vec<String> = answers
        .iter()
        .map(|(s, b)| {
            assert!(*s == 202 || *s == 200, "{s}: {b}");
            b["post_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "every answer names the same post: {ids:?}"
    );
    sb.wait_until_settled(&PostId::parse(&ids[0]).unwrap(), SETTLE)
        .await
        .unwrap();
    let keys = posts_table_keys(&sb).await;
    assert_eq!(
        keys.iter().filter(|(_, sk)| sk == "POST").count(),
        1,
        "{keys:?}"
    );
    assert_eq!(sb.x.requests().len(), 1);
    assert_eq!(sb.facebook.requests().len(), 1);
    assert_queues_empty(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_validation_rule_is_a_422_naming_its_field() {
    let sb = sandbox().await;
    let cases: Vec<(Value, &[&str])> = vec![
        (json!({"user_id": DEMO_USER, "text": "x"}), &["/id"]),
        (json!({"id": "a", "text": "x"}), &["/user_id"]),
        (json!({"id": "a", "user_id": DEMO_USER}), &["/text"]),
        (
            json!({"id": "a", "user_id": DEMO_USER, "text": "字".repeat(63_207)}),
            &["/text"],
        ),
        (
            json!({"id": "a", "user_id": DEMO_USER, "text": "x", "media": vec![json!({"url": "https://cdn.example.com/a.jpg"}); 11]}),
            &["/media"],
        ),
        (
            json!({"id": "a", "user_id": DEMO_USER, "text": "x", "media": [{"url": "ftp://cdn.example.com/a.jpg"}]}),
            &["/media/0/url"],
        ),
        (
            json!({"id": "a", "user_id": DEMO_USER, "text": "x", "media": [{"url": "https://cdn.example.com/a.jpg", "alt": "a".repeat(1001)}]}),
            &["/media/0/alt"],
        ),
        (
            json!({"id": "a", "user_id": DEMO_USER, "text": "x", "link": "not a url"}),
            &["/link"],
        ),
        (
            json!({"id": "a", "user_id": DEMO_USER, "text": "x", "targets": [{"network": "myspace"}]}),
            &["/targets/0/network"],
        ),
        (
            json!({"id": "a", "user_id": DEMO_USER, "text": "x", "overflow": "split"}),
            &["/overflow"],
        ),
        (
            json!({"id": "a", "user_id": DEMO_USER, "text": "x", "created_at": "yesterday"}),
            &["/created_at"],
        ),
        (
            json!({"id": "a", "user_id": DEMO_USER, "text": "x", "colour": "red"}),
            &["/colour"],
        ),
        (
            json!({"id": "a", "user_id": DEMO_USER, "text": "x", "targets": [{"network": "x", "account_id": "999"}]}),
            &["/targets/0/account_id"],
        ),
        (
            json!({"id": "a", "user_id": "nobody", "text": "x", "targets": [{"network": "facebook"}]}),
            &["/targets/0/network"],
        ),
        (
            json!({"id": "a", "user_id": "nobody", "text": "x"}),
            &["/user_id"],
        ),
    ];
    for (body, pointers) in cases {
        let a = sb.submit(&body).await.unwrap();
        assert_eq!(a.status, 422, "{body}: {}", a.body);
        assert_eq!(a.headers["content-type"], "application/problem+json");
        let got: Vec<&str> = a.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap())
            .collect();
        assert_eq!(got, pointers, "{}", a.body);
    }
    // The media host rule, when the local-only setting is off, is a unit test of
    // ValidatedPost (the sandbox allows its own loopback media server).

    let not_json = sb
        .call("POST", "/v1/posts", Some(b"{not json"))
        .await
        .unwrap();
    assert_eq!(not_json.status, 400, "{}", not_json.body);
    let big = json!({"id": "a", "user_id": DEMO_USER, "text": "x".repeat(1024 * 1024)});
    let too_big = sb.submit(&big).await.unwrap();
    assert_eq!(too_big.status, 413, "{}", too_big.body);
    let body = post("plain").to_string();
    let mut headers: Vec<(String, String)> = sb
        .client
        .sign(body.as_bytes())
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    headers.push(("content-type".into(), "text/plain".into()));
    let (status, answer) = send(&sb, body.as_bytes(), &headers).await;
    assert_eq!(status, 415, "{answer}");

    assert!(
        posts_table_keys(&sb).await.is_empty(),
        "nothing may be written"
    );
    assert_queues_empty(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn status_delete_and_retry() {
    let sb = sandbox().await;
    // Unknown posts are 404 problems.
    for (method, path) in [
        (
            "GET",
            "/v1/posts/0190a0b0-0000-7000-8000-000000000000".to_owned(),
        ),
        ("GET", "/v1/posts/not-a-uuid".to_owned()),
        (
            "DELETE",
            "/v1/posts/0190a0b0-0000-7000-8000-000000000000".to_owned(),
        ),
        (
            "POST",
            "/v1/posts/0190a0b0-0000-7000-8000-000000000000/retry".to_owned(),
        ),
    ] {
        let a = sb.call(method, &path, None).await.unwrap();
        assert_eq!(a.status, 404, "{method} {path}: {}", a.body);
    }

    let mut body = post("删除这条 https://example.com/p/1");
    body["link"] = json!("https://moments.example.com/p/1");
    let accepted = sb.submit(&body).await.unwrap();
    let id = post_id(&accepted.body);
    sb.wait_until_settled(&id, SETTLE).await.unwrap();

    let status = sb
        .call("GET", &format!("/v1/posts/{id}"), None)
        .await
        .unwrap();
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.body["text"], body["text"]);
    assert_eq!(status.body["link"], "https://moments.example.com/p/1");
    let deliveries = status.body["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2);
    for d in deliveries {
        assert_eq!(d["status"], "PUBLISHED", "{d}");
        assert_eq!(d["attempts"], 1);
        let part = &d["parts"][0];
        assert!(
            part["remote_id"].as_str().is_some_and(|r| !r.is_empty()),
            "{d}"
        );
        assert!(
            part["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://")),
            "{d}"
        );
    }
    assert_eq!(sb.x.tweets().len(), 1);

    // Delete: DELETING at once, DELETED once the networks confirm, gone from both.
    let deleted = sb
        .call("DELETE", &format!("/v1/posts/{id}"), None)
        .await
        .unwrap();
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    for d in deleted.body["deliveries"].as_array().unwrap() {
        assert_eq!(d["status"], "DELETING", "{d}");
    }
    let settled = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    let wait_deleted = async {
        for _ in 0..300 {
            let ds = sb.posts.deliveries(&id).await.unwrap();
            if ds.iter().all(|d| d.status == DeliveryStatus::Deleted) {
                return ds;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("not deleted: {settled:?}");
    };
    let ds = wait_deleted.await;
    assert_eq!(ds.len(), 2);
    assert!(sb.x.tweets().is_empty(), "the X post is gone");
    assert!(sb.facebook.posts().is_empty(), "the Page post is gone");
    let deletes: Vec<_> =
        sb.x.requests()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .collect();
    assert_eq!(deletes.len(), 1);

    // Retry: a delivery that failed for good runs again when asked.
    sb.x.inject(
        crosspost_fakes::FaultRule::new(crosspost_fakes::Fault::Respond {
            status: 400,
            body: json!({"title": "Invalid Request", "detail": "rejected once"}),
            headers: vec![],
        })
        .on("POST", "/2/tweets"),
    );
    let mut once = post("第一次被拒绝");
    once["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    let a = sb.submit(&once).await.unwrap();
    let failed_id = post_id(&a.body);
    let ds = sb.wait_until_settled(&failed_id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Failed, "{ds:?}");
    let retried = sb
        .call("POST", &format!("/v1/posts/{failed_id}/retry"), None)
        .await
        .unwrap();
    assert_eq!(retried.status, 202, "{}", retried.body);
    assert_eq!(
        retried.body["deliveries"],
        json!([{"network": "x", "account_id": DEMO_X_ACCOUNT, "status": "PENDING"}])
    );
    let ds = sb.wait_until_settled(&failed_id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    assert_eq!(ds[0].attempts, 1, "attempts start again on a retry");
    // A post with nothing failed answers 202 with no deliveries.
    let nothing = sb
        .call("POST", &format!("/v1/posts/{id}/retry"), None)
        .await
        .unwrap();
    assert_eq!(
        (nothing.status, &nothing.body["deliveries"]),
        (202, &json!([]))
    );
    assert_queues_empty(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_shows_the_parts_without_storing_anything() {
    let sb = sandbox().await;
    let text = "春眠不觉晓，处处闻啼鸟。".repeat(20);
    let a = sb
        .call(
            "POST",
            "/v1/preview",
            Some(json!({"text": text}).to_string().as_bytes()),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let networks = a.body["networks"].as_array().unwrap();
    assert_eq!(networks.len(), 3);
    let x = networks.iter().find(|n| n["network"] == "x").unwrap();
    let parts = x["parts"].as_array().unwrap();
    assert!(parts.len() >= 2, "{x}");
    for p in parts {
        let w = p["weighted_length"].as_u64().unwrap();
        assert!(w <= 280, "{p}");
    }
    let fb = networks
        .iter()
        .find(|n| n["network"] == "facebook")
        .unwrap();
    assert_eq!(fb["parts"][0]["text"], text.as_str());
    assert_eq!(fb["parts"][0]["weighted_length"], text.chars().count());
    // 240 Chinese characters are 240 graphemes: one Bluesky post (at most 300).
    let bluesky = networks.iter().find(|n| n["network"] == "bluesky").unwrap();
    assert_eq!(bluesky["parts"].as_array().unwrap().len(), 1, "{bluesky}");
    assert_eq!(bluesky["parts"][0]["text"], text.as_str());
    assert_eq!(bluesky["parts"][0]["weighted_length"], 240);

    let rejected = sb
        .call(
            "POST",
            "/v1/preview",
            Some(
                json!({"text": text, "overflow": "reject", "networks": ["x"]})
                    .to_string()
                    .as_bytes(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(rejected.status, 200);
    assert!(rejected.body["networks"][0]["error"]
        .as_str()
        .unwrap()
        .starts_with("content_too_long"));

    // Only X has a text of its own: Facebook would have nothing to post.
    let one_text = sb
        .call(
            "POST",
            "/v1/preview",
            Some(
                json!({"targets": [{"network": "x", "text": "只给 X"}], "networks": ["x", "facebook"]})
                    .to_string()
                    .as_bytes(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(one_text.status, 200, "{}", one_text.body);
    let [x, fb] = [0, 1].map(|i| &one_text.body["networks"][i]);
    assert_eq!(x["parts"][0]["text"], "只给 X");
    assert_eq!(fb["parts"], json!([]), "{fb}");
    assert!(
        fb["error"].as_str().unwrap().starts_with("no_text:"),
        "{fb}"
    );

    let bad = sb
        .call(
            "POST",
            "/v1/preview",
            Some(
                json!({"text": "x", "networks": ["myspace"], "mood": 1})
                    .to_string()
                    .as_bytes(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(posts_table_keys(&sb).await.is_empty());
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_recorded_but_never_queued_is_queued_by_the_repeated_request() {
    use crosspost_aws::DeliveryKey;
    use crosspost_core::Network;
    let sb = sandbox().await;
    // The first request wrote everything, then died before queueing (its lease on the
    // queueing has run out): write exactly that, without the webhook.
    let mut body = post("写进去了但没排队");
    body["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    let id = PostId::from_uuid(uuid::Uuid::now_v7());
    let answer = json!({"post_id": id, "status_url": format!("/v1/posts/{id}"), "deliveries": []});
    let keys = [DeliveryKey {
        network: Network::X,
        account_id: DEMO_X_ACCOUNT.into(),
    }];
    let lease_ran_out = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    record_as_intake(&sb, &id, &body, &keys, &answer.to_string(), lease_ran_out).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(sb.x.requests().is_empty(), "nothing was queued");

    let again = sb.submit(&body).await.unwrap();
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body, answer);
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published);
    // A third request finds everything queued and queues nothing more.
    let third = sb.submit(&body).await.unwrap();
    assert_eq!(third.status, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sb.x.tweets().len(), 1);
    assert_queues_empty(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_crosspost_command_posts_shows_status_and_previews() {
    let sb = sandbox().await;
    let bin = std::env::var_os("CROSSPOST_BIN_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::current_exe()
                .unwrap()
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .to_path_buf()
        })
        .join("crosspost");
    let run = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = std::process::Command::new(&bin)
            .args(args)
            .env("CROSSPOST_URL", sb.stack.api_url())
            .env("CROSSPOST_SECRET", sb.signing[0].expose())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the crosspost binary (cargo build --workspace)");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, out) = tokio::task::block_in_place(|| {
        run(
            &[
                "post",
                "--user",
                DEMO_USER,
                "--text",
                "命令行发的帖子",
                "--target",
                "x",
            ],
            None,
        )
    });
    assert!(ok, "{out}");
    assert!(out.starts_with("202 "), "{out}");
    let answer: Value = serde_json::from_str(out.trim_start_matches("202 ")).unwrap();
    let id = post_id(&answer);
    sb.wait_until_settled(&id, SETTLE).await.unwrap();
    let (ok, table) = tokio::task::block_in_place(|| run(&["status", id.as_str()], None));
    assert!(ok, "{table}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("POST") && lines[0].contains("STATUS"),
        "{table}"
    );
    assert!(
        lines[1].contains("PUBLISHED") && lines[1].contains(&sb.x.tweets()[0].id),
        "{table}"
    );

    let text = "春眠不觉晓".repeat(40);
    let (ok, json_out) =
        tokio::task::block_in_place(|| run(&["preview", "--network", "x"], Some(&text)));
    assert!(ok, "{json_out}");
    let preview: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(preview["network"], "x");
    let parts = preview["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{preview}");
    assert!(parts
        .iter()
        .all(|p| p["weighted_length"].as_u64().unwrap() <= 280));
    let (ok, _) = tokio::task::block_in_place(|| {
        run(
            &["preview", "--network", "x", "--overflow", "reject"],
            Some(&text),
        )
    });
    assert!(!ok, "reject exits non-zero for text that does not fit");
    // The text X gets under each mentions policy, and which part carries which image.
    let photos: Vec<String> = (1..=5)
        .map(|n| format!("https://cdn.example.com/{n}.jpg"))
        .collect();
    let mut args = vec!["preview", "--network", "x"];
    for url in &photos {
        args.extend(["--media", url.as_str()]);
    }
    let (ok, json_out) =
        tokio::task::block_in_place(|| run(&args, Some("@Lily 和 @小王 一起去爬山")));
    assert!(ok, "{json_out}");
    let preview: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(
        preview["parts"],
        json!([
            {"text": "@\u{2060}Lily 和 @小王 一起去爬山", "weighted_length": 27},
            {"text": "", "weighted_length": 0}
        ])
    );
    assert_eq!(preview["media"]["attached"][4]["part"], 1, "{preview}");
    let (ok, json_out) = tokio::task::block_in_place(|| {
        run(
            &["preview", "--network", "x", "--mentions", "keep"],
            Some("@Lily 和 @小王 一起去爬山"),
        )
    });
    assert!(ok, "{json_out}");
    let preview: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(preview["parts"][0]["text"], "@Lily 和 @小王 一起去爬山");

    // `crosspost link`: the consent page to open, or (--follow) the whole flow here.
    let (ok, url) = tokio::task::block_in_place(|| run(&["link", "x", "--user", "cli-user"], None));
    assert!(ok, "{url}");
    assert!(
        url.trim()
            .starts_with(&format!("{}/i/oauth2/authorize?", sb.x.base_url())),
        "{url}"
    );
    let (ok, back) =
        tokio::task::block_in_place(|| run(&["link", "x", "--user", "cli-user", "--follow"], None));
    assert!(ok, "{back}");
    assert_eq!(
        back.trim(),
        format!(
            "http://localhost/crosspost/linked?status=linked&network=x&account_id={DEMO_X_ACCOUNT}"
        )
    );
    let accounts = sb
        .call("GET", "/v1/users/cli-user/accounts", None)
        .await
        .unwrap();
    assert_eq!(accounts.body["accounts"][0]["account_id"], DEMO_X_ACCOUNT);
    let (ok, refused) = tokio::task::block_in_place(|| {
        run(
            &[
                "link",
                "x",
                "--user",
                "cli-user",
                "--return-url",
                "https://elsewhere.example/",
            ],
            None,
        )
    });
    assert!(!ok, "a return URL off the allow-list fails: {refused}");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_users_linked_accounts_are_listed_without_their_tokens() {
    let sb = sandbox().await;
    let a = sb
        .call("GET", &format!("/v1/users/{DEMO_USER}/accounts"), None)
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["user_id"], DEMO_USER);
    let mut listed: Vec<(String, String, String)> = a.body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["network"].as_str().unwrap().to_owned(),
                x["account_id"].as_str().unwrap().to_owned(),
                x["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            (
                "facebook".to_owned(),
                crosspost_cli::sandbox::DEMO_FACEBOOK_PAGE.to_owned(),
                "ACTIVE".to_owned()
            ),
            (
                "x".to_owned(),
                DEMO_X_ACCOUNT.to_owned(),
                "ACTIVE".to_owned()
            ),
        ]
    );
    let text = a.body.to_string();
    assert!(!text.contains(sb.x_token.expose()) && !text.contains(sb.facebook_token.expose()));
    assert!(!text.contains("sealed"), "no sealed token either: {text}");

    let nobody = sb
        .call("GET", "/v1/users/nobody/accounts", None)
        .await
        .unwrap();
    assert_eq!((nobody.status, &nobody.body["accounts"]), (200, &json!([])));
    let unsigned = sb
        .client
        .call_with_headers("GET", &format!("/v1/users/{DEMO_USER}/accounts"), b"", &[])
        .await
        .unwrap();
    assert_eq!(unsigned.status, 401);
    sb.stop().await;
}
