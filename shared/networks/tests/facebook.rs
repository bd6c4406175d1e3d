//! The Facebook clients against the fake Graph API: what they send, and what they make
//! of the answers.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_core::{
    AccountStatus, LinkedAccount, MediaItem, Network, Publisher, RateLimitScope, Secret, Window,
};
use crosspost_fakes::{
    mp4_file, tiny_jpeg_header, tiny_png, FakeFacebook, Fault, FaultRule, MediaHost,
    RecordedRequest,
};
use crosspost_networks::facebook::oauth::{
    AppCredentials, FacebookLogin, LinkError, LoginSettings,
};
use crosspost_networks::facebook::{appsecret_proof, FacebookClient, Graph};
use crosspost_networks::media::MediaFetcher;
use crosspost_networks::PublishError;
use std::time::Duration;

const VERSION: &str = "v26.0";
const PAGE: &str = "104857600123456";
const TOKEN: &str = "page-token-1";
const APP_ID: &str = "100200300400500";
const APP_SECRET: &str = "app-secret-1";
const REDIRECT: &str = "https://api.example.com/v1/oauth/facebook/callback";

async fn fake() -> FakeFacebook {
    let fb = FakeFacebook::start(VERSION).await.unwrap();
    fb.set_app_id(APP_ID);
    fb.set_app_secret(APP_SECRET);
    fb.add_page(PAGE, TOKEN);
    fb
}

fn client(fb: &FakeFacebook, app_secret: &str) -> FacebookClient {
    let http = crosspost_networks::http_client(Duration::from_secs(5)).unwrap();
    // The media host is on loopback.
    let rules = crosspost_networks::fetch::FetchRules::configured(
        crosspost_core::MediaHosts::AllowLocal,
        None,
    )
    .unwrap();
    let checked =
        crosspost_networks::fetch::CheckedFetcher::new(rules, Duration::from_secs(5)).unwrap();
    let media = MediaFetcher::new(checked, Duration::from_secs(5));
    FacebookClient::new(
        http,
        Graph::new(fb.base_url(), VERSION),
        Secret::new(app_secret),
        media,
    )
}

/// A media host serving JPEGs at `/1.jpg` … `/4.jpg`.
async fn photo_host() -> MediaHost {
    let host = MediaHost::start().await.unwrap();
    for n in 1..=4 {
        host.serve(&format!("/{n}.jpg"), "image/jpeg", tiny_jpeg_header());
    }
    host
}

fn photo(host: &MediaHost, n: u32, alt: Option<&str>) -> MediaItem {
    MediaItem {
        url: host.url(&format!("/{n}.jpg")),
        alt: alt.map(str::to_owned),
        content_type: Some("image/jpeg".into()),
    }
}

/// The request's parameters, query and form body together.
fn params(r: &RecordedRequest) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = url_pairs(&r.query);
    all.extend(url_pairs(&r.body));
    all
}

