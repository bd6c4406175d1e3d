//! X access tokens on the local stack (issue 5, tokens): refreshed before they run out,
//! once per rotation however many deliveries need them, and a refused refresh token
//! flags the account while an unavailable token endpoint only delays the post.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_cli::{Sandbox, DEMO_USER};
use crosspost_core::{AccountStatus, DeliveryStatus, LinkedAccount, Network, PostId, Secret};
use crosspost_fakes::{Fault, FaultRule};
use crosspost_tests::{accepted, post, sandbox, wait_for};
use serde_json::json;
use std::time::Duration;
use time::OffsetDateTime;

const SETTLE: Duration = Duration::from_secs(60);

/// Links an X account whose access token runs out in `expires_in` seconds at X (and
/// `stored_expiry` seconds as AccountsTable knows it), with a refresh token.
async fn link_expiring(
    sb: &Sandbox,
    account_id: &str,
    expires_in: i64,
    stored_expiry: i64,
) -> LinkedAccount {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let access = format!("x-access-{run}");
    let refresh = format!("x-refresh-{run}");
    sb.x.add_account_with_tokens(account_id, &access, &refresh, expires_in);
    let now = OffsetDateTime::now_utc();
    let account = LinkedAccount {
        user_id: DEMO_USER.into(),
        network: Network::X,
        account_id: account_id.into(),
        display_name: format!("@user_{account_id}"),
        status: AccountStatus::Active,
        access_token: Secret::new(access),
        rate_limited_until: None,
        refresh_token: Some(Secret::new(refresh)),
        access_expires_at: Some(now.unix_timestamp() + stored_expiry),
        token_version: 1,
    };
    sb.accounts.put(&account, now).await.unwrap();
    account
}

async fn stored(sb: &Sandbox, account_id: &str) -> LinkedAccount {
    sb.accounts
        .get(DEMO_USER, Network::X, account_id)
        .await
        .unwrap()
        .expect("the account")
}

fn to(account_id: &str, text: &str) -> serde_json::Value {
    let mut body = post(text);
    body["targets"] = json!([{"network": "x", "account_id": account_id}]);
    body
}

/// The bearer tokens of the account's accepted posts.
fn posted_with(sb: &Sandbox) -> Vec<(u16, String)> {
    sb.x.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/2/tweets")
        .map(|r| (r.status, r.authorization.unwrap_or_default()))
        .collect()
}

