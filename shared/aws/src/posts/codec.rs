//! The item codec of PostsTable: domain values to DynamoDB attributes and back. Times
//! are RFC 3339 text (`created_at`, `updated_at`, `received_at`, `attempted_at`) or
//! Unix milliseconds (`lease_until`, `next_attempt_at`, `unconfirmed_since`) here and
//! typed everywhere else; a time that does not parse makes the item corrupt.

use super::intake::StoredAnswer;
use crate::attr::{n, s, Item, Reader};
use crate::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use crosspost_core::clock::{from_unix_ms, parse_rfc3339, rfc3339};
use crosspost_core::delivery::TakenFirstPart;
use crosspost_core::{
    keys, DeliveryKey, DeliveryRecord, IncomingTarget, LastError, MediaItem, Mentions, Overflow,
    PostId, PostRecord, PublishedPart, UploadedMedia,
};
use time::OffsetDateTime;

pub(super) fn overflow_name(o: Overflow) -> &'static str {
    match o {
        Overflow::Thread => "thread",
        Overflow::Truncate => "truncate",
        Overflow::Reject => "reject",
    }
}

pub(super) fn media_attr(media: &[MediaItem]) -> AttributeValue {
    AttributeValue::L(
        media
            .iter()
            .map(|m| {
                let mut item = Item::from([("url".to_owned(), s(&m.url))]);
                if let Some(alt) = &m.alt {
                    item.insert("alt".into(), s(alt));
                }
                if let Some(ct) = &m.content_type {
                    item.insert("content_type".into(), s(ct));
                }
                AttributeValue::M(item)
            })
            .collect(),
    )
}

/// The targets that carry their own text: `[{network, account_id?, text}]`.
pub(super) fn texts_attr(targets: &[IncomingTarget]) -> AttributeValue {
    AttributeValue::L(
        targets
            .iter()
            .filter_map(|t| {
                let text = t.text.as_ref()?;
                let mut item = Item::from([
                    ("network".to_owned(), s(t.network.as_str())),
                    ("text".to_owned(), s(text)),
                ]);
                if let Some(id) = &t.account_id {
                    item.insert("account_id".into(), s(id));
                }
                Some(AttributeValue::M(item))
            })
            .collect(),
    )
}

pub(super) fn read_answer(r: &Reader<'_>) -> Result<StoredAnswer, StoreError> {
    Ok(StoredAnswer {
        post_id: PostId::parse(&r.str("post_id")?).ok_or_else(|| r.corrupt("bad post_id"))?,
        status: r
            .opt_num("answer_status")?
            .ok_or_else(|| r.corrupt("answer_status missing"))?,
        body: r.str("answer")?,
    })
}

pub(super) fn error_attr(error: &LastError) -> AttributeValue {
    AttributeValue::M(Item::from([
        ("kind".to_owned(), s(error.kind.as_str())),
        ("message".to_owned(), s(&error.message)),
    ]))
}

/// One recorded part: `{index, remote_id, url?, attempted_at, media?}` (`media`: the
/// positions in the post's media the part carries, a list of numbers).
pub(super) fn part_attr(part: &PublishedPart) -> AttributeValue {
    let mut item = Item::from([
        ("index".to_owned(), n(part.index)),
        ("remote_id".to_owned(), s(&part.remote_id)),
        ("attempted_at".to_owned(), s(rfc3339(part.attempted_at))),
    ]);
    if !part.media.is_empty() {
        item.insert(
            "media".into(),
            AttributeValue::L(part.media.iter().map(|m| n(*m)).collect()),
        );
    }
    if let Some(url) = &part.url {
        item.insert("url".into(), s(url));
    }
    AttributeValue::M(item)
}

/// One upload for a part not confirmed yet: `{index, remote_id, uploaded_at}`.
pub(super) fn upload_attr(upload: &UploadedMedia) -> AttributeValue {
    let mut item = Item::from([
        ("index".to_owned(), n(upload.index)),
        ("remote_id".to_owned(), s(&upload.remote_id)),
        ("uploaded_at".to_owned(), s(rfc3339(upload.uploaded_at))),
    ]);
    if upload.processing {
        item.insert("processing".to_owned(), AttributeValue::Bool(true));
    }
    AttributeValue::M(item)
}

/// An RFC 3339 text attribute, required.
fn time_attr(r: &Reader<'_>, name: &str) -> Result<OffsetDateTime, StoreError> {
    parse_rfc3339(&r.str(name)?).map_err(|e| r.corrupt(format!("{name}: {e}")))
}

/// A Unix-milliseconds attribute, if present.
fn ms_attr(r: &Reader<'_>, name: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    Ok(r.opt_num::<i64>(name)?.map(from_unix_ms))
}

pub(super) fn delivery_key_attrs(post_id: &PostId, key: &DeliveryKey) -> Item {
    Item::from([
        ("pk".to_owned(), s(keys::post_pk(post_id))),
        (
            "sk".to_owned(),
            s(keys::delivery_sk(key.network, &key.account_id)),
        ),
    ])
}

