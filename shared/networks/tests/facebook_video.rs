//! Page videos through the Facebook client against the fake Graph API: a small file as
//! a `file_url`, a larger one through the resumable upload in the chunks Graph asks
//! for, processing waited for, a processing failure with Graph's reason, a video still
//! processing (or sent without an answer) found by reconciliation, and deleting.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_core::{
    AccountStatus, Candidate, LinkedAccount, Lookup, MediaItem, Network, Publisher, Secret, Window,
};
use crosspost_fakes::{mp4_file, FakeFacebook, Fault, FaultRule, MediaHost, RecordedRequest};
use crosspost_networks::facebook::{FacebookClient, Graph};
use crosspost_networks::media::MediaFetcher;
use crosspost_networks::PublishError;
use std::time::Duration;

const VERSION: &str = "v26.0";
const PAGE: &str = "104857600123456";
const TOKEN: &str = "page-token-1";
const APP_SECRET: &str = "app-secret-1";
const THREE_MB: usize = 3 * 1024 * 1024;

async fn fake() -> FakeFacebook {
    let fb = FakeFacebook::start(VERSION).await.unwrap();
    fb.set_app_secret(APP_SECRET);
    fb.add_page(PAGE, TOKEN);
    fb
}

fn client(fb: &FakeFacebook) -> FacebookClient {
    let http = crosspost_networks::http_client(Duration::from_secs(10)).unwrap();
    let rules = crosspost_networks::fetch::FetchRules::configured(
        crosspost_core::MediaHosts::AllowLocal,
        None,
    )
    .unwrap();
    let checked =
        crosspost_networks::fetch::CheckedFetcher::new(rules, Duration::from_secs(5)).unwrap();
    FacebookClient::new(
        http,
        Graph::new(fb.base_url(), VERSION),
        Secret::new(APP_SECRET),
        MediaFetcher::new(checked, Duration::from_secs(20)),
    )
}

fn page() -> LinkedAccount {
    LinkedAccount {
        user_id: "u".into(),
        network: Network::Facebook,
        account_id: PAGE.into(),
        display_name: "Page".into(),
        status: AccountStatus::Active,
        access_token: Secret::new(TOKEN),
        rate_limited_until: None,
        refresh_token: None,
        access_expires_at: None,
        token_version: 1,
    }
}

fn lookup(text: &str) -> Lookup<'_> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Lookup {
        text,
        reply_to: None,
        media_count: 1,
        window: Window {
            since_unix: now - 60,
            until_unix: now + 60,
        },
    }
}

fn video(host: &MediaHost, path: &str) -> MediaItem {
    MediaItem {
        url: host.url(path),
        alt: None,
        content_type: None,
    }
}

