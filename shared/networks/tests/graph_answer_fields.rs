//! Every field the Facebook client reads from a Graph answer, checked against Meta's
//! own specs of the node that answer is (`tests/data/facebook-graph/`, from
//! facebook-business-sdk-codegen): a field the specs do not have is a field Graph
//! may never send.
//!
//! Kept beside the client: when an answer type in `src/facebook*` reads a new field,
//! or asks a read for one through `fields=`, add it here.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde_json::Value;

/// (what the client reads, the node the specs give for it, the fields it reads).
const READS: &[(&str, &str, &[&str])] = &[
    // `POST /{page-id}/feed` → `Created { id }`: the new post.
    ("POST feed answer", "PagePost", &["id"]),
    // `POST /{page-id}/photos` → `PhotoCreated { id, post_id }`: the photo.
    ("POST photos answer", "Photo", &["id"]),
    // `GET /{page-id}/published_posts?fields=message,created_time` → `PublishedPost
    // { id, message }`, and the fields the client asks for.
    (
        "published_posts item",
        "PagePost",
        &["id", "message", "created_time"],
    ),
    // `POST /{page-id}/videos` with `file_url` → `Created { id }`: the video.
    ("POST videos answer", "AdVideo", &["id"]),
    // `GET /{video-id}?fields=status` → `VideoNode { status }`, polled until ready.
    ("video status read", "AdVideo", &["status"]),
    // `GET /{page-id}/videos?fields=description,created_time,status,post_id` →
    // `ListedVideo`, for reconciliation.
    (
        "Page videos item",
        "AdVideo",
        &["id", "description", "created_time", "status", "post_id"],
    ),
];

fn node_fields(node: &str) -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/facebook-graph")
        .join(format!("{node}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} cannot be read: {e}", path.display()));
    let spec: Value = serde_json::from_str(&text).expect("a spec is JSON");
    spec["fields"]
        .as_array()
        .expect("a node spec lists its fields")
        .iter()
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_field_the_client_reads_is_in_the_node_specs() {
    let mut missing = Vec::new();
    for (what, node, fields) in READS {
        let known = node_fields(node);
        for field in *fields {
            if !known.iter().any(|k| k == field) {
                missing.push(format!("{what}: `{field}` is no field of {node}"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// A deliberate difference: creating a photo answers `{"id", "post_id"}` (Graph API
/// reference, "Page Photos", creating: "Struct {id: numeric string, post_id: token
/// with structure: Post ID}"), and the client reads `post_id` as the id of the post
/// that shows the photo. The specs type that answer as a `Photo`, whose fields have no
/// `post_id` (only `page_story_id`). If the specs gain it, this test says so and
/// `post_id` joins the checked fields above.
#[test]
fn the_photo_answers_post_id_is_the_one_field_the_specs_lack() {
    let photo = node_fields("Photo");
    assert!(photo.iter().any(|f| f == "id"));
    assert!(
        !photo.iter().any(|f| f == "post_id"),
        "Photo.json now lists post_id: move it into READS"
    );
    assert!(photo.iter().any(|f| f == "page_story_id"));
}

/// Another deliberate difference: the resumable upload's answers on `/videos`
/// (`upload_phase=start` → `video_id`, `upload_session_id`, `start_offset`,
/// `end_offset`; `transfer` → the next offsets; `finish` → `success`) are not the
/// AdVideo node the specs say the edge returns, and none of those names is an AdVideo
/// field. If the specs gain one, this test says so.
#[test]
fn the_resumable_upload_answers_are_no_fields_of_the_video_node() {
    let video = node_fields("AdVideo");
    for field in [
        "video_id",
        "upload_session_id",
        "start_offset",
        "end_offset",
        "success",
    ] {
        assert!(
            !video.iter().any(|f| f == field),
            "AdVideo.json now lists {field}: check it in READS"
        );
    }
}