pub(super) fn read_post(item: &Item) -> Result<PostRecord, StoreError> {
    let r = Reader::new(item);
    let media = r
        .list("media")?
        .iter()
        .map(|m| {
            let mr = Reader::new(m);
            Ok(MediaItem {
                url: mr.str("url")?,
                alt: mr.opt_str("alt")?,
                content_type: mr.opt_str("content_type")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let overflow = match r.opt_str("overflow")?.as_deref() {
        None | Some("thread") => Overflow::Thread,
        Some("truncate") => Overflow::Truncate,
        Some("reject") => Overflow::Reject,
        Some(other) => return Err(r.corrupt(format!("unknown overflow `{other}`"))),
    };
    let mentions = match r.opt_str("mentions")?.as_deref() {
        None | Some("plain") => Mentions::Plain,
        Some("keep") => Mentions::Keep,
        Some(other) => return Err(r.corrupt(format!("unknown mentions `{other}`"))),
    };
    let texts = r
        .list("texts")?
        .iter()
        .map(|t| {
            let tr = Reader::new(t);
            Ok(IncomingTarget {
                network: tr.parsed("network")?,
                account_id: tr.opt_str("account_id")?,
                text: Some(tr.str("text")?),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(PostRecord {
        post_id: PostId::parse(&r.str("post_id")?).ok_or_else(|| r.corrupt("bad post_id"))?,
        user_id: r.str("user_id")?,
        source_id: r.str("source_id")?,
        text: r.str("text")?,
        media,
        link: r.opt_str("link")?,
        overflow,
        created_at: r.opt_str("created_at")?,
        received_at: time_attr(&r, "received_at")?,
        mentions,
        texts,
    })
}

/// The attributes of a delivery item naming the first-part lease intake took for it
/// (see `TakenFirstPart`): the digest, and its expiry in Unix seconds.
pub(super) const FIRST_PART_DIGEST: &str = "first_part_digest";
pub(super) const FIRST_PART_EXPIRES_AT: &str = "first_part_expires_at";

/// The content a delivery item carries (see `intake::CONTENT`), if it does.
pub(super) fn read_content(item: &Item) -> Result<Option<Box<PostRecord>>, StoreError> {
    match item.get(super::intake::CONTENT) {
        None => Ok(None),
        Some(AttributeValue::M(content)) => read_post(content).map(|p| Some(Box::new(p))),
        Some(_) => Err(Reader::new(item).corrupt("`content` is not a map")),
    }
}

pub(super) fn read_delivery(item: &Item) -> Result<DeliveryRecord, StoreError> {
    let r = Reader::new(item);
    let parts = r
        .list("parts")?
        .iter()
        .map(|p| {
            let pr = Reader::new(p);
            Ok(PublishedPart {
                index: pr
                    .opt_num("index")?
                    .ok_or_else(|| r.corrupt("part without index"))?,
                remote_id: pr.str("remote_id")?,
                url: pr.opt_str("url")?,
                attempted_at: time_attr(&pr, "attempted_at")?,
                media: pr.num_list("media")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let uploads = r
        .list("uploads")?
        .iter()
        .map(|u| {
            let ur = Reader::new(u);
            Ok(UploadedMedia {
                index: ur
                    .opt_num("index")?
                    .ok_or_else(|| r.corrupt("upload without index"))?,
                remote_id: ur.str("remote_id")?,
                uploaded_at: time_attr(&ur, "uploaded_at")?,
                processing: ur.flag("processing")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let last_error = match item.get("last_error") {
        Some(AttributeValue::M(m)) => {
            let er = Reader::new(m);
            Some(LastError {
                kind: er
                    .str("kind")?
                    .parse()
                    .map_err(|e| r.corrupt(format!("last_error: {e}")))?,
                message: er.opt_str("message")?.unwrap_or_default(),
            })
        }
        _ => None,
    };
    Ok(DeliveryRecord {
        post_id: PostId::parse(&r.str("post_id")?).ok_or_else(|| r.corrupt("bad post_id"))?,
        user_id: r.str("user_id")?,
        network: r.parsed("network")?,
        account_id: r.str("account_id")?,
        status: r.parsed("status")?,
        attempts: r.opt_num("attempts")?.unwrap_or(0),
        lease_owner: r.opt_str("lease_owner")?,
        lease_until: ms_attr(&r, "lease_until")?,
        next_attempt_at: ms_attr(&r, "next_attempt_at")?,
        parts,
        uploads,
        remote_url: r.opt_str("remote_url")?,
        last_error,
        created_at: time_attr(&r, "created_at")?,
        updated_at: time_attr(&r, "updated_at")?,
        prev_status: r
            .opt_str("prev_status")?
            .map(|v| {
                v.parse()
                    .map_err(|e| r.corrupt(format!("prev_status: {e}")))
            })
            .transpose()?,
        unconfirmed_since: ms_attr(&r, "unconfirmed_since")?,
        first_part_taken: match r.opt_str(FIRST_PART_DIGEST)? {
            Some(digest) => {
                let at = r
                    .opt_num::<i64>(FIRST_PART_EXPIRES_AT)?
                    .ok_or_else(|| r.corrupt("first_part_digest without its expiry"))?;
                Some(TakenFirstPart {
                    digest,
                    expires_at: OffsetDateTime::from_unix_timestamp(at)
                        .map_err(|e| r.corrupt(format!("{FIRST_PART_EXPIRES_AT}: {e}")))?,
                })
            }
            None => None,
        },
    })
}
