//! The fake X seen from a client over HTTP.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_fakes::FakeX;
use serde_json::{json, Value};

const ALICE: &str = "1001";
const ALICE_TOKEN: &str = "alice-token";
const BOB: &str = "2002";
const BOB_TOKEN: &str = "bob-token";

async fn fake() -> FakeX {
    let x = FakeX::start().await.expect("fake X starts");
    x.add_account(ALICE, ALICE_TOKEN);
    x.add_account(BOB, BOB_TOKEN);
    x
}

async fn post(x: &FakeX, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/2/tweets", x.base_url()))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    answer(request).await
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    // X's description lists typed problems as `application/problem+json`.
    let problem = status >= 400 && content_type == "application/problem+json";
    assert!(
        content_type.starts_with("application/json") || problem,
        "{content_type}"
    );
    (status, response.json().await.expect("JSON answer"))
}

fn errors_mention(body: &Value, needle: &str) -> bool {
    body["errors"].as_array().is_some_and(|errors| {
        errors
            .iter()
            .any(|e| e["message"].as_str().unwrap().contains(needle))
    })
}

#[tokio::test]
async fn accepted_post_with_the_right_token() {
    let x = fake().await;
    let (status, body) = post(&x, Some(ALICE_TOKEN), json!({"text": "hello world"})).await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 19);
    assert!(id.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(body["data"]["text"], "hello world");

    let tweets = x.tweets();
    assert_eq!(tweets.len(), 1);
    assert_eq!(tweets[0].id, id);
    assert_eq!(tweets[0].author_id, ALICE);
    assert_eq!(tweets[0].text, "hello world");
    assert_eq!(tweets[0].in_reply_to, None);

    let requests = x.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.status),
        ("POST", "/2/tweets", 201)
    );
    assert_eq!(r.authorization.as_deref(), Some("Bearer alice-token"));
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap(),
        json!({"text": "hello world"})
    );

    // Ids increase.
    let (_, second) = post(&x, Some(ALICE_TOKEN), json!({"text": "second"})).await;
    let second = second["data"]["id"].as_str().unwrap();
    assert!(second.parse::<u64>().unwrap() > id.parse::<u64>().unwrap());
}

#[tokio::test]
async fn missing_or_wrong_token_is_401() {
    let x = fake().await;
    let unauthorized = json!({"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized","code":89,"message":"Invalid or expired token."});
    assert_eq!(
        post(&x, None, json!({"text": "hi"})).await,
        (401, unauthorized.clone())
    );
    assert_eq!(
        post(&x, Some("nope"), json!({"text": "hi"})).await,
        (401, unauthorized.clone())
    );
    // Another scheme is not a bearer token.
    let basic = reqwest::Client::new()
        .post(format!("{}/2/tweets", x.base_url()))
        .basic_auth("a", Some("b"))
        .json(&json!({"text": "hi"}));
    assert_eq!(answer(basic).await, (401, unauthorized));

    assert!(x.tweets().is_empty());
    let statuses: Vec<u16> = x.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 401]);
    assert_eq!(x.requests()[0].authorization, None);
    assert_eq!(
        x.requests()[1].authorization.as_deref(),
        Some("Bearer nope")
    );
}