/// The parameters of a request: query, then form or multipart body.
fn params(r: &RecordedRequest) -> Vec<(String, String)> {
    FakeFacebook::parameters_of(r)
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn ids(found: &[Candidate]) -> Vec<&str> {
    found.iter().map(|c| c.post.id.as_str()).collect()
}

#[tokio::test]
async fn a_3_mb_video_goes_up_in_the_chunks_graph_asks_for_then_is_published_when_processed() {
    let fb = fake().await;
    let host = MediaHost::start().await.unwrap();
    let file = mp4_file(THREE_MB);
    host.serve("/moments/clip.mp4", "video/mp4", file.clone());
    let c = client(&fb).keyed("post-1.0");

    let post = c
        .publish(
            PAGE,
            &Secret::new(TOKEN),
            "海边的浪 🌊",
            Some("https://moments.example.com/p/1"),
            &[video(&host, "/moments/clip.mp4")],
        )
        .await
        .unwrap();

    let requests = fb.requests();
    let calls: Vec<(String, Option<String>)> = requests
        .iter()
        .map(|r| {
            let p = params(r);
            assert!(
                fb.proof_is_valid(TOKEN, get(&p, "appsecret_proof").unwrap()),
                "{} {}",
                r.method,
                r.path
            );
            assert_eq!(r.status, 200, "{} {}: {}", r.method, r.path, r.body);
            let phase = get(&p, "upload_phase").map(str::to_owned);
            (format!("{} {}", r.method, r.path), phase)
        })
        .collect();
    let videos = format!("POST /{VERSION}/{PAGE}/videos");
    let status = format!("GET /{VERSION}/{}", post.id);
    let phase = |p: &str| (videos.clone(), Some(p.to_owned()));
    assert_eq!(
        calls,
        [
            phase("start"),
            phase("transfer"),
            phase("transfer"),
            phase("transfer"),
            phase("finish"),
            (status.clone(), None),
            (status, None),
        ],
        "Graph keeps the video processing for two reads of its status"
    );
    let start = params(&requests[0]);
    assert_eq!(get(&start, "file_size"), Some(&*THREE_MB.to_string()));
    assert_eq!(get(&start, "file_url"), None);
    for (r, offset) in requests[1..4].iter().zip([0, 1_048_576, 2_097_152]) {
        let p = params(r);
        assert_eq!(get(&p, "start_offset"), Some(&*offset.to_string()));
        assert!(r
            .content_type
            .as_deref()
            .unwrap()
            .starts_with("multipart/form-data"));
        assert_eq!(
            r.header_value("idempotency-key"),
            None,
            "a chunk creates nothing"
        );
    }
    let finish = params(&requests[4]);
    assert_eq!(get(&finish, "description"), Some("海边的浪 🌊"));
    for r in [&requests[0], &requests[4]] {
        assert_eq!(r.header_value("idempotency-key"), Some("post-1.0"));
    }

    // The bytes arrived whole, in Graph's 1 MiB chunks; the video is the post.
    let stored = &fb.videos()[0];
    assert_eq!(post.id, stored.id);
    assert_eq!(
        post.url,
        format!("https://www.facebook.com/{PAGE}/videos/{}/", stored.id)
    );
    assert_eq!(stored.bytes, file);
    assert_eq!(stored.chunks, [1_048_576, 1_048_576, 1_048_576]);
    assert_eq!(stored.description.as_deref(), Some("海边的浪 🌊"));
    assert_eq!(stored.created_by.as_deref(), Some("post-1.0"));
    let posts = fb.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(stored.post_id.as_deref(), Some(posts[0].id.as_str()));
    assert_eq!(
        host.hits("/moments/clip.mp4"),
        2,
        "first bytes, then the download"
    );
    assert!(
        fb.contract_violations().is_empty(),
        "{:?}",
        fb.contract_violations()
    );

    // Reconciliation finds it by its video id, not twice through its post.
    let found = c.reconcile(&page(), lookup("海边的浪 🌊")).await.unwrap();
    assert_eq!(ids(&found), [post.id.as_str()]);
    // Deleting the video takes its post too; a second delete finds it gone.
    c.delete_part(&page(), &post.id).await.unwrap();
    assert!(fb.videos().is_empty() && fb.posts().is_empty());
    c.delete_part(&page(), &post.id).await.unwrap();
}

#[tokio::test]
async fn a_small_video_is_handed_to_graph_as_a_file_url() {
    let fb = fake().await;
    fb.set_video_processing_reads(1);
    let host = MediaHost::start().await.unwrap();
    host.serve("/small.mp4", "video/mp4", mp4_file(200 * 1024));
    let c = client(&fb).keyed("post-2.0");

    let post = c
        .publish(
            PAGE,
            &Secret::new(TOKEN),
            "小视频",
            None,
            &[video(&host, "/small.mp4")],
        )
        .await
        .unwrap();
    let requests = fb.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let p = params(&requests[0]);
    assert_eq!(get(&p, "file_url"), Some(&*host.url("/small.mp4")));
    assert_eq!(get(&p, "description"), Some("小视频"));
    assert_eq!(get(&p, "upload_phase"), None);
    assert_eq!(
        requests[0].header_value("idempotency-key"),
        Some("post-2.0")
    );
    let stored = &fb.videos()[0];
    assert_eq!(stored.id, post.id);
    assert_eq!(stored.file_url.as_deref(), Some(&*host.url("/small.mp4")));
    assert_eq!(fb.posts()[0].message.as_deref(), Some("小视频"));
    // We read its first bytes and length; Graph fetched it.
    assert_eq!(host.hits("/small.mp4"), 3);
}

#[tokio::test]
async fn a_processing_failure_fails_the_post_with_graphs_reason() {
    let fb = fake().await;
    let host = MediaHost::start().await.unwrap();
    host.serve("/clip.mp4", "video/mp4", mp4_file(THREE_MB));
    fb.fail_next_video_processing("The video's audio track could not be decoded.");
    let c = client(&fb);

    let err = c
        .publish(
            PAGE,
            &Secret::new(TOKEN),
            "坏视频",
            None,
            &[video(&host, "/clip.mp4")],
        )
        .await
        .unwrap_err();
    let PublishError::Permanent { reason } = &err else {
        panic!("{err:?}")
    };
    let id = &fb.videos()[0].id;
    assert_eq!(
        reason,
        &format!(
            "media_unsupported: Facebook could not process video {id}: The video's audio \
             track could not be decoded. (error 1363008)"
        )
    );
    assert!(fb.posts().is_empty(), "nothing on the Page");
    // A failed video is no candidate: a later attempt would send it again.
    assert!(c
        .reconcile(&page(), lookup("坏视频"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_video_sent_without_an_answer_or_still_processing_is_looked_for_not_sent_again() {
    let fb = fake().await;
    let host = MediaHost::start().await.unwrap();
    host.serve("/clip.mp4", "video/mp4", mp4_file(THREE_MB));
    fb.set_video_processing_reads(3);
    // `finish` is applied, then answered 500.
    fb.inject(
        FaultRule::new(Fault::AppliedThenServerError(500))
            .on("POST", "/videos")
            .after(4),
    );
    let c = client(&fb);
    let err = c
        .publish(
            PAGE,
            &Secret::new(TOKEN),
            "没有回音",
            None,
            &[video(&host, "/clip.mp4")],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "uncertain", "{err:?}");
    let id = fb.videos()[0].id.clone();

    // Still processing: whether it will be published is not known yet.
    for _ in 0..2 {
        let err = c.reconcile(&page(), lookup("没有回音")).await.unwrap_err();
        assert_eq!(err.kind(), "retryable", "{err:?}");
        assert!(err.to_string().contains(&id), "{err}");
    }
    let found = c.reconcile(&page(), lookup("没有回音")).await.unwrap();
    assert_eq!(ids(&found), [id.as_str()]);

    // Out of budget while processing: the video exists, so the outcome is uncertain.
    let c = client(&fb).with_video_processing_budget(Duration::ZERO);
    let err = c
        .publish(
            PAGE,
            &Secret::new(TOKEN),
            "还在处理",
            None,
            &[video(&host, "/clip.mp4")],
        )
        .await
        .unwrap_err();
    let PublishError::Uncertain { detail } = &err else {
        panic!("{err:?}")
    };
    assert!(detail.contains("still processing video"), "{detail}");
    assert_eq!(fb.videos().len(), 2);
    assert!(
        fb.contract_violations().is_empty(),
        "{:?}",
        fb.contract_violations()
    );
}

#[tokio::test]
async fn a_video_graph_refuses_or_a_host_that_fails_are_classified() {
    let fb = fake().await;
    let host = MediaHost::start().await.unwrap();
    // A media host that fails is a download failure, tried again later; nothing goes
    // to Graph.
    host.fail("/down.mp4", 503);
    let c = client(&fb);
    let err = c
        .publish(
            PAGE,
            &Secret::new(TOKEN),
            "挂了",
            None,
            &[video(&host, "/down.mp4")],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "media_unavailable", "{err:?}");
    assert!(fb.requests().is_empty());

    // Graph refusing the upload session is classified like any other call.
    host.serve("/clip.mp4", "video/mp4", mp4_file(THREE_MB));
    fb.remove_page(PAGE);
    let err = c
        .publish(
            PAGE,
            &Secret::new(TOKEN),
            "没权限",
            None,
            &[video(&host, "/clip.mp4")],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "auth_revoked", "{err:?}");
}
