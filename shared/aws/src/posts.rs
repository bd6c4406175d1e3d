//! PostsTable: posts and their deliveries (DESIGN section 3).

use crate::attr::{n, query_index, query_prefix, s, ConditionalUpdate, Item, Reader};
use crate::StoreError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use crosspost_core::{keys, DeliveryStatus, MediaItem, Network, Overflow, PostId, ValidatedPost};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

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

/// Everything a repeated request is recognised by.
#[derive(Debug, Clone)]
pub struct IntakeRecord {
    pub body_hash: String,
    pub answer: StoredAnswer,
    pub webhook_id: Option<String>,
    /// How long the writer holds the right to enqueue before a repeat may take it over.
    pub enqueue_lease_until: OffsetDateTime,
}

/// Which delivery of a post: one per network and linked account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    pub network: Network,
    pub account_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRecord {
    pub post_id: PostId,
    pub user_id: String,
    pub source_id: String,
    pub text: String,
    pub media: Vec<MediaItem>,
    pub link: Option<String>,
    pub overflow: Overflow,
    pub created_at: Option<String>,
    pub received_at: String,
}

/// One part of a post as the network confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPart {
    pub index: u32,
    pub remote_id: String,
    pub url: Option<String>,
    pub attempted_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    pub kind: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub post_id: PostId,
    pub user_id: String,
    pub network: Network,
    pub account_id: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
    /// When a waiting delivery is due again (Unix ms).
    pub next_attempt_ms: Option<i64>,
    pub parts: Vec<PublishedPart>,
    pub remote_url: Option<String>,
    pub last_error: Option<DeliveryError>,
    pub created_at: String,
    pub updated_at: String,
    /// The status before the latest claim: UNCERTAIN, or PUBLISHING with a lease that
    /// ran out, means the previous attempt's outcome is unknown.
    pub prev_status: Option<DeliveryStatus>,
    /// Since when (Unix ms) the next unconfirmed part may have been sent: set by the
    /// first claim after the last confirmed part, kept through every later attempt until
    /// a part is confirmed. A post we may have made is no older than this.
    pub unconfirmed_since_ms: Option<i64>,
}

impl DeliveryRecord {
    /// The previous attempt may have published without our knowing: look before
    /// publishing again.
    pub fn needs_reconcile(&self) -> bool {
        matches!(
            self.prev_status,
            Some(DeliveryStatus::Uncertain) | Some(DeliveryStatus::Publishing)
        )
    }
}

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// The caller now holds the lease on this delivery.
    Claimed(DeliveryRecord),
    /// Someone else holds it, it is not due yet, or it is already terminal.
    NotClaimable(Option<DeliveryRecord>),
}

#[derive(Clone, Debug)]
pub struct PostsStore {
    client: Client,
    table: String,
}

/// How long a webhook id is remembered (the replay window).
const WEBHOOK_ID_MEMORY: time::Duration = time::Duration::hours(24);

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn overflow_name(o: Overflow) -> &'static str {
    match o {
        Overflow::Thread => "thread",
        Overflow::Truncate => "truncate",
        Overflow::Reject => "reject",
    }
}

