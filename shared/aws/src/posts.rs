//! PostsTable: posts and their deliveries (DESIGN section 3).

use crate::attr::{n, s, Item, Reader};
use crate::StoreError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use crosspost_core::{keys, DeliveryStatus, Network, PostId};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A post as the webhook accepted it, ready to be written.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub post_id: PostId,
    pub user_id: String,
    pub source_id: String,
    pub text: String,
    pub received_at: OffsetDateTime,
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
    pub received_at: String,
}

/// One part of a post as the network confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPart {
    pub index: u32,
    pub remote_id: String,
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
    pub parts: Vec<PublishedPart>,
    pub remote_url: Option<String>,
    pub last_error: Option<DeliveryError>,
    pub updated_at: String,
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

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
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
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        PostsStore {
            client,
            table: table.into(),
        }
    }

    /// Writes the post and one PENDING delivery per key in one transaction: either all
    /// of them exist afterwards or none does.
    pub async fn create_post(
        &self,
        post: &NewPost,
        deliveries: &[DeliveryKey],
    ) -> Result<(), StoreError> {
        let now = rfc3339(post.received_at);
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
        let mut items = vec![put(Item::from([
            ("pk".to_owned(), s(keys::post_pk(&post.post_id))),
            ("sk".to_owned(), s(keys::POST_SK)),
            ("post_id".to_owned(), s(post.post_id.as_str())),
            ("user_id".to_owned(), s(&post.user_id)),
            ("source_id".to_owned(), s(&post.source_id)),
            ("text".to_owned(), s(&post.text)),
            ("received_at".to_owned(), s(&now)),
        ]))?];
        for key in deliveries {
            let mut item = delivery_key_attrs(&post.post_id, key);
            item.extend([
                ("post_id".to_owned(), s(post.post_id.as_str())),
                ("user_id".to_owned(), s(&post.user_id)),
                ("network".to_owned(), s(key.network.as_str())),
                ("account_id".to_owned(), s(&key.account_id)),
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
                    StoreError::Conflict(format!("post {} already exists", post.post_id))
                } else {
                    StoreError::backend("dynamodb", e)
                }
            })?;
        Ok(())
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
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(keys::post_pk(post_id)))
                .expression_attribute_values(":prefix", s(keys::DELIVERY_SK_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::backend("dynamodb", e.into_service_error()))?;
            for item in out.items() {
                found.push(read_delivery(item)?);
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(found)
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
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key_attrs(post_id, key)))
            .update_expression(
                "SET #status = :publishing, lease_owner = :owner, lease_until = :until, \
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

    /// Records the confirmed parts and marks the delivery PUBLISHED, if `owner` still
    /// holds the lease.
    pub async fn mark_published(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        owner: &str,
        parts: &[PublishedPart],
        remote_url: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let parts_attr = AttributeValue::L(
            parts
                .iter()
                .map(|p| {
                    AttributeValue::M(Item::from([
                        ("index".to_owned(), n(p.index)),
                        ("remote_id".to_owned(), s(&p.remote_id)),
                        ("attempted_at".to_owned(), s(&p.attempted_at)),
                    ]))
                })
                .collect(),
        );
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key_attrs(post_id, key)))
            .condition_expression("#status = :publishing AND lease_owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":publishing", s(DeliveryStatus::Publishing.as_str()))
            .expression_attribute_values(":published", s(DeliveryStatus::Published.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":parts", parts_attr)
            .expression_attribute_values(":now", s(rfc3339(now)));
        let mut set = "SET #status = :published, parts = :parts, updated_at = :now".to_owned();
        if let Some(url) = remote_url {
            set.push_str(", remote_url = :url");
            update = update.expression_attribute_values(":url", s(url));
        }
        update
            .update_expression(format!(
                "{set} REMOVE lease_owner, lease_until, next_attempt_at, last_error"
            ))
            .send()
            .await
            .map_err(|e| conflict_or_backend(e.into_service_error(), "lease lost"))?;
        Ok(())
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
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key_attrs(post_id, key)))
            .condition_expression("#status = :publishing AND lease_owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":publishing", s(DeliveryStatus::Publishing.as_str()))
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(
                ":err",
                AttributeValue::M(Item::from([
                    ("kind".to_owned(), s(&error.kind)),
                    ("message".to_owned(), s(&error.message)),
                ])),
            )
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
            .map_err(|e| conflict_or_backend(e.into_service_error(), "lease lost"))?;
        Ok(())
    }
}

fn conflict_or_backend(
    e: aws_sdk_dynamodb::operation::update_item::UpdateItemError,
    what: &str,
) -> StoreError {
    if e.is_conditional_check_failed_exception() {
        StoreError::Conflict(what.to_owned())
    } else {
        StoreError::backend("dynamodb", e)
    }
}

fn read_post(item: &Item) -> Result<PostRecord, StoreError> {
    let r = Reader::new(item);
    Ok(PostRecord {
        post_id: PostId::parse(&r.str("post_id")?).ok_or_else(|| r.corrupt("bad post_id"))?,
        user_id: r.str("user_id")?,
        source_id: r.str("source_id")?,
        text: r.str("text")?,
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
        parts,
        remote_url: r.opt_str("remote_url")?,
        last_error,
        updated_at: r.opt_str("updated_at")?.unwrap_or_default(),
    })
}
