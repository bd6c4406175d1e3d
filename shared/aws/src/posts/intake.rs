//! Intake: the post, its source-id guard, its PENDING deliveries and the webhook id,
//! written together, and what a repeated request is recognised by.

use super::codec::{
    delivery_key_attrs, media_attr, overflow_name, read_answer, texts_attr, FIRST_PART_DIGEST,
    FIRST_PART_EXPIRES_AT,
};
use super::{PostsStore, ACCOUNT_REF, WEBHOOK_ID_MEMORY};
use crate::attr::{cancellation_code, n, s, ConditionalUpdate, Item, Reader};
use crate::StoreError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use crosspost_core::clock::{rfc3339, unix_ms};
use crosspost_core::delivery::{first_part_digest, rules};
use crosspost_core::preview::adapt;
use crosspost_core::{keys, DeliveryKey, DeliveryStatus, Network, PostId, ValidatedPost};
use std::collections::HashMap;
use time::OffsetDateTime;

/// The attribute of a delivery item that carries what it publishes: a map shaped as
/// the post item, with the delivery's own text and no `texts`.
pub(super) const CONTENT: &str = "content";

/// Content larger than this is not copied into the delivery items (the worker reads
/// the post instead). DynamoDB bills every write of an item by the item's whole size,
/// 1 KB a unit: a copy that took the delivery item over 1 KB would make its intake,
/// its claim and each recorded part cost more write units than the one read (up to
/// 4 KB a unit, a fifth of a write's price) it saves. So only content that keeps the
/// item within a unit is copied: a Chinese post of 140 characters with a link is.
const EMBEDDED_CONTENT_MAX_BYTES: usize = 600;

/// About how many bytes the content takes in an item (the texts, media and link).
fn content_size(c: &ValidatedPost) -> usize {
    let targets = c.targets.as_deref().unwrap_or_default();
    let own_texts = targets.iter().filter_map(|t| t.text.as_ref());
    own_texts.map(String::len).fold(c.text.len(), usize::max)
        + c.link.as_ref().map_or(0, String::len)
        + c.media
            .iter()
            .map(|m| {
                m.url.len()
                    + m.alt.as_ref().map_or(0, String::len)
                    + m.content_type.as_ref().map_or(0, String::len)
            })
            .sum::<usize>()
}

/// The most items one TransactWriteItems takes.
const TRANSACTION_MAX_ITEMS: usize = 100;

/// A first-part lease taken in the intake transaction for a delivery whose first part
/// is known from its text (see `DeliveryStore::take_first_part_lease`): the worker then
/// sends its first part without taking it. Free when no other post's delivery holds it
/// (the common case), otherwise the delivery takes it when it publishes.
struct FirstPartAtIntake {
    /// Position of the delivery in the transaction's deliveries.
    delivery: usize,
    item: Item,
}

/// The digest of the first part a delivery to `network` sends with `text`, when the
/// text gives one: the first of the network's parts (media only ever add parts after
/// it).
fn first_part_of(c: &ValidatedPost, text: &str, network: Network) -> Option<String> {
    let link = c.link.as_deref();
    let parts = adapt(
        network,
        text,
        link,
        !c.media.is_empty(),
        c.overflow,
        c.mentions,
    )
    .ok()?;
    parts.first().map(|p| first_part_digest(&p.text))
}

/// A post as the webhook accepted it, ready to be written.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub post_id: PostId,
    pub content: ValidatedPost,
    pub received_at: OffsetDateTime,
}

/// What the webhook answered when it accepted a post, kept so that a repeated request
/// gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub post_id: PostId,
    pub status: u16,
    pub body: String,
}

/// The source-id guard: one per user and source post, holding a hash of the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceGuard {
    pub answer: StoredAnswer,
    pub body_hash: String,
    /// True once every delivery message was queued.
    pub enqueued: bool,
}

/// A webhook id seen before: the answer of the post it brought (none when it signed
/// another route), and the digest of the body it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUse {
    pub answer: Option<StoredAnswer>,
    pub request_hash: Option<String>,
}

