//! One post from the webhook to the fake X and the fake Facebook, on the real local
//! AWS stack: DynamoDB Local, moto's SQS, the real function binaries.

use crosspost_aws::aws_sdk_sqs::types::QueueAttributeName;
use crosspost_cli::sandbox::{DEMO_FACEBOOK_PAGE, DEMO_X_ACCOUNT, GRAPH_VERSION};
use crosspost_cli::{Sandbox, SandboxOptions, DEMO_USER};
use crosspost_core::{DeliveryStatus, Network, PostId};
use serde_json::json;
use std::time::Duration;

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions::from_env())
        .await
        .expect("the local stack starts (run `make test`, which installs the tools)")
}

/// Every message on every queue of the stack, visible, in flight or delayed.
async fn messages_left(sb: &Sandbox) -> Vec<(String, u64)> {
    let sqs = crosspost_aws::aws_sdk_sqs::Client::new(&sb.stack.sdk_config());
    let mut counts = Vec::new();
    for (name, url) in sb.stack.queues() {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let attrs = attrs.attributes().unwrap();
        let total: u64 = [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        ]
        .iter()
        .map(|k| attrs.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
        .sum();
        counts.push((name, total));
    }
    counts
}

async fn posts_table_items(sb: &Sandbox) -> usize {
    let ddb = crosspost_aws::aws_sdk_dynamodb::Client::new(&sb.stack.sdk_config());
    ddb.scan()
        .table_name(sb.stack.table_name("PostsTable").unwrap())
        .send()
        .await
        .unwrap()
        .items()
        .len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chinese_post_reaches_x_and_facebook_once_each() {
    let sb = sandbox().await;
    let text = "今天在西湖边散步，秋天的阳光很温暖。Crosspost 🚀";
    let body = json!({
        "id": "src-walking-1",
        "user_id": DEMO_USER,
        "text": text,
        "targets": [{"network": "x"}, {"network": "facebook", "account_id": DEMO_FACEBOOK_PAGE}],
    });
    let (status, answer) = sb
        .submit(body.to_string().as_bytes(), "application/json")
        .await
        .unwrap();
    assert_eq!(status, 202, "{answer}");
    let post_id = PostId::parse(answer["post_id"].as_str().unwrap()).unwrap();
    assert_eq!(answer["status_url"], format!("/v1/posts/{post_id}"));
    assert_eq!(answer["deliveries"].as_array().unwrap().len(), 2);

    let deliveries = sb
        .wait_until_settled(&post_id, Duration::from_secs(60))
        .await
        .unwrap();

    // The post item, as written by the webhook.
    let post = sb.posts.get_post(&post_id).await.unwrap().expect("post item");
    assert_eq!(post.text, text);
    assert_eq!(post.user_id, DEMO_USER);
    assert_eq!(post.source_id, "src-walking-1");

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
        }
    }

    // Each fake received exactly one request, with the right body and token.
    let x_requests = sb.x.requests();
    assert_eq!(x_requests.len(), 1, "{x_requests:?}");
    let xr = &x_requests[0];
    assert_eq!((xr.method.as_str(), xr.path.as_str()), ("POST", "/2/tweets"));
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
    assert_eq!(fr.path, format!("/{GRAPH_VERSION}/{DEMO_FACEBOOK_PAGE}/feed"));
    assert_eq!(
        fr.authorization.as_deref(),
        Some(format!("Bearer {}", sb.facebook_token.expose()).as_str())
    );
    assert_eq!(page_posts[0].message.as_deref(), Some(text));
    assert_eq!(page_posts[0].page_id, DEMO_FACEBOOK_PAGE);

    // Nothing left on any queue, dead-letter queues included.
    for (queue, count) in messages_left(&sb).await {
        assert_eq!(count, 0, "{queue} still holds messages");
    }
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_is_not_a_post_gets_400_naming_the_field_and_writes_nothing() {
    let sb = sandbox().await;
    let (status, answer) = sb.submit(b"{not json", "application/json").await.unwrap();
    assert_eq!(status, 400, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("not JSON"), "{answer}");

    let body = json!({"id": "src-2", "text": "hello", "targets": [{"network": "x"}]});
    let (status, answer) = sb
        .submit(body.to_string().as_bytes(), "application/json")
        .await
        .unwrap();
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["pointer"], "/user_id");
    assert_eq!(answer["status"], 400);

    let body = json!({"id": "src-3", "user_id": DEMO_USER, "text": "hi", "targets": [{"network": "myspace"}]});
    let (status, answer) = sb
        .submit(body.to_string().as_bytes(), "application/json")
        .await
        .unwrap();
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["pointer"], "/targets/0/network");

    assert_eq!(posts_table_items(&sb).await, 0, "nothing may be written");
    for (queue, count) in messages_left(&sb).await {
        assert_eq!(count, 0, "{queue} holds a message");
    }
    assert!(sb.x.requests().is_empty() && sb.facebook.requests().is_empty());
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_account_that_is_not_linked_gets_422() {
    let sb = sandbox().await;
    let body = json!({
        "id": "src-4", "user_id": DEMO_USER, "text": "hi",
        "targets": [{"network": "x", "account_id": "999"}],
    });
    let (status, answer) = sb
        .submit(body.to_string().as_bytes(), "application/json")
        .await
        .unwrap();
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["errors"][0]["pointer"], "/targets/0/account_id");
    let body = json!({"id": "src-5", "user_id": "nobody", "text": "hi", "targets": [{"network": "facebook"}]});
    let (status, answer) = sb
        .submit(body.to_string().as_bytes(), "application/json")
        .await
        .unwrap();
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["errors"][0]["pointer"], "/targets/0/network");
    assert_eq!(posts_table_items(&sb).await, 0);
    sb.stop().await;
}
