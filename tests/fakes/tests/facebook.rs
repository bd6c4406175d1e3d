//! The fake Graph API seen from a client over HTTP.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_fakes::FakeFacebook;
use serde_json::{json, Value};

const VERSION: &str = "v26.0";
const PAGE: &str = "501";
const PAGE_TOKEN: &str = "page-501-token";
const OTHER_PAGE: &str = "502";
const OTHER_TOKEN: &str = "page-502-token";

async fn fake() -> FakeFacebook {
    let fb = FakeFacebook::start(VERSION)
        .await
        .expect("fake Graph API starts");
    fb.add_page(PAGE, PAGE_TOKEN);
    fb.add_page(OTHER_PAGE, OTHER_TOKEN);
    fb
}

fn url(fb: &FakeFacebook, path: &str) -> String {
    format!("{}/{VERSION}/{path}", fb.base_url())
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

/// Checks the Graph error shape and returns (code, message).
fn graph_error(body: &Value) -> (u64, String) {
    let error = &body["error"];
    assert_eq!(error["type"], "OAuthException", "{body}");
    assert!(!error["fbtrace_id"].as_str().unwrap().is_empty());
    (
        error["code"].as_u64().unwrap(),
        error["message"].as_str().unwrap().to_owned(),
    )
}

fn statuses(fb: &FakeFacebook) -> Vec<u16> {
    fb.requests().iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn feed_post_by_form() {
    let fb = fake().await;
    let request = reqwest::Client::new()
        .post(url(&fb, &format!("{PAGE}/feed")))
        .form(&[
            ("message", "Hello & welcome"),
            ("link", "https://example.com/a?b=c"),
            ("access_token", PAGE_TOKEN),
        ]);
    let (status, body) = answer(request).await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap();
    assert!(
        id.starts_with("501_") && id[4..].bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(body, json!({ "id": id }));

    let posts = fb.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].id, id);
    assert_eq!(posts[0].page_id, PAGE);
    assert_eq!(posts[0].message.as_deref(), Some("Hello & welcome"));
    assert_eq!(posts[0].link.as_deref(), Some("https://example.com/a?b=c"));
    assert!(posts[0].published);

    let recorded = &fb.requests()[0];
    assert_eq!(
        (
            recorded.method.as_str(),
            recorded.path.as_str(),
            recorded.status
        ),
        ("POST", "/v26.0/501/feed", 200)
    );
    assert_eq!(
        recorded.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert!(
        recorded.body.contains("message=Hello+%26+welcome"),
        "{}",
        recorded.body
    );
    assert_eq!(recorded.authorization, None);
}

#[tokio::test]
async fn feed_post_by_json_with_bearer_and_by_query() {
    let fb = fake().await;
    let client = reqwest::Client::new();
    let request = client
        .post(url(&fb, &format!("{PAGE}/feed")))
        .bearer_auth(PAGE_TOKEN)
        .json(&json!({"message": "from JSON", "published": true}));
    let (status, body) = answer(request).await;
    assert_eq!(status, 200, "{body}");

    let request = client
        .post(url(&fb, &format!("{PAGE}/feed")))
        .query(&[("message", "from the query"), ("access_token", PAGE_TOKEN)]);
    let (status, body) = answer(request).await;
    assert_eq!(status, 200, "{body}");

    let messages: Vec<_> = fb.posts().into_iter().map(|p| p.message.unwrap()).collect();
    assert_eq!(messages, ["from JSON", "from the query"]);
    let ids: Vec<_> = fb.posts().into_iter().map(|p| p.id).collect();
    assert_ne!(ids[0], ids[1]);
    let requests = fb.requests();
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some("Bearer page-501-token")
    );
    assert_eq!(
        requests[0].content_type.as_deref(),
        Some("application/json")
    );
    assert!(requests[1].query.contains("access_token=page-501-token"));
    assert_eq!(statuses(&fb), [200, 200]);
}

#[tokio::test]
async fn tokens_and_pages_are_checked() {
    let fb = fake().await;
    let client = reqwest::Client::new();
    let feed = url(&fb, &format!("{PAGE}/feed"));

    // No token, unknown token.
    let (status, body) = answer(client.post(&feed).form(&[("message", "hi")])).await;
    assert_eq!(status, 400);
    assert_eq!(
        graph_error(&body),
        (
            190,
            "Invalid OAuth access token - Cannot parse access token".to_owned()
        )
    );
    let (status, body) = answer(
        client
            .post(&feed)
            .bearer_auth("forged")
            .form(&[("message", "hi")]),
    )
    .await;
    assert_eq!((status, graph_error(&body).0), (400, 190));

    // Another Page's token.
    let (status, body) = answer(
        client
            .post(&feed)
            .bearer_auth(OTHER_TOKEN)
            .form(&[("message", "hi")]),
    )
    .await;
    assert_eq!(status, 403);
    let (code, message) = graph_error(&body);
    assert_eq!(code, 200);
    assert!(
        message.starts_with("(#200)") && message.contains("permission"),
        "{message}"
    );

    // A Page that does not exist.
    let unknown = url(&fb, "999/feed");
    let (status, body) = answer(
        client
            .post(unknown)
            .bearer_auth(PAGE_TOKEN)
            .form(&[("message", "hi")]),
    )
    .await;
    assert_eq!(status, 400);
    let (code, message) = graph_error(&body);
    assert_eq!(code, 100);
    assert_eq!(body["error"]["error_subcode"], 33);
    assert!(message.contains("'999' does not exist"), "{message}");

    assert!(fb.posts().is_empty());
    assert_eq!(statuses(&fb), [400, 400, 403, 400]);
    assert_eq!(fb.requests()[3].path, "/v26.0/999/feed");
}

#[tokio::test]
async fn feed_parameters_are_checked() {
    let fb = fake().await;
    let client = reqwest::Client::new();
    let feed = url(&fb, &format!("{PAGE}/feed"));
    let send = |params: Vec<(&'static str, String)>| {
        client.post(&feed).bearer_auth(PAGE_TOKEN).form(&params)
    };

    // Neither message nor link.
    let (status, body) = answer(send(vec![])).await;
    assert_eq!(status, 400);
    assert_eq!(
        graph_error(&body),
        (
            100,
            "(#100) The parameter message or link is required".to_owned()
        )
    );
    let (status, _) = answer(send(vec![("message", String::new())])).await;
    assert_eq!(status, 400);

    // Unknown parameter is named.
    let (status, body) = answer(send(vec![
        ("message", "hi".into()),
        ("caption", "x".into()),
    ]))
    .await;
    assert_eq!(status, 400);
    let (code, message) = graph_error(&body);
    assert_eq!(code, 100);
    assert!(message.contains("caption"), "{message}");

    // Too long, then exactly at the limit.
    let (status, body) = answer(send(vec![("message", "é".repeat(63_207))])).await;
    assert_eq!((status, graph_error(&body).0), (400, 100));
    let (status, _) = answer(send(vec![("message", "é".repeat(63_206))])).await;
    assert_eq!(status, 200);

    // Link alone is enough; a link must be a URL.
    let (status, _) = answer(send(vec![("link", "https://example.com/".into())])).await;
    assert_eq!(status, 200);
    let (status, _) = answer(send(vec![("link", "not a url".into())])).await;
    assert_eq!(status, 400);

    // Malformed appsecret_proof.
    let (status, _) = answer(send(vec![
        ("message", "proof".into()),
        ("appsecret_proof", "abc".into()),
    ]))
    .await;
    assert_eq!(status, 400);
    let proof = "0123456789abcdef".repeat(4);
    let (status, _) = answer(send(vec![
        ("message", "proof".into()),
        ("appsecret_proof", proof),
    ]))
    .await;
    assert_eq!(status, 200);

    // The same status twice in a row is refused.
    let (status, body) = answer(send(vec![("message", "proof".into())])).await;
    assert_eq!(status, 400);
    assert_eq!(
        graph_error(&body),
        (506, "(#506) Duplicate status message".to_owned())
    );

    assert_eq!(fb.posts().len(), 3);
    assert_eq!(
        statuses(&fb),
        [400, 400, 400, 400, 200, 200, 400, 400, 200, 400]
    );
}

#[tokio::test]
async fn wrong_version_or_path() {
    let fb = fake().await;
    let client = reqwest::Client::new();
    let old = format!("{}/v20.0/{PAGE}/feed", fb.base_url());
    let (status, body) = answer(
        client
            .post(old)
            .bearer_auth(PAGE_TOKEN)
            .form(&[("message", "hi")]),
    )
    .await;
    assert_eq!(status, 400);
    let (code, message) = graph_error(&body);
    assert_eq!(code, 2635);
    assert!(
        message.starts_with("(#2635) You are calling a deprecated version"),
        "{message}"
    );

    let unversioned = format!("{}/{PAGE}/feed", fb.base_url());
    let (status, body) = answer(
        client
            .post(unversioned)
            .bearer_auth(PAGE_TOKEN)
            .form(&[("message", "hi")]),
    )
    .await;
    assert_eq!((status, graph_error(&body).0), (400, 2635));

    let unknown = url(&fb, &format!("{PAGE}/stories"));
    let (status, body) = answer(
        client
            .post(unknown)
            .bearer_auth(PAGE_TOKEN)
            .form(&[("message", "hi")]),
    )
    .await;
    assert_eq!(status, 400);
    let (code, message) = graph_error(&body);
    assert_eq!(code, 100);
    assert!(message.contains("Unknown path components"), "{message}");

    assert!(fb.posts().is_empty());
    assert_eq!(statuses(&fb), [400, 400, 400]);
    assert_eq!(fb.requests()[0].path, "/v20.0/501/feed");
}

#[tokio::test]
async fn delete() {
    let fb = fake().await;
    let client = reqwest::Client::new();
    let (_, body) = answer(
        client
            .post(url(&fb, &format!("{PAGE}/feed")))
            .bearer_auth(PAGE_TOKEN)
            .form(&[("message", "bye")]),
    )
    .await;
    let id = body["id"].as_str().unwrap().to_owned();
    let post_url = url(&fb, &id);

    let (status, body) = answer(client.delete(&post_url).bearer_auth(OTHER_TOKEN)).await;
    assert_eq!((status, graph_error(&body).0), (403, 200));
    let (status, body) = answer(client.delete(&post_url)).await;
    assert_eq!((status, graph_error(&body).0), (400, 190));
    assert_eq!(fb.posts().len(), 1);

    let (status, body) = answer(
        client
            .delete(&post_url)
            .query(&[("access_token", PAGE_TOKEN)]),
    )
    .await;
    assert_eq!((status, body), (200, json!({"success": true})));
    assert!(fb.posts().is_empty());

    let (status, body) = answer(client.delete(&post_url).bearer_auth(PAGE_TOKEN)).await;
    assert_eq!((status, graph_error(&body).0), (400, 100));
    let (status, body) = answer(client.delete(url(&fb, "501_1")).bearer_auth(PAGE_TOKEN)).await;
    assert_eq!((status, graph_error(&body).0), (400, 100));

    assert_eq!(statuses(&fb), [200, 403, 400, 200, 400, 400]);
    let deleted = &fb.requests()[3];
    assert_eq!(
        (deleted.method.as_str(), deleted.path.clone()),
        ("DELETE", format!("/v26.0/{id}"))
    );
}

#[tokio::test]
async fn published_posts() {
    let fb = fake().await;
    let client = reqwest::Client::new();
    let list = url(&fb, &format!("{PAGE}/published_posts"));

    let (status, body) = answer(client.get(&list).bearer_auth(PAGE_TOKEN)).await;
    assert_eq!((status, body), (200, json!({"data": []})));

    // 2026-11-25T10:00:00Z, then two posts now, one on another Page, one unpublished.
    let seeded = fb.seed_post(PAGE, "seeded", 1_795_600_800_000);
    let feed = url(&fb, &format!("{PAGE}/feed"));
    for message in ["one", "two"] {
        assert_eq!(
            answer(
                client
                    .post(&feed)
                    .bearer_auth(PAGE_TOKEN)
                    .form(&[("message", message)])
            )
            .await
            .0,
            200
        );
    }
    let draft = [("message", "draft"), ("published", "false")];
    assert_eq!(
        answer(client.post(&feed).bearer_auth(PAGE_TOKEN).form(&draft))
            .await
            .0,
        200
    );
    let other = url(&fb, &format!("{OTHER_PAGE}/feed"));
    assert_eq!(
        answer(
            client
                .post(other)
                .bearer_auth(OTHER_TOKEN)
                .form(&[("message", "other")])
        )
        .await
        .0,
        200
    );

    let query = [("fields", "message,created_time"), ("since", "1795600800")];
    let (status, body) = answer(client.get(&list).query(&query).bearer_auth(PAGE_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_array().unwrap();
    let messages: Vec<&str> = data
        .iter()
        .map(|p| p["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["two", "one", "seeded"]);
    assert_eq!(
        data[2],
        json!({"id": seeded, "message": "seeded", "created_time": "2026-11-25T10:00:00+0000"})
    );
    assert!(data[0]["id"].as_str().unwrap().starts_with("501_"));

    // `since` after the seeded post leaves it out.
    let query = [("fields", "message"), ("since", "1795600801")];
    let (_, body) = answer(client.get(&list).query(&query).bearer_auth(PAGE_TOKEN)).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert!(body["data"][0].get("created_time").is_none());

    // Unknown field, other Page's token.
    let (status, body) = answer(
        client
            .get(&list)
            .query(&[("fields", "likes")])
            .bearer_auth(PAGE_TOKEN),
    )
    .await;
    assert_eq!((status, graph_error(&body).0), (400, 100));
    let (status, body) = answer(client.get(&list).bearer_auth(OTHER_TOKEN)).await;
    assert_eq!((status, graph_error(&body).0), (403, 200));

    let listed: Vec<(String, u16)> = fb
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| (r.query.clone(), r.status))
        .collect();
    assert_eq!(
        listed[1],
        (
            "fields=message%2Ccreated_time&since=1795600800".to_owned(),
            200
        )
    );
    assert_eq!(
        listed.iter().map(|l| l.1).collect::<Vec<_>>(),
        [200, 200, 200, 400, 403]
    );
}
