//! Facebook Pages on the local stack: text + link, one-photo and several-photo posts
//! with the calls Graph expects (each with a valid `appsecret_proof`), usage headers
//! that make a Page wait, a revoked Page token, and deleting.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_aws::DeliveryRecord;
use crosspost_cli::sandbox::DEMO_FACEBOOK_PAGE;
use crosspost_cli::{Sandbox, DEMO_USER};
use crosspost_core::{AccountStatus, DeliveryStatus, Network, PostId};
use crosspost_fakes::{
    tiny_jpeg_header, FakeFacebook, Fault, FaultRule, MediaHost, RecordedRequest,
};
use crosspost_tests::{accepted, delete_and_confirm, param, post, sandbox, wait_for};
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);
const VERSION: &str = crosspost_cli::sandbox::GRAPH_VERSION;

fn to_page(page: &str, text: &str) -> Value {
    let mut body = post(text);
    body["targets"] = json!([{"network": "facebook", "account_id": page}]);
    body
}

/// A media host serving JPEGs at `/photos/1.jpg` … `/photos/4.jpg`.
async fn photo_host() -> MediaHost {
    let host = MediaHost::start().await.unwrap();
    for n in 1..=4 {
        host.serve(
            &format!("/photos/{n}.jpg"),
            "image/jpeg",
            tiny_jpeg_header(),
        );
    }
    host
}

fn photo(host: &MediaHost, n: u32, alt: Option<&str>) -> Value {
    let mut item = json!({
        "url": host.url(&format!("/photos/{n}.jpg")),
        "content_type": "image/jpeg",
    });
    if let Some(alt) = alt {
        item["alt"] = json!(alt);
    }
    item
}

async fn published(sb: &Sandbox, id: &PostId) -> DeliveryRecord {
    let ds = sb.wait_until_settled(id, SETTLE).await.unwrap();
    assert_eq!(ds.len(), 1);
    assert_eq!(ds[0].status, DeliveryStatus::Published, "{ds:?}");
    ds[0].clone()
}