#[tokio::test]
async fn unknown_or_malformed_fields_are_400() {
    let x = fake().await;
    let (status, body) = post(&x, Some(ALICE_TOKEN), json!({"text": "hi", "status": "hi"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["title"], "Invalid Request");
    assert_eq!(
        body["detail"],
        "One or more parameters to your request was invalid."
    );
    assert_eq!(body["type"], "https://api.x.com/2/problems/invalid-request");
    assert!(errors_mention(&body, "$.status"), "{body}");

    for bad in [
        json!({"text": 5}),
        json!(["hi"]),
        json!({}),
        json!({"text": ""}),
        json!({"text": "hi", "reply": {"in_reply_to_tweet_id": 12}}),
        json!({"text": "hi", "reply": {"tweet_id": "12"}}),
        json!({"text": "hi", "media": {"media_ids": []}}),
        json!({"text": "hi", "media": {"media_ids": ["1", "2", "3", "4", "5"]}}),
        json!({"text": "hi", "media": {"media_ids": [123]}}),
        json!({"text": "hi", "media": {"media_ids": ["12a"]}}),
    ] {
        let (status, body) = post(&x, Some(ALICE_TOKEN), bad.clone()).await;
        assert_eq!(status, 400, "{bad} → {body}");
        assert_eq!(body["title"], "Invalid Request");
    }

    // Not JSON.
    let form = reqwest::Client::new()
        .post(format!("{}/2/tweets", x.base_url()))
        .bearer_auth(ALICE_TOKEN)
        .form(&[("text", "hi")]);
    assert_eq!(answer(form).await.0, 400);

    assert!(x.tweets().is_empty());
    assert!(x.requests().iter().all(|r| r.status == 400));

    // Media alone is fine, text is optional then.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let form = reqwest::multipart::Form::new().part(
            "media",
            reqwest::multipart::Part::bytes(crosspost_fakes::tiny_png()).file_name("a.png"),
        );
        let upload = reqwest::Client::new()
            .post(format!("{}/2/media/upload", x.base_url()))
            .bearer_auth(ALICE_TOKEN)
            .multipart(form);
        let (status, body) = answer(upload).await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    let (status, body) = post(&x, Some(ALICE_TOKEN), json!({"media": {"media_ids": ids}})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(x.tweets()[0].media_ids, ids);
    assert_eq!(x.tweets()[0].text, "");
}

#[tokio::test]
async fn weighted_length_limit() {
    let x = fake().await;
    let too_long = json!({"text": "a".repeat(281)});
    let (status, body) = post(&x, Some(ALICE_TOKEN), too_long).await;
    assert_eq!(status, 403);
    assert_eq!(body["title"], "Forbidden");
    assert_eq!(body["status"], 403);
    assert!(body["detail"]
        .as_str()
        .unwrap()
        .starts_with("Your Tweet text is too long"));

    let (status, _) = post(&x, Some(ALICE_TOKEN), json!({"text": "a".repeat(280)})).await;
    assert_eq!(status, 201);

    let (status, _) = post(&x, Some(ALICE_TOKEN), json!({"text": "中".repeat(141)})).await;
    assert_eq!(status, 403);
    let (status, body) = post(&x, Some(ALICE_TOKEN), json!({"text": "中".repeat(140)})).await;
    assert_eq!(status, 201);
    assert_eq!(body["data"]["text"], "中".repeat(140));

    // Latin-1 and general punctuation weigh 1: 279 × "é" + "—" is 280.
    let (status, _) = post(
        &x,
        Some(ALICE_TOKEN),
        json!({"text": format!("{}—", "é".repeat(279))}),
    )
    .await;
    assert_eq!(status, 201);

    let statuses: Vec<u16> = x.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [403, 201, 403, 201, 201]);
    assert_eq!(x.tweets().len(), 3);
}

#[tokio::test]
async fn duplicate_content_is_403() {
    let x = fake().await;
    assert_eq!(
        post(&x, Some(ALICE_TOKEN), json!({"text": "same"})).await.0,
        201
    );
    let (status, body) = post(&x, Some(ALICE_TOKEN), json!({"text": "same"})).await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({"detail":"You are not allowed to create a Tweet with duplicate content.","type":"about:blank","title":"Forbidden","status":403,"code":187,"message":"You are not allowed to create a Tweet with duplicate content."})
        )
    );
    // Another author may say the same thing.
    assert_eq!(
        post(&x, Some(BOB_TOKEN), json!({"text": "same"})).await.0,
        201
    );
    assert_eq!(x.tweets().len(), 2);
    assert_eq!(x.requests()[1].status, 403);

    // Once deleted, the text may be posted again.
    let first = x.tweets()[0].id.clone();
    let delete = reqwest::Client::new()
        .delete(format!("{}/2/tweets/{first}", x.base_url()))
        .bearer_auth(ALICE_TOKEN);
    assert_eq!(answer(delete).await.0, 200);
    assert_eq!(
        post(&x, Some(ALICE_TOKEN), json!({"text": "same"})).await.0,
        201
    );
}

#[tokio::test]
async fn replies_need_an_existing_post() {
    let x = fake().await;
    let (status, body) = post(
        &x,
        Some(ALICE_TOKEN),
        json!({"text": "reply", "reply": {"in_reply_to_tweet_id": "1234567890123456789"}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["title"], "Invalid Request");
    assert!(errors_mention(&body, "1234567890123456789"));
    assert!(x.tweets().is_empty());

    let (_, head) = post(&x, Some(ALICE_TOKEN), json!({"text": "1/2"})).await;
    let head = head["data"]["id"].as_str().unwrap().to_owned();
    let (status, _) = post(
        &x,
        Some(ALICE_TOKEN),
        json!({"text": "2/2", "reply": {"in_reply_to_tweet_id": head}}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(x.tweets()[1].in_reply_to.as_deref(), Some(head.as_str()));
    let statuses: Vec<u16> = x.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 201, 201]);
}

#[tokio::test]
async fn delete() {
    let x = fake().await;
    let (_, body) = post(&x, Some(ALICE_TOKEN), json!({"text": "to delete"})).await;
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let url = format!("{}/2/tweets/{id}", x.base_url());
    let client = reqwest::Client::new();

    assert_eq!(answer(client.delete(&url)).await.0, 401);
    let (status, body) = answer(client.delete(&url).bearer_auth(BOB_TOKEN)).await;
    assert_eq!((status, body["title"].as_str()), (403, Some("Forbidden")));
    assert_eq!(x.tweets().len(), 1);

    let (status, body) = answer(client.delete(&url).bearer_auth(ALICE_TOKEN)).await;
    assert_eq!((status, body), (200, json!({"data": {"deleted": true}})));
    assert!(x.tweets().is_empty());

    // Gone now, and never-existing ids are 404 too.
    let (status, body) = answer(client.delete(&url).bearer_auth(ALICE_TOKEN)).await;
    assert_eq!(status, 404);
    assert_eq!(body["title"], "Not Found Error");
    assert_eq!(
        body["type"],
        "https://api.x.com/2/problems/resource-not-found"
    );
    let unknown = format!("{}/2/tweets/42", x.base_url());
    assert_eq!(
        answer(client.delete(unknown).bearer_auth(ALICE_TOKEN))
            .await
            .0,
        404
    );

    let recorded: Vec<(String, String, u16)> = x
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.status))
        .collect();
    let path = format!("/2/tweets/{id}");
    assert_eq!(
        recorded[1..4],
        [
            ("DELETE".to_owned(), path.clone(), 401),
            ("DELETE".to_owned(), path.clone(), 403),
            ("DELETE".to_owned(), path.clone(), 200),
        ]
    );
    assert_eq!(
        recorded[5],
        ("DELETE".to_owned(), "/2/tweets/42".to_owned(), 404)
    );
}

