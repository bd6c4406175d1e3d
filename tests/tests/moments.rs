//! A WeChat Moments post reaching X and Facebook whole, on the local stack: nine photos
//! (an X thread of 4 + 4 + 1 with alt texts, one Facebook post with nine photos, and a
//! thread resumed after a killed worker sending no image twice), `@name`s that mention
//! nobody unless the post says `"mentions": "keep"`, and a text per network.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_cli::sandbox::{DEMO_FACEBOOK_PAGE, DEMO_X_ACCOUNT};
use crosspost_cli::Sandbox;
use crosspost_core::text::x::weighted_length;
use crosspost_core::{DeliveryStatus, Network, PostId};
use crosspost_fakes::{tiny_png_with, Fault, FaultRule, MediaHost, RecordedRequest};
use crosspost_tests::{accepted, compressed_lease, post, sandbox, wait_for};
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);
const WORD_JOINER: char = '\u{2060}';

/// Serves nine distinct PNGs (`moment-photo-1` … `-9` in their text chunk) and
/// returns the post's `media`, each with its alt text `照片 n`.
fn nine_photos(host: &MediaHost) -> Value {
    let media: Vec<Value> = (1..=9)
        .map(|n| {
            let path = format!("/moments/{n}.png");
            host.serve(&path, "image/png", tiny_png_with(&salt(n)));
            json!({"url": host.url(&path), "alt": format!("照片 {n}")})
        })
        .collect();
    json!(media)
}

fn salt(n: usize) -> String {
    format!("moment-photo-{n}")
}

/// A 100-character Chinese text (weighs 200 on X: one part).
fn hundred_characters() -> String {
    let text: String = "周末和朋友们一起去爬山，山顶的风景非常美丽。"
        .repeat(5)
        .chars()
        .take(100)
        .collect();
    assert_eq!(text.chars().count(), 100);
    text
}

fn requests(sb: &Sandbox, method: &str, path: &str) -> Vec<RecordedRequest> {
    sb.x.requests()
        .into_iter()
        .filter(|r| r.method == method && r.path == path)
        .collect()
}

async fn delivery(sb: &Sandbox, id: &PostId, network: Network) -> crosspost_aws::DeliveryRecord {
    sb.posts
        .deliveries(id)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.network == network)
        .expect("a delivery")
}

