//! The fake X's media endpoints seen from a client over HTTP.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_fakes::{tiny_gif, tiny_png, FakeX};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const ALICE: &str = "1001";
const TOKEN: &str = "alice-token";

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.bearer_auth(TOKEN).send().await.expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

fn media_form(bytes: Vec<u8>) -> Form {
    Form::new().part("media", Part::bytes(bytes).file_name("media"))
}

#[tokio::test]
async fn uploads_alt_text_and_posts_are_checked_as_x_does() {
    let x = FakeX::start().await.unwrap();
    x.add_account(ALICE, TOKEN);
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", x.base_url());

    // A simple upload of something that is not an image is refused.
    let (status, _) = send(
        http.post(url("/2/media/upload"))
            .multipart(media_form(b"<html>".to_vec())),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = send(
        http.post(url("/2/media/upload"))
            .multipart(media_form(tiny_png())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let image = body["data"]["id"].as_str().unwrap().to_owned();

    // Alt text: up to 1000 characters.
    let alt = |text: String| json!({"id": image, "metadata": {"alt_text": {"text": text}}});
    let (status, _) = send(
        http.post(url("/2/media/metadata"))
            .json(&alt("字".repeat(1001))),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        http.post(url("/2/media/metadata"))
            .json(&alt("字".repeat(1000))),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        x.media(&image).unwrap().alt_text.unwrap().chars().count(),
        1000
    );

    // Chunked: over the GIF limit at initialize, then a real one through STATUS.
    let init = |total: usize| json!({"media_type": "image/gif", "total_bytes": total, "media_category": "tweet_gif"});
    let (status, _) = send(
        http.post(url("/2/media/upload/initialize"))
            .json(&init(15 * 1024 * 1024 + 1)),
    )
    .await;
    assert_eq!(status, 400);
    let gif = tiny_gif();
    let (_, body) = send(
        http.post(url("/2/media/upload/initialize"))
            .json(&init(gif.len())),
    )
    .await;
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let form = media_form(gif).text("segment_index", "0");
    let (status, _) = send(
        http.post(url(&format!("/2/media/upload/{id}/append")))
            .multipart(form),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = send(http.post(url(&format!("/2/media/upload/{id}/finalize")))).await;
    assert_eq!(body["data"]["processing_info"]["state"], "pending");
    // Not attachable until processed.
    let tweet = |ids: Vec<&str>| json!({"text": "动图", "media": {"media_ids": ids}});
    let (status, _) = send(http.post(url("/2/tweets")).json(&tweet(vec![&id]))).await;
    assert_eq!(status, 400);
    let status_url = url(&format!("/2/media/upload?media_id={id}&command=STATUS"));
    let (_, body) = send(http.get(&status_url)).await;
    assert_eq!(body["data"]["processing_info"]["state"], "in_progress");
    let (_, body) = send(http.get(&status_url)).await;
    assert_eq!(body["data"]["processing_info"]["state"], "succeeded");

    // Unknown ids and more than 4 are refused; known ones are recorded on the post.
    let (status, _) = send(http.post(url("/2/tweets")).json(&tweet(vec!["123456"]))).await;
    assert_eq!(status, 400);
    let (status, _) = send(http.post(url("/2/tweets")).json(&tweet(vec![&image; 5]))).await;
    assert_eq!(status, 400);
    let (status, body) = send(http.post(url("/2/tweets")).json(&tweet(vec![&id]))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(x.tweets()[0].media_ids, [id]);

    // Without media.write, uploads are forbidden.
    x.set_scopes(ALICE, &["tweet.write"]);
    let (status, _) = send(
        http.post(url("/2/media/upload"))
            .multipart(media_form(tiny_png())),
    )
    .await;
    assert_eq!(status, 403);
}
