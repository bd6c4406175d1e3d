//! Videos on a Facebook Page, on the local stack: a 3 MB MP4 goes up through Graph's
//! resumable upload and is PUBLISHED once processed; a small one is handed to Graph as
//! a `file_url`; a video Graph cannot process ends FAILED with Graph's reason; DELETE
//! takes a video (and its post) off the Page; the preview attaches the video; a
//! `finish` answered 500 after Graph applied it is found on the Page, not sent again.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_aws::DeliveryRecord;
use crosspost_cli::sandbox::{DEMO_FACEBOOK_PAGE, GRAPH_VERSION};
use crosspost_cli::Sandbox;
use crosspost_core::{DeliveryStatus, PostId};
use crosspost_fakes::{mp4_file, FakeFacebook, Fault, FaultRule, MediaHost, RecordedRequest};
use crosspost_tests::{accepted, delete_and_confirm, param, post, sandbox};
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);
const THREE_MB: usize = 3 * 1024 * 1024;

fn video_post(text: &str, url: &str) -> Value {
    let mut body = post(text);
    body["targets"] = json!([{"network": "facebook", "account_id": DEMO_FACEBOOK_PAGE}]);
    body["media"] = json!([{ "url": url }]);
    body
}

async fn settled(sb: &Sandbox, id: &PostId) -> DeliveryRecord {
    let mut ds = sb.wait_until_settled(id, SETTLE).await.unwrap();
    assert_eq!(ds.len(), 1, "{ds:?}");
    ds.remove(0)
}

/// One `/videos` call: its `upload_phase` (None for a `file_url` upload), its
/// parameters and its `Idempotency-Key`.
type VideoCall = (Option<String>, Vec<(String, String)>, Option<String>);

