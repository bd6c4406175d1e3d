//! A media file's kind comes from its bytes, on the local stack: an untyped `.mp4` that
//! is a video never reaches Facebook's `/photos` (it goes to the Page's `/videos`) and
//! goes to X as a video; a PNG the post calls `video/mp4` is published as the image it
//! is on both; and `POST /v1/preview` tells the same before anything is sent.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_aws::DeliveryRecord;
use crosspost_cli::sandbox::{DEMO_FACEBOOK_PAGE, DEMO_X_ACCOUNT, GRAPH_VERSION};
use crosspost_cli::Sandbox;
use crosspost_core::{DeliveryStatus, Network, PostId};
use crosspost_fakes::{tiny_png_with, FakeFacebook, MediaHost};
use crosspost_tests::{accepted, post, sandbox};
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

/// A small but well-formed MP4: `ftyp` (isom, with the usual compatible brands), an
/// empty `free` box, and an `mdat` box of `payload` bytes.
fn small_mp4(payload: usize) -> Vec<u8> {
    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = u32::try_from(8 + body.len())
            .unwrap()
            .to_be_bytes()
            .to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }
    let mut ftyp = b"isom\0\0\x02\0".to_vec();
    for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
        ftyp.extend_from_slice(brand);
    }
    let mut file = mp4_box(b"ftyp", &ftyp);
    file.extend(mp4_box(b"free", &[]));
    file.extend(mp4_box(b"mdat", &vec![0x42; payload]));
    file
}

fn to_both(text: &str, media: Value) -> Value {
    let mut body = post(text);
    body["targets"] = json!([
        {"network": "x", "account_id": DEMO_X_ACCOUNT},
        {"network": "facebook", "account_id": DEMO_FACEBOOK_PAGE},
    ]);
    body["media"] = media;
    body
}

async fn settled(sb: &Sandbox, id: &PostId) -> (DeliveryRecord, DeliveryRecord) {
    let ds = sb.wait_until_settled(id, SETTLE).await.unwrap();
    let of = |network| {
        ds.iter()
            .find(|d| d.network == network)
            .cloned()
            .unwrap_or_else(|| panic!("a {network} delivery in {ds:?}"))
    };
    (of(Network::X), of(Network::Facebook))
}

/// The preview's media plan per network.
async fn preview_plans(sb: &Sandbox, media: &Value) -> (Value, Value) {
    let body = json!({"text": "预览", "media": media});
    let a = sb
        .call("POST", "/v1/preview", Some(body.to_string().as_bytes()))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let plan = |network: &str| {
        a.body["networks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["network"] == network)
            .map(|n| n["media"].clone())
            .unwrap()
    };
    (plan("x"), plan("facebook"))
}

fn photo_calls(fb: &FakeFacebook) -> usize {
    let photos = format!("/{GRAPH_VERSION}/{DEMO_FACEBOOK_PAGE}/photos");
    fb.requests().iter().filter(|r| r.path == photos).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bytes_decide_what_each_network_gets_and_preview_says_so() {
    let sb = sandbox().await;
    let host = MediaHost::start().await.unwrap();
    let video = small_mp4(4096);
    let png = tiny_png_with("holiday");
    // Untyped on both sides: no content_type in the post, none from the host.
    host.serve("/clip.mp4", "", video.clone());
    // Every hint says video: the URL, the host and the post.
    host.serve("/holiday.mp4", "video/mp4", png.clone());
    let clip_url = host.url("/clip.mp4");
    let photo_url = host.url("/holiday.mp4");
    let clip = json!([{"url": clip_url, "alt": "海浪"}]);
    let photo = json!([{"url": photo_url, "alt": "海边", "content_type": "video/mp4"}]);
    let calls_before = (sb.facebook.requests().len(), sb.x.requests().len());

    // The preview reads the bytes: a video for X and for the Page.
    let (x, fb) = preview_plans(&sb, &clip).await;
    for plan in [&x, &fb] {
        assert_eq!(plan["attached"][0]["kind"], "video", "{plan}");
        assert_eq!(plan["attached"][0]["mime"], "video/mp4", "{plan}");
        assert_eq!(plan["refused"], json!([]), "{plan}");
    }
    // The image in video's clothing is an image to both, and the plan says why.
    let (x, fb) = preview_plans(&sb, &photo).await;
    for plan in [&x, &fb] {
        assert_eq!(plan["attached"][0]["kind"], "image", "{plan}");
        assert_eq!(plan["attached"][0]["mime"], "image/png", "{plan}");
        let note = plan["attached"][0]["note"].as_str().unwrap();
        assert!(note.contains("but its bytes are image/png"), "{note}");
        assert_eq!(plan["refused"], json!([]), "{plan}");
    }
    assert_eq!(
        (sb.facebook.requests().len(), sb.x.requests().len()),
        calls_before,
        "a preview calls no network"
    );

    // The untyped video: never to /photos but to the Page's videos (small enough for
    // Graph to fetch it from its URL); X publishes it as a video too.
    let id = accepted(&sb, &to_both("海浪的声音", clip)).await;
    let (x, fb) = settled(&sb, &id).await;
    assert_eq!(fb.status, DeliveryStatus::Published, "{fb:?}");
    assert_eq!(photo_calls(&sb.facebook), 0, "{:?}", sb.facebook.requests());
    let videos = sb.facebook.videos();
    assert_eq!(videos.len(), 1);
    assert_eq!(videos[0].id, fb.parts[0].remote_id);
    assert_eq!(videos[0].file_url.as_deref(), Some(clip_url.as_str()));
    assert_eq!(videos[0].description.as_deref(), Some("海浪的声音"));
    assert_eq!(x.status, DeliveryStatus::Published, "{x:?}");
    let tweets = sb.x.tweets();
    assert_eq!(tweets.len(), 1);
    let media = sb.x.media(&tweets[0].media_ids[0]).unwrap();
    assert_eq!(media.media_category, "tweet_video");
    assert_eq!(media.media_type, "video/mp4");
    assert_eq!(media.size, video.len() as u64);
    assert_eq!(media.alt_text.as_deref(), Some("海浪"));

    // The image called video/mp4: a photo on the Page, an image on X.
    let id = accepted(&sb, &to_both("海边的照片", photo)).await;
    let (x, fb) = settled(&sb, &id).await;
    assert_eq!(fb.status, DeliveryStatus::Published, "{fb:?}");
    assert_eq!(photo_calls(&sb.facebook), 1);
    let photos = sb.facebook.photos();
    assert_eq!(photos.len(), 1);
    assert_eq!(photos[0].url, photo_url);
    assert_eq!(photos[0].alt_text.as_deref(), Some("海边"));
    assert_eq!(photos[0].post_id.as_deref(), Some(&*fb.parts[0].remote_id));
    assert_eq!(x.status, DeliveryStatus::Published, "{x:?}");
    let tweet =
        sb.x.tweets()
            .into_iter()
            .find(|t| t.id == x.parts[0].remote_id)
            .unwrap();
    let media = sb.x.media(&tweet.media_ids[0]).unwrap();
    assert_eq!(media.media_category, "tweet_image");
    assert_eq!(media.size, png.len() as u64);
    sb.stop().await;
}