#[tokio::test]
async fn users_me() {
    let x = fake().await;
    x.set_profile(ALICE, "alice", "Alice");
    let client = reqwest::Client::new();
    let url = format!("{}/2/users/me", x.base_url());
    let (status, body) = answer(client.get(&url).bearer_auth(ALICE_TOKEN)).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"data": {"id": ALICE, "name": "Alice", "username": "alice"}})
        )
    );
    assert_eq!(answer(client.get(&url)).await.0, 401);
    assert_eq!(
        answer(
            client
                .get(&url)
                .query(&[("foo", "1")])
                .bearer_auth(ALICE_TOKEN)
        )
        .await
        .0,
        400
    );
    let statuses: Vec<u16> = x.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 401, 400]);
    assert_eq!(x.requests()[2].query, "foo=1");
}

#[tokio::test]
async fn recent_posts_listing() {
    let x = fake().await;
    let client = reqwest::Client::new();
    let url = format!("{}/2/users/{ALICE}/tweets", x.base_url());

    // Nothing yet: X leaves `data` out.
    let (status, body) = answer(client.get(&url).bearer_auth(ALICE_TOKEN)).await;
    assert_eq!((status, body), (200, json!({"meta": {"result_count": 0}})));

    // 2020-01-01T00:00:00Z and later posts.
    let old = x.seed_tweet(ALICE, "old", 1_577_836_800_000);
    let (_, first) = post(&x, Some(ALICE_TOKEN), json!({"text": "first"})).await;
    let (_, second) = post(&x, Some(ALICE_TOKEN), json!({"text": "second"})).await;
    post(&x, Some(BOB_TOKEN), json!({"text": "bob's"})).await;

    let query = [
        ("start_time", "2021-01-01T00:00:00Z"),
        ("max_results", "5"),
        ("post.fields", "created_at"),
    ];
    let (status, body) = answer(client.get(&url).query(&query).bearer_auth(ALICE_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_array().unwrap();
    let ids: Vec<&str> = data.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            second["data"]["id"].as_str().unwrap(),
            first["data"]["id"].as_str().unwrap()
        ]
    );
    assert_eq!(data[0]["text"], "second");
    let created = data[0]["created_at"].as_str().unwrap();
    assert!(created.len() == 24 && created.ends_with('Z'), "{created}");
    assert_eq!(body["meta"]["result_count"], 2);

    // Without post.fields X sends no created_at; without start_time the old one is there too.
    let (_, body) = answer(client.get(&url).bearer_auth(ALICE_TOKEN)).await;
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[2]["id"], old.as_str());
    assert!(data[0].get("created_at").is_none());

    // Bad parameters and someone else's timeline.
    for bad in [
        [("max_results", "4")],
        [("max_results", "101")],
        [("start_time", "yesterday")],
        [("foo", "bar")],
    ] {
        let (status, body) = answer(client.get(&url).query(&bad).bearer_auth(ALICE_TOKEN)).await;
        assert_eq!(status, 400, "{bad:?} → {body}");
    }
    let (status, _) = answer(client.get(&url).bearer_auth(BOB_TOKEN)).await;
    assert_eq!(status, 403);

    let listed: Vec<(String, u16)> = x
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| (r.query.clone(), r.status))
        .collect();
    assert_eq!(
        listed[1].0,
        "start_time=2021-01-01T00%3A00%3A00Z&max_results=5&post.fields=created_at"
    );
    let statuses: Vec<u16> = listed.iter().map(|l| l.1).collect();
    assert_eq!(statuses, [200, 200, 200, 400, 400, 400, 400, 403]);
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let x = fake().await;
    let client = reqwest::Client::new();
    for (method, path) in [
        ("GET", "/2/tweets"),
        ("POST", "/1.1/statuses/update.json"),
        ("GET", "/"),
    ] {
        let request = client
            .request(method.parse().unwrap(), format!("{}{path}", x.base_url()))
            .bearer_auth(ALICE_TOKEN);
        let (status, body) = answer(request).await;
        assert_eq!(status, 404);
        assert_eq!(body["title"], "Not Found");
    }
    assert_eq!(x.requests().len(), 3);
    assert!(x.requests().iter().all(|r| r.status == 404));
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let x = fake().await;
    let url = format!("{}/2/users/me", x.base_url());
    x.shutdown();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(reqwest::Client::new().get(url).send().await.is_err());
}
