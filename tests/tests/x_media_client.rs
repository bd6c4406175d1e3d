//! The X media uploader against the fake X and a media host, without the stack:
//! video streamed in 4 MB segments, and the refusals (size, type, scope, address).
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_core::media::{MediaKind, Sniffed};
use crosspost_core::{MediaItem, PublishError, Secret};
use crosspost_fakes::{tiny_png, FakeX, MediaHost};
use crosspost_networks::fetch::{CheckedFetcher, FetchRules};
use crosspost_networks::media::{MediaBody, MediaFetcher};
use crosspost_networks::x::media::XMediaUploader;
use std::time::Duration;

const USER: &str = "1001";
const TOKEN: &str = "token-1001";

async fn setup(allow_local: bool) -> (FakeX, MediaHost, XMediaUploader, MediaFetcher) {
    let x = FakeX::start().await.unwrap();
    x.add_account(USER, TOKEN);
    let host = MediaHost::start().await.unwrap();
    let http = crosspost_networks::http_client(Duration::from_secs(10)).unwrap();
    let rules = FetchRules {
        allow_local,
        stand_ins: Vec::new(),
    };
    let checked = CheckedFetcher::new(rules, Duration::from_secs(5)).unwrap();
    let fetcher = MediaFetcher::new(checked, Duration::from_secs(30));
    let uploader =
        XMediaUploader::new(http, x.base_url(), fetcher.clone(), Duration::from_secs(10));
    (x, host, uploader, fetcher)
}

fn item(url: String, content_type: Option<&str>) -> MediaItem {
    MediaItem {
        url,
        alt: None,
        content_type: content_type.map(str::to_owned),
    }
}

/// An MP4-looking file of `len` bytes: a `ftyp` box, then filler.
fn fake_mp4(len: usize) -> Vec<u8> {
    let mut v = b"\0\0\0\x18ftypisom\0\0\x02\0isommp41".to_vec();
    v.resize(len, 0x5A);
    v
}