async fn delivery(sb: &Sandbox, id: &PostId) -> crosspost_aws::DeliveryRecord {
    sb.posts.deliveries(id).await.unwrap().remove(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_expiring_in_two_minutes_is_refreshed_before_publishing() {
    let sb = sandbox().await;
    let before = link_expiring(&sb, "3001", 120, 120).await;
    let id = accepted(&sb, &to("3001", "两分钟后过期的令牌")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");

    assert_eq!(sb.x.token_requests(), 1);
    let after = stored(&sb, "3001").await;
    assert_eq!(after.token_version, before.token_version + 1);
    assert_ne!(after.access_token, before.access_token);
    assert_eq!(
        after.refresh_token.as_ref().map(|t| t.expose().to_owned()),
        sb.x.current_refresh_token("3001"),
        "the new refresh token is stored"
    );
    let expires = after.access_expires_at.unwrap() - OffsetDateTime::now_utc().unix_timestamp();
    assert!((7100..=7200).contains(&expires), "expires in {expires} s");
    assert_eq!(
        posted_with(&sb),
        [(201, format!("Bearer {}", after.access_token.expose()))],
        "published once, with the new token"
    );
    let logs = sb.stack.function_logs("PublishXFunction").join("\n");
    assert!(logs.contains("access token refreshed"), "{logs}");
    for secret in [
        before.access_token.expose(),
        before.refresh_token.as_ref().unwrap().expose(),
        after.access_token.expose(),
        after.refresh_token.as_ref().unwrap().expose(),
        crosspost_cli::sandbox::X_CLIENT_SECRET,
    ] {
        assert!(!logs.contains(secret), "a token or secret was logged");
    }
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_deliveries_racing_for_one_expiring_token_make_one_refresh() {
    let sb = sandbox().await;
    link_expiring(&sb, "3002", 60, 60).await;
    // A slow token endpoint: the deliveries that come while it answers must wait.
    sb.x.inject(
        FaultRule::new(Fault::Slow(Duration::from_millis(1500))).on("POST", "/2/oauth2/token"),
    );
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(accepted(&sb, &to("3002", &format!("同时刷新令牌的第{i}条"))).await);
    }
    for id in &ids {
        let ds = sb.wait_until_settled(id, SETTLE).await.unwrap();
        assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    }

    assert_eq!(sb.x.token_requests(), 1, "one refresh reached X");
    let after = stored(&sb, "3002").await;
    assert_eq!(after.token_version, 2);
    assert_eq!(
        after.refresh_token.as_ref().map(|t| t.expose().to_owned()),
        sb.x.current_refresh_token("3002"),
        "the stored refresh token is X's newest"
    );
    let posts = posted_with(&sb);
    assert_eq!(posts.len(), 10, "{posts:?}");
    let bearer = format!("Bearer {}", after.access_token.expose());
    assert!(
        posts
            .iter()
            .all(|(status, auth)| *status == 201 && *auth == bearer),
        "all published with the refreshed token: {posts:?}"
    );
    assert_eq!(sb.x.tweets().len(), 10);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_refresh_token_needs_reauth_and_flags_the_account() {
    let sb = sandbox().await;
    link_expiring(&sb, "3003", 120, 120).await;
    // The person withdrew the app at X: the refresh token is refused (X answers
    // invalid_request "Value passed for the token was invalid.").
    sb.x.revoke_grant("3003");
    let id = accepted(&sb, &to("3003", "撤销授权之后")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::NeedsReauth, "{ds:?}");
    assert_eq!(ds[0].last_error.as_ref().unwrap().kind, "auth_revoked");
    assert_eq!(stored(&sb, "3003").await.status, AccountStatus::NeedsReauth);
    assert_eq!(sb.x.token_requests(), 1);
    assert!(posted_with(&sb).is_empty(), "nothing was sent to X");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unavailable_token_endpoint_delays_the_post_and_never_disconnects() {
    let sb = sandbox().await;
    link_expiring(&sb, "3004", 120, 120).await;
    sb.x.inject(
        FaultRule::new(Fault::ServerError(503))
            .on("POST", "/2/oauth2/token")
            .times(2),
    );
    let id = accepted(&sb, &to("3004", "令牌服务暂时不可用")).await;
    let retrying = wait_for("the delivery to wait for a retry", SETTLE, || async {
        let d = delivery(&sb, &id).await;
        (d.status == DeliveryStatus::Retrying).then_some(d)
    })
    .await;
    assert_eq!(retrying.last_error.as_ref().unwrap().kind, "retryable");
    assert_eq!(stored(&sb, "3004").await.status, AccountStatus::Active);

    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    assert_eq!(ds[0].attempts, 3);
    assert_eq!(sb.x.token_requests(), 3);
    let after = stored(&sb, "3004").await;
    assert_eq!(after.status, AccountStatus::Active);
    assert_eq!(after.token_version, 2);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_x_refuses_before_its_time_is_refreshed_and_the_post_sent_again() {
    let sb = sandbox().await;
    // X has already retired the token, though AccountsTable expects an hour more.
    link_expiring(&sb, "3005", -1, 3600).await;
    let id = accepted(&sb, &to("3005", "提前失效的令牌")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    assert_eq!(
        ds[0].attempts, 1,
        "refreshed and sent again in the same attempt"
    );
    assert_eq!(sb.x.token_requests(), 1);
    let after = stored(&sb, "3005").await;
    let statuses: Vec<(u16, bool)> = posted_with(&sb)
        .into_iter()
        .map(|(status, auth)| (status, auth.ends_with(after.access_token.expose())))
        .collect();
    assert_eq!(statuses, [(401, false), (201, true)]);
    sb.stop().await;
}