fn url_pairs(s: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{s}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn assert_proofs_valid(fb: &FakeFacebook) {
    for r in fb.requests() {
        let p = params(&r);
        let proof = get(&p, "appsecret_proof").expect("every call has appsecret_proof");
        assert!(fb.proof_is_valid(TOKEN, proof), "{} {}", r.method, r.path);
        assert_eq!(
            r.authorization.as_deref(),
            Some(&*format!("Bearer {TOKEN}"))
        );
    }
}

#[tokio::test]
async fn text_link_one_photo_and_several_photos() {
    let fb = fake().await;
    let host = photo_host().await;
    let c = client(&fb, APP_SECRET);
    let token = Secret::new(TOKEN);

    let text = c
        .publish(
            PAGE,
            &token,
            "你好 Facebook",
            Some("https://src.example.com/p/1"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(text.hold, None);
    let one = c
        .publish(
            PAGE,
            &token,
            "一张照片",
            None,
            &[photo(&host, 1, Some("西湖"))],
        )
        .await
        .unwrap();
    let three = c
        .publish(
            PAGE,
            &token,
            "三张照片",
            Some("https://src.example.com/p/3"),
            &[
                photo(&host, 1, Some("一")),
                photo(&host, 2, None),
                photo(&host, 3, Some("三")),
            ],
        )
        .await
        .unwrap();

    let requests = fb.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    let feed = format!("/{VERSION}/{PAGE}/feed");
    let photos = format!("/{VERSION}/{PAGE}/photos");
    assert_eq!(paths, [&feed, &photos, &photos, &photos, &photos, &feed]);
    assert!(requests.iter().all(|r| r.status == 200), "{requests:?}");
    assert_proofs_valid(&fb);

    let p = params(&requests[0]);
    assert_eq!(get(&p, "message"), Some("你好 Facebook"));
    assert_eq!(get(&p, "link"), Some("https://src.example.com/p/1"));

    let p = params(&requests[1]);
    assert_eq!(get(&p, "url"), Some(&*host.url("/1.jpg")));
    assert_eq!(get(&p, "caption"), Some("一张照片"));
    assert_eq!(get(&p, "alt_text_custom"), Some("西湖"));
    assert_eq!(get(&p, "published"), None);

    for (r, alt) in requests[2..5].iter().zip([Some("一"), None, Some("三")]) {
        let p = params(r);
        assert_eq!(get(&p, "published"), Some("false"));
        assert_eq!(get(&p, "caption"), None);
        assert_eq!(get(&p, "alt_text_custom"), alt);
    }
    let p = params(&requests[5]);
    assert_eq!(get(&p, "message"), Some("三张照片"));
    assert_eq!(get(&p, "link"), None, "a link would replace the photos");

    let posts = fb.posts();
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[0].id, text.id);
    assert_eq!(posts[1].id, one.id, "the remote id is the photo's post_id");
    assert_eq!(posts[2].id, three.id);
    assert_eq!(posts[2].attached_media.len(), 3);
    let stored = fb.photos();
    assert_eq!(stored.len(), 4);
    assert!(stored[1..]
        .iter()
        .all(|p| !p.published && p.post_id.as_deref() == Some(three.id.as_str())));
    assert_eq!(stored[0].alt_text.as_deref(), Some("西湖"));

    // Reconcile finds photo posts by their caption or message, and only for a part
    // with media (and a text post only for a part without); delete removes them.
    let account = LinkedAccount {
        user_id: "u".into(),
        network: Network::Facebook,
        account_id: PAGE.into(),
        display_name: "Page".into(),
        status: AccountStatus::Active,
        access_token: token.clone(),
        rate_limited_until: None,
        refresh_token: None,
        access_expires_at: None,
        token_version: 1,
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let since = Window {
        since_unix: now - 60,
        until_unix: now + 60,
    };
    let lookup = |text, media_count| crosspost_core::Lookup {
        text,
        reply_to: None,
        media_count,
        window: since,
    };
    let ids = |found: Vec<crosspost_core::Candidate>| -> Vec<String> {
        found.into_iter().map(|c| c.post.id).collect()
    };
    let found = c.reconcile(&account, lookup("一张照片", 1)).await.unwrap();
    assert_eq!(ids(found.clone()), std::slice::from_ref(&one.id));
    // With when Graph says it was made, to the second.
    assert!((found[0].created_unix - now).abs() <= 60);
    let found = c.reconcile(&account, lookup("一张照片", 0)).await.unwrap();
    assert!(
        found.is_empty(),
        "a photo post is no text-only part's: {found:?}"
    );
    let found = c
        .reconcile(&account, lookup("你好 Facebook", 0))
        .await
        .unwrap();
    assert_eq!(ids(found), std::slice::from_ref(&text.id));
    let found = c
        .reconcile(&account, lookup("你好 Facebook", 2))
        .await
        .unwrap();
    assert!(
        found.is_empty(),
        "a text post is no photo part's: {found:?}"
    );
    let found = c.reconcile(&account, lookup("三张照片", 3)).await.unwrap();
    assert_eq!(ids(found), std::slice::from_ref(&three.id));
    c.delete_part(&account, &one.id).await.unwrap();
    c.delete_part(&account, &one.id).await.unwrap();
    assert_eq!(fb.posts().len(), 2);
    assert_proofs_valid(&fb);
}

#[tokio::test]
async fn a_wrong_app_secret_is_refused_and_nothing_is_posted() {
    let fb = fake().await;
    let c = client(&fb, "not-the-app-secret");
    let err = c
        .publish(PAGE, &Secret::new(TOKEN), "hi", None, &[])
        .await
        .unwrap_err();
    let PublishError::Permanent { reason } = err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("Invalid appsecret_proof"), "{reason}");
    assert!(!reason.contains(TOKEN) && !reason.contains(APP_SECRET));
    assert!(fb.posts().is_empty());
    assert_eq!(
        appsecret_proof(&Secret::new(APP_SECRET), &Secret::new(TOKEN)).len(),
        64
    );
}

#[tokio::test]
async fn usage_headers_on_a_success_ask_the_page_to_wait() {
    let fb = fake().await;
    let host = photo_host().await;
    let c = client(&fb, APP_SECRET);
    let usage = format!(
        r#"{{"{PAGE}":[{{"type":"pages","call_count":95,"total_cputime":10,"total_time":10,"estimated_time_to_regain_access":2}}]}}"#
    );
    fb.inject(
        FaultRule::new(Fault::WithHeaders(vec![(
            "X-Business-Use-Case-Usage".into(),
            usage,
        )]))
        .on("POST", "/feed"),
    );
    let post = c
        .publish(PAGE, &Secret::new(TOKEN), "busy page", None, &[])
        .await
        .unwrap();
    let (until, scope) = post.hold.expect("a hold");
    assert_eq!(scope, RateLimitScope::Account);
    let wait = until - time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((119..=121).contains(&wait), "{wait}");
    assert_eq!(fb.posts().len(), 1, "the post itself went out");

    fb.inject(
        FaultRule::new(Fault::WithHeaders(vec![(
            "X-App-Usage".into(),
            r#"{"call_count":99,"total_cputime":3,"total_time":4}"#.into(),
        )]))
        .on("POST", "/photos"),
    );
    let post = c
        .publish(
            PAGE,
            &Secret::new(TOKEN),
            "app busy",
            None,
            &[photo(&host, 1, None)],
        )
        .await
        .unwrap();
    assert_eq!(post.hold.map(|h| h.1), Some(RateLimitScope::App));
}

#[tokio::test]
async fn graph_errors_reach_the_worker_classified() {
    let fb = fake().await;
    let c = client(&fb, APP_SECRET);
    fb.remove_page(PAGE);
    let err = c
        .publish(PAGE, &Secret::new(TOKEN), "gone", None, &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "auth_revoked", "{err:?}");

    let fb = fake().await;
    let c = client(&fb, APP_SECRET);
    fb.inject(FaultRule::new(Fault::rate_limited_until(
        time::OffsetDateTime::now_utc().unix_timestamp() + 300,
    )));
    let err = c
        .publish(PAGE, &Secret::new(TOKEN), "limited", None, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PublishError::RateLimited {
                scope: RateLimitScope::Account,
                until_unix: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
}

fn untyped(host: &MediaHost, path: &str) -> MediaItem {
    MediaItem {
        url: host.url(path),
        alt: None,
        content_type: None,
    }
}

#[tokio::test]
async fn media_go_by_their_bytes_and_a_video_never_reaches_photos() {
    let fb = fake().await;
    fb.set_video_processing_reads(1);
    let c = client(&fb, APP_SECRET);
    let token = Secret::new(TOKEN);
    let host = MediaHost::start().await.unwrap();
    let mp4 = mp4_file(4096);
    host.serve("/clip.mp4", "", mp4.clone());
    host.serve("/clip.jpg", "image/jpeg", mp4);
    host.serve("/login.png", "image/png", b"<!DOCTYPE html><html>".to_vec());
    host.serve("/photo", "video/mp4", tiny_png());

    // A video, whatever its URL or content_type say: to /videos, never to /photos.
    let videos = format!("/{VERSION}/{PAGE}/videos");
    for item in [
        untyped(&host, "/clip.mp4"),
        MediaItem {
            content_type: Some("image/jpeg".into()),
            ..untyped(&host, "/clip.jpg")
        },
    ] {
        let before = fb.requests().len();
        let post = c
            .publish(PAGE, &token, "视频", None, std::slice::from_ref(&item))
            .await
            .unwrap();
        let sent = &fb.requests()[before];
        assert_eq!(sent.path, videos);
        assert_eq!(get(&params(sent), "file_url"), Some(item.url.as_str()));
        assert!(fb.videos().iter().any(|v| v.id == post.id));
    }
    assert!(fb.photos().is_empty());
    // A web page where a photo should be: refused the same way, naming its type.
    let err = c
        .publish(PAGE, &token, "网页", None, &[untyped(&host, "/login.png")])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "permanent");
    assert!(err.to_string().contains("its bytes are text/html"), "{err}");
    assert!(fb.photos().is_empty(), "/photos was never called");

    // A PNG the post calls video/mp4 goes to /photos as the image it is.
    let png = MediaItem {
        content_type: Some("video/mp4".into()),
        ..untyped(&host, "/photo")
    };
    let post = c.publish(PAGE, &token, "照片", None, &[png]).await.unwrap();
    let photos = fb.photos();
    assert_eq!(photos.len(), 1);
    assert_eq!(photos[0].url, host.url("/photo"));
    assert_eq!(photos[0].post_id.as_deref(), Some(post.id.as_str()));
    // Sniffed by us once, fetched by Graph once.
    assert_eq!(host.hits("/photo"), 2);

    // A host that is down: tried again later, nothing sent to Graph.
    host.fail("/down.jpg", 503);
    let before = fb.requests().len();
    let err = c
        .publish(PAGE, &token, "挂了", None, &[untyped(&host, "/down.jpg")])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "media_unavailable", "{err:?}");
    assert_eq!(fb.requests().len(), before);
}

fn login(fb: &FakeFacebook, app_secret: &str) -> FacebookLogin {
    FacebookLogin::new(
        reqwest::Client::new(),
        LoginSettings {
            graph: Graph::new(fb.base_url(), VERSION),
            dialog_url: "https://www.facebook.com".into(),
            app: AppCredentials {
                app_id: APP_ID.into(),
                app_secret: Secret::new(app_secret),
            },
        },
    )
}

#[tokio::test]
async fn linking_gets_a_long_lived_token_and_the_pages_with_their_tokens() {
    let fb = fake().await;
    let page_token = fb.grant_page("u1", "2001", "Tea House", &["ANALYZE", "CREATE_CONTENT"]);
    fb.grant_page("u1", "2002", "Moderated only", &["MODERATE"]);
    fb.grant_page("u2", "2003", "Someone else's", &["MANAGE"]);
    let l = login(&fb, APP_SECRET);

    let code = Secret::new(fb.issue_code("u1", REDIRECT));
    let short = l.exchange_code(&code, REDIRECT).await.unwrap();
    let long = l.long_lived(&short.token).await.unwrap();
    assert_ne!(long.token, short.token);
    assert!(long.expires_in_secs.unwrap() > 50 * 24 * 3600);
    let pages = l.pages(&long.token).await.unwrap();
    let ids: Vec<&str> = pages.iter().map(|p| p.page_id.as_str()).collect();
    assert_eq!(ids, ["2001", "2002"]);
    let linkable: Vec<_> = pages.iter().filter(|p| p.can_publish()).collect();
    assert_eq!(linkable.len(), 1);
    assert_eq!(linkable[0].name, "Tea House");
    assert_eq!(linkable[0].page_token.expose(), page_token);

    // The Page token publishes.
    let c = client(&fb, APP_SECRET);
    c.publish("2001", &linkable[0].page_token, "linked", None, &[])
        .await
        .unwrap();

    // Every user-token call carried its proof; the code went in the query once.
    let me = fb
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/me/accounts"))
        .unwrap();
    let p = params(&me);
    assert_eq!(get(&p, "fields"), Some("id,name,access_token,tasks"));
    assert!(fb.proof_is_valid(long.token.expose(), get(&p, "appsecret_proof").unwrap()));

    // A code works once.
    let again = l.exchange_code(&code, REDIRECT).await.unwrap_err();
    assert!(
        matches!(again, LinkError::Refused { code: 100, .. }),
        "{again:?}"
    );
}

#[tokio::test]
async fn linking_refuses_a_wrong_redirect_or_app_secret() {
    let fb = fake().await;
    let code = Secret::new(fb.issue_code("u1", "https://elsewhere.example.com/cb"));
    let err = login(&fb, APP_SECRET)
        .exchange_code(&code, REDIRECT)
        .await
        .unwrap_err();
    assert!(
        matches!(err, LinkError::Refused { code: 100, .. }),
        "{err:?}"
    );

    let code = Secret::new(fb.issue_code("u1", REDIRECT));
    let err = login(&fb, "wrong")
        .exchange_code(&code, REDIRECT)
        .await
        .unwrap_err();
    assert!(matches!(err, LinkError::Refused { .. }), "{err:?}");
    assert!(!err.to_string().contains("wrong"));

    // A user token with a proof made with another secret lists nothing.
    let short = login(&fb, APP_SECRET)
        .exchange_code(&code, REDIRECT)
        .await
        .unwrap();
    let err = login(&fb, "wrong").pages(&short.token).await.unwrap_err();
    assert!(
        matches!(&err, LinkError::Refused { code: 100, message } if message.contains("appsecret_proof")),
        "{err:?}"
    );
}
