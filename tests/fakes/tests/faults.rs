//! Injected faults, seen from a client over HTTP as a real client would see them.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crosspost_fakes::{FakeFacebook, FakeX, Fault, FaultRule};
use serde_json::{json, Value};

const USER: &str = "1001";
const USER_TOKEN: &str = "user-token";
const VERSION: &str = "v26.0";
const PAGE: &str = "501";
const PAGE_TOKEN: &str = "page-501-token";

async fn fake_x() -> FakeX {
    let x = FakeX::start().await.expect("fake X starts");
    x.add_account(USER, USER_TOKEN);
    x
}

async fn fake_facebook() -> FakeFacebook {
    let fb = FakeFacebook::start(VERSION)
        .await
        .expect("fake Graph API starts");
    fb.add_page(PAGE, PAGE_TOKEN);
    fb
}

fn tweet(x: &FakeX, client: &reqwest::Client, text: &str) -> reqwest::RequestBuilder {
    client
        .post(format!("{}/2/tweets", x.base_url()))
        .bearer_auth(USER_TOKEN)
        .json(&json!({ "text": text }))
}

fn feed(fb: &FakeFacebook, client: &reqwest::Client, message: &str) -> reqwest::RequestBuilder {
    client
        .post(format!("{}/{VERSION}/{PAGE}/feed", fb.base_url()))
        .form(&[("message", message), ("access_token", PAGE_TOKEN)])
}

/// Status, headers and JSON body of an answer.
async fn answer(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("JSON answer"))
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("header {name} in {headers:?}"))
        .to_str()
        .unwrap()
}

fn statuses(requests: &[crosspost_fakes::RecordedRequest]) -> Vec<u16> {
    requests.iter().map(|r| r.status).collect()
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn respond_replaces_the_answer_and_has_no_effect() {
    let x = fake_x().await;
    x.inject(FaultRule::new(Fault::Respond {
        status: 418,
        body: json!({"custom": true}),
        headers: vec![("x-custom".to_owned(), "yes".to_owned())],
    }));
    assert_eq!(x.pending_faults(), 1);
    let client = reqwest::Client::new();
    let (status, headers, body) = answer(tweet(&x, &client, "hello")).await;
    assert_eq!(status, 418);
    assert_eq!(header(&headers, "x-custom"), "yes");
    assert!(header(&headers, "content-type").starts_with("application/json"));
    assert_eq!(body, json!({"custom": true}));
    assert!(x.tweets().is_empty());
    assert_eq!(x.pending_faults(), 0);

    // Used up: the same request now goes through.
    let (status, _, _) = answer(tweet(&x, &client, "hello")).await;
    assert_eq!(status, 201);
    assert_eq!(x.tweets().len(), 1);
    assert_eq!(statuses(&x.requests()), [418, 201]);
}

#[tokio::test]
async fn x_server_errors_and_rate_limits() {
    let x = fake_x().await;
    let client = reqwest::Client::new();
    let reset = now_s() + 900;
    x.inject(FaultRule::new(Fault::ServerError(503)));
    x.inject(FaultRule::new(Fault::rate_limited_until(reset)));

    let (status, _, body) = answer(tweet(&x, &client, "one")).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], 503);
    assert_eq!(body["title"], "Service Unavailable");
    assert!(body["type"].is_string() && body["detail"].is_string());

    let (status, headers, body) = answer(tweet(&x, &client, "one")).await;
    assert_eq!(status, 429);
    assert_eq!(body["status"], 429);
    assert_eq!(body["title"], "Too Many Requests");
    assert_eq!(header(&headers, "x-rate-limit-limit"), "100");
    assert_eq!(header(&headers, "x-rate-limit-remaining"), "0");
    assert_eq!(header(&headers, "x-rate-limit-reset"), reset.to_string());

    assert!(x.tweets().is_empty());
    assert_eq!(statuses(&x.requests()), [503, 429]);
}