/// The calls made since `from`, each checked for the Page token and a valid proof.
fn calls_since(sb: &Sandbox, from: usize) -> Vec<(RecordedRequest, Vec<(String, String)>)> {
    let token = sb.facebook_token.expose();
    sb.facebook.requests()[from..]
        .iter()
        .map(|r| {
            let params = FakeFacebook::parameters_of(r);
            let proof = param(&params, "appsecret_proof").expect("appsecret_proof on every call");
            assert!(
                sb.facebook.proof_is_valid(token, proof),
                "{} {}",
                r.method,
                r.path
            );
            assert_eq!(
                r.authorization.as_deref(),
                Some(&*format!("Bearer {token}"))
            );
            assert_eq!(r.status, 200, "{} {}: {}", r.method, r.path, r.body);
            (r.clone(), params)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn text_link_one_photo_and_three_photo_posts_publish_with_the_right_calls_and_delete() {
    let sb = sandbox().await;
    let host = photo_host().await;
    let feed = format!("/{VERSION}/{DEMO_FACEBOOK_PAGE}/feed");
    let photos = format!("/{VERSION}/{DEMO_FACEBOOK_PAGE}/photos");

    // Text with a link back to the source.
    let mut body = to_page(DEMO_FACEBOOK_PAGE, "今天的茶会很热闹，谢谢大家！");
    body["link"] = json!("https://moments.example.com/p/42");
    let text_id = accepted(&sb, &body).await;
    let text = published(&sb, &text_id).await;
    let calls = calls_since(&sb, 0);
    assert_eq!(calls.len(), 1);
    let (r, p) = &calls[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", feed.as_str())
    );
    assert_eq!(param(p, "message"), Some("今天的茶会很热闹，谢谢大家！"));
    assert_eq!(param(p, "link"), Some("https://moments.example.com/p/42"));
    assert_eq!(text.parts[0].remote_id, sb.facebook.posts()[0].id);

    // One photo: `/photos` with url and caption; the delivery keeps the post id. A
    // photo post has no link card: the link goes at the end of the caption.
    let mut body = to_page(DEMO_FACEBOOK_PAGE, "西湖的秋天");
    body["media"] = json!([photo(&host, 1, Some("湖面上的小船"))]);
    body["link"] = json!("https://moments.example.com/p/43");
    let from = sb.facebook.requests().len();
    let one_id = accepted(&sb, &body).await;
    let one = published(&sb, &one_id).await;
    let calls = calls_since(&sb, from);
    assert_eq!(calls.len(), 1);
    let (r, p) = &calls[0];
    assert_eq!(r.path, photos);
    assert_eq!(param(p, "url"), Some(&*host.url("/photos/1.jpg")));
    assert_eq!(
        param(p, "caption"),
        Some("西湖的秋天\n\nhttps://moments.example.com/p/43")
    );
    assert_eq!(param(p, "link"), None);
    assert_eq!(param(p, "alt_text_custom"), Some("湖面上的小船"));
    assert_eq!(param(p, "published"), None);
    let stored = sb.facebook.photos();
    assert_eq!(one.parts[0].remote_id, stored[0].post_id.clone().unwrap());
    assert!(stored[0].published);

    // Three photos: each uploaded unpublished, then one feed post attaching them.
    let mut body = to_page(DEMO_FACEBOOK_PAGE, "周末爬山 ⛰️ 三张照片");
    body["media"] = json!([
        photo(&host, 2, Some("山顶")),
        photo(&host, 3, None),
        photo(&host, 4, Some("日落"))
    ]);
    let from = sb.facebook.requests().len();
    let three_id = accepted(&sb, &body).await;
    let three = published(&sb, &three_id).await;
    let calls = calls_since(&sb, from);
    let paths: Vec<&str> = calls.iter().map(|(r, _)| r.path.as_str()).collect();
    assert_eq!(paths, [&*photos, &*photos, &*photos, &*feed]);
    let uploaded: Vec<_> = sb.facebook.photos()[1..].to_vec();
    for ((n, alt), ((_, p), stored)) in [(2, Some("山顶")), (3, None), (4, Some("日落"))]
        .into_iter()
        .zip(calls.iter().zip(&uploaded))
    {
        assert_eq!(param(p, "published"), Some("false"));
        assert_eq!(
            param(p, "url"),
            Some(&*host.url(&format!("/photos/{n}.jpg")))
        );
        assert_eq!(param(p, "alt_text_custom"), alt);
        assert_eq!(stored.post_id.as_deref(), Some(&*three.parts[0].remote_id));
    }
    let (_, p) = &calls[3];
    assert_eq!(param(p, "message"), Some("周末爬山 ⛰️ 三张照片"));
    for (i, stored) in uploaded.iter().enumerate() {
        let attached: Value =
            serde_json::from_str(param(p, &format!("attached_media[{i}]")).unwrap()).unwrap();
        assert_eq!(attached, json!({"media_fbid": stored.id}));
    }
    assert_eq!(sb.facebook.posts().len(), 3);

    // Delete (signed, as the source app calls it) takes the posts off the Page.
    let from = sb.facebook.requests().len();
    delete_and_confirm(&sb, &text_id, SETTLE).await;
    delete_and_confirm(&sb, &three_id, SETTLE).await;
    let calls = calls_since(&sb, from);
    let deleted: Vec<String> = calls
        .iter()
        .map(|(r, _)| {
            assert_eq!(r.method, "DELETE");
            r.path.clone()
        })
        .collect();
    assert_eq!(
        deleted,
        [
            format!("/{VERSION}/{}", text.parts[0].remote_id),
            format!("/{VERSION}/{}", three.parts[0].remote_id)
        ]
    );
    let left: Vec<String> = sb.facebook.posts().into_iter().map(|p| p.id).collect();
    assert_eq!(left, [one.parts[0].remote_id.clone()]);
    // Every call above was checked against Meta's Graph specs (`sb.stop` fails the
    // test on a parameter they do not list).
    assert_eq!(
        sb.facebook.contract_operations(),
        [
            "DELETE /{post-id}",
            "POST /{page-id}/feed",
            "POST /{page-id}/photos"
        ]
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_at_95_percent_defers_that_pages_next_delivery_while_another_page_publishes() {
    let sb = sandbox().await;
    let other_page = "200300400500600";
    let other_token = sb.link_facebook_page(DEMO_USER, other_page).await.unwrap();
    let usage = json!({ DEMO_FACEBOOK_PAGE: [{
        "type": "pages", "call_count": 95, "total_cputime": 10, "total_time": 10,
        "estimated_time_to_regain_access": 1,
    }]});
    sb.facebook.inject(
        FaultRule::new(Fault::WithHeaders(vec![(
            "X-Business-Use-Case-Usage".into(),
            usage.to_string(),
        )]))
        .on("POST", &format!("{DEMO_FACEBOOK_PAGE}/feed")),
    );

    // The busy answer still publishes the post.
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let first = accepted(&sb, &to_page(DEMO_FACEBOOK_PAGE, "第一条：用量95%")).await;
    published(&sb, &first).await;
    let account = sb
        .accounts
        .get(DEMO_USER, Network::Facebook, DEMO_FACEBOOK_PAGE)
        .await
        .unwrap()
        .unwrap();
    let regain = account.rate_limited_until.expect("the Page waits");
    assert!(
        (started + 59..=started + 70).contains(&regain),
        "regain {regain}, started {started}"
    );

    // That Page's next post waits without a call; another Page publishes at once.
    let second = accepted(&sb, &to_page(DEMO_FACEBOOK_PAGE, "第二条：要等一等")).await;
    let third = accepted(&sb, &to_page(other_page, "另一个主页，马上发")).await;
    published(&sb, &third).await;
    let held = wait_for("the second delivery to be held", SETTLE, || async {
        let d = sb.posts.deliveries(&second).await.unwrap().remove(0);
        (d.status == DeliveryStatus::Retrying).then_some(d)
    })
    .await;
    assert_eq!(held.attempts, 0, "waiting is not an attempt");
    assert!(held.next_attempt_at.unwrap().unix_timestamp() >= regain - 1);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    assert!(
        now() < regain,
        "the other Page did not wait for the regain time"
    );
    let posts_by = |token: &str| {
        sb.facebook
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .filter(|r| r.authorization.as_deref() == Some(&*format!("Bearer {token}")))
            .count()
    };
    assert_eq!(posts_by(other_token.expose()), 1);
    assert_eq!(
        posts_by(sb.facebook_token.expose()),
        1,
        "no call while waiting"
    );

    // After the regain time the held post goes out.
    let d = sb
        .wait_until_settled(&second, Duration::from_secs(120))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    let last_call = sb
        .facebook
        .requests()
        .into_iter()
        .rfind(|r| r.body.contains("message="))
        .unwrap();
    assert!(last_call
        .authorization
        .unwrap()
        .ends_with(sb.facebook_token.expose()));
    assert!(now() >= regain, "published only after the regain time");
    assert_eq!(posts_by(sb.facebook_token.expose()), 2);
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_page_token_ends_in_needs_reauth() {
    let sb = sandbox().await;
    sb.facebook.remove_page(DEMO_FACEBOOK_PAGE);
    let id = accepted(&sb, &to_page(DEMO_FACEBOOK_PAGE, "主页权限没了")).await;
    let ds = sb.wait_until_settled(&id, SETTLE).await.unwrap();
    assert_eq!(ds[0].status, DeliveryStatus::NeedsReauth, "{ds:?}");
    assert_eq!(ds[0].last_error.as_ref().unwrap().kind, "auth_revoked");
    let account = sb
        .accounts
        .get(DEMO_USER, Network::Facebook, DEMO_FACEBOOK_PAGE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.status, AccountStatus::NeedsReauth);
    let answers: Vec<u16> = sb.facebook.requests().iter().map(|r| r.status).collect();
    assert_eq!(answers, [400], "one call, answered with error 190");
    sb.stop().await;
}
