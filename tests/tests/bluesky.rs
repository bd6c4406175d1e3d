//! Bluesky on the local stack, against Bluesky's own server software: the ATProto PDS
//! the local stack runs (no fake). The demo user's account is linked through
//! `POST /v1/connect/bluesky` with an app password; the records are read back from the
//! PDS (`com.atproto.repo.listRecords`, `getRecord`) and every facet is checked by
//! slicing the text's UTF-8 bytes, since the PDS does not check facet ranges itself.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use crosspost_aws::DeliveryRecord;
use crosspost_cli::{Sandbox, SandboxOptions, DEMO_USER};
use crosspost_core::text::bluesky::graphemes;
use crosspost_core::Secret;
use crosspost_core::{AccountStatus, DeliveryStatus, LinkedAccount, Network, PostId};
use crosspost_fakes::FaultProxy;
use crosspost_local::{Pds, PdsAccount};
use crosspost_networks::bluesky::{record_key, AccessToken, BlueskyRefresher, SessionCredentials};
use crosspost_tests::{
    accepted, bluesky_sandbox, bluesky_sandbox_with, compressed_lease, delete_and_confirm,
    link_bluesky_via, list_bluesky_posts, post, unlink, wait_for,
};
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(90);

fn pds(sb: &Sandbox) -> Pds {
    sb.stack.pds().expect("the PDS runs").clone()
}

fn demo(sb: &Sandbox) -> PdsAccount {
    sb.bluesky
        .clone()
        .expect("the demo Bluesky account is linked")
}

fn to_bluesky(text: &str, account: &str) -> Value {
    let mut body = post(text);
    body["targets"] = json!([{"network": "bluesky", "account_id": account}]);
    body
}

/// The account's posts on the PDS, oldest first.
async fn list_records(pds: &Pds, did: &str) -> Vec<Value> {
    list_bluesky_posts(pds.url(), did).await
}

async fn get_record(pds: &Pds, uri: &str) -> Option<Value> {
    let rest = uri.strip_prefix("at://").unwrap();
    let parts: Vec<&str> = rest.split('/').collect();
    let resp = reqwest::Client::new()
        .get(format!("{}/xrpc/com.atproto.repo.getRecord", pds.url()))
        .query(&[
            ("repo", parts[0]),
            ("collection", parts[1]),
            ("rkey", parts[2]),
        ])
        .send()
        .await
        .unwrap();
    if resp.status().is_success() {
        Some(resp.json().await.unwrap())
    } else {
        None
    }
}

async fn settled(sb: &Sandbox, id: &PostId) -> DeliveryRecord {
    let ds = sb.wait_until_settled(id, SETTLE).await.unwrap();
    assert_eq!(ds.len(), 1, "{ds:?}");
    ds.into_iter().next().unwrap()
}

/// The text of a facet: its byte range sliced out of the UTF-8 text (failing on a
/// range past the end, reversed, or inside a character).
fn facet_text(text: &str, facet: &Value) -> String {
    let start = facet["index"]["byteStart"].as_u64().unwrap() as usize;
    let end = facet["index"]["byteEnd"].as_u64().unwrap() as usize;
    assert!(
        start < end && end <= text.len(),
        "range {start}..{end} of {text}"
    );
    String::from_utf8(text.as_bytes()[start..end].to_vec())
        .unwrap_or_else(|_| panic!("range {start}..{end} cuts a character of {text}"))
}

/// An HS256 access token for `did` signed with the PDS's secret, expired a minute ago:
/// what a stored token is two hours after its session was made.
fn expired_access_token(pds: &Pds, did: &str) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = b64(br#"{"typ":"at+jwt","alg":"HS256"}"#);
    let claims = b64(json!({
        "scope": "com.atproto.appPass",
        "aud": "did:web:localhost",
        "sub": did,
        "iat": now - 7260,
        "exp": now - 60,
    })
    .to_string()
    .as_bytes());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(pds.jwt_secret().as_bytes()).unwrap();
    mac.update(format!("{header}.{claims}").as_bytes());
    let sig = b64(&mac.finalize().into_bytes());
    format!("{header}.{claims}.{sig}")
}