/// The `/videos` calls made since `from`.
fn video_calls(fb: &FakeFacebook, from: usize) -> Vec<VideoCall> {
    let videos = format!("/{GRAPH_VERSION}/{DEMO_FACEBOOK_PAGE}/videos");
    fb.requests()[from..]
        .iter()
        .filter(|r: &&RecordedRequest| r.method == "POST" && r.path == videos)
        .map(|r| {
            assert_eq!(
                r.status,
                200,
                "{}",
                r.body.chars().take(300).collect::<String>()
            );
            let p = FakeFacebook::parameters_of(r);
            let phase = param(&p, "upload_phase").map(str::to_owned);
            let key = r.header_value("idempotency-key").map(str::to_owned);
            (phase, p, key)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_3_mb_mp4_goes_up_resumably_a_small_one_as_file_url_and_delete_removes_them() {
    let sb = sandbox().await;
    let host = MediaHost::start().await.unwrap();
    let big = mp4_file(THREE_MB);
    // Untyped, as a source app may send it: the bytes say it is an MP4.
    host.serve("/moments/wave.mp4", "", big.clone());
    host.serve("/moments/short.mp4", "video/mp4", mp4_file(300 * 1024));
    let big_url = host.url("/moments/wave.mp4");
    let small_url = host.url("/moments/short.mp4");

    // The preview attaches the video for the Page, nothing refused.
    let preview = json!({"text": "海浪", "media": [{"url": big_url}], "networks": ["facebook"]});
    let a = sb
        .call("POST", "/v1/preview", Some(preview.to_string().as_bytes()))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let plan = &a.body["networks"][0]["media"];
    assert_eq!(plan["attached"][0]["kind"], "video", "{plan}");
    assert_eq!(plan["attached"][0]["mime"], "video/mp4", "{plan}");
    assert_eq!(plan["refused"], json!([]), "{plan}");

    // 3 MB: start, a transfer per 1 MiB chunk, finish, then processing is waited for.
    let id = accepted(&sb, &video_post("海浪的声音 🌊", &big_url)).await;
    let d = settled(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    let calls = video_calls(&sb.facebook, 0);
    let phases: Vec<Option<&str>> = calls.iter().map(|(p, _, _)| p.as_deref()).collect();
    assert_eq!(
        phases,
        [
            Some("start"),
            Some("transfer"),
            Some("transfer"),
            Some("transfer"),
            Some("finish")
        ]
    );
    assert_eq!(
        param(&calls[0].1, "file_size"),
        Some(&*THREE_MB.to_string())
    );
    assert_eq!(param(&calls[4].1, "description"), Some("海浪的声音 🌊"));
    let key = format!("{id}.0");
    assert_eq!(calls[0].2.as_deref(), Some(key.as_str()));
    assert_eq!(calls[4].2.as_deref(), Some(key.as_str()));
    let videos = sb.facebook.videos();
    assert_eq!(videos.len(), 1);
    assert_eq!(d.parts[0].remote_id, videos[0].id);
    assert_eq!(videos[0].bytes, big, "every byte, in order");
    assert_eq!(videos[0].chunks, [1_048_576; 3]);
    let status_reads = sb
        .facebook
        .requests()
        .iter()
        .filter(|r| r.path == format!("/{GRAPH_VERSION}/{}", videos[0].id))
        .count();
    assert_eq!(status_reads, 2, "processing takes two reads of the status");
    let posts = sb.facebook.posts();
    assert_eq!(posts.len(), 1, "the ready video is a post of the Page");
    assert_eq!(posts[0].message.as_deref(), Some("海浪的声音 🌊"));

    // A small video: Graph fetches it from its URL.
    let from = sb.facebook.requests().len();
    let small_id = accepted(&sb, &video_post("短视频", &small_url)).await;
    let small = settled(&sb, &small_id).await;
    assert_eq!(small.status, DeliveryStatus::Published, "{small:?}");
    let calls = video_calls(&sb.facebook, from);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, None);
    assert_eq!(param(&calls[0].1, "file_url"), Some(small_url.as_str()));
    assert_eq!(param(&calls[0].1, "description"), Some("短视频"));
    let stored = sb
        .facebook
        .videos()
        .into_iter()
        .find(|v| v.id == small.parts[0].remote_id)
        .unwrap();
    assert_eq!(stored.file_url.as_deref(), Some(small_url.as_str()));

    // DELETE takes both videos, and their posts, off the Page.
    delete_and_confirm(&sb, &id, SETTLE).await;
    delete_and_confirm(&sb, &small_id, SETTLE).await;
    assert!(sb.facebook.videos().is_empty());
    assert!(sb.facebook.posts().is_empty());
    // Every call above was checked against Meta's Graph specs (`sb.stop` fails the
    // test on a parameter they do not list).
    assert_eq!(
        sb.facebook.contract_operations(),
        [
            "DELETE /{post-id}",
            "GET /{video-id}",
            "POST /{page-id}/videos"
        ]
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_video_facebook_cannot_process_fails_with_facebooks_reason() {
    let sb = sandbox().await;
    let host = MediaHost::start().await.unwrap();
    host.serve("/moments/broken.mp4", "video/mp4", mp4_file(THREE_MB));
    sb.facebook
        .fail_next_video_processing("The video's audio track could not be decoded.");

    let id = accepted(
        &sb,
        &video_post("坏掉的视频", &host.url("/moments/broken.mp4")),
    )
    .await;
    let d = settled(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Failed, "{d:?}");
    assert_eq!(d.attempts, 1, "refused for good, not retried");
    let err = d.last_error.as_ref().unwrap();
    assert_eq!(err.kind, "permanent");
    let video = &sb.facebook.videos()[0];
    assert_eq!(
        err.message,
        format!(
            "rejected: media_unsupported: Facebook could not process video {}: The video's \
             audio track could not be decoded. (error 1363008)",
            video.id
        )
    );
    assert!(sb.facebook.posts().is_empty(), "nothing on the Page");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finish_graph_applied_but_answered_500_is_found_on_the_page_not_sent_again() {
    let sb = sandbox().await;
    let host = MediaHost::start().await.unwrap();
    host.serve("/moments/once.mp4", "video/mp4", mp4_file(THREE_MB));
    // start and three transfers go through; finish is applied, then answered 500.
    sb.facebook.inject(
        FaultRule::new(Fault::AppliedThenServerError(500))
            .on("POST", "/videos")
            .after(4),
    );

    let id = accepted(&sb, &video_post("只发一次", &host.url("/moments/once.mp4"))).await;
    let d = settled(&sb, &id).await;
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    assert!(d.attempts >= 2, "looked up on a later attempt: {d:?}");
    let videos = sb.facebook.videos();
    assert_eq!(videos.len(), 1, "uploaded once");
    assert_eq!(d.parts[0].remote_id, videos[0].id);
    let phases: Vec<Option<String>> = sb
        .facebook
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| param(&FakeFacebook::parameters_of(r), "upload_phase").map(str::to_owned))
        .collect();
    assert_eq!(
        phases
            .iter()
            .filter(|p| p.as_deref() == Some("start"))
            .count(),
        1,
        "{phases:?}"
    );
    // The lookup read the Page's videos (while Graph was still processing, it waited).
    let listed = format!("/{GRAPH_VERSION}/{DEMO_FACEBOOK_PAGE}/videos");
    assert!(sb
        .facebook
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path == listed));
    assert_eq!(sb.facebook.posts().len(), 1);
    sb.stop().await;
}
