//! Tokens at rest and in logs (issue 7, DESIGN section 8): after accounts are linked
//! (the demo accounts through POST /v1/connect, the consent pages and the OAuth
//! callback) and a post is published to both networks, with an X token refreshed on the
//! way, AccountsTable holds no plaintext token, and no function logged a token, an
//! authorization code, a PKCE verifier, a state, a client or app secret, a signing
//! secret or a webhook signature, even at TRACE.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_aws::aws_sdk_dynamodb::types::AttributeValue;
use crosspost_cli::sandbox::{
    DEMO_FACEBOOK_PAGE, DEMO_X_ACCOUNT, FACEBOOK_APP_SECRET, X_CLIENT_SECRET,
};
use crosspost_cli::{Sandbox, SandboxOptions, DEMO_USER};
use crosspost_core::{AccountStatus, DeliveryStatus, LinkedAccount, Network, PostId, Secret};
use crosspost_tests::{post, sandbox};
use serde_json::json;
use std::time::Duration;
use time::OffsetDateTime;

const SETTLE: Duration = Duration::from_secs(60);
/// An X account whose access token runs out in two minutes: publishing refreshes it.
const EXPIRING_X_ACCOUNT: &str = "7001";

/// Links an X account with a token about to expire and a refresh token; returns both.
async fn link_expiring(sb: &Sandbox) -> [String; 2] {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let access = format!("x-access-{run}");
    let refresh = format!("x-refresh-{run}");
    sb.x.add_account_with_tokens(EXPIRING_X_ACCOUNT, &access, &refresh, 120);
    let now = OffsetDateTime::now_utc();
    let account = LinkedAccount {
        user_id: DEMO_USER.into(),
        network: Network::X,
        account_id: EXPIRING_X_ACCOUNT.into(),
        display_name: "@expiring".into(),
        status: AccountStatus::Active,
        access_token: Secret::new(&access),
        rate_limited_until: None,
        refresh_token: Some(Secret::new(&refresh)),
        access_expires_at: Some(now.unix_timestamp() + 120),
        token_version: 1,
    };
    sb.accounts.put(&account, now).await.unwrap();
    [access, refresh]
}

fn to_every_account(text: &str) -> serde_json::Value {
    let mut body = post(text);
    body["targets"] = json!([
        {"network": "x", "account_id": DEMO_X_ACCOUNT},
        {"network": "x", "account_id": EXPIRING_X_ACCOUNT},
        {"network": "facebook", "account_id": DEMO_FACEBOOK_PAGE},
    ]);
    body
}

/// Waits until the post's three deliveries are PUBLISHED and the expiring token was
/// refreshed; returns every token the accounts have held: the linked ones and those
/// the refresh brought.
async fn publish_everywhere(sb: &Sandbox, id: &PostId, linked: [String; 2]) -> Vec<String> {
    let ds = sb.wait_until_settled(id, SETTLE).await.unwrap();
    assert_eq!(ds.len(), 3, "{ds:?}");
    for d in &ds {
        assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    }
    assert_eq!(sb.x.token_requests(), 1, "the expiring token was refreshed");
    let refreshed = sb
        .accounts
        .get(DEMO_USER, Network::X, EXPIRING_X_ACCOUNT)
        .await
        .unwrap()
        .expect("the account");
    assert_eq!(refreshed.token_version, 2);
    let new_refresh = refreshed.refresh_token.expect("a refresh token");
    assert_eq!(
        Some(new_refresh.expose().to_owned()),
        sb.x.current_refresh_token(EXPIRING_X_ACCOUNT),
        "the workers open what the refresh stored"
    );
    assert_ne!(
        refreshed.access_token.expose(),
        linked[0],
        "the refresh brought a new access token"
    );
    let mut tokens = vec![
        sb.x_token.expose().to_owned(),
        sb.facebook_token.expose().to_owned(),
        refreshed.access_token.expose().to_owned(),
        new_refresh.expose().to_owned(),
    ];
    tokens.extend(linked);
    tokens
}

fn render(v: &AttributeValue) -> String {
    format!("{v:?}")
}

