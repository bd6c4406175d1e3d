//! Posts as the source app sends them, and the checks that turn a request body into a
//! [`ValidatedPost`]: a value that exists only when every rule passed.

use crate::Network;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::net::IpAddr;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use unicode_normalization::UnicodeNormalization;
use url::{Host, Url};

/// Longest text accepted, in characters: Facebook's limit, the largest of our networks.
pub const MAX_TEXT_CHARS: usize = 63_206;
pub const MAX_MEDIA: usize = 10;
pub const MAX_ALT_CHARS: usize = 1_000;
const MAX_ID_CHARS: usize = 256;
/// Most accounts one post goes to: the post, its source-id guard, its webhook id and
/// one delivery per account are written in one DynamoDB transaction, which takes at
/// most 100 items (TransactWriteItems, "Amazon DynamoDB quotas").
pub const MAX_DELIVERIES: usize = 97;
const MAX_URL_CHARS: usize = 2_048;
const MEDIA_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "video/mp4",
    "video/quicktime",
];

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

/// What to do with text longer than a network allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Overflow {
    /// Split into a thread where the network has threads.
    #[default]
    Thread,
    /// Cut at a boundary and add `…` and the post's link.
    Truncate,
    /// Do not publish: the delivery fails with `content_too_long`.
    Reject,
}

/// What becomes of the text's `@name`s on the networks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mentions {
    /// No network turns an `@name` into a mention or a notification: the text reads the
    /// same, with an invisible U+2060 WORD JOINER after the `@` where the network would
    /// link it (see [`crate::text::mentions`]). For source apps whose `@name`s name
    /// their own users (WeChat friends), not accounts on the networks.
    #[default]
    Plain,
    /// The text goes out as it is: for source apps whose `@name`s are network handles.
    Keep,
}

impl Mentions {
    pub fn is_plain(&self) -> bool {
        *self == Mentions::Plain
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mentions::Plain => "plain",
            Mentions::Keep => "keep",
        }
    }
}

/// One requested destination: a network and, optionally, which linked account on it,
/// and the text that destination gets instead of the post's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IncomingTarget {
    pub network: Network,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Replaces the post's `text` for this target (NFC, checked like `text`), counted
    /// and split by this network's rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The text a delivery to `network` / `account_id` publishes: the text of the target
/// naming that account, else of the target naming only the network, else `text`.
pub fn text_for<'a>(
    text: &'a str,
    targets: &'a [IncomingTarget],
    network: Network,
    account_id: &str,
) -> &'a str {
    own_text(targets, network, account_id).unwrap_or(text)
}

/// The delivery's own text, when a target gives one (see [`text_for`]).
pub fn own_text<'a>(
    targets: &'a [IncomingTarget],
    network: Network,
    account_id: &str,
) -> Option<&'a str> {
    let of = |named: Option<&str>| {
        targets
            .iter()
            .find(|t| t.network == network && t.account_id.as_deref() == named)
            .and_then(|t| t.text.as_deref())
    };
    of(Some(account_id)).or_else(|| of(None))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaItem {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// A post that passed every intake rule. Its serialised form is canonical (fixed field
/// order, NFC text), so two bodies with the same content hash the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatedPost {
    /// The source app's id of the post.
    pub source_id: String,
    pub user_id: String,
    pub text: String,
    pub media: Vec<MediaItem>,
    pub link: Option<String>,
    /// None: every active account the user has linked.
    pub targets: Option<Vec<IncomingTarget>>,
    pub overflow: Overflow,
    pub created_at: Option<String>,
    /// Left out of the canonical form when `plain` (the default), so posts stored before
    /// the field existed hash the same.
    #[serde(default, skip_serializing_if = "Mentions::is_plain")]
    pub mentions: Mentions,
}

/// Where media may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaHosts {
    /// Only https URLs on public hosts (production).
    PublicOnly,
    /// Also http and loopback or private hosts (the local stack's own media server).
    AllowLocal,
}