/// The alt texts of a tweet's media, in order.
fn alts(sb: &Sandbox, tweet: &crosspost_fakes::Tweet) -> Vec<String> {
    tweet
        .media_ids
        .iter()
        .map(|m| {
            sb.x.media(m)
                .expect("uploaded")
                .alt_text
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn nine_photos_are_a_thread_of_four_four_one_on_x_and_one_post_on_facebook() {
    let sb = sandbox().await;
    let host = MediaHost::start().await.unwrap();
    let text = hundred_characters();
    let mut body = post(&text);
    body["media"] = nine_photos(&host);
    body["targets"] = json!([
        {"network": "x", "account_id": DEMO_X_ACCOUNT},
        {"network": "facebook", "account_id": DEMO_FACEBOOK_PAGE}
    ]);

    // The preview says which part carries which image.
    let preview = json!({"text": text, "media": body["media"], "networks": ["x", "facebook"]});
    let preview = sb
        .call("POST", "/v1/preview", Some(preview.to_string().as_bytes()))
        .await
        .unwrap();
    assert_eq!(preview.status, 200, "{}", preview.body);
    let x = &preview.body["networks"][0];
    let texts: Vec<&str> = x["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, [text.as_str(), "", ""]);
    let parts: Vec<u64> = x["media"]["attached"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["part"].as_u64().unwrap())
        .collect();
    assert_eq!(parts, [0, 0, 0, 0, 1, 1, 1, 1, 2]);
    let facebook = &preview.body["networks"][1];
    assert_eq!(facebook["parts"].as_array().unwrap().len(), 1);
    assert_eq!(facebook["media"]["attached"].as_array().unwrap().len(), 9);

    let id = accepted(&sb, &body).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert!(
        ds.iter().all(|d| d.status == DeliveryStatus::Published),
        "{ds:?}"
    );

    // X: three parts, the text on the first, images 1-4, 5-8 and 9 with their alt texts.
    let tweets = sb.x.tweets();
    assert_eq!(tweets.len(), 3, "{tweets:?}");
    assert_eq!(tweets[0].text, text);
    assert_eq!((tweets[1].text.as_str(), tweets[2].text.as_str()), ("", ""));
    assert_eq!(tweets[1].in_reply_to.as_ref(), Some(&tweets[0].id));
    assert_eq!(tweets[2].in_reply_to.as_ref(), Some(&tweets[1].id));
    let alt_texts: Vec<Vec<String>> = tweets.iter().map(|t| alts(&sb, t)).collect();
    let expected: Vec<Vec<String>> = [1..5, 5..9, 9..10]
        .into_iter()
        .map(|r| r.map(|n| format!("照片 {n}")).collect())
        .collect();
    assert_eq!(alt_texts, expected);
    assert_eq!(requests(&sb, "POST", "/2/media/upload").len(), 9);
    let x = delivery(&sb, &id, Network::X).await;
    let recorded: Vec<Vec<u32>> = x.parts.iter().map(|p| p.media.clone()).collect();
    assert_eq!(
        recorded,
        [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8]],
        "each part's media recorded"
    );

    // The status shows it too.
    let status = sb
        .call("GET", &format!("/v1/posts/{id}"), None)
        .await
        .unwrap();
    let x_view = status.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["network"] == "x")
        .unwrap()
        .clone();
    assert_eq!(x_view["parts"][2]["media"], json!([8]), "{x_view}");

    // Facebook: one post showing all nine photos, in order, with their alt texts.
    let posts = sb.facebook.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].message.as_deref(), Some(text.as_str()));
    assert_eq!(posts[0].attached_media.len(), 9);
    let photos = sb.facebook.photos();
    let photo_alts: Vec<String> = posts[0]
        .attached_media
        .iter()
        .map(|id| {
            let p = photos.iter().find(|p| &p.id == id).unwrap();
            p.alt_text.clone().unwrap_or_default()
        })
        .collect();
    let all: Vec<String> = (1..=9).map(|n| format!("照片 {n}")).collect();
    assert_eq!(photo_alts, all);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_after_part_two_posts_part_three_once_and_uploads_no_image_again() {
    let options = compressed_lease("PublishXFunction", "XQueue");
    let sb = Sandbox::start(options).await.unwrap();
    let host = MediaHost::start().await.unwrap();
    // Part 3's post stalls: the worker is killed while waiting for it.
    sb.x.inject(FaultRule::new(Fault::Hang).on("POST", "/2/tweets").after(2));
    let text = hundred_characters();
    let mut body = post(&text);
    body["media"] = nine_photos(&host);
    body["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    let id = accepted(&sb, &body).await;
    wait_for("two parts confirmed and the third sent", SETTLE, || async {
        let d = delivery(&sb, &id, Network::X).await;
        (d.parts.len() == 2 && requests(&sb, "POST", "/2/tweets").len() == 3).then_some(())
    })
    .await;
    sb.stack.kill_function("PublishXFunction").await;

    let ds = sb
        .wait_until_settled(&id, Duration::from_secs(90))
        .await
        .unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    let tweets = sb.x.tweets();
    assert_eq!(tweets.len(), 3, "part 3 posted once: {tweets:?}");
    assert_eq!(tweets[2].in_reply_to.as_ref(), Some(&tweets[1].id));
    assert_eq!(alts(&sb, &tweets[2]), ["照片 9"]);
    let parts: Vec<&str> = ds[0].parts.iter().map(|p| p.remote_id.as_str()).collect();
    let ids: Vec<&str> = tweets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(parts, ids);

    // Every image went up once: those of parts 1 and 2 with their parts, and the
    // stalled part's one was recorded as uploaded before its post was sent, so the
    // next attempt attached it.
    let uploads = requests(&sb, "POST", "/2/media/upload");
    let times_uploaded = |n: usize| uploads.iter().filter(|r| r.body.contains(&salt(n))).count();
    for n in 1..=9 {
        assert_eq!(times_uploaded(n), 1, "image {n} uploaded once");
    }
    assert_eq!(uploads.len(), 9);
    let part_three: Vec<Value> = requests(&sb, "POST", "/2/tweets")[2..]
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(part_three.len(), 2, "part 3 sent, stalled, sent again");
    assert_eq!(
        part_three[0]["media"], part_three[1]["media"],
        "the same upload attached both times"
    );
    let recorded = delivery(&sb, &id, Network::X).await.uploads;
    assert_eq!(recorded.len(), 9);
    assert_eq!(recorded[8].remote_id, tweets[2].media_ids[0]);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn at_names_mention_nobody_under_plain_and_mention_under_keep() {
    let sb = sandbox().await;
    let text = "@Lily 和 @小王 一起去爬山";
    let to_x = |mentions: &str| {
        let mut body = post(text);
        body["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
        if mentions != "default" {
            body["mentions"] = json!(mentions);
        }
        body
    };

    // The preview shows what X gets: the joiner after the @ of the name X would link.
    let preview = json!({"text": text, "networks": ["x", "facebook"]});
    let preview = sb
        .call("POST", "/v1/preview", Some(preview.to_string().as_bytes()))
        .await
        .unwrap();
    assert_eq!(preview.status, 200, "{}", preview.body);
    let plain = format!("@{WORD_JOINER}Lily 和 @小王 一起去爬山");
    assert_eq!(
        preview.body["networks"][0]["parts"][0]["text"],
        json!(plain)
    );
    assert_eq!(
        preview.body["networks"][0]["parts"][0]["weighted_length"],
        27
    );
    assert_eq!(preview.body["networks"][1]["parts"][0]["text"], json!(text));

    // Plain, the default: published with no mention, counted as X counts what it got.
    let id = accepted(&sb, &to_x("default")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    let tweet = sb.x.tweets().pop().unwrap();
    assert_eq!(tweet.mentions, Vec::<String>::new(), "{tweet:?}");
    assert_eq!(tweet.text, plain);
    assert_eq!(tweet.text.replace(WORD_JOINER, ""), text, "reads the same");
    assert_eq!(weighted_length(&tweet.text), 27);

    // Keep: the text as it is, and X mentions @Lily (@小王 is no X handle).
    let id = accepted(&sb, &to_x("keep")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    let tweet = sb.x.tweets().pop().unwrap();
    assert_eq!(tweet.text, text);
    assert_eq!(tweet.mentions, ["Lily"]);

    // An @ inside a link is the link's: under plain it goes untouched, so X links it
    // whole and mentions nobody.
    let linked = "读这篇 https://medium.com/@writer/post 很好";
    let mut body = post(linked);
    body["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    let id = accepted(&sb, &body).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    let tweet = sb.x.tweets().pop().unwrap();
    assert_eq!(tweet.text, linked, "the link is sent as it is");
    assert_eq!(tweet.mentions, Vec::<String>::new(), "{tweet:?}");

    // No post made under plain mentions anyone.
    let mentioning: Vec<_> =
        sb.x.tweets()
            .into_iter()
            .filter(|t| !t.mentions.is_empty())
            .collect();
    assert_eq!(mentioning.len(), 1, "only the keep post: {mentioning:?}");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_text_goes_to_its_network_and_the_main_text_to_the_others() {
    let sb = sandbox().await;
    let main = "今天和家人一起去西湖边散步，天气很好，湖面上有很多小船，孩子们玩得很开心。";
    let for_x = "西湖散步，天气真好 ☀️";
    let mut body = post(main);
    body["targets"] = json!([
        {"network": "x", "account_id": DEMO_X_ACCOUNT, "text": for_x},
        {"network": "facebook", "account_id": DEMO_FACEBOOK_PAGE}
    ]);

    // The preview gives each network its own text.
    let preview = json!({"text": main, "targets": body["targets"]});
    let preview = sb
        .call("POST", "/v1/preview", Some(preview.to_string().as_bytes()))
        .await
        .unwrap();
    assert_eq!(preview.status, 200, "{}", preview.body);
    let networks = preview.body["networks"].as_array().unwrap();
    assert_eq!(networks[0]["network"], "x");
    assert_eq!(networks[0]["parts"][0]["text"], for_x);
    assert_eq!(
        networks[0]["parts"][0]["weighted_length"],
        weighted_length(for_x)
    );
    assert_eq!(networks[1]["parts"][0]["text"], main);

    let id = accepted(&sb, &body).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert!(
        ds.iter().all(|d| d.status == DeliveryStatus::Published),
        "{ds:?}"
    );
    let tweets = sb.x.tweets();
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, for_x);
    let page_posts = sb.facebook.posts();
    assert_eq!(page_posts.len(), 1);
    assert_eq!(page_posts[0].message.as_deref(), Some(main));

    // The status shows which delivery has its own text.
    let status = sb
        .call("GET", &format!("/v1/posts/{id}"), None)
        .await
        .unwrap();
    let view = |network: &str| {
        status.body["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["network"] == network)
            .unwrap()
            .clone()
    };
    assert_eq!(view("x")["text"], for_x);
    assert_eq!(view("facebook").get("text"), None);
    assert_eq!(status.body["texts"][0]["text"], for_x);

    // The same post again is the first answer; another X text is another post.
    let again = sb.submit(&body).await.unwrap();
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["post_id"], json!(id.as_str()));
    let mut changed = body.clone();
    changed["targets"][0]["text"] = json!("西湖散步");
    let conflict = sb.submit(&changed).await.unwrap();
    assert_eq!(conflict.status, 409, "{}", conflict.body);
    sb.stop().await;
}