fn media_attr(media: &[MediaItem]) -> AttributeValue {
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

fn read_answer(r: &Reader<'_>) -> Result<StoredAnswer, StoreError> {
    Ok(StoredAnswer {
        post_id: PostId::parse(&r.str("post_id")?).ok_or_else(|| r.corrupt("bad post_id"))?,
        status: r
            .opt_num("answer_status")?
            .ok_or_else(|| r.corrupt("answer_status missing"))?,
        body: r.str("answer")?,
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The index of deliveries by linked account, and the attribute it is keyed on.
pub const ACCOUNT_DELIVERIES_INDEX: &str = "AccountDeliveries";
const ACCOUNT_REF: &str = "account_ref";

/// A delivery's `last_error` as stored: `{kind, message}`.
fn error_attr(error: &DeliveryError) -> AttributeValue {
    AttributeValue::M(Item::from([
        ("kind".to_owned(), s(&error.kind)),
        ("message".to_owned(), s(&error.message)),
    ]))
}

fn delivery_key_attrs(post_id: &PostId, key: &DeliveryKey) -> Item {
    Item::from([
        ("pk".to_owned(), s(keys::post_pk(post_id))),
        (
            "sk".to_owned(),
            s(keys::delivery_sk(key.network, &key.account_id)),
        ),
    ])
}

impl PostsStore {
    /// An UpdateItem of a PUBLISHING delivery that holds only while `owner` still holds
    /// its lease: every write after a claim goes through here. `#status` is bound.
    fn update_leased(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        owner: &str,
    ) -> UpdateItemFluentBuilder {
        self.update_delivery(post_id, key)
            .condition_expression("#status = :publishing AND lease_owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":publishing", s(DeliveryStatus::Publishing.as_str()))
            .expression_attribute_values(":owner", s(owner))
    }

    /// An UpdateItem of one delivery, its table and key set.
    fn update_delivery(&self, post_id: &PostId, key: &DeliveryKey) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key_attrs(post_id, key)))
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        PostsStore {
            client,
            table: table.into(),
        }
    }

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
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::Backend {
                    service: "dynamodb",
                    detail: e.to_string(),
                })?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
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
            items.push(put(hook)?);
        }
        for key in deliveries {
            let mut item = delivery_key_attrs(&post.post_id, key);
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
            items.push(put(item)?);
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| {
                let e = e.into_service_error();
                if e.is_transaction_canceled_exception() {
                    StoreError::Conflict(format!("source post {} is already recorded", c.source_id))
                } else {
                    StoreError::backend("dynamodb", e)
                }
            })?;
        Ok(())
    }

    /// The answer first given for a webhook id, if that id was seen in the last 24 h.
    pub async fn webhook_answer(
        &self,
        webhook_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<StoredAnswer>, StoreError> {
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
        Ok(Some(read_answer(&r)?))
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

    /// Moves a delivery from one of `from` to `to`, resetting what a fresh start needs
    /// (attempts, due time, lease) when `reset_attempts`. False when the delivery was not
    /// in one of `from`.
    pub async fn transition(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        from: &[DeliveryStatus],
        to: DeliveryStatus,
        reset_attempts: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let placeholders: Vec<String> = (0..from.len()).map(|i| format!(":from{i}")).collect();
        let mut update = self
            .update_delivery(post_id, key)
            .condition_expression(format!(
                "attribute_exists(pk) AND #status IN ({})",
                placeholders.join(", ")
            ))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":now", s(rfc3339(now)));
        for (p, st) in placeholders.iter().zip(from) {
            update = update.expression_attribute_values(p, s(st.as_str()));
        }
        let expr = if reset_attempts {
            update = update.expression_attribute_values(":zero", n(0));
            "SET #status = :to, updated_at = :now, attempts = :zero \
             REMOVE next_attempt_at, lease_owner, lease_until"
        } else {
            "SET #status = :to, updated_at = :now"
        };
        update.update_expression(expr).send().await.held()
    }

    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::backend("dynamodb", e.into_service_error()))?;
        Ok(out.item)
    }

    pub async fn get_post(&self, post_id: &PostId) -> Result<Option<PostRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::post_pk(post_id)))
            .key("sk", s(keys::POST_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::backend("dynamodb", e.into_service_error()))?;
        out.item().map(read_post).transpose()
    }

    pub async fn get_delivery(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key_attrs(post_id, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::backend("dynamodb", e.into_service_error()))?;
        out.item().map(read_delivery).transpose()
    }

    /// Every delivery of a post, ordered by network and account.
    pub async fn deliveries(&self, post_id: &PostId) -> Result<Vec<DeliveryRecord>, StoreError> {
        query_prefix(
            &self.client,
            &self.table,
            keys::post_pk(post_id),
            keys::DELIVERY_SK_PREFIX,
        )
        .await?
        .iter()
        .map(read_delivery)
        .collect()
    }

    /// Takes the lease on a delivery: it must be claimable and due, or PUBLISHING with a
    /// lease that has run out. One conditional write, so two workers never both win.
    pub async fn claim(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        owner: &str,
        lease_until_ms: i64,
        now: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let result = self
            .update_delivery(post_id, key)
            .update_expression(
                "SET prev_status = #status, \
                 unconfirmed_since = if_not_exists(unconfirmed_since, :now_ms), \
                 #status = :publishing, lease_owner = :owner, lease_until = :until, \
                 attempts = if_not_exists(attempts, :zero) + :one, updated_at = :now",
            )
            .condition_expression(
                "attribute_exists(pk) AND ( \
                   (#status IN (:pending, :retrying, :uncertain) \
                     AND (attribute_not_exists(next_attempt_at) OR next_attempt_at <= :now_ms)) \
                   OR (#status = :publishing AND lease_until < :now_ms))",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":publishing", s(DeliveryStatus::Publishing.as_str()))
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":retrying", s(DeliveryStatus::Retrying.as_str()))
            .expression_attribute_values(":uncertain", s(DeliveryStatus::Uncertain.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(lease_until_ms))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":now_ms", n(now_ms))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        self.claim_outcome(result, post_id, key).await
    }

    /// A claim's write turned into what the caller sees: the claimed delivery, or (the
    /// condition failed) the delivery as it stands.
    async fn claim_outcome(
        &self,
        result: Result<
            aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
            aws_sdk_dynamodb::error::SdkError<
                aws_sdk_dynamodb::operation::update_item::UpdateItemError,
            >,
        >,
        post_id: &PostId,
        key: &DeliveryKey,
    ) -> Result<Claim, StoreError> {
        match result {
            Ok(out) => match out.attributes() {
                Some(item) => Ok(Claim::Claimed(read_delivery(item)?)),
                None => Err(StoreError::Backend {
                    service: "dynamodb",
                    detail: "claim returned no attributes".into(),
                }),
            },
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Ok(Claim::NotClaimable(self.get_delivery(post_id, key).await?))
                } else {
                    Err(StoreError::backend("dynamodb", e))
                }
            }
        }
    }

    /// Takes the lease on a DELETING delivery whose lease is free or ran out.
    pub async fn claim_delete(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        owner: &str,
        lease_until_ms: i64,
        now: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        let result = self.update_delivery(post_id, key)
            .update_expression("SET lease_owner = :owner, lease_until = :until, updated_at = :now")
            .condition_expression(
                "#status = :deleting AND (attribute_not_exists(lease_until) OR lease_until < :now_ms)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":deleting", s(DeliveryStatus::Deleting.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(lease_until_ms))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":now_ms", n(unix_ms(now)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        self.claim_outcome(result, post_id, key).await
    }

    /// Ends a delete attempt held by `owner`: the delivery takes `status` (DELETED when
    /// done, DELETING to try again, PUBLISHED when the network refused for good), with
    /// the error kept when there is one.
    pub async fn finish_delete(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        owner: &str,
        status: DeliveryStatus,
        error: Option<&DeliveryError>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut update = self
            .update_delivery(post_id, key)
            .condition_expression("#status = :deleting AND lease_owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":deleting", s(DeliveryStatus::Deleting.as_str()))
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":now", s(rfc3339(now)));
        let expr = match error {
            Some(error) => {
                update = update.expression_attribute_values(":err", error_attr(error));
                "SET #status = :status, last_error = :err, updated_at = :now \
                 REMOVE lease_owner, lease_until"
            }
            None => {
                "SET #status = :status, updated_at = :now \
                 REMOVE lease_owner, lease_until, last_error"
            }
        };
        update
            .update_expression(expr)
            .send()
            .await
            .or_conflict("lease lost")?;
        Ok(())
    }

    /// Records one confirmed part, before the next is sent, if `owner` still holds the
    /// lease: a retry resumes after the last part recorded here.
    pub async fn record_part(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        owner: &str,
        part: &PublishedPart,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut item = Item::from([
            ("index".to_owned(), n(part.index)),
            ("remote_id".to_owned(), s(&part.remote_id)),
            ("attempted_at".to_owned(), s(&part.attempted_at)),
        ]);
        if let Some(url) = &part.url {
            item.insert("url".into(), s(url));
        }
        self.update_leased(post_id, key, owner)
            .update_expression(
                // The next part's uncertainty starts now.
                "SET parts = list_append(if_not_exists(parts, :empty), :part), \
                 unconfirmed_since = :now_ms, updated_at = :now",
            )
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":part", AttributeValue::L(vec![AttributeValue::M(item)]))
            .expression_attribute_values(":now_ms", n(unix_ms(now)))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .send()
            .await
            .or_conflict("lease lost")?;
        Ok(())
    }

    /// Marks the delivery PUBLISHED (its parts are recorded already), if `owner` still
    /// holds the lease.
    pub async fn mark_published(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        owner: &str,
        remote_url: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut update = self
            .update_leased(post_id, key, owner)
            .expression_attribute_values(":published", s(DeliveryStatus::Published.as_str()))
            .expression_attribute_values(":now", s(rfc3339(now)));
        let mut set = "SET #status = :published, updated_at = :now".to_owned();
        if let Some(url) = remote_url {
            set.push_str(", remote_url = :url");
            update = update.expression_attribute_values(":url", s(url));
        }
        update
            .update_expression(format!(
                "{set} REMOVE lease_owner, lease_until, next_attempt_at, last_error, unconfirmed_since"
            ))
            .send()
            .await
            .or_conflict("lease lost")?;
        Ok(())
    }

    /// Gives the lease back without counting the attempt: the delivery waits (for a
    /// rate limit) in `status` until `until_ms`.
    pub async fn defer(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        owner: &str,
        status: DeliveryStatus,
        until_ms: i64,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.update_leased(post_id, key, owner)
            .update_expression(
                "SET #status = :status, next_attempt_at = :until, attempts = attempts - :one, \
                 updated_at = :now \
                 REMOVE lease_owner, lease_until",
            )
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .send()
            .await
            .or_conflict("lease lost")?;
        Ok(())
    }

    /// The deliveries of one linked account that have not ended: waiting (PENDING,
    /// RETRYING, UNCERTAIN) or PUBLISHING. Read from the `AccountDeliveries` index, so
    /// a delivery created a moment ago may be missing; the worker fails those itself
    /// when it finds the account gone.
    pub async fn open_deliveries_of(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Result<Vec<(PostId, DeliveryKey)>, StoreError> {
        let items = query_index(
            &self.client,
            &self.table,
            ACCOUNT_DELIVERIES_INDEX,
            ACCOUNT_REF,
            &keys::delivery_account_ref(user_id, network, account_id),
        )
        .await?;
        let mut open = Vec::new();
        for item in &items {
            let r = Reader::new(item);
            let status: DeliveryStatus = r.parsed("status")?;
            if status.is_terminal() {
                continue;
            }
            let post_id = r
                .str("pk")?
                .strip_prefix("POST#")
                .and_then(PostId::parse)
                .ok_or_else(|| r.corrupt("pk is not POST#<post id>"))?;
            open.push((
                post_id,
                DeliveryKey {
                    network,
                    account_id: account_id.to_owned(),
                },
            ));
        }
        Ok(open)
    }

    /// Ends a delivery whose account was unlinked: FAILED with `error`, when it is
    /// waiting (PENDING, RETRYING, UNCERTAIN) or PUBLISHING with a lease that ran out.
    /// A live lease is left to its worker, which finds the account gone. The delivery
    /// as it ended, or None when it was not failed here.
    pub async fn fail_waiting(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        error: &DeliveryError,
        now: OffsetDateTime,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        let result = self
            .update_delivery(post_id, key)
            .condition_expression(
                "attribute_exists(pk) AND (#status IN (:pending, :retrying, :uncertain) \
                 OR (#status = :publishing AND lease_until < :now_ms))",
            )
            .update_expression(
                "SET #status = :failed, last_error = :err, updated_at = :now \
                 REMOVE lease_owner, lease_until, next_attempt_at",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":retrying", s(DeliveryStatus::Retrying.as_str()))
            .expression_attribute_values(":uncertain", s(DeliveryStatus::Uncertain.as_str()))
            .expression_attribute_values(":publishing", s(DeliveryStatus::Publishing.as_str()))
            .expression_attribute_values(":failed", s(DeliveryStatus::Failed.as_str()))
            .expression_attribute_values(":now_ms", n(now_ms))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":err", error_attr(error))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes().map(read_delivery).transpose(),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Ok(None)
                } else {
                    Err(StoreError::backend("dynamodb", e))
                }
            }
        }
    }

    /// Gives the lease back after a failure: the delivery takes `status` (RETRYING or
    /// UNCERTAIN when it will be tried again, FAILED or NEEDS_REAUTH when it ends), with
    /// the error kept and, for a retry, the time it is due again.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_failure(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        owner: &str,
        status: DeliveryStatus,
        error: &DeliveryError,
        next_attempt_ms: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut update = self
            .update_leased(post_id, key, owner)
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":err", error_attr(error))
            .expression_attribute_values(":now", s(rfc3339(now)));
        let expr = match next_attempt_ms {
            Some(at) => {
                update = update.expression_attribute_values(":next", n(at));
                "SET #status = :status, last_error = :err, next_attempt_at = :next, \
                 updated_at = :now REMOVE lease_owner, lease_until"
            }
            None => {
                "SET #status = :status, last_error = :err, updated_at = :now \
                 REMOVE lease_owner, lease_until, next_attempt_at"
            }
        };
        update
            .update_expression(expr)
            .send()
            .await
            .or_conflict("lease lost")?;
        Ok(())
    }
}

