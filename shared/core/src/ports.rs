//! The ports the delivery worker works through. `shared/aws` implements them on
//! DynamoDB, SQS and KMS; [`crate::delivery::memory`] implements them in memory, with
//! the same conditions, for unit tests.

use crate::delivery::{
    Claim, Conclusion, DeliveryKey, DeliveryOp, FirstPartLease, Lease, PostRecord, PublishedPart,
    Recorded, UploadedMedia,
};
use crate::event::Envelope;
use crate::{LinkedAccount, Network, PostId, SealedAccount};
use std::future::Future;
use time::OffsetDateTime;

/// What went wrong in a store, classified by what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition of a write did not hold: someone else changed the item first (for a
    /// leased write: the lease is no longer ours).
    #[error("condition failed: {0}")]
    Conflict(String),
    /// An item in the table does not have the shape this code writes.
    #[error("corrupt item {key}: {detail}")]
    Corrupt { key: String, detail: String },
    /// The service or the connection failed; trying again later may work.
    #[error("{service} call failed: {detail}")]
    Backend {
        service: &'static str,
        detail: String,
    },
}

/// PostsTable as the delivery worker uses it.
pub trait DeliveryStore: Send + Sync {
    /// The post a delivery publishes; None when it is gone.
    fn get_post(
        &self,
        post_id: &PostId,
    ) -> impl Future<Output = Result<Option<PostRecord>, StoreError>> + Send;

    /// Takes the lease on a delivery for `op`, until `lease_until`, in one conditional
    /// write so two workers never both win:
    /// - publish: the delivery is PENDING, RETRYING or UNCERTAIN and due, or PUBLISHING
    ///   with a lease that ran out. It becomes PUBLISHING, its attempts go up by one,
    ///   `prev_status` keeps what it was, and `unconfirmed_since` is set if unset.
    /// - delete: the delivery is DELETING with no live lease.
    fn claim(
        &self,
        op: DeliveryOp,
        post_id: &PostId,
        key: &DeliveryKey,
        owner: &str,
        lease_until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Records one confirmed part before the next is sent (and starts the next part's
    /// `unconfirmed_since` at `now`), and makes its remote post this delivery's, in one
    /// conditional write: a remote post another delivery recorded first is
    /// [`Recorded::OwnedElsewhere`] and nothing is written. Conflict when the lease is
    /// no longer held.
    fn record_part(
        &self,
        lease: &Lease,
        part: &PublishedPart,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Records the last part and concludes the delivery PUBLISHED (`remote_url`: the
    /// first part's) in one write, with [`DeliveryStore::record_part`]'s conditions:
    /// on [`Recorded::OwnedElsewhere`] or a conflict nothing is written. By default
    /// [`DeliveryStore::record_part`] then [`DeliveryStore::conclude`].
    fn record_last_part(
        &self,
        lease: &Lease,
        part: &PublishedPart,
        remote_url: Option<&str>,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send {
        async move {
            let recorded = self.record_part(lease, part, now).await?;
            if recorded == Recorded::Ours {
                let remote_url = remote_url.map(str::to_owned);
                self.conclude(lease, &Conclusion::Published { remote_url }, now)
                    .await?;
            }
            Ok(recorded)
        }
    }

    /// Takes, for the leased delivery, the right to send its first part with text
    /// `digest` ([`crate::delivery::first_part_digest`]) to its account, kept until
    /// `expires_at`: one delivery at a time per (network, account, text). Taken when no
    /// one holds it, this delivery holds it already, the holding lease expired, or the
    /// holder is done with it ([`crate::delivery::rules::first_part_settled`]: its
    /// delivery gone, ended, or its first part recorded; then taken over from it in a
    /// write conditional on that holder), or only reserved it at intake
    /// ([`crate::delivery::rules::first_part_only_reserved`]: then taken over together
    /// with dropping the holder's mark, while the holder is still unclaimed).
    /// Otherwise [`FirstPartLease::HeldBy`] the holder's post.
    fn take_first_part_lease(
        &self,
        lease: &Lease,
        digest: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<FirstPartLease, StoreError>> + Send;

    /// Records a media file uploaded for a part not confirmed yet, before the part is
    /// sent, so a later attempt attaches it instead of uploading it again. Conflict
    /// when the lease is no longer held.
    fn record_upload(
        &self,
        lease: &Lease,
        upload: &UploadedMedia,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes how the leased attempt ended and frees the lease. Conflict when the lease
    /// is no longer held.
    fn conclude(
        &self,
        lease: &Lease,
        conclusion: &Conclusion,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// AccountsTable as the delivery worker uses it, with the key that opens its tokens.
pub trait AccountStore: Send + Sync {
    fn get(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> impl Future<Output = Result<Option<SealedAccount>, StoreError>> + Send;

    /// The account and the network's app-wide limit ([`AccountStore::network_limit`])
    /// together: one BatchGetItem on DynamoDB. By default two reads.
    fn get_with_network_limit(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> impl Future<Output = Result<(Option<SealedAccount>, Option<i64>), StoreError>> + Send {
        async move {
            let account = self.get(user_id, network, account_id).await?;
            Ok((account, self.network_limit(network).await?))
        }
    }

    /// The account with its tokens opened (just before a network call needs them).
    fn open(
        &self,
        account: &SealedAccount,
    ) -> impl Future<Output = Result<LinkedAccount, StoreError>> + Send;

    /// Flags an ACTIVE account NEEDS_REAUTH. True when this call flagged it (false when
    /// it was flagged already, or is gone).
    fn mark_needs_reauth(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The account must not call the network before `until_unix` (seconds).
    fn set_rate_limited(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
        until_unix: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Until when (Unix seconds) every account of the app waits on `network`, if set.
    fn network_limit(
        &self,
        network: Network,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// Every account of the app must not call `network` before `until_unix` (seconds).
    fn set_network_limit(
        &self,
        network: Network,
        until_unix: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where events for the source app go (the events queue, read by `notify`).
pub trait EventSink: Send + Sync {
    /// Queues `events`, in order: on SQS one SendMessageBatch per ten.
    fn send_all(&self, events: &[Envelope]) -> impl Future<Output = Result<(), StoreError>> + Send;
}
