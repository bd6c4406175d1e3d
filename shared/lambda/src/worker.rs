//! The work of one delivery message, shared by every `publish-<network>` function:
//! claim the delivery, load the post and the account, publish through the network's
//! [`Publisher`], and record the outcome.

use crate::RecordOutcome;
use crosspost_aws::{
    AccountsStore, Claim, DeliveryError, DeliveryKey, PostsStore, PublishedPart, StoreError,
};
use crosspost_core::{
    AccountStatus, DeliveryMessage, DeliveryOp, DeliveryStatus, PublishError, Publisher,
};
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::Instrument;

/// How long a failed delivery waits when the network gave no time of its own.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

/// One worker: the stores and the network it publishes to.
pub struct DeliveryWorker<P> {
    pub posts: PostsStore,
    pub accounts: AccountsStore,
    pub publisher: P,
}

/// The invocation the message arrived in: its request id owns the lease, which ends at
/// the invocation's deadline.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub deadline_ms: i64,
}

impl<P: Publisher> DeliveryWorker<P> {
    pub async fn process(&self, msg: DeliveryMessage, inv: &Invocation) -> RecordOutcome {
        let span = tracing::info_span!(
            "delivery",
            post_id = %msg.post_id,
            network = %msg.network,
            account_id = %msg.account_id
        );
        match self.work(&msg, inv).instrument(span).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(error = %e, "delivery store failed; the message will come back");
                RecordOutcome::Retry
            }
        }
    }

    async fn work(
        &self,
        msg: &DeliveryMessage,
        inv: &Invocation,
    ) -> Result<RecordOutcome, StoreError> {
        let key = DeliveryKey {
            network: msg.network,
            account_id: msg.account_id.clone(),
        };
        match msg.op {
            DeliveryOp::Publish => self.publish(msg, &key, inv).await,
            DeliveryOp::Delete => self.delete(msg, &key, inv).await,
        }
    }

    /// Deletes every published part, newest first, and marks the delivery DELETED.
    async fn delete(
        &self,
        msg: &DeliveryMessage,
        key: &DeliveryKey,
        inv: &Invocation,
    ) -> Result<RecordOutcome, StoreError> {
        let now = OffsetDateTime::now_utc();
        let delivery = match self
            .posts
            .claim_delete(&msg.post_id, key, &inv.request_id, inv.deadline_ms, now)
            .await?
        {
            Claim::Claimed(d) => d,
            Claim::NotClaimable(Some(d)) if d.status == DeliveryStatus::Deleting => {
                tracing::info!("delete leased elsewhere; message kept");
                return Ok(RecordOutcome::Retry);
            }
            Claim::NotClaimable(d) => {
                tracing::info!(status = ?d.map(|d| d.status), "nothing to delete; message acknowledged");
                return Ok(RecordOutcome::Done);
            }
        };
        let finish = |status, error: Option<DeliveryError>| async move {
            self.posts
                .finish_delete(
                    &msg.post_id,
                    key,
                    &inv.request_id,
                    status,
                    error.as_ref(),
                    OffsetDateTime::now_utc(),
                )
                .await
        };
        let account = self
            .accounts
            .get(&delivery.user_id, msg.network, &msg.account_id)
            .await?;
        let Some(account) = account.filter(|a| a.status == AccountStatus::Active) else {
            finish(
                DeliveryStatus::Published,
                Some(DeliveryError {
                    kind: "account_needs_reauth".into(),
                    message: "the account must be linked again before the post can be deleted"
                        .into(),
                }),
            )
            .await?;
            return Ok(RecordOutcome::Done);
        };
        for part in delivery.parts.iter().rev() {
            if let Err(err) = self.publisher.delete_part(&account, &part.remote_id).await {
                tracing::warn!(kind = err.kind(), error = %err, remote_id = %part.remote_id, "delete failed");
                let error = DeliveryError {
                    kind: format!("delete_{}", err.kind()),
                    message: err.to_string(),
                };
                return Ok(match err {
                    PublishError::Permanent { .. } | PublishError::AuthRevoked { .. } => {
                        finish(DeliveryStatus::Published, Some(error)).await?;
                        RecordOutcome::Done
                    }
                    _ => {
                        finish(DeliveryStatus::Deleting, Some(error)).await?;
                        RecordOutcome::Retry
                    }
                });
            }
        }
        finish(DeliveryStatus::Deleted, None).await?;
        tracing::info!(parts = delivery.parts.len(), "deleted");
        Ok(RecordOutcome::Done)
    }

    async fn publish(
        &self,
        msg: &DeliveryMessage,
        key: &DeliveryKey,
        inv: &Invocation,
    ) -> Result<RecordOutcome, StoreError> {
        let key = key.clone();
        let now = OffsetDateTime::now_utc();
        let delivery = match self
            .posts
            .claim(&msg.post_id, &key, &inv.request_id, inv.deadline_ms, now)
            .await?
        {
            Claim::Claimed(d) => d,
            Claim::NotClaimable(Some(d)) if d.status.is_terminal() => {
                tracing::info!(status = %d.status, "delivery already ended; message acknowledged");
                return Ok(RecordOutcome::Done);
            }
            Claim::NotClaimable(Some(d)) => {
                tracing::info!(status = %d.status, "delivery leased elsewhere or not due; message kept");
                return Ok(RecordOutcome::Retry);
            }
            Claim::NotClaimable(None) => {
                tracing::error!("no such delivery; message dropped");
                return Ok(RecordOutcome::Done);
            }
        };
        tracing::info!(attempt = delivery.attempts, "delivery claimed");

        let Some(post) = self.posts.get_post(&msg.post_id).await? else {
            return self
                .fail(
                    msg,
                    &key,
                    inv,
                    DeliveryStatus::Failed,
                    "post_missing",
                    "the post is gone",
                )
                .await;
        };
        let account = self
            .accounts
            .get(&post.user_id, msg.network, &msg.account_id)
            .await?;
        let account = match account {
            Some(a) if a.status == AccountStatus::Active => a,
            Some(_) => {
                return self
                    .fail(
                        msg,
                        &key,
                        inv,
                        DeliveryStatus::NeedsReauth,
                        "account_needs_reauth",
                        "the account must be linked again",
                    )
                    .await
            }
            None => {
                return self
                    .fail(
                        msg,
                        &key,
                        inv,
                        DeliveryStatus::Failed,
                        "account_unlinked",
                        "the account is not linked",
                    )
                    .await
            }
        };

        let attempted_at = now.format(&Rfc3339).unwrap_or_default();
        match self
            .publisher
            .publish_part(&account, &post.text, None)
            .await
        {
            Ok(remote) => {
                let parts = [PublishedPart {
                    index: 0,
                    remote_id: remote.id.clone(),
                    url: Some(remote.url.clone()),
                    attempted_at,
                }];
                self.posts
                    .mark_published(
                        &msg.post_id,
                        &key,
                        &inv.request_id,
                        &parts,
                        Some(&remote.url),
                        OffsetDateTime::now_utc(),
                    )
                    .await?;
                tracing::info!(remote_id = %remote.id, "published");
                Ok(RecordOutcome::Done)
            }
            Err(err) => {
                tracing::warn!(kind = err.kind(), error = %err, "publish failed");
                let (status, retry_after) = match &err {
                    PublishError::Permanent { .. } => (DeliveryStatus::Failed, None),
                    PublishError::AuthRevoked { .. } => (DeliveryStatus::NeedsReauth, None),
                    PublishError::Uncertain { .. } => {
                        (DeliveryStatus::Uncertain, Some(DEFAULT_RETRY_AFTER))
                    }
                    PublishError::Retryable { after, .. } => (
                        DeliveryStatus::Retrying,
                        Some(after.unwrap_or(DEFAULT_RETRY_AFTER)),
                    ),
                    PublishError::RateLimited { until_unix, .. } => {
                        let wait = until_unix
                            .map(|u| (u - now.unix_timestamp()).max(1) as u64)
                            .map(Duration::from_secs)
                            .unwrap_or(DEFAULT_RETRY_AFTER);
                        (DeliveryStatus::Retrying, Some(wait))
                    }
                };
                let error = DeliveryError {
                    kind: err.kind().to_owned(),
                    message: err.to_string(),
                };
                let next = retry_after.map(|d| {
                    (OffsetDateTime::now_utc() + d).unix_timestamp_nanos() as i64 / 1_000_000
                });
                self.posts
                    .record_failure(
                        &msg.post_id,
                        &key,
                        &inv.request_id,
                        status,
                        &error,
                        next,
                        OffsetDateTime::now_utc(),
                    )
                    .await?;
                Ok(if retry_after.is_some() {
                    RecordOutcome::Retry
                } else {
                    RecordOutcome::Done
                })
            }
        }
    }

    async fn fail(
        &self,
        msg: &DeliveryMessage,
        key: &DeliveryKey,
        inv: &Invocation,
        status: DeliveryStatus,
        kind: &str,
        message: &str,
    ) -> Result<RecordOutcome, StoreError> {
        tracing::warn!(kind, "delivery ended without publishing");
        let error = DeliveryError {
            kind: kind.to_owned(),
            message: message.to_owned(),
        };
        self.posts
            .record_failure(
                &msg.post_id,
                key,
                &inv.request_id,
                status,
                &error,
                None,
                OffsetDateTime::now_utc(),
            )
            .await?;
        Ok(RecordOutcome::Done)
    }
}