fn read_post(item: &Item) -> Result<PostRecord, StoreError> {
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
    Ok(PostRecord {
        post_id: PostId::parse(&r.str("post_id")?).ok_or_else(|| r.corrupt("bad post_id"))?,
        user_id: r.str("user_id")?,
        source_id: r.str("source_id")?,
        text: r.str("text")?,
        media,
        link: r.opt_str("link")?,
        overflow,
        created_at: r.opt_str("created_at")?,
        received_at: r.str("received_at")?,
    })
}

fn read_delivery(item: &Item) -> Result<DeliveryRecord, StoreError> {
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
                attempted_at: pr.opt_str("attempted_at")?.unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let last_error = match item.get("last_error") {
        Some(AttributeValue::M(m)) => {
            let er = Reader::new(m);
            Some(DeliveryError {
                kind: er.str("kind")?,
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
        lease_until_ms: r.opt_num("lease_until")?,
        next_attempt_ms: r.opt_num("next_attempt_at")?,
        parts,
        remote_url: r.opt_str("remote_url")?,
        last_error,
        created_at: r.opt_str("created_at")?.unwrap_or_default(),
        updated_at: r.opt_str("updated_at")?.unwrap_or_default(),
        prev_status: r
            .opt_str("prev_status")?
            .map(|v| {
                v.parse()
                    .map_err(|e| r.corrupt(format!("prev_status: {e}")))
            })
            .transpose()?,
        unconfirmed_since_ms: r.opt_num("unconfirmed_since")?,
    })
}
