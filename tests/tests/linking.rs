//! Linking accounts end to end on the local stack (issue 7): `POST /v1/connect`, the
//! fake networks' consent pages, `GET /v1/oauth/{network}/callback`, publishing with the
//! tokens the networks gave, linking again after NEEDS_REAUTH, and unlinking. The
//! browser is played by following redirects one at a time.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_aws::aws_sdk_dynamodb::types::AttributeValue;
use crosspost_cli::link::{self, Hop};
use crosspost_cli::sandbox::RETURN_URL;
use crosspost_cli::Sandbox;
use crosspost_core::linking::state_digest;
use crosspost_core::{keys, DeliveryStatus, Network, Secret};
use crosspost_fakes::{Fault, FaultRule};
use crosspost_tests::{accepted, sandbox, unlink, wait_for};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// `POST /v1/connect/{network}` for `user`; the consent page's URL.
async fn start(sb: &Sandbox, network: Network, user: &str) -> String {
    link::start(&sb.client, network, user, RETURN_URL)
        .await
        .unwrap()
}

/// One browser step that must be a redirect; where it leads.
async fn redirected(url: &str) -> String {
    match link::visit(url).await.unwrap() {
        Hop::Redirect(next) => next,
        Hop::Page { status, body } => panic!("{url} answered {status}: {body}"),
    }
}

/// One browser step that must stop at a page; its status and problem body.
async fn page(url: &str) -> (u16, Value) {
    match link::visit(url).await.unwrap() {
        Hop::Page { status, body } => (status, serde_json::from_str(&body).unwrap_or(json!(body))),
        Hop::Redirect(next) => panic!("{url} redirected to {next}"),
    }
}

/// The user's linked accounts, as `GET /v1/users/{user}/accounts` lists them.
async fn accounts_of(sb: &Sandbox, user: &str) -> Vec<Value> {
    let a = sb
        .call("GET", &format!("/v1/users/{user}/accounts"), None)
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["accounts"].as_array().cloned().unwrap_or_default()
}

fn ddb(sb: &Sandbox) -> crosspost_aws::aws_sdk_dynamodb::Client {
    crosspost_aws::aws_sdk_dynamodb::Client::new(&sb.stack.sdk_config())
}

