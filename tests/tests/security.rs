//! Security as an attacker tries it, on the local stack with the production media rules
//! (`MEDIA_HOSTS=public`): media redirects into our network, internal addresses at
//! intake, signed headers replayed onto other routes or twice, a webhook id reused with
//! another body, ids that used to collide in keys, and duplicate JSON keys.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_aws::{DeliveryKey, DeliveryQueues};
use crosspost_cli::sandbox::{DEMO_FACEBOOK_PAGE, DEMO_USER, DEMO_X_ACCOUNT};
use crosspost_cli::{Sandbox, SandboxOptions};
use crosspost_core::{DeliveryStatus, Network, PostId};
use crosspost_fakes::{tiny_png, MediaHost};
use crosspost_tests::{accepted, post, record_as_intake};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);
/// The name the media server stands in for a public host under.
const PUBLIC_NAME: &str = "media.test";

/// The stack with the production media rules, `media.test` standing in for a public
/// host served by `public`, and one attempt per delivery.
async fn production_rules(public: &MediaHost) -> Sandbox {
    let mut options = SandboxOptions::from_env();
    options
        .env_overrides
        .insert("MEDIA_HOSTS".into(), "public".into());
    options.env_overrides.insert(
        "MEDIA_STAND_INS".into(),
        format!("{PUBLIC_NAME}={}", public.addr()),
    );
    options
        .parameter_overrides
        .insert("MaxAttempts".into(), "1".into());
    Sandbox::start(options)
        .await
        .expect("the local stack starts")
}

fn public_url(public: &MediaHost, path: &str) -> String {
    format!("http://{PUBLIC_NAME}:{}{path}", public.addr().port())
}

/// Records a post with this media for the demo user's X account and queues it, as
/// intake would have (intake itself takes only https media URLs, which the test's
/// media server does not serve).
async fn queue_post_with_media(sb: &Sandbox, url: &str) -> PostId {
    queue_post_to(sb, Network::X, DEMO_X_ACCOUNT, url).await
}