#[tokio::test]
async fn facebook_server_errors() {
    let fb = fake_facebook().await;
    let client = reqwest::Client::new();
    fb.inject(FaultRule::new(Fault::ServerError(500)));
    fb.inject(FaultRule::new(Fault::ServerError(503)));
    for (expected_status, expected_code) in [(500, 1), (503, 2)] {
        let (status, _, body) = answer(feed(&fb, &client, "hello")).await;
        assert_eq!(status, expected_status);
        assert_eq!(body["error"]["code"], expected_code, "{body}");
        assert_eq!(body["error"]["type"], "OAuthException");
        assert!(body["error"]["fbtrace_id"].is_string());
    }
    assert!(fb.posts().is_empty());
    assert_eq!(statuses(&fb.requests()), [500, 503]);
}

#[tokio::test]
async fn facebook_rate_limits_of_a_page_and_of_the_app() {
    let fb = fake_facebook().await;
    let client = reqwest::Client::new();
    let reset = now_s() + 30 * 60;
    fb.inject(FaultRule::new(Fault::rate_limited_until(reset)).times(2));

    let (status, headers, body) = answer(feed(&fb, &client, "hello")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 32, "{body}");
    let usage: Value = serde_json::from_str(header(&headers, "x-business-use-case-usage")).unwrap();
    let entry = &usage[PAGE][0];
    assert_eq!(entry["type"], "pages");
    assert_eq!(entry["call_count"], 100);
    let minutes = entry["estimated_time_to_regain_access"].as_i64().unwrap();
    assert!((29..=30).contains(&minutes), "{minutes}");

    // Without a known Page token the app-level limit is what shows.
    let (status, headers, body) = answer(client.get(format!(
        "{}/{VERSION}/{PAGE}/published_posts",
        fb.base_url()
    )))
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 4, "{body}");
    let usage: Value = serde_json::from_str(header(&headers, "x-app-usage")).unwrap();
    assert_eq!(usage["call_count"], 100);

    assert!(fb.posts().is_empty());
    assert_eq!(statuses(&fb.requests()), [400, 400]);
}

#[tokio::test]
async fn with_headers_applies_and_adds_headers() {
    let fb = fake_facebook().await;
    let usage = json!({ PAGE: [{"type": "pages", "call_count": 95, "total_cputime": 10,
        "total_time": 12, "estimated_time_to_regain_access": 0}] })
    .to_string();
    fb.inject(FaultRule::new(Fault::WithHeaders(vec![(
        "X-Business-Use-Case-Usage".to_owned(),
        usage.clone(),
    )])));
    let (status, headers, body) = answer(feed(&fb, &reqwest::Client::new(), "hello")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-business-use-case-usage"), usage);
    assert_eq!(fb.posts().len(), 1);
    assert_eq!(body["id"], fb.posts()[0].id);
}

#[tokio::test]
async fn slow_answers_come_after_the_delay() {
    let x = fake_x().await;
    let delay = Duration::from_millis(300);
    x.inject(FaultRule::new(Fault::Slow(delay)));
    let started = Instant::now();
    let (status, _, body) = answer(tweet(&x, &reqwest::Client::new(), "slow")).await;
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
    assert_eq!(status, 201);
    assert_eq!(body["data"]["id"], x.tweets()[0].id);
    assert_eq!(statuses(&x.requests()), [201]);
}

#[tokio::test]
async fn reset_connection_gives_no_answer_at_all() {
    let x = fake_x().await;
    x.inject(FaultRule::new(Fault::ResetConnection));
    let client = reqwest::Client::new();
    let error = tweet(&x, &client, "lost")
        .send()
        .await
        .expect_err("no HTTP answer");
    assert!(!error.is_timeout(), "{error:?}");
    assert!(error.status().is_none(), "{error:?}");
    assert!(x.tweets().is_empty());
    assert_eq!(statuses(&x.requests()), [0]);

    // The server itself is fine: the next request is answered.
    let (status, _, _) = answer(tweet(&x, &client, "lost")).await;
    assert_eq!(status, 201);
    assert_eq!(statuses(&x.requests()), [0, 201]);
}

#[tokio::test]
async fn reset_connection_on_facebook() {
    let fb = fake_facebook().await;
    fb.inject(FaultRule::new(Fault::ResetConnection).on("POST", "/feed"));
    assert!(feed(&fb, &reqwest::Client::new(), "lost")
        .send()
        .await
        .is_err());
    assert!(fb.posts().is_empty());
    assert_eq!(statuses(&fb.requests()), [0]);
}

#[tokio::test]
async fn accept_then_hang_applies_but_never_answers() {
    let x = fake_x().await;
    x.inject(FaultRule::new(Fault::AcceptThenHang).on("POST", "/2/tweets"));
    let hanging = tokio::spawn({
        let request = tweet(
            &x,
            &reqwest::Client::builder()
                .timeout(Duration::from_millis(500))
                .build()
                .unwrap(),
            "accepted",
        );
        async move { request.send().await }
    });

    // Other connections are served meanwhile.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _, _) = answer(
        reqwest::Client::new()
            .get(format!("{}/2/users/me", x.base_url()))
            .bearer_auth(USER_TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    assert!(!hanging.is_finished());

    let error = hanging.await.unwrap().expect_err("no answer");
    assert!(error.is_timeout(), "{error:?}");
    let tweets = x.tweets();
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].text, "accepted");
    let requests = x.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests
        .iter()
        .any(|r| r.path == "/2/tweets" && r.status == 0));
}