/// The pending link of a consent page's state, as AccountsTable holds it.
async fn pending_item(
    sb: &Sandbox,
    authorize_url: &str,
) -> Option<HashMap<String, AttributeValue>> {
    let state = Secret::new(query_of(authorize_url)["state"].clone());
    ddb(sb)
        .get_item()
        .table_name(sb.stack.table_name("AccountsTable").unwrap())
        .key(
            "pk",
            AttributeValue::S(keys::oauth_pk(&state_digest(&state))),
        )
        .key("sk", AttributeValue::S(keys::OAUTH_SK.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

async fn pending_links_left(sb: &Sandbox) -> usize {
    crosspost_tests::accounts_table_items(sb)
        .await
        .iter()
        .filter(|i| i["pk"].as_s().is_ok_and(|pk| pk.starts_with("OAUTH#")))
        .count()
}

fn post_for(user: &str, text: &str) -> Value {
    json!({
        "id": format!("src-{}", uuid::Uuid::now_v7().simple()),
        "user_id": user,
        "text": text,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn link_x_and_a_facebook_page_then_publish_with_their_tokens() {
    let sb = sandbox().await;
    let user = "linker";

    // X: the pending link holds the verifier sealed and not the state itself.
    sb.x.sign_in("5550001", "linker_x");
    let authorize = start(&sb, Network::X, user).await;
    let q = query_of(&authorize);
    assert!(authorize.starts_with(&format!("{}/i/oauth2/authorize?", sb.x.base_url())));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["redirect_uri"],
        format!("{}/v1/oauth/x/callback", sb.stack.api_url())
    );
    assert!(
        q["state"].len() >= 43,
        "at least 256 random bits: {}",
        q["state"]
    );
    let item = pending_item(&sb, &authorize).await.expect("a pending link");
    let sealed = item["sealed_verifier"].as_s().unwrap();
    assert!(sealed.starts_with("v1."), "{sealed}");
    for (name, v) in &item {
        assert!(
            !format!("{v:?}").contains(&q["state"]),
            "{name} holds the state"
        );
    }
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let in_secs = expires - time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((590..=600).contains(&in_secs), "expires in {in_secs} s");
    let back = link::follow(&authorize, RETURN_URL).await.unwrap();
    assert!(back.linked(), "{}", back.url);
    assert_eq!(back.account_ids, ["5550001"]);
    assert!(back
        .url
        .as_str()
        .starts_with(&format!("{RETURN_URL}?status=linked&network=x")));
    // The verifier that reached X's token endpoint is not in the sealed form.
    let token_call =
        sb.x.requests()
            .into_iter()
            .find(|r| r.path == "/2/oauth2/token" && r.body.contains("authorization_code"))
            .expect("the code was exchanged");
    let verifier = query_of(&format!("http://x/?{}", token_call.body))["code_verifier"].clone();
    assert_eq!(verifier.len(), 43);
    assert!(!sealed.contains(&verifier));

    // Facebook: every Page the person can publish on, not the one they only moderate.
    sb.facebook.grant_page(
        "fb-linker",
        "2220001",
        "Linker Page",
        &["CREATE_CONTENT", "MODERATE"],
    );
    sb.facebook
        .grant_page("fb-linker", "2220002", "Moderated Page", &["MODERATE"]);
    sb.facebook.sign_in("fb-linker");
    let back = sb.link_by_consent(Network::Facebook, user).await.unwrap();
    assert!(back.linked(), "{}", back.url);
    assert_eq!(back.account_ids, ["2220001"]);

    let mut listed: Vec<(String, String, String, String)> = accounts_of(&sb, user)
        .await
        .iter()
        .map(|a| {
            let f = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
            (
                f("network"),
                f("account_id"),
                f("display_name"),
                f("status"),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            (
                "facebook".into(),
                "2220001".into(),
                "Linker Page".into(),
                "ACTIVE".into()
            ),
            (
                "x".into(),
                "5550001".into(),
                "@linker_x".into(),
                "ACTIVE".into()
            ),
        ]
    );
    assert_eq!(pending_links_left(&sb).await, 0, "each state was used up");

    // A post to every linked account goes out with the tokens the networks gave.
    let id = accepted(&sb, &post_for(user, "Linked through the consent pages")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds.len(), 2, "{ds:?}");
    assert!(
        ds.iter().all(|d| d.status == DeliveryStatus::Published),
        "{ds:?}"
    );
    let tweet =
        sb.x.tweets()
            .into_iter()
            .find(|t| t.text.contains("consent pages"))
            .unwrap();
    assert_eq!(tweet.author_id, "5550001");
    let fb = sb
        .facebook
        .posts()
        .into_iter()
        .find(|p| {
            p.message
                .as_deref()
                .is_some_and(|m| m.contains("consent pages"))
        })
        .unwrap();
    assert_eq!(fb.page_id, "2220001");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reused_and_expired_states_wrong_verifiers_denials_and_foreign_return_urls_link_nothing() {
    let sb = sandbox().await;
    sb.x.sign_in("5550002", "someone");

    // A state works once: the second callback with it is refused and links nothing new.
    let authorize = start(&sb, Network::X, "reuser").await;
    let callback = redirected(&authorize).await;
    let back = link::returned(&redirected(&callback).await).unwrap();
    assert!(back.linked(), "{}", back.url);
    let (status, problem) = page(&callback).await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("used already"),
        "{problem}"
    );
    let version = |sb: &Sandbox| {
        let accounts = sb.accounts.clone();
        async move {
            accounts
                .get("reuser", Network::X, "5550002")
                .await
                .unwrap()
                .unwrap()
                .token_version
        }
    };
    assert_eq!(version(&sb).await, 1, "linked once");

    // An expired state: sent back to the app with state_expired.
    let authorize = start(&sb, Network::X, "late").await;
    let callback = redirected(&authorize).await;
    let state = Secret::new(query_of(&authorize)["state"].clone());
    ddb(&sb)
        .update_item()
        .table_name(sb.stack.table_name("AccountsTable").unwrap())
        .key(
            "pk",
            AttributeValue::S(keys::oauth_pk(&state_digest(&state))),
        )
        .key("sk", AttributeValue::S(keys::OAUTH_SK.into()))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let back = link::returned(&redirected(&callback).await).unwrap();
    assert_eq!(
        (back.status.as_str(), back.reason.as_deref()),
        ("error", Some("state_expired"))
    );
    assert!(accounts_of(&sb, "late").await.is_empty());

    // A code obtained for another PKCE challenge (an injected code): X refuses the
    // exchange with our verifier.
    let authorize = start(&sb, Network::X, "victim").await;
    let mut forged = url::Url::parse(&authorize).unwrap();
    let pairs: Vec<(String, String)> = forged.query_pairs().into_owned().collect();
    forged
        .query_pairs_mut()
        .clear()
        .extend_pairs(pairs.iter().map(|(k, v)| {
            let v = if k == "code_challenge" {
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()
            } else {
                v.clone()
            };
            (k.clone(), v)
        }));
    let callback = redirected(forged.as_str()).await;
    let back = link::returned(&redirected(&callback).await).unwrap();
    assert_eq!(
        (back.status.as_str(), back.reason.as_deref()),
        ("error", Some("code_rejected"))
    );
    let refused =
        sb.x.requests()
            .into_iter()
            .filter(|r| r.path == "/2/oauth2/token" && r.status == 400)
            .count();
    assert_eq!(refused, 1, "X refused the exchange");
    assert!(accounts_of(&sb, "victim").await.is_empty());

    // The person says no, on X and on Facebook: the state is spent all the same.
    sb.x.deny_next_authorization();
    let authorize = start(&sb, Network::X, "refuser").await;
    let callback = redirected(&authorize).await;
    let back = link::returned(&redirected(&callback).await).unwrap();
    assert_eq!(
        (back.status.as_str(), back.reason.as_deref()),
        ("error", Some("access_denied"))
    );
    assert_eq!(page(&callback).await.0, 400);
    sb.facebook.deny_next_login();
    let back = sb
        .link_by_consent(Network::Facebook, "refuser")
        .await
        .unwrap();
    assert_eq!(
        back.reason.as_deref(),
        Some("access_denied"),
        "{}",
        back.url
    );
    assert!(accounts_of(&sb, "refuser").await.is_empty());

    // A callback without a state, or with one never issued; a browser gets a page.
    let base = format!("{}/v1/oauth/x/callback", sb.stack.api_url());
    assert_eq!(page(&format!("{base}?code=abc")).await.0, 400);
    assert_eq!(page(&format!("{base}?state=made-up&code=abc")).await.0, 400);
    let browser = reqwest::Client::new()
        .get(format!("{base}?state=made-up&code=abc"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 400);
    assert!(browser.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = browser.text().await.unwrap();
    assert!(html.contains("start linking again from the app"), "{html}");

    // Return URLs off the allow-list, and other bad requests, are refused up front.
    let connect = |network: &'static str, body: Value| {
        let sb = &sb;
        async move {
            sb.call(
                "POST",
                &format!("/v1/connect/{network}"),
                Some(body.to_string().as_bytes()),
            )
            .await
            .unwrap()
        }
    };
    for url in [
        "https://evil.example.com/crosspost/linked",
        "http://localhost/crosspostevil",
        "http://localhost:8080/crosspost/linked",
        "javascript:alert(1)",
    ] {
        let a = connect("x", json!({"user_id": "u", "return_url": url})).await;
        assert_eq!(a.status, 422, "{url}: {}", a.body);
        assert_eq!(a.body["errors"][0]["pointer"], "/return_url", "{}", a.body);
    }
    let a = connect("x", json!({"return_url": RETURN_URL})).await;
    assert_eq!(
        (a.status, a.body["errors"][0]["pointer"].clone()),
        (422, json!("/user_id"))
    );
    let a = connect("myspace", json!({"user_id": "u", "return_url": RETURN_URL})).await;
    assert_eq!(a.status, 404, "{}", a.body);
    let unsigned = sb
        .client
        .call_with_headers(
            "POST",
            "/v1/connect/x",
            br#"{"user_id":"u","return_url":"http://localhost/crosspost/linked"}"#,
            &[("content-type", "application/json")],
        )
        .await
        .unwrap();
    assert_eq!(unsigned.status, 401);
    assert_eq!(
        pending_links_left(&sb).await,
        0,
        "refused requests store nothing"
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn linking_again_after_needs_reauth_and_unlinking() {
    let sb = sandbox().await;
    let user = "returner";
    sb.x.sign_in("5550003", "returner_x");
    assert!(sb.link_by_consent(Network::X, user).await.unwrap().linked());

    // The person withdraws the app at X: the next post ends NEEDS_REAUTH.
    sb.x.revoke_grant("5550003");
    let id = accepted(&sb, &post_for(user, "Before linking again")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::NeedsReauth, "{ds:?}");
    assert_eq!(accounts_of(&sb, user).await[0]["status"], "NEEDS_REAUTH");

    // Linking again makes the account usable, and a retry publishes the post.
    let back = sb.link_by_consent(Network::X, user).await.unwrap();
    assert!(back.linked(), "{}", back.url);
    assert_eq!(accounts_of(&sb, user).await[0]["status"], "ACTIVE");
    let account = sb
        .accounts
        .get(user, Network::X, "5550003")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.token_version, 2, "the new tokens replaced the old");
    assert!(sb.x.access_token_works(account.access_token.expose()));
    let retry = sb
        .call("POST", &format!("/v1/posts/{id}/retry"), None)
        .await
        .unwrap();
    assert_eq!(retry.status, 202, "{}", retry.body);
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");

    // Unlinking: a post held back by X's rate limit is waiting for the account.
    sb.x.inject(
        FaultRule::new(Fault::RateLimitedFor(Duration::from_secs(3600))).on("POST", "/2/tweets"),
    );
    let waiting = accepted(&sb, &post_for(user, "Waiting when unlinked")).await;
    wait_for(
        "the delivery to wait for the rate limit",
        SETTLE,
        || async {
            let d = sb.posts.deliveries(&waiting).await.unwrap();
            (d[0].status == DeliveryStatus::Retrying).then_some(())
        },
    )
    .await;
    // And one whose last send's outcome is unknown (as after a lost answer).
    let unknown = accepted(&sb, &post_for(user, "Unknown when unlinked")).await;
    let key = sb.posts.deliveries(&unknown).await.unwrap()[0].key();
    wait_for("the second delivery to wait", SETTLE, || async {
        let d = sb.posts.deliveries(&unknown).await.unwrap();
        (d[0].status == DeliveryStatus::Retrying).then_some(())
    })
    .await;
    let now = time::OffsetDateTime::now_utc();
    let moved = sb
        .posts
        .transition(
            &unknown,
            &key,
            &[DeliveryStatus::Retrying],
            DeliveryStatus::Uncertain,
            false,
            now,
        )
        .await
        .unwrap();
    assert!(moved);
    let a = unlink(&sb, user, "x", "5550003").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["revoked_at_network"], true, "{}", a.body);
    assert_eq!(a.body["deliveries_failed"], 2, "{}", a.body);
    // Ended by the unlink, the UNCERTAIN one keeps that its outcome is unknown: run
    // again after a new link, it looks on X before sending.
    let d = &sb.posts.deliveries(&unknown).await.unwrap()[0];
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert!(d.outcome_unknown(), "{d:?}");
    assert!(!sb.x.access_token_works(account.access_token.expose()));
    assert_eq!(sb.x.current_refresh_token("5550003"), None, "revoked at X");
    let mut hints: Vec<String> =
        sb.x.requests()
            .iter()
            .filter(|r| r.path == "/2/oauth2/revoke")
            .filter_map(|r| query_of(&format!("http://x/?{}", r.body)).remove("token_type_hint"))
            .collect();
    hints.sort();
    assert_eq!(hints, ["access_token", "refresh_token"]);
    let d = &sb.posts.deliveries(&waiting).await.unwrap()[0];
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.last_error.as_ref().unwrap().kind, "account_unlinked");
    assert!(!d.outcome_unknown(), "nothing was sent: {d:?}");
    assert!(accounts_of(&sb, user).await.is_empty());
    wait_for("the delivery.failed event", SETTLE, || async {
        sb.events
            .requests()
            .iter()
            .any(|r| r.body.contains("account_unlinked") && r.body.contains(waiting.as_str()))
            .then_some(())
    })
    .await;
    assert_eq!(unlink(&sb, user, "x", "5550003").await.status, 404);

    // Unlinked halfway through a thread: the parts already out stay recorded, and the
    // worker ends the delivery FAILED account_unlinked when X refuses the next part.
    // (Another X account: X still holds 5550003 back for the hour, linked or not.)
    sb.x.sign_in("5550004", "threader_x");
    assert!(sb.link_by_consent(Network::X, user).await.unwrap().linked());
    sb.x.inject(
        FaultRule::new(Fault::Slow(Duration::from_secs(2)))
            .on("POST", "/2/tweets")
            .after(1),
    );
    let thread = accepted(&sb, &post_for(user, &"长".repeat(350))).await;
    wait_for("the first part of the thread", SETTLE, || async {
        let d = sb.posts.deliveries(&thread).await.unwrap();
        (d[0].parts.len() == 1).then_some(())
    })
    .await;
    let a = unlink(&sb, user, "x", "5550004").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["deliveries_failed"], 0,
        "a worker holds it: {}",
        a.body
    );
    let ds = sb.wait_until_settled(&thread, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Failed, "{ds:?}");
    assert_eq!(ds[0].last_error.as_ref().unwrap().kind, "account_unlinked");
    let sent =
        sb.x.tweets()
            .iter()
            .filter(|t| t.text.starts_with('长'))
            .count();
    assert_eq!(ds[0].parts.len(), sent, "every part X holds is recorded");
    assert!(sent < 3, "the thread stopped at the unlink ({sent} parts)");

    // A Facebook Page: removed here; Facebook offers the app no way to withdraw it.
    sb.facebook
        .grant_page("fb-returner", "2220003", "Returner Page", &["MANAGE"]);
    sb.facebook.sign_in("fb-returner");
    assert!(sb
        .link_by_consent(Network::Facebook, user)
        .await
        .unwrap()
        .linked());
    let a = unlink(&sb, user, "facebook", "2220003").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["revoked_at_network"], false);
    assert_eq!(a.body["deliveries_failed"], 0);
    assert!(accounts_of(&sb, user).await.is_empty());
    sb.stop().await;
}

/// Connect reads each network's app credentials at the first request that needs them:
/// an unusable X client secret makes X's routes answer 503 saying so (never quoting
/// it), while Facebook links as before; once the secret is mended, the next X request
/// works on the same instance, with no restart.
#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_x_secret_stops_x_linking_only_until_it_is_mended() {
    let sb = sandbox().await;
    let user = "lazy-linker";
    // An X account linked while the secret was good.
    sb.x.sign_in("5550077", "lazy_x");
    let back = link::follow(&start(&sb, Network::X, user).await, RETURN_URL)
        .await
        .unwrap();
    assert!(back.linked(), "{}", back.url);
    let broken = "not-json-but-a-leaked-looking-value";
    sb.stack
        .put_secret_value("XOAuthClient", broken)
        .await
        .unwrap();
    sb.stack.restart_function("ConnectFunction").await.unwrap();

    let body = json!({"user_id": user, "return_url": RETURN_URL}).to_string();
    let x = sb
        .call("POST", "/v1/connect/x", Some(body.as_bytes()))
        .await
        .unwrap();
    assert_eq!(x.status, 503, "{}", x.body);
    let detail = x.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("unusable"), "{detail}");
    assert!(!x.body.to_string().contains(broken), "{}", x.body);
    // Nor the secret's ARN or AWS's message: those go to the log.
    assert!(!x.body.to_string().contains("arn:"), "{}", x.body);
    // A browser coming back meanwhile gets the callback's page, with 503.
    let (status, page_body) = page(&format!(
        "{}/v1/oauth/x/callback?state=some-state&code=some-code",
        sb.stack.api_url()
    ))
    .await;
    assert_eq!(status, 503, "{page_body}");

    // Facebook's credentials are their own secret: linking there still starts.
    let facebook = start(&sb, Network::Facebook, user).await;
    assert!(facebook.contains("client_id="), "{facebook}");

    // Unlinking still works: the account goes, and the answer says its tokens could
    // not be revoked at X.
    let a = unlink(&sb, user, "x", "5550077").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["revoked_at_network"], false, "{}", a.body);
    assert!(!a.body.to_string().contains("arn:"), "{}", a.body);
    assert!(accounts_of(&sb, user).await.is_empty());

    // Mended: the same instance reads it again at the next X request.
    let mended = json!({
        "client_id": crosspost_cli::sandbox::X_CLIENT_ID,
        "client_secret": crosspost_cli::sandbox::X_CLIENT_SECRET,
    });
    sb.stack
        .put_secret_value("XOAuthClient", &mended.to_string())
        .await
        .unwrap();
    let pids: Vec<u32> = sb
        .stack
        .instances("ConnectFunction")
        .iter()
        .map(|i| i.pid)
        .collect();
    let authorize = start(&sb, Network::X, user).await;
    assert!(authorize.contains("code_challenge="), "{authorize}");
    let after: Vec<u32> = sb
        .stack
        .instances("ConnectFunction")
        .iter()
        .map(|i| i.pid)
        .collect();
    assert_eq!(pids, after, "the instance was not restarted");
}
