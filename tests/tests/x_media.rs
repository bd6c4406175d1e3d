//! Media on X through the local stack: images by simple upload with alt text on the
//! first part of a thread, a GIF through initialize / append / finalize and STATUS
//! polls, media that cannot be fetched (retried, then FAILED media_unavailable) and a
//! file whose bytes are no image or video (FAILED media_unsupported).
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_cli::sandbox::DEMO_X_ACCOUNT;
use crosspost_cli::{Sandbox, SandboxOptions};
use crosspost_core::{DeliveryStatus, Mentions, Network, Overflow, PostId};
use crosspost_fakes::{tiny_gif, tiny_png_with, Fault, FaultRule, MediaHost, RecordedRequest};
use crosspost_tests::{accepted, messages_left, post, sandbox, wait_for};
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

fn to_x(text: &str, media: Value) -> Value {
    let mut body = post(text);
    body["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    body["media"] = media;
    body
}

fn requests(sb: &Sandbox, method: &str, path: &str) -> Vec<RecordedRequest> {
    sb.x.requests()
        .into_iter()
        .filter(|r| r.method == method && r.path == path)
        .collect()
}

/// Waits until every queue is empty (the events function may still be at work).
async fn queues_drain(sb: &Sandbox) {
    wait_for("every queue to drain", SETTLE, || async {
        messages_left(sb)
            .await
            .iter()
            .all(|(_, n)| *n == 0)
            .then_some(())
    })
    .await;
}

async fn settled_x(sb: &Sandbox, id: &PostId) -> crosspost_aws::DeliveryRecord {
    let ds = sb.wait_until_settled(id, SETTLE).await.unwrap();
    ds.into_iter()
        .find(|d| d.network == Network::X)
        .expect("an X delivery")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_chinese_post_with_two_images_is_a_thread_with_media_on_its_first_part() {
    let sb = sandbox().await;
    let host = MediaHost::start().await.unwrap();
    let (first, second) = (tiny_png_with("first"), tiny_png_with("second"));
    host.serve("/photos/1.png", "image/png", first.clone());
    host.serve("/photos/2", "image/png", second.clone());
    let text = "今天我们在山里走了很久，看到了很多美丽的风景，也遇到了几位热情的朋友。"
        .repeat(20)
        .chars()
        .take(600)
        .collect::<String>();
    assert_eq!(text.chars().count(), 600);
    let body = to_x(
        &text,
        json!([
            {"url": host.url("/photos/1.png"), "alt": "山顶的日出"},
            {"url": host.url("/photos/2"), "alt": "河边的小路", "content_type": "image/png"},
        ]),
    );
    let id = accepted(&sb, &body).await;
    let d = settled_x(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");

    let expected = crosspost_core::preview::adapt(
        Network::X,
        &text,
        None,
        true,
        Overflow::Thread,
        Mentions::Plain,
    )
    .unwrap();
    assert!(expected.len() >= 4, "600 Chinese characters weigh 1200");
    let tweets = sb.x.tweets();
    assert_eq!(tweets.len(), expected.len());
    assert_eq!(d.parts.len(), expected.len());
    for (i, (tweet, part)) in tweets.iter().zip(&expected).enumerate() {
        assert_eq!(tweet.text, part.text, "part {i} in order");
        assert_eq!(tweet.id, d.parts[i].remote_id);
        let parent = i.checked_sub(1).map(|p| tweets[p].id.clone());
        assert_eq!(
            tweet.in_reply_to, parent,
            "part {i} replies to the one before"
        );
        if i > 0 {
            assert!(tweet.media_ids.is_empty(), "media on part 1 only");
        }
    }

    // Both images, in the post's order, with their alt text, on the first part.
    assert_eq!(tweets[0].media_ids.len(), 2);
    let media: Vec<_> = tweets[0]
        .media_ids
        .iter()
        .map(|m| sb.x.media(m).expect("uploaded media"))
        .collect();
    assert_eq!(media[0].alt_text.as_deref(), Some("山顶的日出"));
    assert_eq!(media[1].alt_text.as_deref(), Some("河边的小路"));
    assert_eq!(media[0].size, first.len() as u64);
    assert_eq!(media[1].size, second.len() as u64);
    assert!(media.iter().all(|m| m.media_category == "tweet_image"));

    // One request each: upload and alt text per image, one post per part.
    assert_eq!(requests(&sb, "POST", "/2/media/upload").len(), 2);
    assert_eq!(requests(&sb, "POST", "/2/media/metadata").len(), 2);
    assert_eq!(requests(&sb, "POST", "/2/tweets").len(), expected.len());
    assert!(sb.x.requests().iter().all(|r| r.status < 300));
    // Each file's first bytes read once for the plan, then downloaded once.
    assert_eq!((host.hits("/photos/1.png"), host.hits("/photos/2")), (2, 2));

    // Deleting the post removes every part.
    let deleted = sb
        .call("DELETE", &format!("/v1/posts/{id}"), None)
        .await
        .unwrap();
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    wait_for("every part deleted", SETTLE, || async {
        let ds = sb.posts.deliveries(&id).await.unwrap();
        ds.iter()
            .all(|d| d.status == DeliveryStatus::Deleted)
            .then_some(())
    })
    .await;
    assert!(sb.x.tweets().is_empty());
    let deletes =
        sb.x.requests()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .count();
    assert_eq!(deletes, expected.len());
    queues_drain(&sb).await;

    // The preview shows the media plan: four images on the first part, the fifth on a
    // second part without text.
    let media: Vec<Value> = (1..=5)
        .map(|i| {
            host.serve(&format!("/{i}.jpg"), "image/png", tiny_png_with("p"));
            json!({"url": host.url(&format!("/{i}.jpg"))})
        })
        .collect();
    let body = json!({"text": "五张图", "media": media, "networks": ["x"]});
    let preview = sb
        .call("POST", "/v1/preview", Some(body.to_string().as_bytes()))
        .await
        .unwrap();
    assert_eq!(preview.status, 200, "{}", preview.body);
    let plan = &preview.body["networks"][0]["media"];
    assert_eq!(plan["attached"].as_array().unwrap().len(), 5, "{plan}");
    assert_eq!(plan["dropped"], json!([]), "{plan}");
    assert_eq!(plan["attached"][3]["part"], 0, "{plan}");
    assert_eq!(plan["attached"][4]["part"], 1, "{plan}");
    let parts = &preview.body["networks"][0]["parts"];
    assert_eq!(
        parts,
        &json!([{"text": "五张图", "weighted_length": 6}, {"text": "", "weighted_length": 0}])
    );
    // Every call above was checked against X's OpenAPI description (`sb.stop` fails
    // the test on any violation): these are the operations it covered.
    let checked = sb.x.contract_operations();
    for operation in [
        "GET /2/users/me",
        "POST /2/media/upload",
        "POST /2/media/metadata",
        "POST /2/tweets",
        "DELETE /2/tweets/{id}",
    ] {
        assert!(
            checked.iter().any(|c| c == operation),
            "{operation}: {checked:?}"
        );
    }
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_photo_post_x_made_but_answered_500_is_found_by_its_text_and_not_posted_again() {
    let sb = sandbox().await;
    let host = MediaHost::start().await.unwrap();
    host.serve("/photos/lake.png", "image/png", tiny_png_with("lake"));
    // X makes the post, then answers 500. It shows the post's text with the media's
    // t.co link appended, as real X does: the lookup must see past that link.
    sb.x.inject(FaultRule::new(Fault::AppliedThenServerError(500)).on("POST", "/2/tweets"));
    let body = to_x(
        "湖边的下午",
        json!([{"url": host.url("/photos/lake.png"), "alt": "湖"}]),
    );
    let id = accepted(&sb, &body).await;
    let d = settled_x(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    let tweets = sb.x.tweets();
    assert_eq!(tweets.len(), 1, "posted once: {tweets:?}");
    assert_eq!(
        d.parts[0].remote_id, tweets[0].id,
        "the post X made is recorded"
    );
    // X lists a post a moment after it made it: a resend before that is refused as
    // the duplicate our own request explains, and never makes a second post.
    let made = requests(&sb, "POST", "/2/tweets")
        .iter()
        .filter(|r| r.status == 201)
        .count();
    assert_eq!(made, 0, "the only post is the one the failed request made");
    let path = format!("/2/users/{DEMO_X_ACCOUNT}/tweets");
    assert!(
        !requests(&sb, "GET", &path).is_empty(),
        "the outcome was looked up"
    );
    let shown: Value = reqwest::Client::new()
        .get(format!("{}{path}", sb.x.base_url()))
        .bearer_auth(sb.x_token.expose())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = shown["data"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("湖边的下午 https://t.co/"),
        "X shows the media link after the text: {text}"
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gif_goes_up_in_chunks_and_is_posted_once_processed() {
    let sb = sandbox().await;
    let host = MediaHost::start().await.unwrap();
    let gif = tiny_gif();
    host.serve("/anim.gif", "image/gif", gif.clone());
    let body = to_x(
        "会动的图",
        json!([{"url": host.url("/anim.gif"), "alt": "一只猫在跳"}]),
    );
    let id = accepted(&sb, &body).await;
    let d = settled_x(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");

    let tweets = sb.x.tweets();
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].media_ids.len(), 1);
    let media = sb.x.media(&tweets[0].media_ids[0]).unwrap();
    assert_eq!(media.media_category, "tweet_gif");
    assert_eq!(media.media_type, "image/gif");
    assert_eq!(media.size, gif.len() as u64);
    assert_eq!(media.state, "succeeded");
    assert_eq!(media.alt_text.as_deref(), Some("一只猫在跳"));

    let media_id = &tweets[0].media_ids[0];
    assert_eq!(requests(&sb, "POST", "/2/media/upload/initialize").len(), 1);
    let appends = requests(&sb, "POST", &format!("/2/media/upload/{media_id}/append"));
    assert_eq!(appends.len(), 1, "a tiny GIF is one segment");
    assert!(appends[0].body.contains("segment_index"));
    assert_eq!(
        requests(&sb, "POST", &format!("/2/media/upload/{media_id}/finalize")).len(),
        1
    );
    let polls = requests(&sb, "GET", "/2/media/upload");
    assert_eq!(polls.len(), 2, "pending → in_progress → succeeded");
    assert!(polls.iter().all(|p| p.query.contains("command=STATUS")));
    assert!(requests(&sb, "POST", "/2/media/upload").is_empty());
    queues_drain(&sb).await;
    let checked = sb.x.contract_operations();
    for operation in [
        "POST /2/media/upload/initialize",
        "POST /2/media/upload/{id}/append",
        "POST /2/media/upload/{id}/finalize",
        "GET /2/media/upload",
    ] {
        assert!(
            checked.iter().any(|c| c == operation),
            "{operation}: {checked:?}"
        );
    }
    sb.stop().await;
}

/// X still processing a GIF when the wait for it runs out (here no wait at all): the
/// upload is recorded, each later attempt asks X's STATUS about the same media id, and
/// the post goes out once X is done, with that id; nothing is uploaded twice.
#[tokio::test(flavor = "multi_thread")]
async fn media_x_is_still_processing_is_asked_about_again_not_uploaded_again() {
    let mut options = SandboxOptions::from_env();
    options
        .env_overrides
        .insert("MEDIA_PROCESSING_MS".into(), "0".into());
    let sb = Sandbox::start(options).await.unwrap();
    let host = MediaHost::start().await.unwrap();
    host.serve("/slow.gif", "image/gif", tiny_gif());
    let body = to_x("慢慢处理", json!([{"url": host.url("/slow.gif")}]));
    let id = accepted(&sb, &body).await;
    let d = settled_x(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    // Uploaded (pending), asked (in progress), asked (done) and posted.
    assert_eq!(d.attempts, 3, "{d:?}");
    assert_eq!(requests(&sb, "POST", "/2/media/upload/initialize").len(), 1);
    let polls = requests(&sb, "GET", "/2/media/upload");
    assert_eq!(polls.len(), 2, "one STATUS per later attempt");
    let tweets = sb.x.tweets();
    assert_eq!(tweets.len(), 1);
    let media = sb.x.media(&tweets[0].media_ids[0]).unwrap();
    assert_eq!(media.state, "succeeded");
    assert!(polls
        .iter()
        .all(|p| p.query.contains(&format!("media_id={}", media.id))));
    queues_drain(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn media_that_cannot_be_fetched_is_retried_then_fails_as_unavailable() {
    let mut options = SandboxOptions::from_env();
    options
        .parameter_overrides
        .insert("MaxAttempts".into(), "2".into());
    let sb = Sandbox::start(options)
        .await
        .expect("the local stack starts");
    let host = MediaHost::start().await.unwrap();
    host.fail("/down.png", 503);
    let body = to_x("图片服务器挂了", json!([{"url": host.url("/down.png")}]));
    let id = accepted(&sb, &body).await;
    let d = settled_x(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Failed, "{d:?}");
    assert_eq!(d.attempts, 2);
    let err = d.last_error.as_ref().unwrap();
    assert_eq!(err.kind, "media_unavailable");
    assert!(err.message.contains("503"), "{err:?}");
    assert_eq!(host.hits("/down.png"), 2);
    assert!(sb.x.tweets().is_empty());
    assert!(sb.x.uploaded_media().is_empty());
    queues_drain(&sb).await;
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_page_served_as_a_png_fails_as_unsupported_at_once() {
    let sb = sandbox().await;
    let host = MediaHost::start().await.unwrap();
    host.serve(
        "/not-really.png",
        "image/png",
        b"<!DOCTYPE html><html><body>Login required</body></html>".to_vec(),
    );
    let body = to_x(
        "这不是图片",
        json!([{"url": host.url("/not-really.png"), "content_type": "image/png"}]),
    );
    let id = accepted(&sb, &body).await;
    let d = settled_x(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Failed, "{d:?}");
    assert_eq!(d.attempts, 1, "refused for good, not retried");
    let err = d.last_error.as_ref().unwrap();
    assert_eq!(err.kind, "permanent");
    assert!(err.message.contains("media_unsupported"), "{err:?}");
    assert!(err.message.contains("its bytes are text/html"), "{err:?}");
    assert!(sb.x.uploaded_media().is_empty());
    assert!(sb.x.tweets().is_empty());
    queues_drain(&sb).await;
    sb.stop().await;
}