/// Every credential the fake networks were sent, linking and publishing: codes, PKCE
/// verifiers, states, client secrets, user and Page tokens, appsecret proofs.
fn sent_to_networks(sb: &Sandbox) -> Vec<String> {
    const SECRET_PARAMS: &[&str] = &[
        "code",
        "code_verifier",
        "state",
        "client_secret",
        "fb_exchange_token",
        "token",
        "refresh_token",
        "access_token",
        "appsecret_proof",
    ];
    let mut found = Vec::new();
    let requests = sb.link_requests.iter().cloned();
    for r in requests
        .chain(sb.x.requests())
        .chain(sb.facebook.requests())
    {
        let query = url::form_urlencoded::parse(r.query.as_bytes());
        let form = url::form_urlencoded::parse(r.body.as_bytes());
        for (k, v) in query.chain(form) {
            if SECRET_PARAMS.contains(&k.as_ref()) && v.len() >= 8 {
                found.push(v.into_owned());
            }
        }
        if let Some((_, credential)) = r.authorization.as_deref().and_then(|a| a.split_once(' ')) {
            found.push(credential.to_owned());
        }
    }
    found.sort();
    found.dedup();
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_table_holds_no_plaintext_token() {
    let sb = sandbox().await;
    let linked = link_expiring(&sb).await;
    let id = crosspost_tests::accepted(&sb, &to_every_account("Sealed at rest")).await;
    let tokens = publish_everywhere(&sb, &id, linked).await;

    let items = crosspost_tests::accounts_table_items(&sb).await;
    let accounts: Vec<_> = items
        .iter()
        .filter(|i| {
            i.get("sk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|sk| sk.starts_with("ACCOUNT#"))
        })
        .collect();
    assert_eq!(accounts.len(), 3, "{items:?}");
    for item in &items {
        for (name, value) in item.iter() {
            let shown = render(value);
            for token in &tokens {
                assert!(
                    !shown.contains(token.as_str()),
                    "attribute {name} holds a plaintext token"
                );
            }
        }
    }
    for item in accounts {
        assert!(!item.contains_key("access_token") && !item.contains_key("refresh_token"));
        let sealed = item["sealed_access_token"].as_s().unwrap();
        assert!(sealed.starts_with("v1."), "{sealed}");
    }
    let expiring = items
        .iter()
        .find(|i| {
            i.get("account_id")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some(EXPIRING_X_ACCOUNT)
        })
        .unwrap();
    assert!(expiring["sealed_refresh_token"]
        .as_s()
        .unwrap()
        .starts_with("v1."));
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_function_logs_a_token_secret_or_signature_at_trace() {
    let mut options = SandboxOptions::from_env();
    options
        .parameter_overrides
        .insert("LogLevel".into(), "trace".into());
    let sb = Sandbox::start(options).await.unwrap();
    let linked = link_expiring(&sb).await;

    // Signed here, so the test knows the signatures the webhook saw.
    let body = to_every_account("Nothing secret in the logs").to_string();
    let signed = sb.client.sign(body.as_bytes());
    let mut headers: Vec<(&str, &str)> = signed.iter().map(|(k, v)| (*k, v.as_str())).collect();
    headers.push(("content-type", "application/json"));
    let answer = sb
        .client
        .call_with_headers("POST", "/v1/posts", body.as_bytes(), &headers)
        .await
        .unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    let id = PostId::parse(answer.body["post_id"].as_str().unwrap()).unwrap();
    let mut secrets = publish_everywhere(&sb, &id, linked).await;
    // The source app hears of the three deliveries, each event signed.
    crosspost_tests::wait_for("three signed events", SETTLE, || async {
        (sb.events.requests().len() >= 3).then_some(())
    })
    .await;

    let mut signatures = vec![signed[2].1.clone()];
    for r in sb.events.requests() {
        signatures.extend(
            r.headers
                .iter()
                .filter(|(k, _)| k == "webhook-signature")
                .map(|(_, v)| v.clone()),
        );
    }
    for header in signatures {
        // Each entry is `v1,<base64>`; the base64 alone must not appear either.
        for entry in header.split(' ') {
            secrets.push(entry.trim_start_matches("v1,").to_owned());
        }
    }
    for whsec in sb.signing.iter().chain([&sb.events_secret]) {
        secrets.push(whsec.expose().trim_start_matches("whsec_").to_owned());
    }
    secrets.push(X_CLIENT_SECRET.to_owned());
    secrets.push(FACEBOOK_APP_SECRET.to_owned());
    secrets.extend(sb.x.current_refresh_token(DEMO_X_ACCOUNT));
    let sent = sent_to_networks(&sb);
    assert!(
        sent.len() >= 10,
        "the link flow's codes, verifier, states and tokens were seen: {}",
        sent.len()
    );
    secrets.extend(sent);

    let mut lines = 0;
    for function in sb.stack.functions() {
        let logs = sb.stack.function_logs(&function);
        lines += logs.len();
        for line in &logs {
            for (i, secret) in secrets.iter().enumerate() {
                assert!(
                    !line.contains(secret.as_str()),
                    "{function} logged secret #{i}: {}",
                    line.replace(secret.as_str(), "<HERE>")
                );
            }
        }
    }
    assert!(lines > 100, "TRACE logs were captured ({lines} lines)");
    sb.stop().await;
}
