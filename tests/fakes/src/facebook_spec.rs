//! Meta's Graph API specs as the fake's parameter contract: the parameters each Page
//! edge takes, by name and type, from `Page.json` (facebook-business-sdk-codegen's
//! `api_specs`, copied in `tests/data/facebook-graph/`), and a post's own `DELETE`
//! from `PagePost.json`.
//!
//! Graph refuses a parameter an edge does not take with error 100 ("(#100) Param X is
//! not a valid parameter"); the fake does the same, through
//! [`edge_violations`], before it looks at the call any further, and records every
//! violation for the tests (see `Controls::contract_violations`).
//!
//! Besides an edge's own parameters, every Graph call takes the request-wide ones the
//! specs do not repeat per edge: `access_token` and `appsecret_proof` (Graph API docs,
//! "Securing Requests"), and on reads `fields` and the paging cursors and time bounds
//! `after`, `before`, `since`, `until` and `limit` (Graph API docs, "Paginated
//! Results").

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;

const PAGE_SPEC: &str = include_str!("../../data/facebook-graph/Page.json");
const PAGE_POST_SPEC: &str = include_str!("../../data/facebook-graph/PagePost.json");
const PHOTO_SPEC: &str = include_str!("../../data/facebook-graph/Photo.json");
const AD_VIDEO_SPEC: &str = include_str!("../../data/facebook-graph/AdVideo.json");

/// Parameters every call takes (Graph API docs, "Securing Requests").
const EVERY_CALL: &[&str] = &["access_token", "appsecret_proof"];
/// Parameters every read takes (Graph API docs, "Using the Graph API" and
/// "Paginated Results").
const EVERY_READ: &[&str] = &["fields", "after", "before", "since", "until", "limit"];

/// A call's parameters as a spec lists them: name → type (`string`, `bool`,
/// `unsigned int`, `list<Object>`, an enum's name, ...).
type Params = BTreeMap<String, String>;

struct Specs {
    /// (method, edge) → parameters, for the edges of a Page.
    page_edges: BTreeMap<(String, String), Params>,
    /// (method, edge) → the node type it returns (`PagePost`, `Photo`, ...).
    returns: BTreeMap<(String, String), String>,
    /// Node type → its fields, for the nodes whose specs are copied.
    node_fields: BTreeMap<&'static str, Vec<String>>,
    /// `DELETE /{post-id}`.
    post_delete: Params,
    /// `GET /{video-id}`.
    video_get: Params,
}

fn specs() -> &'static Specs {
    static SPECS: OnceLock<Specs> = OnceLock::new();
    SPECS.get_or_init(|| {
        let page: Value = serde_json::from_str(PAGE_SPEC).unwrap_or(Value::Null);
        let post: Value = serde_json::from_str(PAGE_POST_SPEC).unwrap_or(Value::Null);
        let mut page_edges = BTreeMap::new();
        let mut returns = BTreeMap::new();
        for api in apis(&page) {
            if let (Some(method), Some(edge)) = (api["method"].as_str(), api["endpoint"].as_str()) {
                let key = (method.to_owned(), edge.to_owned());
                if let Some(node) = api["return"].as_str() {
                    returns.insert(key.clone(), node.to_owned());
                }
                page_edges.insert(key, params(api));
            }
        }
        let node_fields = [
            ("PagePost", PAGE_POST_SPEC),
            ("Photo", PHOTO_SPEC),
            ("AdVideo", AD_VIDEO_SPEC),
        ]
        .into_iter()
        .map(|(node, text)| {
            let spec: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            let fields = spec["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["name"].as_str().map(str::to_owned))
                .collect();
            (node, fields)
        })
        .collect();
        let post_delete = apis(&post)
            .find(|api| api["name"] == "#delete" && api["method"] == "DELETE")
            .map(params)
            .unwrap_or_default();
        let video: Value = serde_json::from_str(AD_VIDEO_SPEC).unwrap_or(Value::Null);
        let video_get = apis(&video)
            .find(|api| api["name"] == "#get" && api["method"] == "GET")
            .map(params)
            .unwrap_or_default();
        Specs {
            page_edges,
            returns,
            node_fields,
            post_delete,
            video_get,
        }
    })
}

fn apis(spec: &Value) -> impl Iterator<Item = &Value> {
    spec["apis"].as_array().into_iter().flatten()
}