fn reason(err: PublishError) -> String {
    match err {
        PublishError::Permanent { reason } => reason,
        other => panic!("permanent expected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_video_is_streamed_in_four_megabyte_segments() {
    let (x, host, uploader, fetcher) = setup(true).await;
    let video = fake_mp4(9 * 1024 * 1024 + 5);
    host.serve("/clip.mp4", "video/mp4", video.clone());

    let fetched = fetcher
        .fetch(&host.url("/clip.mp4"), MediaKind::Video)
        .await
        .unwrap();
    assert_eq!(fetched.total_bytes, video.len() as u64);
    assert!(
        matches!(fetched.body, MediaBody::Chunks(_)),
        "not buffered whole"
    );

    let token = Secret::new(TOKEN);
    let ids = uploader
        .upload_all(&token, &[item(host.url("/clip.mp4"), None)])
        .await
        .unwrap();
    let media = x.media(&ids[0]).unwrap();
    assert_eq!(media.media_category, "tweet_video");
    assert_eq!(media.size, video.len() as u64);
    assert_eq!(media.segments, 3, "4 MB + 4 MB + the rest");
    assert_eq!(media.state, "succeeded");
    // Initialize, append, finalize and STATUS, as X's OpenAPI description has them.
    assert_eq!(x.contract_violations(), Vec::<String>::new());
}

/// A video X is still processing when the budget runs out comes back with its id, so
/// the worker records it; asked about later, STATUS says when it is ready, and the same
/// media id is attached (never uploaded again).
#[tokio::test]
async fn a_video_still_processing_when_the_budget_runs_out_is_kept_and_asked_about() {
    let (x, host, _, fetcher) = setup(true).await;
    host.serve("/long.mp4", "video/mp4", fake_mp4(1024 * 1024));
    let http = crosspost_networks::http_client(Duration::from_secs(10)).unwrap();
    // No time to wait: X's first answer says `pending`, so the upload comes back
    // processing.
    let hasty = XMediaUploader::new(http.clone(), x.base_url(), fetcher.clone(), Duration::ZERO);
    let token = Secret::new(TOKEN);
    let (id, processing) = hasty
        .upload_one(&token, &item(host.url("/long.mp4"), None))
        .await
        .unwrap();
    assert!(processing);
    assert_ne!(x.media(&id).unwrap().state, "succeeded");
    // Still without time to wait, a STATUS ask finds it at work.
    assert!(hasty.processed(&token, &id).await.unwrap());
    // With time, STATUS is polled until X is done.
    let patient = XMediaUploader::new(http, x.base_url(), fetcher, Duration::from_secs(10));
    assert!(!patient.processed(&token, &id).await.unwrap());
    assert_eq!(x.media(&id).unwrap().state, "succeeded");
    assert_eq!(x.uploaded_media().len(), 1, "uploaded once");
    assert_eq!(x.contract_violations(), Vec::<String>::new());
}

#[tokio::test]
async fn the_plan_goes_by_the_bytes_not_the_url_or_the_content_type() {
    let (x, host, uploader, fetcher) = setup(true).await;
    let token = Secret::new(TOKEN);
    host.serve("/clip.jpg", "", fake_mp4(2000));
    host.serve("/photo.mp4", "video/mp4", tiny_png());
    let sniffed = fetcher
        .sniff_each(&[
            item(host.url("/clip.jpg"), Some("image/jpeg")),
            item(host.url("/photo.mp4"), None),
        ])
        .await;
    assert_eq!(
        sniffed.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
        [
            Sniffed::Media {
                kind: MediaKind::Video,
                mime: "video/mp4"
            },
            Sniffed::Media {
                kind: MediaKind::Image,
                mime: "image/png"
            }
        ]
    );

    // A video called a JPEG goes up as a video, alone.
    let ids = uploader
        .upload_all(
            &token,
            &[
                item(host.url("/clip.jpg"), Some("image/jpeg")),
                item(host.url("/photo.mp4"), None),
            ],
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    let video = x.media(&ids[0]).unwrap();
    assert_eq!(
        (video.media_category.as_str(), video.media_type.as_str()),
        ("tweet_video", "video/mp4")
    );
    // A PNG at a .mp4 URL goes up as an image.
    let ids = uploader
        .upload_all(&token, &[item(host.url("/photo.mp4"), Some("video/mp4"))])
        .await
        .unwrap();
    assert_eq!(x.media(&ids[0]).unwrap().media_category, "tweet_image");

    // A file that is no media fails before anything is uploaded.
    host.serve(
        "/page.png",
        "image/png",
        b"<html><body>gone</body></html>".to_vec(),
    );
    let before = x.uploaded_media().len();
    let err = uploader
        .upload_all(&token, &[item(host.url("/page.png"), None)])
        .await
        .unwrap_err();
    assert_eq!(
        reason(err),
        format!(
            "media_unsupported: media[0] ({}) is not a JPEG, PNG, GIF, WEBP, MP4 or \
             QuickTime file: its bytes are text/html",
            host.url("/page.png")
        )
    );
    assert_eq!(x.uploaded_media().len(), before);
}

#[tokio::test]
async fn oversized_mismatched_internal_and_unauthorised_media_are_refused() {
    let (x, host, uploader, fetcher) = setup(true).await;
    let token = Secret::new(TOKEN);

    let mut big = tiny_png();
    big.resize(5 * 1024 * 1024 + 1, 0);
    host.serve("/big.png", "image/png", big);
    let err = fetcher
        .fetch(&host.url("/big.png"), MediaKind::Image)
        .await
        .unwrap_err();
    assert!(reason(err).starts_with("media_too_large"));

    // The host's Content-Type is a hint like the post's: the bytes decide.
    host.serve("/png-as-video", "video/mp4", tiny_png());
    let fetched = fetcher
        .fetch(&host.url("/png-as-video"), MediaKind::Image)
        .await
        .unwrap();
    assert_eq!(
        (fetched.kind, fetched.mime),
        (MediaKind::Image, "image/png")
    );

    // A file that is no longer what the plan found is refused.
    host.serve("/untyped", "", fake_mp4(1000));
    let err = fetcher
        .fetch(&host.url("/untyped"), MediaKind::Image)
        .await
        .unwrap_err();
    let why = reason(err);
    assert!(
        why.contains("was an image when the post's media were planned, but is now a video"),
        "{why}"
    );

    host.fail("/gone.png", 404);
    let err = fetcher
        .fetch(&host.url("/gone.png"), MediaKind::Image)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "media_unavailable");

    // Without allow-local, the media host on loopback is refused before any request.
    let (_, _, _, public) = setup(false).await;
    host.serve("/ok.png", "image/png", tiny_png());
    let before = host.hits("/ok.png");
    let err = public
        .fetch(&host.url("/ok.png"), MediaKind::Image)
        .await
        .unwrap_err();
    match err {
        PublishError::MediaUnavailable { detail } => {
            assert!(
                detail.starts_with("media_refused: the URL http://127.0.0.1:"),
                "{detail}"
            );
        }
        other => panic!("media_unavailable expected, got {other:?}"),
    }
    assert_eq!(host.hits("/ok.png"), before);

    // A token without media.write: X answers 403, a permanent refusal.
    x.set_scopes(USER, &["tweet.read", "tweet.write", "users.read"]);
    let err = uploader
        .upload_all(&token, &[item(host.url("/ok.png"), None)])
        .await
        .unwrap_err();
    assert!(reason(err).contains("media.write"));
    assert!(x.uploaded_media().is_empty());
    assert_eq!(x.contract_violations(), Vec::<String>::new());
}