#[tokio::test]
async fn accept_then_hang_ends_at_shutdown() {
    let fb = fake_facebook().await;
    fb.inject(FaultRule::new(Fault::AcceptThenHang));
    let hanging = tokio::spawn(feed(&fb, &reqwest::Client::new(), "accepted").send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fb.posts().len(), 1);
    assert_eq!(statuses(&fb.requests()), [0]);

    fb.shutdown();
    let result = tokio::time::timeout(Duration::from_secs(5), hanging)
        .await
        .expect("the hang ends at shutdown")
        .unwrap();
    assert!(result.is_err(), "no answer even then: {result:?}");
}

#[tokio::test]
async fn times_then_normal_behaviour() {
    let x = fake_x().await;
    let client = reqwest::Client::new();
    x.inject(FaultRule::new(Fault::ServerError(500)).times(3));
    assert_eq!(x.pending_faults(), 3);
    for _ in 0..3 {
        let (status, _, _) = answer(tweet(&x, &client, "retry")).await;
        assert_eq!(status, 500);
    }
    assert_eq!(x.pending_faults(), 0);
    let (status, _, _) = answer(tweet(&x, &client, "retry")).await;
    assert_eq!(status, 201);
    assert_eq!(statuses(&x.requests()), [500, 500, 500, 201]);
}

#[tokio::test]
async fn rules_match_by_method_and_path_in_order() {
    let x = fake_x().await;
    let client = reqwest::Client::new();
    x.inject(FaultRule::new(Fault::ServerError(502)).on("DELETE", "/2/tweets/"));
    x.inject(FaultRule::new(Fault::ServerError(503)).on("get", "/users/"));
    x.inject(FaultRule::new(Fault::ServerError(504)).on("GET", "/users/"));
    assert_eq!(x.pending_faults(), 3);

    // POST /2/tweets matches neither rule.
    let (status, _, body) = answer(tweet(&x, &client, "kept")).await;
    assert_eq!(status, 201);
    let id = body["data"]["id"].as_str().unwrap().to_owned();

    let me = || {
        client
            .get(format!("{}/2/users/me", x.base_url()))
            .bearer_auth(USER_TOKEN)
    };
    assert_eq!(answer(me()).await.0, 503);
    assert_eq!(answer(me()).await.0, 504);
    assert_eq!(answer(me()).await.0, 200);

    let delete = || {
        client
            .delete(format!("{}/2/tweets/{id}", x.base_url()))
            .bearer_auth(USER_TOKEN)
    };
    assert_eq!(answer(delete()).await.0, 502);
    assert_eq!(x.tweets().len(), 1);
    assert_eq!(answer(delete()).await.0, 200);
    assert!(x.tweets().is_empty());
    assert_eq!(x.pending_faults(), 0);
}