/// Everything a repeated request is recognised by.
#[derive(Debug, Clone)]
pub struct IntakeRecord {
    pub body_hash: String,
    pub answer: StoredAnswer,
    pub webhook_id: Option<String>,
    /// A digest of the raw request body ([`crosspost_core::signing::body_digest`]),
    /// kept with the webhook id: the same id with another body is a conflict.
    pub request_hash: Option<String>,
    /// How long the writer holds the right to enqueue before a repeat may take it over.
    pub enqueue_lease_until: OffsetDateTime,
}

impl PostsStore {
    /// Writes, in one transaction, the post, the source-id guard, one PENDING delivery
    /// per key and the webhook id: either all of them exist afterwards or none does.
    /// A `Conflict` means the guard or the webhook id existed already (or a concurrent
    /// request is writing them): read them to find the first answer.
    pub async fn create_post(
        &self,
        post: &NewPost,
        deliveries: &[DeliveryKey],
        intake: &IntakeRecord,
    ) -> Result<(), StoreError> {
        let now = rfc3339(post.received_at);
        let c = &post.content;
        let put_if = |item: Item, condition: &str, now: Option<i64>| {
            let mut put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition);
            if let Some(now) = now {
                put = put.expression_attribute_values(":now", n(now));
            }
            let put = put.build().map_err(crate::backend_build)?;
            Ok::<_, StoreError>(TransactWriteItem::builder().put(put).build())
        };
        let put = |item: Item| put_if(item, "attribute_not_exists(pk)", None);
        let mut post_item = Item::from([
            ("pk".to_owned(), s(keys::post_pk(&post.post_id))),
            ("sk".to_owned(), s(keys::POST_SK)),
            ("post_id".to_owned(), s(post.post_id.as_str())),
            ("user_id".to_owned(), s(&c.user_id)),
            ("source_id".to_owned(), s(&c.source_id)),
            ("text".to_owned(), s(&c.text)),
            ("media".to_owned(), media_attr(&c.media)),
            ("overflow".to_owned(), s(overflow_name(c.overflow))),
            ("received_at".to_owned(), s(&now)),
        ]);
        if let Some(link) = &c.link {
            post_item.insert("link".into(), s(link));
        }
        if !c.mentions.is_plain() {
            post_item.insert("mentions".into(), s(c.mentions.as_str()));
        }
        let targets = c.targets.as_deref().unwrap_or_default();
        if targets.iter().any(|t| t.text.is_some()) {
            post_item.insert("texts".into(), texts_attr(targets));
        }
        if let Some(created) = &c.created_at {
            post_item.insert("created_at".into(), s(created));
        }
        let answer_attrs = |item: &mut Item| {
            item.insert("post_id".into(), s(intake.answer.post_id.as_str()));
            item.insert("answer_status".into(), n(intake.answer.status));
            item.insert("answer".into(), s(&intake.answer.body));
        };
        let mut guard = Item::from([
            (
                "pk".to_owned(),
                s(keys::source_pk(&c.user_id, &c.source_id)),
            ),
            ("sk".to_owned(), s(keys::SOURCE_SK)),
            ("body_hash".to_owned(), s(&intake.body_hash)),
            ("enqueued".to_owned(), AttributeValue::Bool(false)),
            (
                "enqueue_lease_until".to_owned(),
                n(unix_ms(intake.enqueue_lease_until)),
            ),
        ]);
        answer_attrs(&mut guard);
        let mut content = post_item.clone();
        let mut items = vec![put(post_item)?, put(guard)?];
        if let Some(id) = &intake.webhook_id {
            let mut hook = Item::from([
                ("pk".to_owned(), s(keys::webhook_pk(id))),
                ("sk".to_owned(), s(keys::WEBHOOK_SK)),
                (
                    "expires_at".to_owned(),
                    n((post.received_at + WEBHOOK_ID_MEMORY).unix_timestamp()),
                ),
            ]);
            answer_attrs(&mut hook);
            if let Some(h) = &intake.request_hash {
                hook.insert("request_hash".into(), s(h));
            }
            // A webhook id is remembered 24 h; TTL deletes an expired one lazily.
            items.push(put_if(
                hook,
                "attribute_not_exists(pk) OR expires_at <= :now",
                Some(post.received_at.unix_timestamp()),
            )?);
        }
        // What a delivery publishes, carried in its item so the worker's claim returns
        // it and no post read is needed: the post's fields with the delivery's own text
        // (see `text_for`), when small enough for every delivery to carry a copy.
        for attr in ["pk", "sk", "texts"] {
            content.remove(attr);
        }
        let embed = content_size(c) <= EMBEDDED_CONTENT_MAX_BYTES;
        // The first-part leases taken with the items (see `FirstPartAtIntake`), as many
        // as the transaction's 100 items leave room for.
        let room = TRANSACTION_MAX_ITEMS.saturating_sub(items.len() + deliveries.len());
        let lease_expires_at = rules::first_part_lease_expires_at(
            post.received_at,
            crosspost_core::retry::RetryPolicy::default().max_age,
        )
        .unix_timestamp();
        let mut delivery_items = Vec::with_capacity(deliveries.len());
        let mut leases = Vec::new();
        // Many accounts of one network mostly share a text: adapted once.
        let mut digests: HashMap<(Network, &str), Option<String>> = HashMap::new();
        for key in deliveries {
            let mut item = delivery_key_attrs(&post.post_id, key);
            let text = crosspost_core::text_for(&c.text, targets, key.network, &key.account_id);
            if embed {
                let mut content = content.clone();
                content.insert("text".into(), s(text));
                item.insert(CONTENT.into(), AttributeValue::M(content));
            }
            let first_part = if leases.len() < room {
                digests
                    .entry((key.network, text))
                    .or_insert_with(|| first_part_of(c, text, key.network))
                    .clone()
            } else {
                None
            };
            if let Some(digest) = first_part {
                item.insert(FIRST_PART_DIGEST.into(), s(&digest));
                item.insert(FIRST_PART_EXPIRES_AT.into(), n(lease_expires_at));
                leases.push(Some(FirstPartAtIntake {
                    delivery: delivery_items.len(),
                    item: Item::from([
                        (
                            "pk".to_owned(),
                            s(keys::first_part_pk(key.network, &key.account_id, &digest)),
                        ),
                        ("sk".to_owned(), s(keys::FIRST_PART_SK)),
                        ("post_id".to_owned(), s(post.post_id.as_str())),
                        ("expires_at".to_owned(), n(lease_expires_at)),
                    ]),
                }));
            }
            item.extend([
                ("post_id".to_owned(), s(post.post_id.as_str())),
                ("user_id".to_owned(), s(&c.user_id)),
                ("network".to_owned(), s(key.network.as_str())),
                ("account_id".to_owned(), s(&key.account_id)),
                (
                    ACCOUNT_REF.to_owned(),
                    s(keys::delivery_account_ref(
                        &c.user_id,
                        key.network,
                        &key.account_id,
                    )),
                ),
                ("status".to_owned(), s(DeliveryStatus::Pending.as_str())),
                ("attempts".to_owned(), n(0)),
                ("created_at".to_owned(), s(&now)),
                ("updated_at".to_owned(), s(&now)),
            ]);
            delivery_items.push(item);
        }
        let received = post.received_at.unix_timestamp();
        // A lease another post holds cancels the transaction: it is written again
        // without that lease (the delivery takes it when it publishes). Each round drops
        // at least one, so this ends.
        loop {
            let mut all = items.clone();
            for (i, item) in delivery_items.iter().enumerate() {
                let mut item = item.clone();
                if !leases.iter().flatten().any(|l| l.delivery == i) {
                    item.remove(FIRST_PART_DIGEST);
                    item.remove(FIRST_PART_EXPIRES_AT);
                }
                all.push(put(item)?);
            }
            let first_lease = all.len();
            for lease in leases.iter().flatten() {
                all.push(put_if(
                    lease.item.clone(),
                    "attribute_not_exists(pk) OR expires_at <= :now",
                    Some(received),
                )?);
            }
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(all))
                .send()
                .await;
            let Err(e) = result else {
                return Ok(());
            };
            let e = e.into_service_error();
            let TransactWriteItemsError::TransactionCanceledException(cancelled) = &e else {
                return Err(crate::backend("dynamodb", e));
            };
            let failed = |i: usize| cancellation_code(cancelled, i).is_some_and(|c| c != "None");
            let others_failed = (0..first_lease).any(failed);
            let mut dropped = false;
            let still_taken = leases.iter_mut().filter(|l| l.is_some());
            for (at, lease) in (first_lease..).zip(still_taken) {
                if failed(at) {
                    *lease = None;
                    dropped = true;
                }
            }
            if others_failed || !dropped {
                return Err(StoreError::Conflict(format!(
                    "source post {} is already recorded",
                    c.source_id
                )));
            }
            tracing::info!("a first-part lease is held by another post; written without it");
        }
    }

    /// How a webhook id was used in the last 24 h, if it was.
    pub async fn webhook_use(
        &self,
        webhook_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<WebhookUse>, StoreError> {
        let Some(item) = self
            .get_item(keys::webhook_pk(webhook_id), keys::WEBHOOK_SK)
            .await?
        else {
            return Ok(None);
        };
        let r = Reader::new(&item);
        // TTL deletion is lazy: an expired item may still be there.
        if r.opt_num::<i64>("expires_at")?
            .is_some_and(|t| t <= now.unix_timestamp())
        {
            return Ok(None);
        }
        let answer = match item.contains_key("post_id") {
            true => Some(read_answer(&r)?),
            false => None,
        };
        Ok(Some(WebhookUse {
            answer,
            request_hash: r.opt_str("request_hash")?,
        }))
    }

    /// Claims a webhook id for one signed request other than a post's intake: true
    /// the first time in 24 h, false when the id was used already (a replay).
    pub async fn claim_webhook_id(
        &self,
        webhook_id: &str,
        request_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::webhook_pk(webhook_id)))
            .item("sk", s(keys::WEBHOOK_SK))
            .item("request_hash", s(request_hash))
            .item("expires_at", n((now + WEBHOOK_ID_MEMORY).unix_timestamp()))
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .send()
            .await
            .held()
    }

    /// The guard of a user's source post, if that post was accepted before.
    pub async fn source_guard(
        &self,
        user_id: &str,
        source_id: &str,
    ) -> Result<Option<SourceGuard>, StoreError> {
        let Some(item) = self
            .get_item(keys::source_pk(user_id, source_id), keys::SOURCE_SK)
            .await?
        else {
            return Ok(None);
        };
        let r = Reader::new(&item);
        Ok(Some(SourceGuard {
            answer: read_answer(&r)?,
            body_hash: r.str("body_hash")?,
            enqueued: matches!(item.get("enqueued"), Some(AttributeValue::Bool(true))),
        }))
    }

    /// Takes over the right to enqueue a post's deliveries, when the request that wrote
    /// it has not confirmed its messages and its lease ran out. True when taken.
    pub async fn take_enqueue_lease(
        &self,
        user_id: &str,
        source_id: &str,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::source_pk(user_id, source_id)))
            .key("sk", s(keys::SOURCE_SK))
            .update_expression("SET enqueue_lease_until = :until")
            .condition_expression(
                "attribute_exists(pk) AND enqueued = :false AND enqueue_lease_until < :now",
            )
            .expression_attribute_values(":until", n(unix_ms(until)))
            .expression_attribute_values(":now", n(unix_ms(now)))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        result.held()
    }

    /// Records that every delivery message of the source post is queued.
    pub async fn mark_enqueued(&self, user_id: &str, source_id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::source_pk(user_id, source_id)))
            .key("sk", s(keys::SOURCE_SK))
            .update_expression("SET enqueued = :true REMOVE enqueue_lease_until")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await
            .or_conflict("guard missing")?;
        Ok(())
    }
}