fn params(api: &Value) -> Params {
    api["params"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_owned(),
                p["type"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// What a call is, as the specs know it.
pub(super) enum Call<'a> {
    /// `METHOD /{page-id}/{edge}`
    PageEdge { method: &'a str, edge: &'a str },
    /// `DELETE /{post-id}` (a video's id too: AdVideo's delete takes the same, nothing)
    DeletePost,
    /// `GET /{video-id}`
    GetVideo,
}

impl Call<'_> {
    /// `POST /{page-id}/feed`, `DELETE /{post-id}`.
    pub fn name(&self) -> String {
        match self {
            Call::PageEdge { method, edge } => format!("{method} /{{page-id}}/{edge}"),
            Call::DeletePost => "DELETE /{post-id}".to_owned(),
            Call::GetVideo => "GET /{video-id}".to_owned(),
        }
    }
}

/// One parameter the spec does not take, in Graph's own wording after `(#100) `
/// (which names the parameter).
#[derive(Debug)]
pub(super) struct Violation {
    pub message: String,
}

/// Whether the specs describe `call` (a Page edge Page.json does not list is not).
pub(super) fn describes(call: &Call<'_>) -> bool {
    match call {
        Call::PageEdge { method, edge } => specs()
            .page_edges
            .contains_key(&((*method).to_owned(), (*edge).to_owned())),
        Call::DeletePost | Call::GetVideo => true,
    }
}

/// Every parameter of `call` the spec does not list for it, or whose value is not of
/// the listed type. Empty for a call the specs do not describe.
pub(super) fn edge_violations(call: &Call<'_>, given: &[(String, String)]) -> Vec<Violation> {
    let (listed, read, node) = match call {
        Call::PageEdge { method, edge } => {
            let key = ((*method).to_owned(), (*edge).to_owned());
            match specs().page_edges.get(&key) {
                Some(listed) => (
                    listed,
                    *method == "GET",
                    specs().returns.get(&key).map(String::as_str),
                ),
                None => return Vec::new(),
            }
        }
        Call::DeletePost => (&specs().post_delete, false, None),
        Call::GetVideo => (&specs().video_get, true, Some("AdVideo")),
    };
    let mut violations = Vec::new();
    // The fields a read asks for must be fields of the node it returns.
    let node_fields = node.and_then(|node| Some((node, specs().node_fields.get(node)?)));
    if let (true, Some((node, fields))) = (read, node_fields) {
        for (_, list) in given.iter().filter(|(name, _)| name == "fields") {
            for field in list.split(',').map(str::trim) {
                if !fields.iter().any(|f| f == field) {
                    violations.push(Violation {
                        message: format!(
                            "Tried accessing nonexisting field ({field}) on node type ({node})"
                        ),
                    });
                }
            }
        }
    }
    for (name, value) in given {
        // `attached_media[0]` is item 0 of the list `attached_media`.
        let (base, indexed) = match name.split_once('[') {
            Some((base, rest)) if rest.ends_with(']') => (base, true),
            _ => (name.as_str(), false),
        };
        if let Some(kind) = listed.get(base) {
            let kind = if indexed {
                match list_item(kind) {
                    Some(item) => item,
                    None => {
                        violations.push(Violation {
                            message: format!("Param {base} is a {kind}, not a list"),
                        });
                        continue;
                    }
                }
            } else {
                kind.as_str()
            };
            if !value_is(kind, value) {
                violations.push(Violation {
                    message: format!("Param {name} must be a {kind}"),
                });
            }
        } else if !indexed && (EVERY_CALL.contains(&base) || (read && EVERY_READ.contains(&base))) {
            // Request-wide parameters; their values are checked where they are used.
        } else {
            violations.push(Violation {
                message: format!("Param {name} is not a valid parameter"),
            });
        }
    }
    violations
}

/// The item type of `list<T>` (`string` for a bare `list`).
fn list_item(kind: &str) -> Option<&str> {
    if kind == "list" {
        return Some("string");
    }
    kind.strip_prefix("list<")?.strip_suffix('>')
}

/// Whether a parameter's text is a value of the spec's type, as Graph reads form and
/// query values: booleans `true`/`false`/`1`/`0`; numbers in decimal; `datetime` as
/// Unix seconds or an ISO 8601 / RFC 3339 time; objects, maps and lists as JSON (a
/// list may also be one comma-separated line). Enums and strings take any text.
fn value_is(kind: &str, value: &str) -> bool {
    let digits = |v: &str| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    match kind {
        "bool" => matches!(value, "true" | "false" | "1" | "0"),
        "unsigned int" => digits(value),
        "int" => digits(value.strip_prefix('-').unwrap_or(value)),
        "float" => value.parse::<f64>().is_ok_and(f64::is_finite),
        "datetime" => digits(value) || crate::server::parse_rfc3339_ms(value).is_some(),
        "Object" | "map" => matches!(serde_json::from_str::<Value>(value), Ok(Value::Object(_))),
        "file" => false, // a file is a multipart part, never a form or query value
        _ => match list_item(kind) {
            Some(item) => match serde_json::from_str::<Value>(value) {
                Ok(Value::Array(items)) => items.iter().all(|v| match v {
                    Value::String(s) => value_is(item, s),
                    other => value_is(item, &other.to_string()),
                }),
                _ => value.split(',').all(|v| value_is(item, v.trim())),
            },
            None => true, // string, or an enum Page.json names without its values
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The parameters refused, by the name Graph's message gives.
    fn names(call: &Call<'_>, list: &[(&str, &str)]) -> Vec<String> {
        edge_violations(call, &pairs(list))
            .into_iter()
            .map(|v| v.message.split(' ').nth(1).unwrap_or_default().to_owned())
            .collect()
    }

    const FEED: Call<'static> = Call::PageEdge {
        method: "POST",
        edge: "feed",
    };

    #[test]
    fn what_our_client_sends_to_each_edge_is_in_the_spec() {
        let proof = ("appsecret_proof", "ab12");
        let token = ("access_token", "t");
        assert!(names(
            &FEED,
            &[
                ("message", "hi"),
                ("link", "https://example.com/a"),
                proof,
                token
            ]
        )
        .is_empty());
        assert!(names(
            &FEED,
            &[
                ("message", "hi"),
                ("attached_media[0]", r#"{"media_fbid":"1"}"#),
                proof
            ]
        )
        .is_empty());
        let photos = Call::PageEdge {
            method: "POST",
            edge: "photos",
        };
        assert!(names(
            &photos,
            &[
                ("url", "https://example.com/a.png"),
                ("caption", "c"),
                ("alt_text_custom", "a"),
                ("published", "false"),
                proof
            ]
        )
        .is_empty());
        let published = Call::PageEdge {
            method: "GET",
            edge: "published_posts",
        };
        assert!(names(
            &published,
            &[
                ("fields", "message,created_time"),
                ("since", "1"),
                ("until", "2"),
                ("limit", "100"),
                proof
            ]
        )
        .is_empty());
        let videos = Call::PageEdge {
            method: "POST",
            edge: "videos",
        };
        assert!(names(
            &videos,
            &[
                ("upload_phase", "start"),
                ("file_size", "1048576"),
                ("file_url", "https://example.com/v.mp4"),
                ("description", "d")
            ]
        )
        .is_empty());
        assert!(names(
            &videos,
            &[
                ("upload_phase", "transfer"),
                ("upload_session_id", "7001"),
                ("start_offset", "1048576"),
                ("video_file_chunk", "\u{0}\u{1}binary"),
                proof
            ]
        )
        .is_empty());
        let page_videos = Call::PageEdge {
            method: "GET",
            edge: "videos",
        };
        assert!(names(
            &page_videos,
            &[
                ("fields", "description,created_time,status,post_id"),
                ("since", "1"),
                ("limit", "100"),
                proof
            ]
        )
        .is_empty());
        assert!(names(&Call::GetVideo, &[("fields", "status"), proof]).is_empty());
        assert!(names(&Call::DeletePost, &[proof, token]).is_empty());
    }

    #[test]
    fn unknown_parameters_and_wrong_types_are_refused_as_graph_does() {
        let found = edge_violations(
            &FEED,
            &pairs(&[
                ("text", "hi"),
                ("published", "maybe"),
                ("attached_media[0]", "1"),
            ]),
        );
        let messages: Vec<&str> = found.iter().map(|v| v.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "Param text is not a valid parameter",
                "Param published must be a bool",
                "Param attached_media[0] must be a Object",
            ]
        );
        // Read-only parameters are not taken by a write, nor `fields` by a delete.
        assert_eq!(names(&FEED, &[("since", "1")]), ["since"]);
        assert_eq!(names(&Call::DeletePost, &[("fields", "id")]), ["fields"]);
        // A read may ask only for fields of the node it returns (PagePost here).
        let published = Call::PageEdge {
            method: "GET",
            edge: "published_posts",
        };
        let found = edge_violations(&published, &pairs(&[("fields", "message,caption")]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].message,
            "Tried accessing nonexisting field (caption) on node type (PagePost)"
        );
        // `caption` belongs to photos, not to a video's edge.
        let videos = Call::PageEdge {
            method: "POST",
            edge: "videos",
        };
        assert_eq!(
            names(&videos, &[("caption", "c"), ("start_offset", "-1")]),
            ["caption", "start_offset"]
        );
        // A video node has a `status`, not a `message`.
        let found = edge_violations(&Call::GetVideo, &pairs(&[("fields", "status,message")]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].message,
            "Tried accessing nonexisting field (message) on node type (AdVideo)"
        );
    }
}
