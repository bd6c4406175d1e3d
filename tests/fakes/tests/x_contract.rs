//! X's own OpenAPI description as a contract: what it refuses and what it accepts,
//! and the fake X checking itself and its callers against it over HTTP.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_fakes::{tiny_png, ContractAnswer, ContractRequest, FakeX};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

fn request<'a>(
    method: &'a str,
    path: &'a str,
    query: &'a [(String, String)],
    body: &'a [u8],
) -> ContractRequest<'a> {
    ContractRequest {
        method,
        path,
        query,
        content_type: (!body.is_empty()).then_some("application/json"),
        body,
    }
}

fn post_tweet(body: &Value) -> Vec<String> {
    let body = body.to_string();
    FakeX::contract().check_request(&request("POST", "/2/tweets", &[], body.as_bytes()))
}

#[test]
fn a_post_the_spec_accepts_has_no_violation() {
    let ok = post_tweet(&json!({
        "text": "hello",
        "reply": {"in_reply_to_tweet_id": "1849203847562019840"},
        "media": {"media_ids": ["1849203847562019841"]}
    }));
    assert_eq!(ok, Vec::<String>::new());
}

#[test]
fn a_post_the_spec_refuses_is_named_with_where_it_breaks() {
    let bad = post_tweet(&json!({"text": "hello", "media": {"media_ids": ["abc"]}}));
    assert_eq!(bad.len(), 1, "{bad:#?}");
    assert!(
        bad[0].starts_with("X API: POST /2/tweets: body: /media/media_ids/0:"),
        "{bad:#?}"
    );
    assert!(bad[0].contains("^[0-9]{1,19}$"), "{bad:#?}");

    // Unknown members, five media and a reply without its id: each named.
    let bad = post_tweet(&json!({
        "text": "hello",
        "in_reply_to": "1",
        "reply": {},
        "media": {"media_ids": ["1", "2", "3", "4", "5"]}
    }));
    let joined = bad.join("\n");
    assert!(joined.contains("in_reply_to"), "{joined}");
    assert!(joined.contains("/reply"), "{joined}");
    assert!(joined.contains("/media/media_ids"), "{joined}");

    // A body that is not the JSON the operation takes.
    let bad = FakeX::contract().check_request(&ContractRequest {
        content_type: Some("text/plain"),
        ..request("POST", "/2/tweets", &[], b"hello")
    });
    assert!(bad[0].contains("`text/plain` is not one of"), "{bad:#?}");
}

#[test]
fn query_and_path_parameters_are_checked() {
    let query = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let contract = FakeX::contract();
    let ok = query(&[
        ("start_time", "2026-11-25T10:00:00Z"),
        ("max_results", "100"),
        ("post.fields", "created_at,text"),
    ]);
    assert_eq!(
        contract.check_request(&request(
            "GET",
            "/2/users/1849203847562019840/tweets",
            &ok,
            b""
        )),
        Vec::<String>::new()
    );
    let bad = query(&[
        ("start_time", "yesterday"),
        ("max_results", "500"),
        ("post.fields", "colour"),
        ("since", "1"),
    ]);
    let found = contract
        .check_request(&request("GET", "/2/users/@me/tweets", &bad, b""))
        .join("\n");
    for expected in [
        "path parameter `id`",
        "`start_time`",
        "`max_results`",
        "`post.fields`",
        "query parameter `since` is not in the description",
    ] {
        assert!(found.contains(expected), "{expected} not in:\n{found}");
    }
    // `me` is its own operation, not a user id.
    assert_eq!(
        contract.check_request(&request("GET", "/2/users/me", &[], b"")),
        Vec::<String>::new()
    );
    // A path the description does not hold (an OAuth endpoint) is not checked.
    assert!(!contract.describes("POST", "/2/oauth2/token"));
}

#[test]
fn answers_are_checked_by_status_and_content_type() {
    let contract = FakeX::contract();
    let answer = |status, content_type, body: &Value| {
        contract.check_answer(
            "POST",
            "/2/tweets",
            &ContractAnswer {
                status,
                content_type,
                body,
            },
        )
    };
    let created = json!({"data": {"id": "1849203847562019840", "text": "hello"}});
    assert_eq!(
        answer(201, "application/json", &created),
        Vec::<String>::new()
    );
    let found = answer(201, "application/json", &json!({"data": {"id": "x"}})).join("\n");
    assert!(found.contains("/data/id"), "{found}");
    assert!(found.contains("\"text\" is a required property"), "{found}");
    // An `about:blank` problem is no problem type X's description lists.
    let blank = json!({"title": "Forbidden", "type": "about:blank", "status": 403, "detail": "no"});
    assert!(!answer(403, "application/problem+json", &blank).is_empty());
    let found = answer(201, "text/html", &created).join("\n");
    assert!(found.contains("content type `text/html`"), "{found}");
}

/// The status of `request` sent with `token`.
async fn status_of(request: reqwest::RequestBuilder, token: &str) -> u16 {
    request
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_fake_records_what_breaks_the_spec_and_its_own_answers_keep_it() {
    let x = FakeX::start().await.unwrap();
    x.add_account("1001", "token-1001");
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", x.base_url());

    // The fake's answers, success and error alike, keep the spec.
    let tweet = || http.post(url("/2/tweets")).json(&json!({"text": "one"}));
    assert_eq!(status_of(tweet(), "token-1001").await, 201);
    assert_eq!(status_of(tweet(), "token-1001").await, 403, "a duplicate");
    assert_eq!(status_of(http.get(url("/2/users/me")), "nobody").await, 401);
    let form = Form::new()
        .part("media", Part::bytes(tiny_png()).file_name("media"))
        .text("media_category", "tweet_image");
    let upload = http.post(url("/2/media/upload")).multipart(form);
    assert_eq!(status_of(upload, "token-1001").await, 200);
    assert_eq!(x.contract_violations(), Vec::<String>::new());

    // A request that breaks it is answered as the fake would, and recorded.
    let append = http
        .post(url("/2/media/upload/1/append"))
        .multipart(Form::new().text("segment_index", "first"));
    assert_eq!(status_of(append, "token-1001").await, 400);
    let violations = x.contract_violations().join("\n");
    assert!(
        violations.contains("X API: POST /2/media/upload/1/append: body"),
        "{violations}"
    );
    assert!(violations.contains("/segment_index"), "{violations}");
    assert!(
        violations.contains("\"media\" is a required property"),
        "{violations}"
    );
}
