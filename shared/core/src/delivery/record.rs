//! A delivery as stored (DESIGN section 3), the post it publishes, and what the
//! store's claim hands out: a [`Lease`] that every later write of the delivery names.

use super::{DeliveryOp, DeliveryStatus, FailureReason};
use crate::{IncomingTarget, MediaItem, Mentions, Network, Overflow, PostId};
use time::OffsetDateTime;

/// Which delivery of a post: one per network and linked account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryKey {
    pub network: Network,
    pub account_id: String,
}

/// A post as PostsTable holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRecord {
    pub post_id: PostId,
    pub user_id: String,
    pub source_id: String,
    pub text: String,
    pub media: Vec<MediaItem>,
    pub link: Option<String>,
    pub overflow: Overflow,
    /// The source app's own `created_at`, as it sent it (validated RFC 3339).
    pub created_at: Option<String>,
    pub received_at: OffsetDateTime,
    pub mentions: Mentions,
    /// The targets that carry their own text (see [`crate::text_for`]).
    pub texts: Vec<IncomingTarget>,
}

impl PostRecord {
    /// The text the delivery to `network` / `account_id` publishes.
    pub fn text_for(&self, network: Network, account_id: &str) -> &str {
        crate::text_for(&self.text, &self.texts, network, account_id)
    }
}

/// One part of a post as the network confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPart {
    /// 0 for the first part of a thread.
    pub index: u32,
    pub remote_id: String,
    pub url: Option<String>,
    /// When the attempt that published it started to send it.
    pub attempted_at: OffsetDateTime,
    /// The post's media this part carries (positions in the post's `media`), so a
    /// resumed thread never sends one again.
    pub media: Vec<u32>,
}

/// A media file uploaded to the network for a part not confirmed yet, kept so that a
/// later attempt attaches it instead of uploading it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedMedia {
    /// Position in the post's `media`.
    pub index: u32,
    /// The network's id of the upload (X's media id).
    pub remote_id: String,
    pub uploaded_at: OffsetDateTime,
    /// The network was still processing it (a GIF or video) when it was recorded: the
    /// next attempt asks whether it is ready ([`crate::Publisher::media_processed`])
    /// instead of uploading it again.
    pub processing: bool,
}

impl UploadedMedia {
    /// How long an upload may be attached after it was made: X keeps an uploaded file
    /// for 24 hours (`expires_after_secs` 86400 in its upload answer); an hour is kept
    /// in hand.
    pub const USABLE_FOR: time::Duration = time::Duration::hours(23);
}

/// Why the last attempt did not publish, with the words to show a person:
/// `{"kind", "message"}` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LastError {
    pub kind: FailureReason,
    pub message: String,
}

impl LastError {
    pub fn new(kind: FailureReason, message: impl Into<String>) -> Self {
        LastError {
            kind,
            message: message.into(),
        }
    }
}

/// One delivery: a post on one network account, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub post_id: PostId,
    pub user_id: String,
    pub network: Network,
    pub account_id: String,
    pub status: DeliveryStatus,
    /// Claims so far (a rate-limit hold gives its claim back).
    pub attempts: u32,
    pub lease_owner: Option<String>,
    pub lease_until: Option<OffsetDateTime>,
    /// When a waiting delivery is due again.
    pub next_attempt_at: Option<OffsetDateTime>,
    pub parts: Vec<PublishedPart>,
    /// Media uploaded for parts not confirmed yet (see [`UploadedMedia`]).
    pub uploads: Vec<UploadedMedia>,
    pub remote_url: Option<String>,
    pub last_error: Option<LastError>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The status before the latest claim (or before an unlink ended the delivery):
    /// UNCERTAIN, or PUBLISHING with a lease that ran out, means the previous attempt's
    /// outcome is unknown.
    pub prev_status: Option<DeliveryStatus>,
    /// Since when the next unconfirmed part may have been sent: set by the first claim
    /// after the last confirmed part, kept through every later attempt until a part is
    /// confirmed. A post we may have made is no older than this.
    pub unconfirmed_since: Option<OffsetDateTime>,
    /// The first-part lease intake took for this delivery with its item, if it did
    /// (see [`crate::DeliveryStore::take_first_part_lease`]); dropped when the delivery
    /// is queued again after it ended.
    pub first_part_taken: Option<TakenFirstPart>,
}

/// A first-part lease taken for a delivery when its item was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenFirstPart {
    /// [`crate::delivery::first_part_digest`] of the first part.
    pub digest: String,
    pub expires_at: OffsetDateTime,
}

