//! Bluesky as the delivery worker sees it ([`Publisher`]). Each part of a delivery has
//! its own record key, derived from the delivery's post id and the part's index
//! ([`record_key`]), and its record's content is the same on every attempt (its
//! `createdAt` comes from the post id too). It is written with `putRecord` and
//! `swapRecord: null` (create only): a retry after a lost answer writes nothing new
//! (the same content at the same key is no commit), so a post is never doubled and no
//! timeline search is needed. `createRecord` is never used: for a key that exists it
//! answers 500.

use super::embed::Embeds;
use super::error::{classify, spent_limit, XrpcError};
use super::{send, AccessToken, POST_COLLECTION};
use crate::media::MediaFetcher;
use crate::{PublishError, RemotePost};
use crosspost_core::text::bluesky::{rich_text, Facet, Feature};
use crosspost_core::{
    Candidate, LinkedAccount, Lookup, MediaItem, Mentions, OutgoingPart, Publisher,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// The base32-sortable alphabet of TIDs (ATProto's record key syntax for posts).
const TID_ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

/// The record key and `createdAt` of part `index` of the post `post_id` (a UUIDv7):
/// a TID whose timestamp is the post id's millisecond plus three digits taken from its
/// random bits, and whose clock id is the part's index. Err when the id has no time
/// or the index is over 1023.
pub fn record_key(post_id: &str, index: usize) -> Result<(String, String), PublishError> {
    let bad = |why: &str| PublishError::Permanent {
        reason: format!("no Bluesky record key for part {index} of {post_id}: {why}"),
    };
    let id = uuid::Uuid::parse_str(post_id).map_err(|_| bad("the post id is not a UUID"))?;
    let (secs, nanos) = id
        .get_timestamp()
        .ok_or_else(|| bad("the post id holds no time"))?
        .to_unix();
    let ms = secs * 1000 + u64::from(nanos / 1_000_000);
    let clock_id = u64::try_from(index)
        .ok()
        .filter(|i| *i < 1024)
        .ok_or_else(|| bad("more than 1024 parts"))?;
    let bytes = id.as_bytes();
    let random = u64::from_be_bytes([
        bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
    ]);
    let micros = ms * 1000 + random % 1000;
    let mut value = ((micros << 10) | clock_id) & 0x7FFF_FFFF_FFFF_FFFF;
    let mut tid = [0u8; 13];
    for slot in tid.iter_mut().rev() {
        *slot = TID_ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    let rkey = String::from_utf8_lossy(&tid).into_owned();
    let created = crosspost_core::clock::from_unix_ms(i64::try_from(ms).unwrap_or(0))
        + time::Duration::milliseconds(i64::try_from(index).unwrap_or(0));
    let created_at = created
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|_| bad("its time cannot be written"))?;
    Ok((rkey, created_at))
}

/// `at://did/collection/rkey` into its parts.
fn parse_at_uri(uri: &str) -> Option<(&str, &str, &str)> {
    let rest = uri.strip_prefix("at://")?;
    let mut it = rest.splitn(3, '/');
    let (did, collection, rkey) = (it.next()?, it.next()?, it.next()?);
    (!did.is_empty() && !collection.is_empty() && !rkey.is_empty() && !rkey.contains('/'))
        .then_some((did, collection, rkey))
}

/// The post's address on bsky.app.
fn web_url(did: &str, rkey: &str) -> String {
    format!("https://bsky.app/profile/{did}/post/{rkey}")
}

#[derive(Deserialize)]
struct RecordRef {
    uri: String,
    cid: String,
}

#[derive(Deserialize)]
struct GotRecord {
    uri: String,
    cid: String,
    #[serde(default)]
    value: Value,
}

/// The record's JSON for a part: text shown with its link and tag facets (UTF-8 byte
/// ranges), the reply refs, and `createdAt`.
pub(crate) fn post_record(text: &str, created_at: &str, reply: Option<Value>) -> Value {
    let rt = rich_text(text);
    let mut record = json!({
        "$type": POST_COLLECTION,
        "text": rt.text,
        "createdAt": created_at,
    });
    if !rt.facets.is_empty() {
        record["facets"] = rt.facets.iter().map(facet_json).collect();
    }
    if let Some(reply) = reply {
        record["reply"] = reply;
    }
    record
}

/// An `app.bsky.richtext.facet`: its byte range and its one feature.
fn facet_json(f: &Facet) -> Value {
    let feature = match &f.feature {
        Feature::Link(uri) => json!({ "$type": "app.bsky.richtext.facet#link", "uri": uri }),
        Feature::Tag(tag) => json!({ "$type": "app.bsky.richtext.facet#tag", "tag": tag }),
        Feature::Mention(did) => {
            json!({ "$type": "app.bsky.richtext.facet#mention", "did": did })
        }
    };
    json!({
        "index": { "byteStart": f.range.start, "byteEnd": f.range.end },
        "features": [feature],
    })
}

/// Whether `existing`, the record found at a part's key, is that part's: the same text,
/// the same `createdAt` (both derived from the part), and the same reply parent (or
/// neither has one). Facets and embeds are not compared: mentions and link cards
/// depend on lookups that may come out otherwise on another attempt. Another post
/// that drew the same key (two posts of an account in the same millisecond share it
/// with probability 1/1000) has another `createdAt` only for a later part, so the
/// text tells them apart.
pub(crate) fn is_this_parts(existing: &Value, ours: &Value) -> bool {
    existing.get("text").is_some()
        && existing.get("text") == ours.get("text")
        && existing.get("createdAt").is_some()
        && existing.get("createdAt") == ours.get("createdAt")
        && existing.pointer("/reply/parent/uri") == ours.pointer("/reply/parent/uri")
}

/// `record` with `more` facets (at byte ranges of its text) among its own, in order of
/// position.
pub(crate) fn with_facets(mut record: Value, more: &[Facet]) -> Value {
    if more.is_empty() {
        return record;
    }
    let mut facets = record["facets"].as_array().cloned().unwrap_or_default();
    facets.extend(more.iter().map(facet_json));
    facets.sort_by_key(|f| f["index"]["byteStart"].as_u64());
    record["facets"] = Value::Array(facets);
    record
}

/// Bluesky as the delivery worker sees it: the HTTP client for the PDS, and the media
/// fetcher for images and linked pages (every user-given URL under its rules).
pub struct BlueskyPublisher {
    http: reqwest::Client,
    embeds: Embeds,
}

impl BlueskyPublisher {
    pub fn new(http: reqwest::Client, media: MediaFetcher) -> Self {
        BlueskyPublisher {
            embeds: Embeds::new(http.clone(), media),
            http,
        }
    }

    /// `com.atproto.repo.getRecord` (no auth needed). None when the PDS has no such
    /// record.
    async fn get_record(
        &self,
        service: &str,
        uri: &str,
    ) -> Result<Option<GotRecord>, PublishError> {
        let (did, collection, rkey) = parse_at_uri(uri).ok_or_else(|| PublishError::Permanent {
            reason: format!("`{uri}` is not a Bluesky record address"),
        })?;
        let request = self
            .http
            .get(format!("{service}/xrpc/com.atproto.repo.getRecord"))
            .query(&[("repo", did), ("collection", collection), ("rkey", rkey)]);
        let (status, headers, body) = send(request).await.map_err(crate::nothing_published)?;
        if status.is_success() {
            return serde_json::from_str(&body)
                .map(Some)
                .map_err(|e| PublishError::Retryable {
                    after: None,
                    detail: format!("unexpected getRecord answer from Bluesky ({e})"),
                });
        }
        if XrpcError::parse(&body).error == "RecordNotFound" {
            return Ok(None);
        }
        Err(crate::nothing_published(classify(status, &headers, &body)))
    }

    /// The reply refs of a part replying to `parent`: the parent read back (the PDS
    /// accepts a reply to a missing post, so its presence is checked here), and its
    /// thread's root (the parent's own root, or the parent when it is the first part).
    async fn reply_refs(&self, service: &str, parent: &str) -> Result<Value, PublishError> {
        let got = self.get_record(service, parent).await?.ok_or_else(|| {
            PublishError::ParentNotVisible {
                detail: format!("Bluesky has no record {parent} to reply to"),
            }
        })?;
        let parent_ref = json!({ "uri": got.uri, "cid": got.cid });
        let root = match got.value.pointer("/reply/root") {
            Some(root) if root["uri"].is_string() && root["cid"].is_string() => json!({
                "uri": root["uri"], "cid": root["cid"]
            }),
            _ => parent_ref.clone(),
        };
        Ok(json!({ "root": root, "parent": parent_ref }))
    }
}

impl Publisher for BlueskyPublisher {
    /// Bluesky's media plan from the files' bytes: images 4 per part in the post's
    /// order, like X's; a GIF or video refused (`crosspost_core::media`).
    async fn media_parts(&self, media: &[MediaItem]) -> Result<Vec<Vec<usize>>, PublishError> {
        if media.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.embeds.plan(media).await?.per_part())
    }

    /// `com.atproto.repo.putRecord` of an `app.bsky.feed.post` at the part's own
    /// record key, create-only, with the part's images uploaded first
    /// (`app.bsky.embed.images`), or on the first part of a post with a link and no
    /// images, the link's card (`app.bsky.embed.external`; left out when the page
    /// gives none). The same record already there (an earlier attempt whose answer was
    /// lost) is the answer. A record with other content there is read back
    /// (`getRecord`): it is the answer when [`is_this_parts`] (an earlier attempt whose
    /// card or mentions came out otherwise), and otherwise another post's, which
    /// fails the delivery for good (`record key taken by another post`).
    async fn publish_part(
        &self,
        account: &LinkedAccount,
        part: OutgoingPart<'_>,
        reply_to: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        let token = AccessToken::from_secret(&account.access_token)?;
        let embed = match (part.media.is_empty(), part.link) {
            (false, _) => Some(self.embeds.images(&token, part.media).await?),
            (true, Some(link)) if part.index == 0 => self.embeds.link_card(&token, link).await,
            _ => None,
        };
        let post_id = part.key.rsplit_once('.').map_or(part.key, |(id, _)| id);
        let (rkey, created_at) = record_key(post_id, part.index)?;
        let reply = match reply_to {
            Some(parent) => Some(self.reply_refs(&token.service, parent).await?),
            None => None,
        };
        let mentions = match part.mentions {
            Mentions::Keep => {
                super::mentions::mention_facets(&self.http, &token.service, part.text).await
            }
            Mentions::Plain => Vec::new(),
        };
        let did = account.account_id.as_str();
        let mut record = post_record(part.text, &created_at, reply);
        if let Some(embed) = embed {
            record["embed"] = embed;
        }
        let body = json!({
            "repo": did,
            "collection": POST_COLLECTION,
            "rkey": rkey,
            "validate": true,
            "record": with_facets(record, &mentions),
            "swapRecord": null,
        });
        let request = self
            .http
            .post(format!("{}/xrpc/com.atproto.repo.putRecord", token.service))
            .bearer_auth(&token.access_jwt)
            .json(&body);
        let (status, headers, text) = send(request).await?;
        if status.is_success() {
            let made: RecordRef =
                serde_json::from_str(&text).map_err(|e| PublishError::Uncertain {
                    detail: format!("unexpected putRecord answer from Bluesky ({e})"),
                })?;
            tracing::debug!(cid = %made.cid, "Bluesky record written");
            return Ok(RemotePost {
                url: web_url(did, &rkey),
                id: made.uri,
                hold: spent_limit(&headers),
            });
        }
        if XrpcError::parse(&text).error == "InvalidSwap" {
            // A record is at this part's key already, with other content: an earlier
            // attempt's (its mention facets or card may differ), or another post's
            // that drew the same key. Only the first is adopted.
            let uri = format!("at://{did}/{POST_COLLECTION}/{rkey}");
            if let Some(got) = self.get_record(&token.service, &uri).await? {
                if !is_this_parts(&got.value, &body["record"]) {
                    return Err(PublishError::Permanent {
                        reason: format!(
                            "record key taken by another post: Bluesky holds a record with \
                             another text, time or reply parent at this part's key {uri}; \
                             it is not adopted"
                        ),
                    });
                }
                return Ok(RemotePost {
                    url: web_url(did, &rkey),
                    id: got.uri,
                    hold: spent_limit(&headers),
                });
            }
        }
        Err(classify(status, &headers, &text))
    }

    /// Nothing to look for: a retry writes at the same record key, which cannot make a
    /// second post.
    async fn reconcile(
        &self,
        _account: &LinkedAccount,
        _lookup: Lookup<'_>,
    ) -> Result<Vec<Candidate>, PublishError> {
        Ok(Vec::new())
    }

    /// `com.atproto.repo.deleteRecord`; a record the PDS no longer has answers 200 and
    /// counts as deleted.
    async fn delete_part(
        &self,
        account: &LinkedAccount,
        remote_id: &str,
    ) -> Result<(), PublishError> {
        let token = AccessToken::from_secret(&account.access_token)?;
        let (did, collection, rkey) =
            parse_at_uri(remote_id).ok_or_else(|| PublishError::Permanent {
                reason: format!("`{remote_id}` is not a Bluesky record address"),
            })?;
        let request = self
            .http
            .post(format!(
                "{}/xrpc/com.atproto.repo.deleteRecord",
                token.service
            ))
            .bearer_auth(&token.access_jwt)
            .json(&json!({ "repo": did, "collection": collection, "rkey": rkey }));
        let (status, headers, body) = send(request).await?;
        if status.is_success() {
            return Ok(());
        }
        Err(classify(status, &headers, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_are_tids_one_per_part_and_the_same_on_every_attempt() {
        let id = "019ad3a2-5c3e-7b1a-9f00-0123456789ab";
        let (k0, c0) = record_key(id, 0).unwrap();
        let (k1, c1) = record_key(id, 1).unwrap();
        assert_eq!(record_key(id, 0).unwrap(), (k0.clone(), c0.clone()));
        assert_ne!(k0, k1);
        for k in [&k0, &k1] {
            assert_eq!(k.len(), 13);
            assert!(k.bytes().all(|b| TID_ALPHABET.contains(&b)), "{k}");
            // The first character of a TID holds the top bit, which is 0.
            assert!("234567abcdefghij".contains(&k[..1]), "{k}");
        }
        // Keys sort like the parts, and like time.
        assert!(k0 < k1);
        let later = "019ad3a2-5c3f-7b1a-9f00-0123456789ab";
        assert!(record_key(later, 0).unwrap().0 > k1);
        assert!(c0.starts_with("2025-") || c0.starts_with("2026-"), "{c0}");
        assert!(c1 > c0);
        // Not a v7 UUID, or too many parts: refused, naming why.
        let v4 = "6f1c1a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
        assert!(record_key(v4, 0)
            .unwrap_err()
            .to_string()
            .contains("no time"));
        assert!(record_key(id, 1024).is_err());
    }

    #[test]
    fn only_a_record_with_this_parts_text_time_and_parent_is_adopted() {
        let at = "2026-11-30T08:00:00.000Z";
        let reply = || {
            Some(json!({
                "root": {"uri": "at://did:plc:a/app.bsky.feed.post/r", "cid": "c1"},
                "parent": {"uri": "at://did:plc:a/app.bsky.feed.post/p", "cid": "c2"},
            }))
        };
        let ours = post_record("我的帖子 #mine", at, reply());
        // An earlier attempt's record, without the facets: ours.
        let mut earlier = ours.clone();
        earlier.as_object_mut().unwrap().remove("facets");
        assert!(is_this_parts(&earlier, &ours));
        assert!(is_this_parts(&ours, &ours));
        // Another post's: other text, other time, other parent, no parent, nothing.
        for other in [
            post_record("别人的帖子", at, reply()),
            post_record("我的帖子 #mine", "2026-11-30T08:00:00.001Z", reply()),
            post_record(
                "我的帖子 #mine",
                at,
                Some(json!({
                    "root": {"uri": "at://did:plc:a/app.bsky.feed.post/r", "cid": "c1"},
                    "parent": {"uri": "at://did:plc:a/app.bsky.feed.post/x", "cid": "c3"},
                })),
            ),
            post_record("我的帖子 #mine", at, None),
            json!({}),
        ] {
            assert!(!is_this_parts(&other, &ours), "{other}");
        }
        assert!(!is_this_parts(&json!({}), &json!({})));
    }

    #[test]
    fn a_record_carries_the_shown_text_facets_and_reply_refs() {
        let r = post_record(
            "see https://example.com/a #tea @friend",
            "2026-11-30T08:00:00.000Z",
            Some(
                json!({ "root": {"uri": "at://r", "cid": "c1"}, "parent": {"uri": "at://p", "cid": "c2"} }),
            ),
        );
        assert_eq!(r["text"], "see example.com/a #tea @friend");
        assert_eq!(
            r["facets"][0]["index"],
            json!({ "byteStart": 4, "byteEnd": 17 })
        );
        assert_eq!(
            r["facets"][0]["features"][0]["uri"],
            "https://example.com/a"
        );
        assert_eq!(
            r["facets"][1]["index"],
            json!({ "byteStart": 18, "byteEnd": 22 })
        );
        assert_eq!(r["facets"][1]["features"][0]["tag"], "tea");
        assert_eq!(r["facets"].as_array().unwrap().len(), 2, "no mention facet");
        assert_eq!(r["reply"]["parent"]["cid"], "c2");
        // A mention facet joins them in order of position.
        let r = with_facets(
            post_record(
                "@lily.test see https://example.com/a",
                "2026-11-30T08:00:00.000Z",
                None,
            ),
            &[Facet {
                range: 0..10,
                feature: Feature::Mention("did:plc:lily".into()),
            }],
        );
        assert_eq!(
            r["facets"][0]["index"],
            json!({ "byteStart": 0, "byteEnd": 10 })
        );
        assert_eq!(
            r["facets"][0]["features"][0],
            json!({ "$type": "app.bsky.richtext.facet#mention", "did": "did:plc:lily" })
        );
        assert_eq!(
            r["facets"][1]["features"][0]["uri"],
            "https://example.com/a"
        );
        assert_eq!(
            parse_at_uri("at://did:plc:x/app.bsky.feed.post/3k"),
            Some(("did:plc:x", "app.bsky.feed.post", "3k"))
        );
        assert_eq!(parse_at_uri("https://x"), None);
    }
}