#[tokio::test]
async fn faults_stay_with_their_fake() {
    let x = fake_x().await;
    let fb = fake_facebook().await;
    let client = reqwest::Client::new();
    x.inject(FaultRule::new(Fault::ServerError(503)));
    assert_eq!(fb.pending_faults(), 0);

    let (status, _, _) = answer(feed(&fb, &client, "hello")).await;
    assert_eq!(status, 200);
    assert_eq!(x.pending_faults(), 1);

    fb.inject(FaultRule::new(Fault::ResetConnection).times(2));
    assert_eq!(answer(tweet(&x, &client, "hello")).await.0, 503);
    assert_eq!(answer(tweet(&x, &client, "hello")).await.0, 201);
    assert_eq!(fb.pending_faults(), 2);
}

#[tokio::test]
async fn removed_account_token_is_401() {
    let x = fake_x().await;
    let client = reqwest::Client::new();
    assert_eq!(answer(tweet(&x, &client, "before")).await.0, 201);
    x.remove_account(USER);
    let (status, _, body) = answer(tweet(&x, &client, "after")).await;
    assert_eq!(status, 401);
    assert_eq!(body["title"], "Unauthorized");
    assert_eq!(x.tweets().len(), 1);
}

#[tokio::test]
async fn removed_page_token_is_graph_190() {
    let fb = fake_facebook().await;
    let client = reqwest::Client::new();
    assert_eq!(answer(feed(&fb, &client, "before")).await.0, 200);
    fb.remove_page(PAGE);
    let (status, _, body) = answer(feed(&fb, &client, "after")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 190, "{body}");
    assert_eq!(body["error"]["type"], "OAuthException");
    assert_eq!(fb.posts().len(), 1);

    // Adding the Page again with the token gives access back.
    fb.add_page(PAGE, PAGE_TOKEN);
    assert_eq!(answer(feed(&fb, &client, "again")).await.0, 200);
}

#[tokio::test]
async fn applied_then_failed_makes_the_post_and_answers_a_server_error() {
    let x = fake_x().await;
    x.inject(FaultRule::new(Fault::AppliedThenServerError(503)).on("POST", "/2/tweets"));
    let client = reqwest::Client::new();
    let (status, _, _) =
        answer(tweet(&x, &client, "made anyway").header("idempotency-key", "p1.0")).await;
    assert_eq!(status, 503);
    let tweets = x.tweets();
    assert_eq!(tweets.len(), 1, "the request was applied");
    assert_eq!(tweets[0].created_by.as_deref(), Some("p1.0"));

    let fb = fake_facebook().await;
    fb.inject(FaultRule::new(Fault::AppliedThenServerError(500)).on("POST", "/feed"));
    let resp = feed(&fb, &client, "made anyway").send().await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], 1);
    assert_eq!(fb.posts().len(), 1, "the request was applied");
}

#[tokio::test]
async fn applied_then_reset_makes_the_post_and_gives_no_answer() {
    let x = fake_x().await;
    x.inject(FaultRule::new(Fault::AppliedThenReset).on("POST", "/2/tweets"));
    let error = tweet(&x, &reqwest::Client::new(), "made, unanswered")
        .send()
        .await
        .expect_err("no HTTP answer");
    assert!(error.status().is_none(), "{error:?}");
    assert_eq!(x.tweets().len(), 1);
    assert_eq!(statuses(&x.requests()), [0]);
}
