//! Bluesky on the real PDS, where an attacker or a careless user could hurt:
//! - the same text sent to one account several times at once (Bluesky refuses no
//!   repeats): the first-part lease lets one post's first part go at a time, and every
//!   post ends PUBLISHED with its own record. Several waiting posts may try to take the
//!   lease over from a finished holder at once; the ones that lose wait again, none is
//!   left PUBLISHING with its message gone;
//! - the account's own password offered as the app password: refused, the session it
//!   made ended, nothing stored.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_core::DeliveryStatus;
use crosspost_tests::{accepted, bluesky_sandbox, list_bluesky_posts, post};

use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn the_same_text_four_times_at_once_publishes_four_records() {
    let sb = bluesky_sandbox().await;
    let account = sb
        .bluesky
        .clone()
        .expect("the demo Bluesky account is linked");
    let text = "同一句话，同时发四次";
    let body = || {
        let mut b = post(text);
        b["targets"] = json!([{"network": "bluesky", "account_id": account.did}]);
        b
    };
    let bodies: Vec<_> = (0..4).map(|_| body()).collect();
    let ids = futures::future::join_all(bodies.iter().map(|b| accepted(&sb, b))).await;
    for id in &ids {
        let ds = sb
            .wait_until_settled(id, Duration::from_secs(240))
            .await
            .unwrap();
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].status, DeliveryStatus::Published, "{id}: {ds:?}");
    }
    let pds = sb.stack.pds().expect("the PDS runs").clone();
    let records = list_bluesky_posts(pds.url(), &account.did).await;
    let same: Vec<_> = records
        .iter()
        .filter(|r| r["value"]["text"] == text)
        .collect();
    assert_eq!(same.len(), 4, "one record per post: {same:#?}");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_accounts_own_password_is_refused_and_its_session_ended() {
    let sb = bluesky_sandbox().await;
    let pds = sb.stack.pds().expect("the PDS runs").clone();
    let bob = pds.create_account("bobmain").await.unwrap();
    let body = json!({
        "user_id": "u-bob",
        "identifier": bob.handle,
        "app_password": bob.password,
        "service": pds.url(),
    });
    let sandbox = &sb;
    let link = |body: serde_json::Value| async move {
        sandbox
            .call(
                "POST",
                "/v1/connect/bluesky",
                Some(body.to_string().as_bytes()),
            )
            .await
            .unwrap()
    };
    let a = link(body.clone()).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(
        a.body["errors"][0]["pointer"], "/app_password",
        "{}",
        a.body
    );
    assert!(
        a.body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("app password"),
        "{}",
        a.body
    );
    assert!(!a.body.to_string().contains(&bob.password), "never echoed");
    let linked = sb
        .call("GET", "/v1/users/u-bob/accounts", None)
        .await
        .unwrap();
    assert_eq!(linked.status, 200, "{}", linked.body);
    assert!(
        !linked.body.to_string().contains(&bob.did),
        "nothing stored: {}",
        linked.body
    );
    // The app password still links.
    let mut with_app = body.clone();
    with_app["app_password"] = json!(bob.app_password);
    let a = link(with_app).await;
    assert_eq!(a.status, 200, "{}", a.body);
    sb.stop().await;
}