impl DeliveryRecord {
    pub fn key(&self) -> DeliveryKey {
        DeliveryKey {
            network: self.network,
            account_id: self.account_id.clone(),
        }
    }

    /// The previous attempt may have published without our knowing: look before
    /// publishing again.
    pub fn needs_reconcile(&self) -> bool {
        matches!(
            self.prev_status,
            Some(DeliveryStatus::Uncertain) | Some(DeliveryStatus::Publishing)
        )
    }

    /// An ended delivery (FAILED, NEEDS_REAUTH) may have published without our knowing:
    /// its last attempt began with the outcome of an earlier one unknown
    /// ([`Self::needs_reconcile`]) and ended without learning it, or its last send got
    /// no answer. Run again, it looks before publishing (it goes back UNCERTAIN, not
    /// PENDING), or it would post a second copy of what the network may have made.
    pub fn outcome_unknown(&self) -> bool {
        self.needs_reconcile()
            || self
                .last_error
                .as_ref()
                .is_some_and(|e| e.kind == super::FailureReason::Uncertain)
    }
}

/// The right to write one delivery, granted by a store's claim and held until
/// `until`. Every write after the claim names it and holds only while the delivery is
/// still in the claimed state (PUBLISHING for a publish, DELETING for a delete) under
/// this owner; otherwise the store answers a conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    post_id: PostId,
    key: DeliveryKey,
    owner: String,
    op: DeliveryOp,
    until: OffsetDateTime,
}

impl Lease {
    /// For a [`super::DeliveryStore`]'s claim only: the lease it just took.
    pub fn granted(
        post_id: PostId,
        key: DeliveryKey,
        owner: impl Into<String>,
        op: DeliveryOp,
        until: OffsetDateTime,
    ) -> Self {
        Lease {
            post_id,
            key,
            owner: owner.into(),
            op,
            until,
        }
    }

    pub fn post_id(&self) -> &PostId {
        &self.post_id
    }

    pub fn key(&self) -> &DeliveryKey {
        &self.key
    }

    /// Who holds it (the invocation's request id).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn op(&self) -> DeliveryOp {
        self.op
    }

    /// The status the delivery holds while leased.
    pub fn held_status(&self) -> DeliveryStatus {
        match self.op {
            DeliveryOp::Publish => DeliveryStatus::Publishing,
            DeliveryOp::Delete => DeliveryStatus::Deleting,
        }
    }

    pub fn until(&self) -> OffsetDateTime {
        self.until
    }
}

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// The caller now holds the lease on this delivery; with the post's content when
    /// the delivery's item carries it (see [`crate::DeliveryStore::claim`]).
    Claimed(Lease, DeliveryRecord, Option<Box<PostRecord>>),
    /// Someone else holds it, it is not due yet, or it is in no state this operation
    /// works on; the delivery as it stands (None: there is no such delivery).
    NotClaimable(Option<DeliveryRecord>),
}

/// What recording a part found: the remote post is now this delivery's, or another
/// delivery recorded it first (each remote post belongs to at most one delivery) and
/// nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Ours,
    OwnedElsewhere { post_id: PostId, account_id: String },
}

/// What taking a delivery's first-part lease found (see
/// [`crate::DeliveryStore::take_first_part_lease`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstPartLease {
    /// This delivery may send its first part.
    Taken,
    /// The delivery of another post, with the same first-part
    /// text to the same account, has sent it with an outcome not yet settled: this one
    /// waits, so a lookup can never adopt the other's post.
    HeldBy(PostId),
}

/// How a leased attempt ends, as written to the store (which also frees the lease).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conclusion {
    /// Every part is recorded: PUBLISHED, the first part's URL kept.
    Published { remote_url: Option<String> },
    /// Waits, without counting the attempt, in `status` (RETRYING or UNCERTAIN) until
    /// `until` (a rate-limit hold).
    Deferred {
        status: DeliveryStatus,
        until: OffsetDateTime,
    },
    /// Tried again at `next_attempt_at`, in `status` (RETRYING or UNCERTAIN).
    Retry {
        status: DeliveryStatus,
        error: LastError,
        next_attempt_at: OffsetDateTime,
    },
    /// Ended without publishing, in `status` (FAILED or NEEDS_REAUTH).
    Ended {
        status: DeliveryStatus,
        error: LastError,
    },
    /// A delete lease's ending: `status` DELETED when done, DELETING to try again,
    /// PUBLISHED when the network refused for good; the error kept when there is one.
    Delete {
        status: DeliveryStatus,
        error: Option<LastError>,
    },
}
