//! The delivery lifecycle: the worker's claim, recorded parts and conclusions (each
//! write after a claim conditional on its lease), and the webhook's and connect's
//! changes of a delivery's status.

use super::codec::{error_attr, part_attr, read_content, read_delivery, upload_attr};
use super::{PostsStore, ACCOUNT_DELIVERIES_INDEX, ACCOUNT_REF};
use crate::attr::{n, query_index, s, ConditionalUpdate, Item, Reader};
use crate::StoreError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use crosspost_core::clock::{rfc3339, unix_ms};
use crosspost_core::delivery::{
    rules, Claim, Conclusion, FirstPartLease, Lease, Recorded, UploadedMedia,
};
use crosspost_core::{
    keys, DeliveryKey, DeliveryOp, DeliveryRecord, DeliveryStatus, DeliveryStore, LastError,
    Network, PostId, PostRecord, PublishedPart,
};
use time::OffsetDateTime;

impl PostsStore {
    /// Moves a delivery from one of `from` to `to`, resetting what a fresh start needs
    /// (attempts, due time, lease, and the uploads of earlier attempts, which may be
    /// what failed, such as media X could not process) when `reset_attempts`; a fresh
    /// start PENDING also
    /// forgets since when a part may have been sent (nothing is unknown then, and a
    /// later lookup must not adopt a post made between the attempts, such as one the
    /// user made by hand). False when the delivery was not in one of `from`.
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
            // Another post's delivery may have taken over the first-part lease while
            // this one had ended: the next attempt takes it again.
            let forget = if to == DeliveryStatus::Pending {
                ", unconfirmed_since"
            } else {
                ""
            };
            format!(
                "SET #status = :to, updated_at = :now, attempts = :zero \
                 REMOVE next_attempt_at, lease_owner, lease_until, first_part_digest, \
                 first_part_expires_at, uploads{forget}"
            )
        } else {
            "SET #status = :to, updated_at = :now".to_owned()
        };
        update.update_expression(expr).send().await.held()
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
    /// A live lease is left to its worker, which finds the account gone. The status it
    /// had is kept as `prev_status`, so one whose outcome was unknown (UNCERTAIN, or a
    /// lease that ran out) still says so ([`DeliveryRecord::outcome_unknown`]) and a
    /// retry after a new link looks before sending. The delivery as it ended, or None
    /// when it was not failed here.
    pub async fn fail_waiting(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        error: &LastError,
        now: OffsetDateTime,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let now_ms = unix_ms(now);
        let result = self
            .update_delivery(post_id, key)
            .condition_expression(
                "attribute_exists(pk) AND (#status IN (:pending, :retrying, :uncertain) \
                 OR (#status = :publishing AND lease_until < :now_ms))",
            )
            .update_expression(
                "SET prev_status = #status, #status = :failed, last_error = :err, \
                 updated_at = :now REMOVE lease_owner, lease_until, next_attempt_at",
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
                    Err(crate::backend("dynamodb", e))
                }
            }
        }
    }

    /// An UpdateItem of the leased delivery that holds only while `lease` still holds
    /// (the delivery is in the lease's state under its owner): every write after a
    /// claim goes through here. `#status` is bound.
    fn update_leased(&self, lease: &Lease) -> UpdateItemFluentBuilder {
        self.update_delivery(lease.post_id(), lease.key())
            .condition_expression("#status = :held AND lease_owner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":held", s(lease.held_status().as_str()))
            .expression_attribute_values(":owner", s(lease.owner()))
    }

    /// A claim's conditional write for `op` (see [`DeliveryStore::claim`]).
    fn claim_update(
        &self,
        op: DeliveryOp,
        post_id: &PostId,
        key: &DeliveryKey,
    ) -> UpdateItemFluentBuilder {
        let update = self
            .update_delivery(post_id, key)
            .expression_attribute_names("#status", "status");
        match op {
            DeliveryOp::Publish => update
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
                .expression_attribute_values(":publishing", s(DeliveryStatus::Publishing.as_str()))
                .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
                .expression_attribute_values(":retrying", s(DeliveryStatus::Retrying.as_str()))
                .expression_attribute_values(":uncertain", s(DeliveryStatus::Uncertain.as_str()))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1)),
            DeliveryOp::Delete => update
                .update_expression(
                    "SET lease_owner = :owner, lease_until = :until, updated_at = :now",
                )
                .condition_expression(
                    "#status = :deleting AND (attribute_not_exists(lease_until) OR lease_until < :now_ms)",
                )
                .expression_attribute_values(":deleting", s(DeliveryStatus::Deleting.as_str())),
        }
    }
}

