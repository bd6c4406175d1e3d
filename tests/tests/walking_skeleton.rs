//! One post from the webhook to the fake X and the fake Facebook, on the real local
//! AWS stack: DynamoDB Local, moto's SQS, the real function binaries.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_cli::sandbox::{DEMO_FACEBOOK_PAGE, DEMO_X_ACCOUNT, GRAPH_VERSION};
use crosspost_cli::DEMO_USER;
use crosspost_core::{DeliveryStatus, Network, PostId};
use crosspost_tests::{assert_queues_empty, post, sandbox};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_chinese_post_reaches_x_and_facebook_once_each() {
    let sb = sandbox().await;
    let text = "今天在西湖边散步，秋天的阳光很温暖。Crosspost 🚀";
    let mut body = post(text);
    body["targets"] =
        json!([{"network": "x"}, {"network": "facebook", "account_id": DEMO_FACEBOOK_PAGE}]);
    let answer = sb.submit(&body).await.unwrap();
    assert_eq!(answer.status, 202, "{}", answer.body);
    let post_id = PostId::parse(answer.body["post_id"].as_str().unwrap()).unwrap();
    assert_eq!(answer.body["status_url"], format!("/v1/posts/{post_id}"));
    assert_eq!(answer.body["deliveries"].as_array().unwrap().len(), 2);

    let deliveries = sb
        .wait_until_settled(&post_id, Duration::from_secs(60))
        .await
        .unwrap();

    // The post item, as written by the webhook.
    let stored = sb
        .posts
        .get_post(&post_id)
        .await
        .unwrap()
        .expect("post item");
    assert_eq!(stored.text, text);
    assert_eq!(stored.user_id, DEMO_USER);
    assert_eq!(stored.source_id, body["id"].as_str().unwrap());

    // Each delivery PUBLISHED with the remote id the fake network gave.
    let tweets = sb.x.tweets();
    let page_posts = sb.facebook.posts();
    assert_eq!(tweets.len(), 1, "{tweets:?}");
    assert_eq!(page_posts.len(), 1, "{page_posts:?}");
    assert_eq!(deliveries.len(), 2);
    for d in &deliveries {
        assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
        assert_eq!(d.attempts, 1);
        assert!(d.lease_owner.is_none() && d.last_error.is_none(), "{d:?}");
        let remote_ids: Vec<&str> = d.parts.iter().map(|p| p.remote_id.as_str()).collect();
        match d.network {
            Network::X => {
                assert_eq!(d.account_id, DEMO_X_ACCOUNT);
                assert_eq!(remote_ids, [tweets[0].id.as_str()]);
                assert_eq!(
                    d.remote_url.as_deref(),
                    Some(format!("https://x.com/i/web/status/{}", tweets[0].id).as_str())
                );
            }
            Network::Facebook => {
                assert_eq!(d.account_id, DEMO_FACEBOOK_PAGE);
                assert_eq!(remote_ids, [page_posts[0].id.as_str()]);
            }
            Network::Bluesky => panic!("this post has no Bluesky target: {d:?}"),
        }
    }

    // Each fake received exactly one request, with the right body and token.
    let x_requests = sb.x.requests();
    assert_eq!(x_requests.len(), 1, "{x_requests:?}");
    let xr = &x_requests[0];
    assert_eq!(
        (xr.method.as_str(), xr.path.as_str()),
        ("POST", "/2/tweets")
    );
    assert_eq!(
        xr.authorization.as_deref(),
        Some(format!("Bearer {}", sb.x_token.expose()).as_str())
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&xr.body).unwrap(),
        json!({ "text": text })
    );
    assert_eq!(tweets[0].author_id, DEMO_X_ACCOUNT);

    let fb_requests = sb.facebook.requests();
    assert_eq!(fb_requests.len(), 1, "{fb_requests:?}");
    let fr = &fb_requests[0];
    assert_eq!(fr.method, "POST");
    assert_eq!(
        fr.path,
        format!("/{GRAPH_VERSION}/{DEMO_FACEBOOK_PAGE}/feed")
    );
    assert_eq!(
        fr.authorization.as_deref(),
        Some(format!("Bearer {}", sb.facebook_token.expose()).as_str())
    );
    assert_eq!(page_posts[0].message.as_deref(), Some(text));
    assert_eq!(page_posts[0].page_id, DEMO_FACEBOOK_PAGE);

    // Nothing left on any queue, dead-letter queues included.
    assert_queues_empty(&sb).await;
    sb.stop().await;
}