/// Replaces the stored access token of `user`'s Bluesky account `did` by an expired
/// one; the stored expiry still says it works, so only the PDS's refusal shows it.
async fn expire_stored_token(sb: &Sandbox, user: &str, did: &str) {
    let account: LinkedAccount = sb
        .accounts
        .get(user, Network::Bluesky, did)
        .await
        .unwrap()
        .unwrap();
    let mut access = AccessToken::from_secret(&account.access_token).unwrap();
    access.access_jwt = expired_access_token(&pds(sb), did);
    let refresh = account.refresh_token.clone();
    let mut account = account.with_tokens(access.to_secret(), refresh);
    account.access_expires_at = Some(time::OffsetDateTime::now_utc().unix_timestamp() + 3600);
    sb.accounts
        .put(&account, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_chinese_post_is_a_thread_with_exact_facets_and_delete_removes_it() {
    let sb = bluesky_sandbox().await;
    let pds = pds(&sb);
    let alice = demo(&sb);

    // Linked through the API: the account is the DID, named by its handle.
    let stored = sb
        .accounts
        .get(DEMO_USER, Network::Bluesky, &alice.did)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, AccountStatus::Active);
    assert_eq!(stored.display_name, format!("@{}", alice.handle));
    assert!(stored.refresh_token.is_some() && stored.access_expires_at.is_some());
    // Sealed at rest: neither the app password nor a session token is in the table.
    let access = AccessToken::from_secret(&stored.access_token).unwrap();
    let creds = SessionCredentials::from_secret(stored.refresh_token.as_ref().unwrap()).unwrap();
    assert_eq!(creds.app_password, alice.app_password);
    let table = format!("{:?}", crosspost_tests::accounts_table_items(&sb).await);
    for secret in [&alice.app_password, &access.access_jwt, &creds.refresh_jwt] {
        assert!(
            !table.contains(secret.as_str()),
            "a Bluesky secret is stored in clear"
        );
    }

    let link = "https://example.com/tea/longjing-2026-spring-harvest?from=crosspost";
    let text = format!(
        "{}读这篇：{link} #西湖龙井 {}请告诉 @friend 一声。",
        "春天的龙井茶香气清新，茶园在杭州西湖边，我们一早就上山采茶。".repeat(10),
        "下午回到城里，朋友们一起泡茶聊天，说起小时候的故事。".repeat(13),
    );
    let chars = text.chars().count();
    assert!((690..=760).contains(&chars), "{chars} characters");
    let id = accepted(&sb, &to_bluesky(&text, &alice.did)).await;
    let d = settled(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    assert_eq!(d.parts.len(), 3, "{d:?}");

    let records = list_records(&pds, &alice.did).await;
    assert_eq!(records.len(), 3, "{records:#?}");
    let uris: Vec<&str> = records.iter().map(|r| r["uri"].as_str().unwrap()).collect();
    let recorded: Vec<&str> = d.parts.iter().map(|p| p.remote_id.as_str()).collect();
    assert_eq!(uris, recorded, "the delivery names the records, in order");
    let mut links = 0;
    let mut tags = 0;
    for (i, r) in records.iter().enumerate() {
        let value = &r["value"];
        let shown = value["text"].as_str().unwrap();
        assert!(graphemes(shown) <= 300, "part {i}: {shown}");
        assert!(shown.len() <= 3000);
        assert!(shown.ends_with(&format!("({}/3)", i + 1)), "{shown}");
        assert!(!shown.contains("https://"), "links show short: {shown}");
        for f in value["facets"].as_array().cloned().unwrap_or_default() {
            let sliced = facet_text(shown, &f);
            let feature = &f["features"][0];
            match feature["$type"].as_str().unwrap() {
                "app.bsky.richtext.facet#link" => {
                    links += 1;
                    assert_eq!(feature["uri"], link, "the facet keeps the full URI");
                    assert!(sliced.starts_with("example.com/tea/"), "{sliced}");
                    assert!(link.contains(sliced.trim_end_matches('…')), "{sliced}");
                }
                "app.bsky.richtext.facet#tag" => {
                    tags += 1;
                    assert_eq!(sliced, "#西湖龙井");
                    assert_eq!(feature["tag"], "西湖龙井");
                }
                other => panic!("part {i}: unexpected facet {other} over `{sliced}`"),
            }
        }
        // Mentions follow the post's policy, `plain` by default: no mention facet.
        if shown.contains("@friend") {
            assert!(!value.to_string().contains("#mention"), "{value}");
        }
        // Reply refs: every later part replies to the one before, in the first's thread.
        if i == 0 {
            assert!(value.get("reply").is_none(), "{value}");
        } else {
            assert_eq!(value["reply"]["root"]["uri"], records[0]["uri"]);
            assert_eq!(value["reply"]["root"]["cid"], records[0]["cid"]);
            assert_eq!(value["reply"]["parent"]["uri"], records[i - 1]["uri"]);
            assert_eq!(value["reply"]["parent"]["cid"], records[i - 1]["cid"]);
        }
    }
    assert_eq!((links, tags), (1, 1), "one link and one tag facet");
    assert!(
        records
            .iter()
            .any(|r| r["value"]["text"].as_str().unwrap().contains("@friend")),
        "the handle is kept as text"
    );

    // DELETE: every part's record is gone from the PDS.
    delete_and_confirm(&sb, &id, SETTLE).await;
    for uri in &recorded {
        assert!(
            get_record(&pds, uri).await.is_none(),
            "{uri} is still there"
        );
    }
    assert!(list_records(&pds, &alice.did).await.is_empty());
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn under_keep_a_handle_that_resolves_becomes_a_mention_and_the_status_shows_the_post() {
    let sb = bluesky_sandbox().await;
    let pds = pds(&sb);
    let alice = demo(&sb);
    let friend = pds.create_account("teafriend").await.unwrap();
    let text = format!(
        "今天和 @{} 喝茶，也想请 @nobody.test 和 @小明 来。写信到 tea@example.com 或看 https://example.com/@{} #茶 (https://zh.wikipedia.org/wiki/龙井茶)",
        friend.handle.to_uppercase(),
        friend.handle
    );
    // The preview shows the text as Bluesky will (links shortened), the same under
    // either policy.
    let mut preview = json!({"text": text, "mentions": "keep", "networks": ["bluesky"]});
    let previewed = sb
        .call("POST", "/v1/preview", Some(preview.to_string().as_bytes()))
        .await
        .unwrap();
    assert_eq!(previewed.status, 200, "{}", previewed.body);
    assert_eq!(previewed.body["networks"][0]["network"], "bluesky");
    let previewed_text = previewed.body["networks"][0]["parts"][0]["text"].clone();
    assert!(
        previewed_text
            .as_str()
            .unwrap()
            .contains(&format!(" example.com/@{} #茶", friend.handle)),
        "{previewed_text}"
    );
    preview["mentions"] = json!("plain");
    let plain = sb
        .call("POST", "/v1/preview", Some(preview.to_string().as_bytes()))
        .await
        .unwrap();
    assert_eq!(
        plain.body["networks"][0]["parts"],
        previewed.body["networks"][0]["parts"]
    );

    let mut body = to_bluesky(&text, &alice.did);
    body["mentions"] = json!("keep");
    let id = accepted(&sb, &body).await;
    let d = settled(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    let records = list_records(&pds, &alice.did).await;
    assert_eq!(records.len(), 1, "{records:#?}");
    let value = &records[0]["value"];
    let shown = value["text"].as_str().unwrap();
    assert_eq!(
        previewed_text, shown,
        "the preview showed what Bluesky shows"
    );
    assert!(
        shown.contains("@小明") && shown.contains("@nobody.test"),
        "{shown}"
    );
    let mentions: Vec<(String, Value)> = value["facets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["features"][0]["$type"] == "app.bsky.richtext.facet#mention")
        .map(|f| (facet_text(shown, f), f["features"][0]["did"].clone()))
        .collect();
    // One mention: the handle the PDS resolves, at its exact bytes, with its DID; the
    // unknown handle, the WeChat nickname, the email and the @ inside the link stay text.
    assert_eq!(
        mentions,
        [(
            format!("@{}", friend.handle.to_uppercase()),
            json!(friend.did)
        )],
        "{value}"
    );

    // Links as Bluesky's app finds them: a path in any script is the link's up to the
    // next white space, the closing paren left out; each facet's bytes are the link as
    // shown, and its URI the link as written.
    let links: Vec<(String, Value)> = value["facets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["features"][0]["$type"] == "app.bsky.richtext.facet#link")
        .map(|f| (facet_text(shown, f), f["features"][0]["uri"].clone()))
        .collect();
    assert_eq!(
        links,
        [
            (
                format!("example.com/@{}", friend.handle),
                json!(format!("https://example.com/@{}", friend.handle))
            ),
            (
                "zh.wikipedia.org/wiki/龙井茶".to_string(),
                json!("https://zh.wikipedia.org/wiki/龙井茶")
            ),
        ],
        "{value}"
    );
    assert!(
        shown.ends_with("#茶 (zh.wikipedia.org/wiki/龙井茶)"),
        "{shown}"
    );

    // The status shows the Bluesky delivery and its post on bsky.app.
    let status = sb
        .call("GET", &format!("/v1/posts/{id}"), None)
        .await
        .unwrap();
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(status.body["mentions"], "keep");
    let delivery = &status.body["deliveries"][0];
    assert_eq!(delivery["network"], "bluesky");
    assert_eq!(delivery["account_id"], alice.did.as_str());
    assert_eq!(delivery["status"], "PUBLISHED");
    let uri = records[0]["uri"].as_str().unwrap();
    let rkey = uri.rsplit('/').next().unwrap();
    assert_eq!(delivery["parts"][0]["remote_id"], uri);
    assert_eq!(
        delivery["parts"][0]["url"],
        format!("https://bsky.app/profile/{}/post/{rkey}", alice.did)
    );
    assert_eq!(delivery["remote_url"], delivery["parts"][0]["url"]);
    sb.stop().await;
}

/// Runs the `crosspost` binary against the sandbox's API with `env` and `stdin`: whether
/// it succeeded, and its standard output and error.
fn crosspost(
    sb: &Sandbox,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &str,
) -> (bool, String, String) {
    use std::io::Write;
    let bin = std::path::PathBuf::from(
        std::env::var_os("CROSSPOST_BIN_DIR").expect("CROSSPOST_BIN_DIR names the build"),
    )
    .join("crosspost");
    let mut child = std::process::Command::new(bin)
        .args(args)
        .env("CROSSPOST_URL", sb.stack.api_url())
        .env("CROSSPOST_SECRET", sb.signing[0].expose())
        .env_remove("CROSSPOST_BLUESKY_APP_PASSWORD")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the crosspost binary (cargo build --workspace --bins)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn crosspost_link_bluesky_links_with_an_app_password_from_the_environment_or_stdin() {
    let sb = bluesky_sandbox().await;
    let pds = pds(&sb);
    let lin = pds.create_account("clilin").await.unwrap();
    let mei = pds.create_account("climei").await.unwrap();

    // From the environment.
    let (ok, out, err) = tokio::task::block_in_place(|| {
        crosspost(
            &sb,
            &[
                "link",
                "bluesky",
                "--user",
                "cli-lin",
                "--identifier",
                &lin.handle,
            ],
            &[("CROSSPOST_BLUESKY_APP_PASSWORD", &lin.app_password)],
            "",
        )
    });
    assert!(ok, "{out}{err}");
    let linked: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(linked["network"], "bluesky");
    assert_eq!(linked["user_id"], "cli-lin");
    assert_eq!(linked["account_id"], lin.did.as_str());
    assert_eq!(linked["display_name"], format!("@{}", lin.handle));
    assert!(!out.contains(&lin.app_password) && !err.contains(&lin.app_password));

    // From standard input (one line, as `echo … |` gives it).
    let (ok, out, err) = tokio::task::block_in_place(|| {
        crosspost(
            &sb,
            &[
                "link",
                "bluesky",
                "--user",
                "cli-mei",
                "--identifier",
                &mei.handle,
            ],
            &[],
            &format!("{}\n", mei.app_password),
        )
    });
    assert!(ok, "{out}{err}");
    for (user, did) in [("cli-lin", &lin.did), ("cli-mei", &mei.did)] {
        let accounts = sb
            .call("GET", &format!("/v1/users/{user}/accounts"), None)
            .await
            .unwrap();
        assert_eq!(
            accounts.body["accounts"][0]["network"], "bluesky",
            "{}",
            accounts.body
        );
        assert_eq!(accounts.body["accounts"][0]["account_id"], did.as_str());
    }
    // The linked account publishes.
    let id = accepted(&sb, &{
        let mut body = to_bluesky("命令行连上的账号", &mei.did);
        body["user_id"] = json!("cli-mei");
        body
    })
    .await;
    assert_eq!(settled(&sb, &id).await.status, DeliveryStatus::Published);
    assert_eq!(list_records(&pds, &mei.did).await.len(), 1);

    // A wrong app password: refused, non-zero, and the password is not repeated.
    let wrong = "zzzz-zzzz-zzzz-zzzz";
    let (ok, out, err) = tokio::task::block_in_place(|| {
        crosspost(
            &sb,
            &[
                "link",
                "bluesky",
                "--user",
                "cli-lin",
                "--identifier",
                &lin.handle,
            ],
            &[],
            wrong,
        )
    });
    assert!(!ok, "{out}{err}");
    assert!(
        err.contains("422") && err.contains("/app_password"),
        "{err}"
    );
    assert!(!out.contains(wrong) && !err.contains(wrong), "{out}{err}");
    // No password at all, or none for the identifier: a clear error before any call.
    let (ok, _, err) = tokio::task::block_in_place(|| {
        crosspost(
            &sb,
            &[
                "link",
                "bluesky",
                "--user",
                "cli-lin",
                "--identifier",
                &lin.handle,
            ],
            &[],
            "",
        )
    });
    assert!(
        !ok && err.contains("CROSSPOST_BLUESKY_APP_PASSWORD"),
        "{err}"
    );
    let (ok, _, err) = tokio::task::block_in_place(|| {
        crosspost(&sb, &["link", "bluesky", "--user", "cli-lin"], &[], "x")
    });
    assert!(!ok && err.contains("--identifier"), "{err}");
    sb.stop().await;
}

/// A new account of `user`, whose service is a fault proxy in front of the PDS, linked
/// with a session made through the proxy (as the connect function makes it, without
/// the allow-list, which names the PDS itself).
async fn behind_proxy(sb: &Sandbox, name: &str) -> (FaultProxy, PdsAccount) {
    let pds = pds(sb);
    let proxy = FaultProxy::start(pds.url()).await.unwrap();
    let account = pds.create_account(name).await.unwrap();
    link_bluesky_via(sb, DEMO_USER, proxy.url(), &account).await;
    (proxy, account)
}

fn put_records(proxy: &FaultProxy) -> Vec<u16> {
    proxy
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("com.atproto.repo.putRecord"))
        .map(|r| r.status)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_then_a_retry_makes_one_record() {
    let sb = bluesky_sandbox().await;
    let pds = pds(&sb);
    let (proxy, bob) = behind_proxy(&sb, "lostanswer").await;

    // The first putRecord is applied by the PDS, and its answer lost on the way back.
    proxy.lose_answers("com.atproto.repo.putRecord", 1);
    let id = accepted(&sb, &to_bluesky("答案丢了也只发一次 #once", &bob.did)).await;
    let d = settled(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    assert!(d.attempts >= 2, "published by a retry: {d:?}");

    let records = list_records(&pds, &bob.did).await;
    assert_eq!(records.len(), 1, "one record: {records:#?}");
    assert_eq!(d.parts[0].remote_id, records[0]["uri"].as_str().unwrap());
    let puts = put_records(&proxy);
    assert_eq!(puts[0], 0, "the first answer was lost: {puts:?}");
    assert!(puts.len() >= 2, "the part was sent again: {puts:?}");

    // Another post's record at the key this post's part will use (two posts in one
    // millisecond may share a key): the part's write is held in the proxy while the
    // other record is written, and the delivery then fails without taking it.
    let session = BlueskyRefresher::new(reqwest::Client::new())
        .create_session(
            pds.url(),
            &bob.handle,
            &Secret::new(bob.app_password.clone()),
        )
        .await
        .unwrap();
    let jwt = AccessToken::from_secret(&session.tokens().access_token)
        .unwrap()
        .access_jwt;
    let write_first = |id: PostId, text: &'static str| {
        let (pds, jwt, did) = (pds.clone(), jwt.clone(), bob.did.clone());
        async move {
            let (rkey, created_at) = record_key(&id.to_string(), 0).unwrap();
            let record = json!({
                "$type": "app.bsky.feed.post", "text": text, "createdAt": created_at,
            });
            let resp = reqwest::Client::new()
                .post(format!("{}/xrpc/com.atproto.repo.putRecord", pds.url()))
                .bearer_auth(&jwt)
                .json(&json!({
                    "repo": did, "collection": "app.bsky.feed.post", "rkey": rkey,
                    "record": record,
                }))
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success(), "{:?}", resp.text().await);
            format!("at://{did}/app.bsky.feed.post/{rkey}")
        }
    };
    let held = || async {
        wait_for("the part's write held in the proxy", SETTLE, || async {
            (proxy.held() == 1).then_some(())
        })
        .await;
    };
    proxy.hold_next("com.atproto.repo.putRecord");
    let id = accepted(&sb, &to_bluesky("我的帖子 #mine", &bob.did)).await;
    held().await;
    let theirs = write_first(id.clone(), "别人的帖子").await;
    proxy.release();
    let d = settled(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Failed, "{d:?}");
    assert!(d.parts.is_empty() && d.remote_url.is_none(), "{d:?}");
    let error = d.last_error.as_ref().unwrap();
    assert!(
        error.message.contains("record key taken by another post"),
        "{error:?}"
    );
    let kept = get_record(&pds, &theirs).await.unwrap();
    assert_eq!(
        kept["value"]["text"], "别人的帖子",
        "the other record stays"
    );

    // This part's own record at the key (same text and time; an earlier attempt's,
    // written without the tag facet): it is the part's, and adopted.
    proxy.hold_next("com.atproto.repo.putRecord");
    let id = accepted(&sb, &to_bluesky("早先写下的同一条 #same", &bob.did)).await;
    held().await;
    let ours = write_first(id.clone(), "早先写下的同一条 #same").await;
    proxy.release();
    let d = settled(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    assert_eq!(d.parts[0].remote_id, ours);
    let puts = put_records(&proxy);
    assert_eq!(
        puts.last(),
        Some(&400),
        "the PDS refused to overwrite: {puts:?}"
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_thread_resumes_and_writes_each_part_once() {
    let sb = bluesky_sandbox_with(compressed_lease("PublishBlueskyFunction", "BlueskyQueue")).await;
    let pds = pds(&sb);
    let (proxy, carol) = behind_proxy(&sb, "killedworker").await;
    // Part 3 is written by the PDS, but its answer never comes: the worker is killed
    // while it waits.
    proxy.lose_answers_after("com.atproto.repo.putRecord", 2, 1);
    let id = accepted(&sb, &to_bluesky(&"山".repeat(700), &carol.did)).await;
    wait_for(
        "two parts confirmed and the third written",
        SETTLE,
        || async {
            let ds = sb.posts.deliveries(&id).await.unwrap();
            (ds[0].parts.len() == 2 && put_records(&proxy).len() == 3).then_some(())
        },
    )
    .await;
    sb.stack.kill_function("PublishBlueskyFunction").await;

    let d = settled(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    let records = list_records(&pds, &carol.did).await;
    assert_eq!(records.len(), 3, "each part once: {records:#?}");
    let uris: Vec<&str> = records.iter().map(|r| r["uri"].as_str().unwrap()).collect();
    let parts: Vec<&str> = d.parts.iter().map(|p| p.remote_id.as_str()).collect();
    assert_eq!(parts, uris);
    for (i, r) in records.iter().enumerate() {
        let shown = r["value"]["text"].as_str().unwrap();
        assert!(shown.ends_with(&format!("({}/3)", i + 1)), "{shown}");
        if i > 0 {
            assert_eq!(r["value"]["reply"]["parent"]["uri"], records[i - 1]["uri"]);
            assert_eq!(r["value"]["reply"]["root"]["uri"], records[0]["uri"]);
        }
    }
    let puts = put_records(&proxy);
    assert_eq!(puts[..3], [200, 200, 0], "{puts:?}");
    assert_eq!(
        puts.len(),
        4,
        "only the third part was sent again: {puts:?}"
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_access_token_is_refreshed_and_unlinking_ends_the_session() {
    let sb = bluesky_sandbox().await;
    let pds = pds(&sb);
    let alice = demo(&sb);
    expire_stored_token(&sb, DEMO_USER, &alice.did).await;
    let before = sb
        .accounts
        .get(DEMO_USER, Network::Bluesky, &alice.did)
        .await
        .unwrap()
        .unwrap();

    let id = accepted(&sb, &to_bluesky("令牌过期了，刷新后照样发出", &alice.did)).await;
    let d = settled(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    assert_eq!(list_records(&pds, &alice.did).await.len(), 1);
    let after = sb
        .accounts
        .get(DEMO_USER, Network::Bluesky, &alice.did)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.status, AccountStatus::Active);
    assert_eq!(
        after.token_version,
        before.token_version + 1,
        "refreshed once"
    );
    assert_ne!(after.access_token, before.access_token);
    assert_ne!(
        after.refresh_token, before.refresh_token,
        "the refresh token rotated"
    );

    // Unlinking ends the session at the PDS: its refresh token is refused from then on.
    let refresh = SessionCredentials::from_secret(after.refresh_token.as_ref().unwrap())
        .unwrap()
        .refresh_jwt;
    let unlinked = unlink(&sb, DEMO_USER, "bluesky", &alice.did).await;
    assert_eq!(unlinked.status, 200, "{}", unlinked.body);
    assert_eq!(
        unlinked.body["revoked_at_network"], true,
        "{}",
        unlinked.body
    );
    assert!(sb
        .accounts
        .get(DEMO_USER, Network::Bluesky, &alice.did)
        .await
        .unwrap()
        .is_none());
    let refused: Value = reqwest::Client::new()
        .post(format!(
            "{}/xrpc/com.atproto.server.refreshSession",
            pds.url()
        ))
        .bearer_auth(refresh)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refused["error"], "ExpiredToken", "{refused}");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_app_password_needs_reauth_with_an_event() {
    let sb = bluesky_sandbox().await;
    let pds = pds(&sb);
    let alice = demo(&sb);
    // The person revokes Crosspost's app password (signed in with their own password);
    // the access token Crosspost holds has run out since.
    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!(
            "{}/xrpc/com.atproto.server.createSession",
            pds.url()
        ))
        .json(&json!({ "identifier": alice.handle, "password": alice.password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let revoked = http
        .post(format!(
            "{}/xrpc/com.atproto.server.revokeAppPassword",
            pds.url()
        ))
        .bearer_auth(session["accessJwt"].as_str().unwrap())
        .json(&json!({ "name": "crosspost" }))
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    expire_stored_token(&sb, DEMO_USER, &alice.did).await;

    let id = accepted(&sb, &to_bluesky("应用密码已撤销", &alice.did)).await;
    let d = settled(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::NeedsReauth, "{d:?}");
    assert_eq!(d.last_error.as_ref().unwrap().kind, "auth_revoked");
    let account = sb
        .accounts
        .get(DEMO_USER, Network::Bluesky, &alice.did)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status, AccountStatus::NeedsReauth);
    assert!(list_records(&pds, &alice.did).await.is_empty());
    let events = wait_for("the needs_reauth event", SETTLE, || async {
        let found: Vec<Value> = sb
            .events
            .requests()
            .iter()
            .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
            .filter(|e| e["type"] == "account.needs_reauth")
            .collect();
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(events[0]["data"]["network"], "bluesky", "{:?}", events[0]);
    assert_eq!(events[0]["data"]["account_id"], alice.did.as_str());
    sb.stop().await;
}

/// Images and link cards, read back from the PDS: the records' embeds, and the blobs
/// themselves (`com.atproto.sync.getBlob`).
mod embeds {
    use super::*;
    use crosspost_fakes::{photos, MediaHost};
    use image::{Rgb, RgbImage};

    fn png(img: &RgbImage) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn has_metadata(bytes: &[u8]) -> bool {
        bytes.windows(6).any(|w| w == b"Exif\0\0")
            || bytes
                .windows(4)
                .any(|w| w == b"eXIf" || w == b"tEXt" || w == b"iTXt")
    }

    /// A blob of `did` by its CID, from the PDS.
    async fn get_blob(pds: &Pds, did: &str, cid: &str) -> Option<Vec<u8>> {
        let resp = reqwest::Client::new()
            .get(format!("{}/xrpc/com.atproto.sync.getBlob", pds.url()))
            .query(&[("did", did), ("cid", cid)])
            .send()
            .await
            .unwrap();
        if !resp.status().is_success() {
            return None;
        }
        Some(resp.bytes().await.unwrap().to_vec())
    }

    fn cid(blob: &Value) -> &str {
        blob["ref"]["$link"].as_str().unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn six_photos_go_four_and_two_each_under_the_limit_without_location_and_upright() {
        let sb = bluesky_sandbox().await;
        let pds = pds(&sb);
        let alice = demo(&sb);
        let host = MediaHost::start().await.unwrap();

        // A 3 MB photo with its GPS position.
        let big = photos::jpeg_with_exif(&photos::noise(1040, 780, 7), 100, 1).unwrap();
        let big_bytes = big.len() as u64;
        assert!(
            big_bytes > 3_000_000 && big_bytes < 5_000_000,
            "{big_bytes}"
        );
        host.serve("/big.jpg", "image/jpeg", big);
        // Taken with the phone turned: 40 × 20 pixels shown rotated (orientation 6),
        // red on the left and blue on the right.
        let halves = RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        host.serve(
            "/turned.jpg",
            "image/jpeg",
            photos::jpeg_with_exif(&halves, 95, 6).unwrap(),
        );
        for i in 2..6 {
            host.serve(
                &format!("/{i}.png"),
                "image/png",
                png(&photos::noise(24, 16, i)),
            );
        }
        let mut body = to_bluesky("西湖的六张照片 #photos", &alice.did);
        body["media"] = json!([
            {"url": host.url("/big.jpg"), "alt": "断桥残雪"},
            {"url": host.url("/turned.jpg"), "alt": "竖着拍的"},
            {"url": host.url("/2.png"), "alt": "two"},
            {"url": host.url("/3.png")},
            {"url": host.url("/4.png"), "alt": "four"},
            {"url": host.url("/5.png"), "alt": "five"},
        ]);
        // The preview shows the same: two parts, the images 4 + 2.
        let preview = sb
            .call(
                "POST",
                "/v1/preview",
                Some(
                    json!({"text": body["text"], "media": body["media"]})
                        .to_string()
                        .as_bytes(),
                ),
            )
            .await
            .unwrap();
        assert_eq!(preview.status, 200, "{}", preview.body);
        let shown = preview.body["networks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["network"] == "bluesky")
            .unwrap()
            .clone();
        assert_eq!(shown["parts"].as_array().unwrap().len(), 2, "{shown}");
        let parts: Vec<u64> = shown["media"]["attached"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["part"].as_u64().unwrap())
            .collect();
        assert_eq!(parts, [0, 0, 0, 0, 1, 1], "{shown}");

        let id = accepted(&sb, &body).await;
        let d = settled(&sb, &id).await;
        assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
        assert_eq!(d.parts.len(), 2, "4 + 2 images need two posts: {d:?}");

        let mut images = Vec::new();
        for (i, part) in d.parts.iter().enumerate() {
            let record = get_record(&pds, &part.remote_id).await.unwrap();
            let embed = &record["value"]["embed"];
            assert_eq!(
                embed["$type"], "app.bsky.embed.images",
                "part {i}: {record:#}"
            );
            images.push(embed["images"].as_array().unwrap().clone());
        }
        assert_eq!(images[0].len(), 4);
        assert_eq!(images[1].len(), 2);
        let images: Vec<Value> = images.concat();
        let alts: Vec<&str> = images.iter().map(|i| i["alt"].as_str().unwrap()).collect();
        assert_eq!(alts, ["断桥残雪", "竖着拍的", "two", "", "four", "five"]);

        for (i, shown) in images.iter().enumerate() {
            let blob = &shown["image"];
            let bytes = get_blob(&pds, &alice.did, cid(blob))
                .await
                .unwrap_or_else(|| panic!("image {i}'s blob is on the PDS"));
            assert!(bytes.len() <= 2_000_000, "image {i}: {} bytes", bytes.len());
            assert_eq!(blob["size"].as_u64(), Some(bytes.len() as u64));
            assert!(!has_metadata(&bytes), "image {i} carries metadata");
            let decoded = image::load_from_memory(&bytes).unwrap();
            assert_eq!(
                shown["aspectRatio"],
                json!({"width": decoded.width(), "height": decoded.height()}),
                "image {i}"
            );
        }
        // The big photo was re-encoded under the limit, keeping its shape.
        let shrunk = images[0]["image"]["size"].as_u64().unwrap();
        assert!(
            shrunk < big_bytes && shrunk <= 2_000_000,
            "{shrunk} of {big_bytes}"
        );
        let big = &images[0]["aspectRatio"];
        let (w, h) = (
            big["width"].as_u64().unwrap(),
            big["height"].as_u64().unwrap(),
        );
        assert!((w * 3).abs_diff(h * 4) <= 4, "{big}");
        // The turned photo is upright: 20 wide, 40 tall, red on top.
        assert_eq!(images[1]["aspectRatio"], json!({"width": 20, "height": 40}));
        let turned = get_blob(&pds, &alice.did, cid(&images[1]["image"]))
            .await
            .unwrap();
        let turned = image::load_from_memory(&turned).unwrap().to_rgb8();
        let (top, bottom) = (turned.get_pixel(10, 5), turned.get_pixel(10, 35));
        assert!(top[0] > 200 && top[2] < 60, "red on top: {top:?}");
        assert!(bottom[2] > 200 && bottom[0] < 60, "blue below: {bottom:?}");
        sb.stop().await;
    }

    /// The name the page server stands in for a public host under.
    const PAGE_HOST: &str = "news.test";

    #[tokio::test(flavor = "multi_thread")]
    async fn a_link_gets_a_card_with_its_thumbnail_and_a_page_redirecting_inside_gets_none() {
        let public = MediaHost::start().await.unwrap();
        let internal = MediaHost::start().await.unwrap();
        // The production address rules, with the page server standing in for a public
        // host: only the redirect into our network is refused.
        let mut options = SandboxOptions::from_env();
        options.bluesky = true;
        options
            .env_overrides
            .insert("MEDIA_HOSTS".into(), "public".into());
        options.env_overrides.insert(
            "MEDIA_STAND_INS".into(),
            format!("{PAGE_HOST}={}", public.addr()),
        );
        let sb = Sandbox::start(options).await.unwrap();
        let pds = pds(&sb);
        let alice = demo(&sb);
        let page_url = |path: &str| format!("http://{PAGE_HOST}:{}{path}", public.addr().port());

        let page = "<!doctype html><html><head><title>Fallback</title>\
            <meta property=\"og:title\" content=\"龙井茶的春天\">\
            <meta property=\"og:description\" content=\"What the spring harvest brings.\">\
            <meta property=\"og:image\" content=\"/img/card.jpg\">\
            </head><body><p>story</p></body></html>";
        public.serve(
            "/story",
            "text/html; charset=utf-8",
            page.as_bytes().to_vec(),
        );
        // A card image over the 1,000,000 bytes of a thumbnail, with a location.
        let card = photos::jpeg_with_exif(&photos::noise(1000, 600, 11), 100, 1).unwrap();
        assert!(card.len() > 1_000_000, "{}", card.len());
        public.serve("/img/card.jpg", "image/jpeg", card);
        internal.serve("/story", "text/html", page.as_bytes().to_vec());
        public.redirect("/moved", 302, &internal.url("/story"));

        let mut with_card = to_bluesky("读读这篇", &alice.did);
        with_card["link"] = json!(page_url("/story"));
        let mut redirected = to_bluesky("这篇被转到内网了", &alice.did);
        redirected["link"] = json!(page_url("/moved"));
        let first = accepted(&sb, &with_card).await;
        let second = accepted(&sb, &redirected).await;

        let d = settled(&sb, &first).await;
        assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
        let record = get_record(&pds, &d.parts[0].remote_id).await.unwrap();
        let embed = &record["value"]["embed"];
        assert_eq!(embed["$type"], "app.bsky.embed.external", "{record:#}");
        let external = &embed["external"];
        assert_eq!(external["uri"], page_url("/story"));
        assert_eq!(external["title"], "龙井茶的春天");
        assert_eq!(external["description"], "What the spring harvest brings.");
        let thumb = get_blob(&pds, &alice.did, cid(&external["thumb"]))
            .await
            .expect("the thumbnail's blob is on the PDS");
        assert!(thumb.len() <= 1_000_000, "{}", thumb.len());
        assert!(!has_metadata(&thumb));

        let d = settled(&sb, &second).await;
        assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
        let record = get_record(&pds, &d.parts[0].remote_id).await.unwrap();
        assert_eq!(record["value"]["text"], "这篇被转到内网了");
        assert!(
            record["value"].get("embed").is_none(),
            "no card: {record:#}"
        );
        assert!(public.hits("/moved") >= 1);
        assert_eq!(
            internal.total_hits(),
            0,
            "the internal address was never reached"
        );
        sb.stop().await;
    }
}