/// One failing field: the JSON pointer into the body and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{pointer}: {detail}")]
pub struct FieldError {
    pub pointer: String,
    pub detail: String,
}

fn field_error(pointer: impl Into<String>, detail: impl Into<String>) -> FieldError {
    FieldError {
        pointer: pointer.into(),
        detail: detail.into(),
    }
}

/// Accumulates every failing field of a body, then yields the post or the list.
struct Checker<'a> {
    obj: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Checker<'a> {
    fn fail(&mut self, pointer: impl Into<String>, detail: impl Into<String>) {
        self.errors.push(field_error(pointer, detail));
    }

    /// A string field; `None` when absent (and an error if it was required).
    fn string(&mut self, name: &str, required: bool, max_chars: usize) -> Option<String> {
        let pointer = format!("/{name}");
        match self.obj.get(name) {
            None | Some(Value::Null) => {
                if required {
                    self.fail(pointer, format!("`{name}` is required"));
                }
                None
            }
            Some(Value::String(s)) => match checked_string(name, s, required, max_chars) {
                Ok(s) => Some(s),
                Err(e) => {
                    self.fail(pointer, e);
                    None
                }
            },
            Some(_) => {
                self.fail(pointer, format!("`{name}` must be a string"));
                None
            }
        }
    }
}

/// A string field as every one is checked: NFC-normalised, then (when `required`) not
/// only white space, at most `max_chars` characters, and without control characters
/// ([`has_control`]). The error names the field and the rule.
fn checked_string(
    name: &str,
    raw: &str,
    required: bool,
    max_chars: usize,
) -> Result<String, String> {
    let s: String = raw.nfc().collect();
    if required && s.trim().is_empty() {
        Err(format!("`{name}` must not be empty"))
    } else if s.chars().count() > max_chars {
        Err(format!("`{name}` is longer than {max_chars} characters"))
    } else if has_control(&s) {
        Err(format!("`{name}` contains control characters"))
    } else {
        Ok(s)
    }
}

/// A user id as every route takes it (a post's, a link's): NFC-normalised, 1 to 256
/// characters, not only white space, no control character but tab, line feed and
/// carriage return; so one person is one user whatever form their id arrives in.
pub fn user_id(raw: &str) -> Result<String, String> {
    checked_string("user_id", raw, true, MAX_ID_CHARS)
}

/// Whether `s` holds a control character (Unicode Cc) other than tab, line feed and
/// carriage return: refused in every string of a post (`functions/openapi.yaml` says
/// so in each string's pattern).
fn has_control(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// Parses a URL the way every URL field is checked; `https_only` unless local.
fn check_url(text: &str, hosts: MediaHosts) -> Result<Url, String> {
    if text.chars().count() > MAX_URL_CHARS {
        return Err(format!("a URL may be at most {MAX_URL_CHARS} characters"));
    }
    let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    match (url.scheme(), hosts) {
        ("https", _) | ("http", MediaHosts::AllowLocal) => {}
        (other, _) => return Err(format!("the URL must use https, not {other}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not carry credentials".into());
    }
    let host = url.host().ok_or("the URL has no host")?;
    if hosts == MediaHosts::PublicOnly {
        let literal = match host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(d) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                if d == "localhost" || d.ends_with(".localhost") || d.ends_with(".internal") {
                    return Err("the URL's host is a local name".into());
                }
                None
            }
        };
        if let Some(Err(refused)) = literal.map(crate::address::check) {
            return Err(format!("the URL's host is not a public address: {refused}"));
        }
    }
    Ok(url)
}

impl ValidatedPost {
    /// A hash of the content (hex SHA-256 of the canonical JSON): equal for two bodies
    /// that differ only in key order, white space, Unicode normal form or the order
    /// of their targets (a set of destinations; media keep their order, which is
    /// what the networks show).
    pub fn content_hash(&self) -> String {
        let mut canonical = self.clone();
        if let Some(targets) = canonical.targets.as_mut() {
            targets.sort_by(|a, b| {
                (a.network.as_str(), &a.account_id, &a.text).cmp(&(
                    b.network.as_str(),
                    &b.account_id,
                    &b.text,
                ))
            });
        }
        canonical.hash_as_given()
    }

