//! Posts as the source app sends them, and the checks that turn a request body into one.

use crate::Network;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Crosspost's own id of a post: a UUIDv7, so ids sort by the time they were made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PostId(String);

impl PostId {
    /// Wraps a freshly made time-ordered UUID (the caller owns the clock and randomness).
    pub fn from_uuid(id: uuid::Uuid) -> Self {
        PostId(id.hyphenated().to_string())
    }

    /// Accepts an id read back from storage or a URL; it must be a UUID.
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::parse_str(s).ok().map(Self::from_uuid)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One requested destination: a network and, optionally, which linked account on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingTarget {
    pub network: Network,
    pub account_id: Option<String>,
}

/// A post body that passed the intake checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingPost {
    /// The source app's id of the post.
    pub source_id: String,
    pub user_id: String,
    pub text: String,
    pub targets: Vec<IncomingTarget>,
}

/// Why a body is not a post: the JSON pointer of the failing field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pointer}: {detail}")]
pub struct PostInputError {
    pub pointer: String,
    pub detail: String,
}

impl PostInputError {
    fn at(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        PostInputError {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

impl IncomingPost {
    /// Reads a post out of a parsed JSON body, naming the first field that is missing
    /// or of the wrong kind.
    pub fn from_json(body: &Value) -> Result<Self, PostInputError> {
        let obj = body
            .as_object()
            .ok_or_else(|| PostInputError::at("", "the body must be a JSON object"))?;
        let required_string = |name: &str| -> Result<String, PostInputError> {
            let pointer = format!("/{name}");
            match obj.get(name) {
                None | Some(Value::Null) => Err(PostInputError::at(
                    pointer,
                    format!("`{name}` is required"),
                )),
                Some(Value::String(s)) if s.trim().is_empty() => Err(PostInputError::at(
                    pointer,
                    format!("`{name}` must not be empty"),
                )),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(PostInputError::at(
                    pointer,
                    format!("`{name}` must be a string"),
                )),
            }
        };
        let source_id = required_string("id")?;
        let user_id = required_string("user_id")?;
        let text = required_string("text")?;
        let targets = match obj.get("targets") {
            None | Some(Value::Null) => {
                return Err(PostInputError::at("/targets", "`targets` is required"))
            }
            Some(Value::Array(items)) if items.is_empty() => {
                return Err(PostInputError::at(
                    "/targets",
                    "`targets` must name at least one network",
                ))
            }
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_target(i, item))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => {
                return Err(PostInputError::at(
                    "/targets",
                    "`targets` must be an array",
                ))
            }
        };
        for (i, t) in targets.iter().enumerate() {
            if targets[..i].contains(t) {
                return Err(PostInputError::at(
                    format!("/targets/{i}"),
                    "this target is listed twice",
                ));
            }
        }
        Ok(IncomingPost {
            source_id,
            user_id,
            text,
            targets,
        })
    }
}

fn parse_target(i: usize, item: &Value) -> Result<IncomingTarget, PostInputError> {
    let base = format!("/targets/{i}");
    let obj = item.as_object().ok_or_else(|| {
        PostInputError::at(&base, "a target must be an object with `network`")
    })?;
    let network = match obj.get("network") {
        Some(Value::String(s)) => s
            .parse::<Network>()
            .map_err(|e| PostInputError::at(format!("{base}/network"), e.to_string()))?,
        None | Some(Value::Null) => {
            return Err(PostInputError::at(
                format!("{base}/network"),
                "`network` is required",
            ))
        }
        Some(_) => {
            return Err(PostInputError::at(
                format!("{base}/network"),
                "`network` must be a string",
            ))
        }
    };
    let account_id = match obj.get("account_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(_) => {
            return Err(PostInputError::at(
                format!("{base}/account_id"),
                "`account_id` must be a non-empty string",
            ))
        }
    };
    Ok(IncomingTarget {
        network,
        account_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({
            "id": "src-1",
            "user_id": "u1",
            "text": "你好，世界",
            "targets": [{"network": "x", "account_id": "42"}, {"network": "facebook"}]
        })
    }

    #[test]
    fn a_complete_body_is_a_post() {
        let post = IncomingPost::from_json(&body()).unwrap();
        assert_eq!(post.source_id, "src-1");
        assert_eq!(post.text, "你好，世界");
        assert_eq!(
            post.targets,
            vec![
                IncomingTarget {
                    network: Network::X,
                    account_id: Some("42".into())
                },
                IncomingTarget {
                    network: Network::Facebook,
                    account_id: None
                }
            ]
        );
    }

    #[test]
    fn each_missing_field_is_named_by_its_pointer() {
        for field in ["id", "user_id", "text", "targets"] {
            let mut b = body();
            b.as_object_mut().unwrap().remove(field);
            let err = IncomingPost::from_json(&b).unwrap_err();
            assert_eq!(err.pointer, format!("/{field}"));
            assert!(err.detail.contains(field), "{err}");
        }
    }

    #[test]
    fn bad_targets_are_named_by_index() {
        let mut b = body();
        b["targets"][1]["network"] = json!("myspace");
        let err = IncomingPost::from_json(&b).unwrap_err();
        assert_eq!(err.pointer, "/targets/1/network");
        assert!(err.detail.contains("myspace"));

        let mut b = body();
        b["targets"] = json!([{"network": "x"}, {"network": "x"}]);
        assert_eq!(IncomingPost::from_json(&b).unwrap_err().pointer, "/targets/1");

        let mut b = body();
        b["targets"] = json!([]);
        assert_eq!(IncomingPost::from_json(&b).unwrap_err().pointer, "/targets");
    }

    #[test]
    fn wrong_kinds_are_refused() {
        let mut b = body();
        b["user_id"] = json!(7);
        assert_eq!(IncomingPost::from_json(&b).unwrap_err().pointer, "/user_id");
        assert_eq!(
            IncomingPost::from_json(&json!([1, 2])).unwrap_err().pointer,
            ""
        );
    }
}