impl PostsStore {
    /// Takes over the first-part lease `pk` from `holder`, whose delivery only reserved
    /// it at intake ([`rules::first_part_only_reserved`]), in one transaction: the
    /// lease made ours while it is still the holder's, and the holder's mark dropped
    /// while it is still PENDING without an attempt. When either changed meanwhile,
    /// [`FirstPartLease::HeldBy`] the holder: the next attempt looks again.
    async fn take_reserved_first_part(
        &self,
        lease: &Lease,
        pk: &str,
        holder: &PostId,
        digest: &str,
        expires_at: OffsetDateTime,
    ) -> Result<FirstPartLease, StoreError> {
        let take = Put::builder()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s(keys::FIRST_PART_SK))
            .item("post_id", s(lease.post_id().as_str()))
            .item("expires_at", n(expires_at.unix_timestamp()))
            .condition_expression("post_id = :holder")
            .expression_attribute_values(":holder", s(holder.as_str()))
            .build()
            .map_err(crate::backend_build)?;
        let unmark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(super::codec::delivery_key_attrs(holder, lease.key())))
            .condition_expression(
                "#status = :pending AND attempts = :zero AND first_part_digest = :digest",
            )
            .update_expression("REMOVE first_part_digest, first_part_expires_at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":digest", s(digest))
            .build()
            .map_err(crate::backend_build)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(take).build())
            .transact_items(TransactWriteItem::builder().update(unmark).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(FirstPartLease::Taken),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_transaction_canceled_exception() {
                    Ok(FirstPartLease::HeldBy(holder.clone()))
                } else {
                    Err(crate::backend("dynamodb", e))
                }
            }
        }
    }

    /// Records a part (see [`DeliveryStore::record_part`]) in one transaction: the
    /// remote post made this delivery's, the part appended under the lease. With
    /// `published` (the first part's URL, if any) the same write concludes the
    /// delivery PUBLISHED and frees the lease ([`DeliveryStore::record_last_part`]).
    async fn record(
        &self,
        lease: &Lease,
        part: &PublishedPart,
        published: Option<Option<&str>>,
        now: OffsetDateTime,
    ) -> Result<Recorded, StoreError> {
        let (post_id, key) = (lease.post_id(), lease.key());
        let remote_key = Item::from([
            (
                "pk".to_owned(),
                s(keys::remote_pk(key.network, &part.remote_id)),
            ),
            ("sk".to_owned(), s(keys::REMOTE_SK)),
        ]);
        let mut owner = remote_key.clone();
        owner.extend([
            ("post_id".to_owned(), s(post_id.as_str())),
            ("account_id".to_owned(), s(&key.account_id)),
            ("part_index".to_owned(), n(part.index)),
            ("recorded_at".to_owned(), s(rfc3339(now))),
        ]);
        // The remote post is ours unless another delivery recorded it first.
        let claim_remote = Put::builder()
            .table_name(&self.table)
            .set_item(Some(owner))
            .condition_expression(
                "attribute_not_exists(pk) OR (post_id = :post AND account_id = :account)",
            )
            .expression_attribute_values(":post", s(post_id.as_str()))
            .expression_attribute_values(":account", s(&key.account_id))
            .build()
            .map_err(crate::backend_build)?;
        let mut append_part = Update::builder()
            .table_name(&self.table)
            .set_key(Some(super::codec::delivery_key_attrs(post_id, key)))
            .condition_expression("#status = :held AND lease_owner = :owner");
        append_part = match published {
            // The next part's uncertainty starts now.
            None => append_part
                .update_expression(
                    "SET parts = list_append(if_not_exists(parts, :empty), :part), \
                     unconfirmed_since = :now_ms, updated_at = :now",
                )
                .expression_attribute_values(":now_ms", n(unix_ms(now))),
            // As `conclude` writes `Conclusion::Published`.
            Some(url) => {
                let mut set = "SET parts = list_append(if_not_exists(parts, :empty), :part), \
                               #status = :published, updated_at = :now"
                    .to_owned();
                if let Some(url) = url {
                    set.push_str(", remote_url = :url");
                    append_part = append_part.expression_attribute_values(":url", s(url));
                }
                append_part
                    .update_expression(format!(
                        "{set} REMOVE lease_owner, lease_until, next_attempt_at, last_error, \
                         unconfirmed_since"
                    ))
                    .expression_attribute_values(
                        ":published",
                        s(DeliveryStatus::Published.as_str()),
                    )
            }
        };
        let append_part = append_part
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":held", s(lease.held_status().as_str()))
            .expression_attribute_values(":owner", s(lease.owner()))
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":part", AttributeValue::L(vec![part_attr(part)]))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .build()
            .map_err(crate::backend_build)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(claim_remote).build())
            .transact_items(TransactWriteItem::builder().update(append_part).build())
            .send()
            .await;
        let Err(e) = result else {
            return Ok(Recorded::Ours);
        };
        let e = e.into_service_error();
        let TransactWriteItemsError::TransactionCanceledException(cancelled) = &e else {
            return Err(crate::backend("dynamodb", e));
        };
        let failed = |i: usize| {
            crate::attr::cancellation_code(cancelled, i)
                .is_some_and(|c| c == "ConditionalCheckFailed")
        };
        if failed(1) {
            return Err(StoreError::Conflict("lease lost".into()));
        }
        if !failed(0) {
            return Err(crate::backend("dynamodb", e));
        }
        let item = self
            .get_item(
                keys::remote_pk(key.network, &part.remote_id),
                keys::REMOTE_SK,
            )
            .await?
            .ok_or_else(|| StoreError::Backend {
                service: "dynamodb",
                detail: "the remote post's owner vanished".into(),
            })?;
        let r = Reader::new(&item);
        Ok(Recorded::OwnedElsewhere {
            post_id: PostId::parse(&r.str("post_id")?).ok_or_else(|| r.corrupt("bad post_id"))?,
            account_id: r.str("account_id")?,
        })
    }
}