    /// Whether `stored` (a source-id guard's hash) is this content's: its
    /// [`content_hash`](Self::content_hash), or the hash of the targets in the order
    /// given, which versions before the targets were sorted stored.
    pub fn has_content_hash(&self, stored: &str) -> bool {
        stored == self.content_hash() || stored == self.hash_as_given()
    }

    fn hash_as_given(&self) -> String {
        use sha2::Digest;
        // Serialising a struct of strings, lists and enums cannot fail.
        let canonical = serde_json::to_vec(self).unwrap_or_default();
        let digest = sha2::Sha256::digest(&canonical);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Checks a parsed JSON body against every intake rule and reports every failing
    /// field, not only the first.
    pub fn parse(body: &Value, hosts: MediaHosts) -> Result<Self, Vec<FieldError>> {
        let Some(obj) = body.as_object() else {
            return Err(vec![field_error("", "the body must be a JSON object")]);
        };
        let mut c = Checker {
            obj,
            errors: Vec::new(),
        };
        const KNOWN: &[&str] = &[
            "id",
            "user_id",
            "text",
            "media",
            "link",
            "targets",
            "overflow",
            "created_at",
            "mentions",
        ];
        for key in obj.keys() {
            if !KNOWN.contains(&key.as_str()) {
                c.fail(
                    format!("/{}", escape_pointer(key)),
                    format!("unknown field `{key}`"),
                );
            }
        }
        let source_id = c.string("id", true, MAX_ID_CHARS);
        let user_id = c.string("user_id", true, MAX_ID_CHARS);
        let text = c.string("text", false, MAX_TEXT_CHARS);
        let media = parse_media(&mut c, hosts);
        let targets = parse_targets(&mut c);
        let text_failed = c.errors.iter().any(|e| e.pointer == "/text");
        // Every target with its own text needs none from the post.
        let every_target_has_text = targets
            .as_ref()
            .is_some_and(|t| t.iter().all(|t| t.text.is_some()));
        if !text_failed
            && text.as_deref().is_none_or(|t| t.trim().is_empty())
            && media.is_empty()
            && !every_target_has_text
        {
            c.fail(
                "/text",
                "`text` is required unless the post has media or every target has its own `text`",
            );
        }
        let link = c.string("link", false, MAX_URL_CHARS).and_then(|l| {
            match check_url(&l, MediaHosts::AllowLocal) {
                Ok(u) => Some(u.to_string()),
                Err(e) => {
                    c.fail("/link", e);
                    None
                }
            }
        });
        let mentions = match obj.get("mentions") {
            None | Some(Value::Null) => Mentions::default(),
            Some(v) => match serde_json::from_value::<Mentions>(v.clone()) {
                Ok(m) => m,
                Err(_) => {
                    c.fail("/mentions", "`mentions` must be one of plain, keep");
                    Mentions::default()
                }
            },
        };
        let overflow = match obj.get("overflow") {
            None | Some(Value::Null) => Overflow::default(),
            Some(v) => match serde_json::from_value::<Overflow>(v.clone()) {
                Ok(o) => o,
                Err(_) => {
                    c.fail(
                        "/overflow",
                        "`overflow` must be one of thread, truncate, reject",
                    );
                    Overflow::default()
                }
            },
        };
        let created_at =
            c.string("created_at", false, 64).and_then(|t| {
                match OffsetDateTime::parse(&t, &Rfc3339) {
                    Ok(_) => Some(t),
                    Err(_) => {
                        c.fail("/created_at", "`created_at` must be an RFC 3339 date-time");
                        None
                    }
                }
            });
        if !c.errors.is_empty() {
            return Err(c.errors);
        }
        match (source_id, user_id) {
            (Some(source_id), Some(user_id)) => Ok(ValidatedPost {
                source_id,
                user_id,
                text: text.unwrap_or_default(),
                media,
                link,
                targets,
                overflow,
                created_at,
                mentions,
            }),
            // Unreachable in practice: a missing id was recorded as an error above.
            _ => Err(vec![field_error("/id", "`id` and `user_id` are required")]),
        }
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn parse_media(c: &mut Checker<'_>, hosts: MediaHosts) -> Vec<MediaItem> {
    let items = match c.obj.get("media") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            c.fail("/media", "`media` must be an array");
            return Vec::new();
        }
    };
    if items.len() > MAX_MEDIA {
        c.fail(
            "/media",
            format!("at most {MAX_MEDIA} media items are allowed"),
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let base = format!("/media/{i}");
        let Some(obj) = item.as_object() else {
            c.fail(base, "a media item must be an object with `url`");
            continue;
        };
        for key in obj.keys() {
            if !["url", "alt", "content_type"].contains(&key.as_str()) {
                c.fail(
                    format!("{base}/{}", escape_pointer(key)),
                    format!("unknown field `{key}`"),
                );
            }
        }
        let mut sub = Checker {
            obj,
            errors: Vec::new(),
        };
        let url = sub.string("url", true, MAX_URL_CHARS);
        let alt = sub.string("alt", false, MAX_ALT_CHARS);
        let content_type = sub.string("content_type", false, 100);
        for e in sub.errors {
            c.fail(format!("{base}{}", e.pointer), e.detail);
        }
        let url = url.and_then(|u| match check_url(&u, hosts) {
            Ok(u) => Some(u.to_string()),
            Err(e) => {
                c.fail(format!("{base}/url"), e);
                None
            }
        });
        if let Some(ct) = &content_type {
            if !MEDIA_TYPES.contains(&ct.as_str()) {
                c.fail(
                    format!("{base}/content_type"),
                    format!("`content_type` must be one of {}", MEDIA_TYPES.join(", ")),
                );
            }
        }
        if let Some(url) = url {
            out.push(MediaItem {
                url,
                alt,
                content_type,
            });
        }
    }
    out
}

fn parse_targets(c: &mut Checker<'_>) -> Option<Vec<IncomingTarget>> {
    let items = match c.obj.get("targets") {
        None | Some(Value::Null) => return None,
        Some(Value::Array(items)) if items.is_empty() => {
            c.fail(
                "/targets",
                "`targets` must name at least one network, or be left out",
            );
            return None;
        }
        Some(Value::Array(items)) if items.len() > MAX_DELIVERIES => {
            c.fail(
                "/targets",
                format!(
                    "a post goes to at most {MAX_DELIVERIES} accounts; `targets` names {}",
                    items.len()
                ),
            );
            return None;
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            c.fail("/targets", "`targets` must be an array");
            return None;
        }
    };
    let mut out: Vec<IncomingTarget> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let base = format!("/targets/{i}");
        let Some(obj) = item.as_object() else {
            c.fail(base, "a target must be an object with `network`");
            continue;
        };
        for key in obj.keys() {
            if !["network", "account_id", "text"].contains(&key.as_str()) {
                c.fail(
                    format!("{base}/{}", escape_pointer(key)),
                    format!("unknown field `{key}`"),
                );
            }
        }
        let network = match obj.get("network") {
            Some(Value::String(s)) => match s.parse::<Network>() {
                Ok(n) => Some(n),
                Err(e) => {
                    c.fail(format!("{base}/network"), e.to_string());
                    None
                }
            },
            None | Some(Value::Null) => {
                c.fail(format!("{base}/network"), "`network` is required");
                None
            }
            Some(_) => {
                c.fail(format!("{base}/network"), "`network` must be a string");
                None
            }
        };
        let account_id = match obj.get("account_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s))
                if !s.trim().is_empty() && s.chars().count() <= MAX_ID_CHARS && !has_control(s) =>
            {
                Some(s.clone())
            }
            Some(_) => {
                c.fail(
                    format!("{base}/account_id"),
                    "`account_id` must be a non-empty string of at most 256 characters, \
                     without control characters",
                );
                None
            }
        };
        // Checked like the post's text, with pointers into this target.
        let mut sub = Checker {
            obj,
            errors: Vec::new(),
        };
        let text = sub.string("text", false, MAX_TEXT_CHARS);
        for e in sub.errors {
            c.fail(format!("{base}{}", e.pointer), e.detail);
        }
        let text = match text {
            Some(t) if t.trim().is_empty() => {
                c.fail(
                    format!("{base}/text"),
                    "`text` must not be empty; leave it out to publish the post's text",
                );
                None
            }
            other => other,
        };
        if let Some(network) = network {
            let t = IncomingTarget {
                network,
                account_id,
                text,
            };
            if out
                .iter()
                .any(|o| o.network == t.network && o.account_id == t.account_id)
            {
                c.fail(base, "this target is listed twice");
            } else {
                out.push(t);
            }
        }
    }
    Some(out)
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

    fn pointers(b: &Value) -> Vec<String> {
        ValidatedPost::parse(b, MediaHosts::PublicOnly)
            .unwrap_err()
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    #[test]
    fn a_complete_body_is_a_post_with_defaults() {
        let post = ValidatedPost::parse(&body(), MediaHosts::PublicOnly).unwrap();
        assert_eq!(post.source_id, "src-1");
        assert_eq!(post.text, "你好，世界");
        assert_eq!(post.overflow, Overflow::Thread);
        assert_eq!(
            post.targets,
            Some(vec![
                IncomingTarget {
                    network: Network::X,
                    account_id: Some("42".into()),
                    text: None
                },
                IncomingTarget {
                    network: Network::Facebook,
                    account_id: None,
                    text: None
                }
            ])
        );
        let mut b = body();
        b.as_object_mut().unwrap().remove("targets");
        assert_eq!(
            ValidatedPost::parse(&b, MediaHosts::PublicOnly)
                .unwrap()
                .targets,
            None
        );
    }

    #[test]
    fn the_content_hash_ignores_form_but_not_content() {
        let a = ValidatedPost::parse(&body(), MediaHosts::PublicOnly).unwrap();
        let reordered: Value = serde_json::from_str(
            r#"{"targets":[{"account_id":"42","network":"x"},{"network":"facebook"}],
                "text":"你好，世界","user_id":"u1","id":"src-1"}"#,
        )
        .unwrap();
        let b = ValidatedPost::parse(&reordered, MediaHosts::PublicOnly).unwrap();
        assert_eq!(a.content_hash(), b.content_hash());
        // The targets are a set: listed in another order, the same post.
        let mut swapped = body();
        let targets = swapped["targets"].as_array_mut().unwrap();
        targets.reverse();
        let swapped = ValidatedPost::parse(&swapped, MediaHosts::PublicOnly).unwrap();
        assert_ne!(
            swapped.targets, a.targets,
            "the body lists them the other way"
        );
        assert_eq!(a.content_hash(), swapped.content_hash());
        // A guard stored before targets were sorted still matches its own body.
        assert!(swapped.has_content_hash(&swapped.hash_as_given()));
        assert!(a.has_content_hash(&swapped.content_hash()));
        assert!(!a.has_content_hash(&"0".repeat(64)));
        assert_eq!(a.content_hash().len(), 64);
        let mut other = body();
        other["text"] = json!("你好，世界!");
        let c = ValidatedPost::parse(&other, MediaHosts::PublicOnly).unwrap();
        assert_ne!(a.content_hash(), c.content_hash());
    }

    #[test]
    fn mentions_and_per_target_texts() {
        let post = ValidatedPost::parse(&body(), MediaHosts::PublicOnly).unwrap();
        assert_eq!(post.mentions, Mentions::Plain, "plain by default");
        let mut b = body();
        b["mentions"] = json!("keep");
        b["targets"] = json!([
            {"network": "x", "account_id": "42", "text": "Cafe\u{301} for X"},
            {"network": "x", "text": "every other X account"},
            {"network": "facebook"}
        ]);
        let keep = ValidatedPost::parse(&b, MediaHosts::PublicOnly).unwrap();
        assert_eq!(keep.mentions, Mentions::Keep);
        let targets = keep.targets.clone().unwrap();
        assert_eq!(targets[0].text.as_deref(), Some("Caf\u{e9} for X"), "NFC");
        assert_eq!(
            text_for(&keep.text, &targets, Network::X, "42"),
            "Caf\u{e9} for X"
        );
        assert_eq!(
            text_for(&keep.text, &targets, Network::X, "7"),
            "every other X account"
        );
        assert_eq!(
            text_for(&keep.text, &targets, Network::Facebook, "9"),
            "你好，世界"
        );
        // Each text is part of the content: another text is another post.
        assert_ne!(post.content_hash(), keep.content_hash());
        let mut other = b.clone();
        other["targets"][0]["text"] = json!("another text for X");
        let other = ValidatedPost::parse(&other, MediaHosts::PublicOnly).unwrap();
        assert_ne!(other.content_hash(), keep.content_hash());

        let mut bad = body();
        bad["mentions"] = json!("strip");
        bad["targets"] = json!([
            {"network": "x", "text": ""},
            {"network": "facebook", "text": "字".repeat(MAX_TEXT_CHARS + 1)},
            {"network": "x", "account_id": "42", "text": 5}
        ]);
        let mut p = pointers(&bad);
        p.sort();
        assert_eq!(
            p,
            [
                "/mentions",
                "/targets/0/text",
                "/targets/1/text",
                "/targets/2/text"
            ]
        );
        // A post without text is fine when every target brings its own.
        let mut b = body();
        b["text"] = json!("");
        b["targets"] = json!([{"network": "x", "text": "for X"}]);
        assert!(ValidatedPost::parse(&b, MediaHosts::PublicOnly).is_ok());
        b["targets"] = json!([{"network": "x", "text": "for X"}, {"network": "facebook"}]);
        assert_eq!(pointers(&b), ["/text"]);
    }

    #[test]
    fn text_is_nfc_normalised() {
        let mut b = body();
        b["text"] = json!("Cafe\u{301}");
        let post = ValidatedPost::parse(&b, MediaHosts::PublicOnly).unwrap();
        assert_eq!(post.text, "Caf\u{e9}");
    }

    #[test]
    fn every_failing_field_is_named_by_its_pointer() {
        let b = json!({"text": 5, "targets": [{"network": "myspace"}], "colour": "red"});
        let mut p = pointers(&b);
        p.sort();
        assert_eq!(
            p,
            ["/colour", "/id", "/targets/0/network", "/text", "/user_id"]
        );
    }

    #[test]
    fn an_account_id_is_an_id_like_the_others() {
        for bad in ["", " ", "4\u{0}2", "4\u{7f}2", &"4".repeat(257)] {
            let mut b = body();
            b["targets"][0]["account_id"] = json!(bad);
            assert_eq!(pointers(&b), ["/targets/0/account_id"], "{bad:?}");
        }
        let mut b = body();
        b["targets"] =
            json!([{"network": "x", "account_id": "42"}, {"account_id": "42", "network": "x"}]);
        assert_eq!(pointers(&b), ["/targets/1"]);
    }

    #[test]
    fn text_rules() {
        let mut b = body();
        b["text"] = json!("");
        assert_eq!(pointers(&b), ["/text"]);
        b["media"] = json!([{"url": "https://cdn.example.com/a.jpg"}]);
        assert!(
            ValidatedPost::parse(&b, MediaHosts::PublicOnly).is_ok(),
            "media-only post"
        );
        let mut b = body();
        b["text"] = json!("字".repeat(MAX_TEXT_CHARS + 1));
        assert_eq!(pointers(&b), ["/text"]);
        b["text"] = json!("字".repeat(MAX_TEXT_CHARS));
        assert!(ValidatedPost::parse(&b, MediaHosts::PublicOnly).is_ok());
    }

    #[test]
    fn media_rules() {
        let mut b = body();
        b["media"] = json!(vec![json!({"url": "https://cdn.example.com/a.jpg"}); 11]);
        assert_eq!(pointers(&b), ["/media"]);
        for (url, ok) in [
            ("https://cdn.example.com/a.jpg", true),
            ("http://cdn.example.com/a.jpg", false),
            ("https://127.0.0.1/a.jpg", false),
            ("https://10.1.2.3/a.jpg", false),
            ("https://192.168.0.4/a.jpg", false),
            ("https://169.254.169.254/latest/meta-data", false),
            ("https://0.0.0.0/a.jpg", false),
            ("https://[::1]/a.jpg", false),
            ("https://[fd00::1]/a.jpg", false),
            ("https://localhost/a.jpg", false),
            ("https://[::127.0.0.1]/a.jpg", false),
            ("https://[64:ff9b::a9fe:a9fe]/a.jpg", false),
            ("https://[2002:7f00:1::]/a.jpg", false),
            ("https://[fec0::1]/a.jpg", false),
            ("https://192.0.0.192/a.jpg", false),
            ("https://198.18.0.1/a.jpg", false),
            ("https://224.0.0.1/a.jpg", false),
            ("https://192.0.2.1/a.jpg", false),
            ("https://[64:ff9b::808:808]/a.jpg", true),
            ("https://8.8.8.8/a.jpg", true),
            ("https://user:pw@cdn.example.com/a.jpg", false),
            ("not a url", false),
        ] {
            let mut b = body();
            b["media"] = json!([{"url": url}]);
            let r = ValidatedPost::parse(&b, MediaHosts::PublicOnly);
            assert_eq!(r.is_ok(), ok, "{url}: {r:?}");
            if !ok {
                assert_eq!(pointers(&b), ["/media/0/url"], "{url}");
            }
        }
        let mut b = body();
        b["media"] = json!([{"url": "http://127.0.0.1:9/a.png"}]);
        assert!(ValidatedPost::parse(&b, MediaHosts::AllowLocal).is_ok());
        b["media"] = json!([{"url": "https://cdn.example.com/a.jpg", "alt": "x".repeat(1001), "content_type": "text/html", "size": 1}]);
        let mut p = pointers(&b);
        p.sort();
        assert_eq!(
            p,
            ["/media/0/alt", "/media/0/content_type", "/media/0/size"]
        );
    }

    #[test]
    fn link_overflow_created_at_and_targets() {
        let mut b = body();
        b["link"] = json!("moments://post/1");
        b["overflow"] = json!("split");
        b["created_at"] = json!("yesterday");
        b["targets"] = json!([{"network": "x"}, {"network": "x"}]);
        let mut p = pointers(&b);
        p.sort();
        assert_eq!(p, ["/created_at", "/link", "/overflow", "/targets/1"]);
        let mut b = body();
        b["link"] = json!("https://moments.example.com/p/1");
        b["overflow"] = json!("truncate");
        b["created_at"] = json!("2026-11-25T08:00:00+08:00");
        let post = ValidatedPost::parse(&b, MediaHosts::PublicOnly).unwrap();
        assert_eq!(post.overflow, Overflow::Truncate);
        assert_eq!(
            post.link.as_deref(),
            Some("https://moments.example.com/p/1")
        );
        let mut b = body();
        b["targets"] = json!([]);
        assert_eq!(pointers(&b), ["/targets"]);
    }

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "::ffff:10.0.0.1",
            "fe80::1",
            "fc00::1",
            "100.64.0.1",
        ] {
            assert!(!crate::address::is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"] {
            assert!(crate::address::is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