/// [`queue_post_with_media`] for the demo account on `network`.
async fn queue_post_to(sb: &Sandbox, network: Network, account: &str, url: &str) -> PostId {
    let body = json!({
        "id": format!("src-{}", uuid::Uuid::now_v7().simple()),
        "user_id": DEMO_USER,
        "text": "图片在这里",
        "media": [{"url": url, "content_type": "image/png"}],
        "targets": [{"network": network.as_str(), "account_id": account}],
    });
    let id = PostId::from_uuid(uuid::Uuid::now_v7());
    let now = time::OffsetDateTime::now_utc();
    let key = DeliveryKey {
        network,
        account_id: account.into(),
    };
    record_as_intake(sb, &id, &body, std::slice::from_ref(&key), "{}", now).await;
    let queue = match network {
        Network::X => "XQueue",
        Network::Facebook => "FacebookQueue",
        Network::Bluesky => "BlueskyQueue",
    };
    let queues = DeliveryQueues::new(
        crosspost_aws::aws_sdk_sqs::Client::new(&sb.stack.sdk_config()),
        BTreeMap::from([(network, sb.stack.queue_url(queue).unwrap().to_owned())]),
    );
    queues
        .enqueue(&[crosspost_core::DeliveryMessage {
            op: crosspost_core::DeliveryOp::Publish,
            post_id: id.clone(),
            network,
            account_id: account.into(),
        }])
        .await
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn media_redirects_into_our_network_reach_nothing_and_fail_naming_the_hop() {
    let public = MediaHost::start().await.unwrap();
    let internal = MediaHost::start().await.unwrap();
    internal.serve(
        "/latest/meta-data/iam/security-credentials/",
        "text/plain",
        b"role".to_vec(),
    );
    internal.serve("/hop", "image/png", tiny_png());
    public.serve("/final.png", "image/png", tiny_png());
    let sb = production_rules(&public).await;

    let loopback = format!(
        "http://127.0.0.1:{}/latest/meta-data/iam/security-credentials/",
        internal.addr().port()
    );
    public.redirect("/to-loopback", 302, &loopback);
    public.redirect(
        "/to-metadata",
        302,
        "https://169.254.169.254/latest/meta-data/",
    );
    // public → internal → public: the middle hop stops the chain.
    let middle = format!("https://127.0.0.1:{}/hop", internal.addr().port());
    public.redirect("/to-middle", 307, &middle);
    internal.redirect("/hop", 302, &public_url(&public, "/final.png"));

    for (path, refused_hop) in [
        (
            "/to-loopback",
            format!(
                "redirect 1 to http://127.0.0.1:{}/latest/meta-data/iam/security-credentials/",
                internal.addr().port()
            ),
        ),
        (
            "/to-metadata",
            "redirect 1 to https://169.254.169.254/latest/meta-data/".to_owned(),
        ),
        (
            "/to-middle",
            format!(
                "redirect 1 to https://127.0.0.1:{}/hop",
                internal.addr().port()
            ),
        ),
    ] {
        let id = queue_post_with_media(&sb, &public_url(&public, path)).await;
        let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
        let d = &ds[0];
        assert_eq!(d.status, DeliveryStatus::Failed, "{path}: {d:?}");
        let err = d.last_error.as_ref().unwrap();
        assert_eq!(err.kind, "media_unavailable", "{path}: {err:?}");
        assert!(err.message.contains("media_refused"), "{path}: {err:?}");
        assert!(err.message.contains(&refused_hop), "{path}: {err:?}");
        assert_eq!(
            public.hits(path),
            1,
            "{path}: the public first hop was fetched"
        );
    }
    assert_eq!(
        internal.total_hits(),
        0,
        "no request reached the internal server"
    );
    assert_eq!(public.hits("/final.png"), 0);
    assert!(sb.x.tweets().is_empty());
    assert!(sb.x.uploaded_media().is_empty());

    // The same rules let an honest redirect on public hosts through.
    public.redirect("/moved.png", 301, "/final.png");
    let id = queue_post_with_media(&sb, &public_url(&public, "/moved.png")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{:?}", ds[0]);
    // Read twice: its first bytes tell what it is (the media plan), then the upload.
    assert_eq!(public.hits("/final.png"), 2);

    // Facebook fetches photos itself, but only from URLs the same rules let through.
    let id = queue_post_to(
        &sb,
        Network::Facebook,
        DEMO_FACEBOOK_PAGE,
        "https://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    )
    .await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Failed, "{:?}", ds[0]);
    let err = ds[0].last_error.as_ref().unwrap();
    assert_eq!(err.kind, "media_unavailable", "{err:?}");
    assert!(err.message.contains("reaches 169.254.169.254"), "{err:?}");
    assert!(sb.facebook.photos().is_empty() && sb.facebook.posts().is_empty());

    // Intake refuses every address of the attack, naming the block.
    for (url, why) in [
        ("https://[::127.0.0.1]/a.png", "IPv4-compatible"),
        ("https://[64:ff9b::a9fe:a9fe]/a.png", "169.254.169.254"),
        ("https://[2002:7f00:1::]/a.png", "6to4"),
        ("https://[fec0::1]/a.png", "site-local"),
        ("https://192.0.0.192/a.png", "IETF protocol assignments"),
        ("https://198.18.0.1/a.png", "benchmarking"),
        ("https://224.0.0.1/a.png", "multicast"),
        ("https://192.0.2.1/a.png", "documentation"),
        ("https://localhost/a.png", "local name"),
        // Other spellings of loopback and the metadata address, and userinfo tricks.
        ("https://2130706433/a.png", "127.0.0.0/8"),
        ("https://0x7f.1/a.png", "127.0.0.0/8"),
        ("https://017700000001/a.png", "127.0.0.0/8"),
        ("https://0xa9fea9fe/a.png", "169.254.0.0/16"),
        ("https://[::ffff:7f00:1]/a.png", "127.0.0.0/8"),
        ("https://public.example@127.0.0.1/a.png", "credentials"),
        ("https://127.0.0.1\\@public.example/a.png", "127.0.0.0/8"),
        ("https://[fe80::1%25eth0]/a.png", "not a URL"),
    ] {
        let mut body = post("坏地址");
        body["media"] = json!([{"url": url}]);
        let a = sb.submit(&body).await.unwrap();
        assert_eq!(a.status, 422, "{url}: {}", a.body);
        assert_eq!(a.body["errors"][0]["pointer"], "/media/0/url", "{url}");
        let detail = a.body["errors"][0]["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(why), "{url}: {detail}");
    }
    sb.stop().await;
}

/// Sends `body` to `method path` with exactly these headers.
async fn send(
    sb: &Sandbox,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> crosspost_cli::client::Answer {
    sb.client
        .call_with_headers(method, path, body, headers)
        .await
        .unwrap()
}

/// The signature headers of a chosen id, time and signature, and a JSON content type.
fn signed_headers<'a>(
    id: &'a str,
    timestamp: &'a str,
    signature: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
        ("content-type", "application/json"),
    ]
}

/// The three signature headers of a signed request.
fn header_refs<'a>(h: &'a [(&'static str, String); 3]) -> Vec<(&'static str, &'a str)> {
    let mut v: Vec<(&'static str, &'a str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    v.push(("content-type", "application/json"));
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_headers_work_once_and_only_on_their_own_route() {
    let sb = crosspost_tests::sandbox().await;
    let id = accepted(&sb, &post("别删我")).await;

    // One signed empty-body GET, resent unchanged on other routes and again.
    let list = format!("/v1/users/{DEMO_USER}/accounts");
    let h = sb.client.sign_request("GET", &list, b"");
    let refs = header_refs(&h);
    let first = send(&sb, "GET", &list, b"", &refs).await;
    assert_eq!(first.status, 200, "{}", first.body);
    for (method, path) in [
        ("DELETE", format!("/v1/posts/{id}")),
        ("POST", format!("/v1/posts/{id}/retry")),
        ("GET", list.clone()),
    ] {
        let a = send(&sb, method, &path, b"", &refs).await;
        assert_eq!(a.status, 401, "{method} {path}: {}", a.body);
    }
    // Fresh headers for another route, sent before their first use there, also fail
    // elsewhere: the signature names its route.
    let h = sb.client.sign_request("GET", &list, b"");
    let a = send(
        &sb,
        "DELETE",
        &format!("/v1/posts/{id}"),
        b"",
        &header_refs(&h),
    )
    .await;
    assert_eq!(a.status, 401);
    let status = sb
        .call("GET", &format!("/v1/posts/{id}"), None)
        .await
        .unwrap();
    assert_eq!(
        status.status, 200,
        "the post is still there: {}",
        status.body
    );
    assert!(status.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["status"] != "DELETED" && d["status"] != "DELETING"));

    // The query is signed too: headers for the list with a query do not open it
    // without, nor the other way round.
    let with_query = format!("{list}?network=x");
    for (signed_for, sent_to) in [(&with_query, &list), (&list, &with_query)] {
        let h = sb.client.sign_request("GET", signed_for, b"");
        let a = send(&sb, "GET", sent_to, b"", &header_refs(&h)).await;
        assert_eq!(a.status, 401, "signed for {signed_for}, sent to {sent_to}");
    }

    // A signed POST /v1/connect/x gives one authorize_url; replayed (there or to
    // facebook) it gives none.
    let body = json!({"user_id": DEMO_USER, "return_url": "http://localhost/crosspost/linked"})
        .to_string();
    let h = sb
        .client
        .sign_request("POST", "/v1/connect/x", body.as_bytes());
    let refs = header_refs(&h);
    let a = send(&sb, "POST", "/v1/connect/x", body.as_bytes(), &refs).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["authorize_url"].is_string());
    for path in ["/v1/connect/x", "/v1/connect/facebook"] {
        let a = send(&sb, "POST", path, body.as_bytes(), &refs).await;
        assert_eq!(a.status, 401, "{path}: {}", a.body);
        assert!(a.body.get("authorize_url").is_none());
    }

    // A plain Standard Webhooks signature (the intake's) opens no other route.
    let h = sb.client.sign(b"");
    let a = send(&sb, "GET", &list, b"", &header_refs(&h)).await;
    assert_eq!(a.status, 401);

    // The intake: the same webhook-id with the same body is the first answer; with
    // another body, 409 and nothing new.
    let one = post("第一条");
    let one_text = one.to_string();
    let h = sb.client.sign(one_text.as_bytes());
    let refs = header_refs(&h);
    let intake = || send(&sb, "POST", "/v1/posts", one_text.as_bytes(), &refs);
    let a = intake().await;
    assert_eq!(a.status, 202, "{}", a.body);
    let again = intake().await;
    assert_eq!((again.status, &again.body), (202, &a.body));
    let other = post("第二条").to_string();
    let ts: i64 = h[1].1.parse().unwrap();
    let secret = crosspost_core::signing::SigningSecret::parse(&sb.signing[0]).unwrap();
    let sig = secret.sign(&h[0].1, ts, other.as_bytes());
    let reused = signed_headers(h[0].1.as_str(), h[1].1.as_str(), sig.expose());
    let conflict = send(&sb, "POST", "/v1/posts", other.as_bytes(), &reused).await;
    assert_eq!(conflict.status, 409, "{}", conflict.body);
    assert_eq!(conflict.headers["content-type"], "application/problem+json");
    assert!(
        conflict.body["detail"]
            .as_str()
            .unwrap()
            .contains("another body"),
        "{}",
        conflict.body
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_holding_key_delimiters_do_not_collide_and_duplicate_keys_are_refused() {
    let sb = crosspost_tests::sandbox().await;
    let other_user = format!("{DEMO_USER}#K");
    sb.link_x_account(&other_user, "777000111").await.unwrap();
    let mut a = post("用户一");
    a["id"] = json!("K#z");
    a["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    let mut b = post("用户二");
    b["id"] = json!("z");
    b["user_id"] = json!(other_user);
    let first = accepted(&sb, &a).await;
    let second = accepted(&sb, &b).await;
    assert_ne!(first, second);
    for id in [&first, &second] {
        let ds = sb.wait_until_settled(id, SETTLE).await.unwrap();
        assert_eq!(ds[0].status, DeliveryStatus::Published, "{:?}", ds[0]);
    }
    let accounts = sb
        .call(
            "GET",
            &format!("/v1/users/{}/accounts", other_user.replace('#', "%23")),
            None,
        )
        .await
        .unwrap();
    assert_eq!(accounts.status, 200, "{}", accounts.body);
    assert_eq!(
        accounts.body["accounts"].as_array().unwrap().len(),
        1,
        "{}",
        accounts.body
    );

    // The longest ids intake takes (256 characters of 4 bytes each), and a webhook id
    // of 3,000 characters, make keys DynamoDB takes: they used to answer 503 "storage
    // is unavailable; send the request again", which no resend could cure.
    let long_user = "😀".repeat(256);
    sb.link_x_account(&long_user, "777000222").await.unwrap();
    let mut long = post("长的标识");
    long["id"] = json!("😀".repeat(256));
    long["user_id"] = json!(long_user);
    let body = long.to_string();
    let webhook_id = "w".repeat(3000);
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let secret = crosspost_core::signing::SigningSecret::parse(&sb.signing[0]).unwrap();
    let sig = secret.sign(&webhook_id, ts, body.as_bytes());
    let ts_text = ts.to_string();
    let headers = signed_headers(webhook_id.as_str(), ts_text.as_str(), sig.expose());
    let first = send(&sb, "POST", "/v1/posts", body.as_bytes(), &headers).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let again = send(&sb, "POST", "/v1/posts", body.as_bytes(), &headers).await;
    assert_eq!((again.status, &again.body), (202, &first.body));
    let long_id = PostId::parse(first.body["post_id"].as_str().unwrap()).unwrap();
    let ds = sb.wait_until_settled(&long_id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{:?}", ds[0]);
    let target = format!(
        "/v1/users/{}/accounts",
        percent_encoding::utf8_percent_encode(&long_user, percent_encoding::NON_ALPHANUMERIC)
    );
    let sig = crosspost_core::signing::sign_request(&secret, &webhook_id, ts, "GET", &target, b"");
    let headers = [
        ("webhook-id", webhook_id.as_str()),
        ("webhook-timestamp", ts_text.as_str()),
        ("webhook-signature", sig.expose()),
    ];
    let listed = send(&sb, "GET", &target, b"", &headers).await;
    assert_eq!(
        listed.status, 401,
        "the intake's webhook id is used: {}",
        listed.body
    );
    let h = sb.client.sign_request("GET", &target, b"");
    let listed = send(&sb, "GET", &target, b"", &header_refs(&h)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["accounts"][0]["account_id"], "777000222");

    // A user id is one id whatever its Unicode form: linked as `Cafe` + combining
    // acute (NFD), posted and listed as either form. Intake normalises to NFC; linking
    // and the paths used not to, so the post found no linked account.
    let decomposed = "Cafe\u{301}-nfc";
    let composed = "Caf\u{e9}-nfc";
    let back = sb.link_by_consent(Network::X, decomposed).await.unwrap();
    assert!(back.linked(), "{:?}", back.url);
    for user in [decomposed, composed] {
        let mut p = post(&format!("同一个用户 {}", user.len()));
        p["user_id"] = json!(user);
        let id = accepted(&sb, &p).await;
        let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
        assert_eq!(
            ds[0].status,
            DeliveryStatus::Published,
            "{user:?}: {:?}",
            ds[0]
        );
        let path = format!(
            "/v1/users/{}/accounts",
            percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC)
        );
        let listed = sb.call("GET", &path, None).await.unwrap();
        assert_eq!(
            listed.body["accounts"].as_array().map(Vec::len),
            Some(1),
            "{user:?}: {}",
            listed.body
        );
    }

    // "text" twice: neither value is taken.
    let id = format!("dup-{}", uuid::Uuid::now_v7().simple());
    let body = format!(r#"{{"id":"{id}","user_id":"{DEMO_USER}","text":"one","text":"two"}}"#);
    let a = sb
        .call("POST", "/v1/posts", Some(body.as_bytes()))
        .await
        .unwrap();
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["errors"][0]["pointer"], "/text", "{}", a.body);
    assert!(
        a.body["detail"].as_str().unwrap().contains("`text`"),
        "{}",
        a.body
    );
    let preview = br#"{"text":"a","networks":["x"],"networks":["facebook"]}"#;
    let p = sb.call("POST", "/v1/preview", Some(preview)).await.unwrap();
    assert_eq!(
        (p.status, p.body["errors"][0]["pointer"].clone()),
        (422, json!("/networks"))
    );
    let link = br#"{"user_id":"a","user_id":"b","return_url":"http://localhost/crosspost/linked"}"#;
    let l = sb.call("POST", "/v1/connect/x", Some(link)).await.unwrap();
    assert_eq!(
        (l.status, l.body["errors"][0]["pointer"].clone()),
        (422, json!("/user_id"))
    );
    assert!(sb
        .x
        .tweets()
        .iter()
        .all(|t| t.text != "one" && t.text != "two"));
    sb.stop().await;
}

/// Signs `body` with the stock Standard Webhooks library (`standardwebhooks` from the
/// tools venv, found through CROSSPOST_TOOLS as the Makefile exports it).
fn stock_library_signs(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    const SIGN: &str = r#"
import json, sys
from datetime import datetime, timezone
from standardwebhooks.webhooks import Webhook
req = json.load(sys.stdin)
ts = datetime.fromtimestamp(req["timestamp"], tz=timezone.utc)
print(Webhook(req["secret"]).sign(req["id"], ts, req["body"]))
"#;
    let tools = std::env::var_os("CROSSPOST_TOOLS")
        .expect("CROSSPOST_TOOLS is not set: run this test through `make e2e`");
    let python = std::path::PathBuf::from(tools).join("venv/bin/python");
    let mut child = Command::new(&python)
        .args(["-c", SIGN])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not run ({e}): `make tools`", python.display()));
    let request = json!({"secret": secret, "id": id, "timestamp": timestamp, "body": body});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the standardwebhooks library failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stock_standard_webhooks_library_signs_the_intake_and_nothing_else() {
    let sb = crosspost_tests::sandbox().await;
    let body = post("用标准库签名").to_string();
    let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = stock_library_signs(sb.signing[0].expose(), &id, ts, &body);
    let ts_text = ts.to_string();
    let headers = signed_headers(id.as_str(), ts_text.as_str(), sig.as_str());
    let a = send(&sb, "POST", "/v1/posts", body.as_bytes(), &headers).await;
    assert_eq!(a.status, 202, "{}", a.body);
    // What the library signs for an empty body opens no other route.
    let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let sig = stock_library_signs(sb.signing[0].expose(), &id, ts, "");
    let headers = [
        ("webhook-id", id.as_str()),
        ("webhook-timestamp", ts_text.as_str()),
        ("webhook-signature", sig.as_str()),
    ];
    let list = format!("/v1/users/{DEMO_USER}/accounts");
    let a = send(&sb, "GET", &list, b"", &headers).await;
    assert_eq!(a.status, 401, "{}", a.body);
    sb.stop().await;
}

/// A post goes to at most 97 accounts: its post, source guard, webhook id and
/// deliveries are written in one DynamoDB transaction, which takes 100 items. A user
/// with more linked Pages used to get 503 "send the request again" for ever, and a
/// body of thousands of targets made one account lookup each.
#[tokio::test(flavor = "multi_thread")]
async fn a_post_to_more_accounts_than_one_transaction_holds_is_refused_saying_so() {
    let sb = crosspost_tests::sandbox().await;
    let user = format!("many-pages-{}", uuid::Uuid::now_v7().simple());
    for page in 0..98 {
        sb.link_facebook_page(&user, &format!("5{page:05}"))
            .await
            .unwrap();
    }
    let mut p = post("给所有主页");
    p["user_id"] = json!(user);
    let a = sb.submit(&p).await.unwrap();
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["errors"][0]["pointer"], "/targets", "{}", a.body);
    let detail = a.body["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("98 accounts") && detail.contains("97"),
        "{detail}"
    );

    // 97 of them, named, are one post.
    let targets: Vec<_> = (0..97)
        .map(|page| json!({"network": "facebook", "account_id": format!("5{page:05}")}))
        .collect();
    p["targets"] = json!(targets);
    let id = accepted(&sb, &p).await;
    let status = sb
        .call("GET", &format!("/v1/posts/{id}"), None)
        .await
        .unwrap();
    assert_eq!(status.body["deliveries"].as_array().unwrap().len(), 97);

    // More targets than that are refused before any is looked up.
    let targets: Vec<_> = (0..5000)
        .map(|n| json!({"network": "x", "account_id": format!("{n}")}))
        .collect();
    let mut p = post("太多目标");
    p["targets"] = json!(targets);
    let a = sb.submit(&p).await.unwrap();
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(a.body["errors"].as_array().unwrap().len(), 1, "{}", a.body);
    assert_eq!(a.body["errors"][0]["pointer"], "/targets", "{}", a.body);
    sb.stop().await;
}