/// Reads of a first-part lease that changes hands meanwhile before waiting.
const FIRST_PART_TRIES: usize = 3;

impl DeliveryStore for PostsStore {
    async fn get_post(&self, post_id: &PostId) -> Result<Option<PostRecord>, StoreError> {
        PostsStore::get_post(self, post_id).await
    }

    async fn claim(
        &self,
        op: DeliveryOp,
        post_id: &PostId,
        key: &DeliveryKey,
        owner: &str,
        lease_until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        let result = self
            .claim_update(op, post_id, key)
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(unix_ms(lease_until)))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":now_ms", n(unix_ms(now)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes() {
                Some(item) => {
                    let lease =
                        Lease::granted(post_id.clone(), key.clone(), owner, op, lease_until);
                    Ok(Claim::Claimed(
                        lease,
                        read_delivery(item)?,
                        read_content(item)?,
                    ))
                }
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
                    Err(crate::backend("dynamodb", e))
                }
            }
        }
    }

    async fn take_first_part_lease(
        &self,
        lease: &Lease,
        digest: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<FirstPartLease, StoreError> {
        let key = lease.key();
        let pk = keys::first_part_pk(key.network, &key.account_id, digest);
        let ours = lease.post_id().as_str();
        let put = |condition: &str| {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(&pk))
                .item("sk", s(keys::FIRST_PART_SK))
                .item("post_id", s(ours))
                .item("expires_at", n(expires_at.unix_timestamp()))
                .condition_expression(condition.to_owned())
        };
        // Another delivery may take the lease between our read and our write: then
        // whoever has it now decides, read again. That is never a lost lease of our
        // delivery's (a `Conflict` would acknowledge the message and leave the delivery
        // PUBLISHING with no message to bring it back).
        let mut last_holder = None;
        for _ in 0..FIRST_PART_TRIES {
            // Free, ours already, or expired: one write.
            let taken = put("attribute_not_exists(pk) OR post_id = :post OR expires_at <= :now")
                .expression_attribute_values(":post", s(ours))
                .expression_attribute_values(":now", n(now.unix_timestamp()))
                .send()
                .await
                .held()?;
            if taken {
                return Ok(FirstPartLease::Taken);
            }
            // Held by another post's delivery: taken over only once that one is done
            // with it.
            let Some(item) = self.get_item(pk.clone(), keys::FIRST_PART_SK).await? else {
                continue; // gone since (its TTL): free again
            };
            let r = Reader::new(&item);
            let holder =
                PostId::parse(&r.str("post_id")?).ok_or_else(|| r.corrupt("bad post_id"))?;
            let holder_delivery = self.get_delivery(&holder, key).await?;
            if rules::first_part_only_reserved(holder_delivery.as_ref(), digest) {
                return self
                    .take_reserved_first_part(lease, &pk, &holder, digest, expires_at)
                    .await;
            }
            if !rules::first_part_settled(holder_delivery.as_ref()) {
                return Ok(FirstPartLease::HeldBy(holder));
            }
            let taken_over = put("post_id = :holder")
                .expression_attribute_values(":holder", s(holder.as_str()))
                .send()
                .await
                .held()?;
            if taken_over {
                return Ok(FirstPartLease::Taken);
            }
            last_holder = Some(holder);
        }
        // Taken by others each time: wait like for any holder.
        match last_holder {
            Some(holder) => Ok(FirstPartLease::HeldBy(holder)),
            None => Err(StoreError::Backend {
                service: "dynamodb",
                detail: "the first-part lease kept changing hands".into(),
            }),
        }
    }

    async fn record_part(
        &self,
        lease: &Lease,
        part: &PublishedPart,
        now: OffsetDateTime,
    ) -> Result<Recorded, StoreError> {
        self.record(lease, part, None, now).await
    }

    async fn record_last_part(
        &self,
        lease: &Lease,
        part: &PublishedPart,
        remote_url: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Recorded, StoreError> {
        self.record(lease, part, Some(remote_url), now).await
    }
    async fn record_upload(
        &self,
        lease: &Lease,
        upload: &UploadedMedia,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(super::codec::delivery_key_attrs(
                lease.post_id(),
                lease.key(),
            )))
            .condition_expression("#status = :held AND lease_owner = :owner")
            .update_expression(
                "SET uploads = list_append(if_not_exists(uploads, :empty), :upload), \
                 updated_at = :now",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":held", s(lease.held_status().as_str()))
            .expression_attribute_values(":owner", s(lease.owner()))
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":upload", AttributeValue::L(vec![upload_attr(upload)]))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => {
                    Err(StoreError::Conflict("lease lost".into()))
                }
                other => Err(crate::backend("dynamodb", other)),
            },
        }
    }

    async fn conclude(
        &self,
        lease: &Lease,
        conclusion: &Conclusion,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut update = self
            .update_leased(lease)
            .expression_attribute_values(":now", s(rfc3339(now)));
        // Every conclusion frees the lease.
        let (set, remove) = match conclusion {
            Conclusion::Published { remote_url } => {
                update = update
                    .expression_attribute_values(":status", s(DeliveryStatus::Published.as_str()));
                let mut set = "#status = :status".to_owned();
                if let Some(url) = remote_url {
                    set.push_str(", remote_url = :url");
                    update = update.expression_attribute_values(":url", s(url));
                }
                (set, ", next_attempt_at, last_error, unconfirmed_since")
            }
            Conclusion::Deferred { status, until } => {
                update = update
                    .expression_attribute_values(":status", s(status.as_str()))
                    .expression_attribute_values(":next", n(unix_ms(*until)))
                    .expression_attribute_values(":one", n(1));
                (
                    "#status = :status, next_attempt_at = :next, attempts = attempts - :one"
                        .to_owned(),
                    "",
                )
            }
            Conclusion::Retry {
                status,
                error,
                next_attempt_at,
            } => {
                update = update
                    .expression_attribute_values(":status", s(status.as_str()))
                    .expression_attribute_values(":err", error_attr(error))
                    .expression_attribute_values(":next", n(unix_ms(*next_attempt_at)));
                (
                    "#status = :status, last_error = :err, next_attempt_at = :next".to_owned(),
                    "",
                )
            }
            Conclusion::Ended { status, error } => {
                update = update
                    .expression_attribute_values(":status", s(status.as_str()))
                    .expression_attribute_values(":err", error_attr(error));
                (
                    "#status = :status, last_error = :err".to_owned(),
                    ", next_attempt_at",
                )
            }
            Conclusion::Delete { status, error } => {
                update = update.expression_attribute_values(":status", s(status.as_str()));
                match error {
                    Some(error) => {
                        update = update.expression_attribute_values(":err", error_attr(error));
                        ("#status = :status, last_error = :err".to_owned(), "")
                    }
                    None => ("#status = :status".to_owned(), ", last_error"),
                }
            }
        };
        update
            .update_expression(format!(
                "SET {set}, updated_at = :now REMOVE lease_owner, lease_until{remove}"
            ))
            .send()
            .await
            .or_conflict("lease lost")?;
        Ok(())
    }
}
