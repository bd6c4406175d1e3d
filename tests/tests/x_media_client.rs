//! The X media uploader against the fake X and a media host, without the stack:
//! video streamed in 4 MB segments, and the refusals (size, type, scope, address).

use crosspost_core::media::MediaKind;
use crosspost_core::{MediaItem, PublishError, Secret};
use crosspost_fakes::{tiny_png, FakeX, MediaHost};
use crosspost_networks::fetch::{CheckedFetcher, FetchRules};
use crosspost_networks::media::{MediaBody, MediaFetcher};
use crosspost_networks::x_media::XMediaUploader;
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

    host.serve("/png-as-video", "video/mp4", tiny_png());
    let err = fetcher
        .fetch(&host.url("/png-as-video"), MediaKind::Image)
        .await
        .unwrap_err();
    let why = reason(err);
    assert!(
        why.starts_with("media_unsupported") && why.contains("video/mp4"),
        "{why}"
    );

    host.serve("/untyped", "", fake_mp4(1000));
    let err = fetcher
        .fetch(&host.url("/untyped"), MediaKind::Image)
        .await
        .unwrap_err();
    assert!(reason(err).contains("taken for an image, but the file is a video"));

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
}
