//! The port every network implements, and the classification of its failures.

use crate::{LinkedAccount, MediaItem, Mentions};
use std::future::Future;
use std::time::Duration;

/// A media item uploaded ahead of its part ([`Publisher::upload_media`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The network's id of it (X's media id).
    pub id: String,
    /// The network was still processing it (a GIF or video) when the wait for it ran
    /// out: it is not attached until [`Publisher::media_processed`] says it is ready.
    pub processing: bool,
}

/// A post the network confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePost {
    pub id: String,
    pub url: String,
    /// The network accepted the post but said it is close to a limit: later calls for
    /// this account (or the whole app) wait until this unix time.
    pub hold: Option<(i64, RateLimitScope)>,
}

/// Whom a rate limit holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitScope {
    Account,
    App,
}

/// A failed call, classified by what the caller must do (DESIGN section 4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Nothing was published; trying again may work.
    #[error("temporary failure: {detail}")]
    Retryable {
        after: Option<Duration>,
        detail: String,
    },
    /// The network asked us to wait until `until_unix` (seconds): this account only,
    /// or every account of the app.
    #[error("rate limited: {detail}")]
    RateLimited {
        until_unix: Option<i64>,
        scope: RateLimitScope,
        detail: String,
    },
    /// The token no longer works; the person must link the account again.
    #[error("authorization revoked: {detail}")]
    AuthRevoked { detail: String },
    /// The network refused this content for good.
    #[error("rejected: {reason}")]
    Permanent { reason: String },
    /// The request was sent but no answer came: the post may exist.
    #[error("outcome unknown: {detail}")]
    Uncertain { detail: String },
    /// The network refused the post as a duplicate of one the account already has (X's
    /// 403 "duplicate content", Graph's error 506). Unless an unanswered request of this
    /// delivery could have made that post, the delivery fails `duplicate_content`.
    #[error("duplicate: {detail}")]
    Duplicate { detail: String },
    /// The network refused a thread reply because the post it replies to is deleted or
    /// not visible yet (X says so for a moment about a post it has just created): tried
    /// again a few times, then the delivery fails `reply_parent_unavailable`.
    #[error("reply parent not visible: {detail}")]
    ParentNotVisible { detail: String },
    /// A media file of the post could not be fetched (unreachable host, 5xx, timeout):
    /// retried like `Retryable`; once attempts run out the delivery fails with this kind.
    #[error("media unavailable: {detail}")]
    MediaUnavailable { detail: String },
}

impl PublishError {
    /// A short name of the class, stored as the delivery's `last_error.kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            PublishError::Retryable { .. } => "retryable",
            PublishError::RateLimited { .. } => "rate_limited",
            PublishError::AuthRevoked { .. } => "auth_revoked",
            PublishError::Permanent { .. } => "permanent",
            PublishError::Uncertain { .. } => "uncertain",
            PublishError::MediaUnavailable { .. } => "media_unavailable",
            PublishError::Duplicate { .. } => "duplicate_content",
            PublishError::ParentNotVisible { .. } => "reply_parent_unavailable",
        }
    }
}

/// One part of a post as it goes to a network: its text, and the media and link that
/// travel with it.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingPart<'a> {
    /// 0 for the first part.
    pub index: usize,
    /// Empty for a part that carries only media.
    pub text: &'a str,
    /// The media this part carries, as [`Publisher::media_parts`] placed them.
    pub media: &'a [MediaItem],
    /// The network's ids of `media`, in the same order, when they were uploaded before
    /// ([`Publisher::upload_media`]); empty when the part uploads them itself.
    pub media_ids: &'a [String],
    /// The permalink back to the source post, where the network shows links apart from
    /// the text (a Facebook link post).
    pub link: Option<&'a str>,
    /// Names this part of this delivery (`<post id>.<part index>`), sent as the
    /// `Idempotency-Key` header: networks that honour it (DESIGN section 5) make the
    /// post once, and the others ignore it (the local fakes record it, so tests can
    /// tell which delivery's request made which post).
    pub key: &'a str,
    /// The post's mentions policy, for networks that make a mention apart from the
    /// text (a Bluesky mention facet); the text already follows it elsewhere.
    pub mentions: Mentions,
}

/// What reconciliation looks for: a post of this account with this text, replying to
/// `reply_to` (thread parts after the first), carrying `media_count` media, made
/// within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup<'a> {
    pub text: &'a str,
    pub reply_to: Option<&'a str>,
    pub media_count: usize,
    pub window: Window,
}

/// A post the network shows that matches a [`Lookup`], and when the network says it
/// was made (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub post: RemotePost,
    pub created_unix: i64,
}

/// When a part whose outcome is unknown may have been published: from the first
/// attempt since the last confirmed part until now (Unix seconds). Reconciliation looks
/// only there, so an account that posts a lot does not push our post out of the pages
/// of results read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since_unix: i64,
    pub until_unix: i64,
}

/// One network, as the delivery worker sees it.
pub trait Publisher: Send + Sync {
    /// Which of the post's `media` each part of the post carries (positions in
    /// `media`), part by part; the worker adds parts without text when the media need
    /// more parts than the text. By default every item goes with the first part (a
    /// network without threads). Fails as the media plan does: a file that cannot be
    /// read, or one the network refuses.
    fn media_parts(
        &self,
        media: &[MediaItem],
    ) -> impl Future<Output = Result<Vec<Vec<usize>>, PublishError>> + Send {
        let all: Vec<usize> = (0..media.len()).collect();
        async move {
            Ok(if all.is_empty() {
                Vec::new()
            } else {
                vec![all]
            })
        }
    }

    /// Uploads one media item (with its alt text) ahead of the part that attaches it,
    /// and returns the network's id for it, and whether the network was still
    /// processing it when the wait for it ran out; None when this network takes media
    /// with the post itself (the default), so nothing is uploaded ahead.
    fn upload_media(
        &self,
        account: &LinkedAccount,
        item: &MediaItem,
    ) -> impl Future<Output = Result<Option<Upload>, PublishError>> + Send {
        let _ = (account, item);
        async { Ok(None) }
    }

    /// Waits, within the network's processing budget, for an upload that was still
    /// being processed when it was made ([`Upload::processing`]). `Retryable` while the
    /// network is still at it; `Permanent` when it could not process it.
    fn media_processed(
        &self,
        account: &LinkedAccount,
        media_id: &str,
    ) -> impl Future<Output = Result<(), PublishError>> + Send {
        let _ = (account, media_id);
        async { Ok(()) }
    }

    /// Publishes one part of a post (uploading its media first), as a reply to
    /// `reply_to` for the later parts of a thread.
    fn publish_part(
        &self,
        account: &LinkedAccount,
        part: OutgoingPart<'_>,
        reply_to: Option<&str>,
    ) -> impl Future<Output = Result<RemotePost, PublishError>> + Send;

    /// Every post of the account that matches `lookup` as far as the network's answer
    /// can tell (text, reply parent, media count, made within the window), newest
    /// first. Which one, if any, is this delivery's is the worker's decision: it adopts
    /// only one no other delivery owns, made after this part was first sent.
    fn reconcile(
        &self,
        account: &LinkedAccount,
        lookup: Lookup<'_>,
    ) -> impl Future<Output = Result<Vec<Candidate>, PublishError>> + Send;

    /// Deletes one published part. A part the network no longer has counts as deleted.
    fn delete_part(
        &self,
        account: &LinkedAccount,
        remote_id: &str,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}
