//! What happens next to a delivery (DESIGN section 4), decided by pure functions: the
//! worker passes in the delivery, the outcome, the policy, `now` and a random number,
//! and writes down what they return.

use super::{Conclusion, DeliveryOp, DeliveryRecord, DeliveryStatus, FailureReason, LastError};
use crate::retry::{RetryPolicy, MAX_VISIBILITY};
use crate::{AccountStatus, Candidate, PublishError, RateLimitScope, SealedAccount, Window};
use std::time::Duration;
use time::OffsetDateTime;

/// How soon a copy of a message whose delivery another invocation holds looks again.
pub const LEASED_RECHECK: Duration = Duration::from_secs(5);

/// Attempts a reply whose parent is not visible yet gets before the delivery fails.
pub const PARENT_NOT_VISIBLE_ATTEMPTS: u32 = 3;

/// How far before a part's first send a post's creation time may be and still be that
/// part (the networks give creation times to the second; our clock and theirs differ).
pub const CREATION_SKEW_SECS: i64 = 1;

/// What happens to the queue message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Acknowledged: nothing more to do with it.
    Done,
    /// Comes back after this long.
    RetryIn(Duration),
}

/// How an attempt that did not publish ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Tried again after `wait`, in `status` (RETRYING or UNCERTAIN).
    Retry {
        status: DeliveryStatus,
        wait: Duration,
        error: LastError,
    },
    /// Ended for good in `status` (FAILED or NEEDS_REAUTH).
    End {
        status: DeliveryStatus,
        error: LastError,
    },
}

impl Ending {
    /// FAILED for `kind`, with `message`.
    pub fn failed(kind: FailureReason, message: impl Into<String>) -> Self {
        Ending::End {
            status: DeliveryStatus::Failed,
            error: LastError::new(kind, message),
        }
    }

    /// The same ending, but a retry stays UNCERTAIN: used when the lookup of an
    /// earlier attempt failed, so whether that attempt published is still unknown.
    pub fn still_uncertain(self) -> Self {
        match self {
            Ending::Retry { wait, error, .. } => Ending::Retry {
                status: DeliveryStatus::Uncertain,
                wait,
                error,
            },
            end => end,
        }
    }

    /// What the store writes for it.
    pub fn conclusion(&self, now: OffsetDateTime) -> Conclusion {
        match self {
            Ending::Retry {
                status,
                wait,
                error,
            } => Conclusion::Retry {
                status: *status,
                error: error.clone(),
                next_attempt_at: now + *wait,
            },
            Ending::End { status, error } => Conclusion::Ended {
                status: *status,
                error: error.clone(),
            },
        }
    }

    /// What happens to the message.
    pub fn next(&self) -> Next {
        match self {
            Ending::Retry { wait, .. } => Next::RetryIn(*wait),
            Ending::End { .. } => Next::Done,
        }
    }
}

/// What a failed network call means beyond this delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The account (or every account of the app) waits until `until_unix` (seconds).
    Hold {
        until_unix: i64,
        scope: RateLimitScope,
    },
    /// The account's tokens were refused: flag it NEEDS_REAUTH.
    NeedsReauth,
}

/// The decision after a failed call: this delivery's ending and the effect on others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub ending: Ending,
    pub effect: Option<Effect>,
}

/// After a publish (or reconcile) call failed with `err` on the delivery's
/// `attempts`-th attempt. A retry waits the network's time when it gave one, else the
/// backoff drawn with `unit` (in [0, 1)); out of attempts, the delivery fails with the
/// call's error. A rate limit without a reset time holds for the policy's cap.
///
/// `unanswered`: an earlier request of this delivery for this part got no answer and
/// may have made a post that the network has not shown yet. Only then is a duplicate
/// refusal a reason to look again (UNCERTAIN); otherwise the network refused our
/// content because the account has it already, and the delivery fails
/// `duplicate_content` at once. A reply whose parent is not visible is tried
/// [`PARENT_NOT_VISIBLE_ATTEMPTS`] times.
pub fn after_failure(
    err: &PublishError,
    attempts: u32,
    unanswered: bool,
    policy: &RetryPolicy,
    unit: f64,
    now: OffsetDateTime,
) -> Verdict {
    let error = LastError::new(FailureReason::of(err), err.to_string());
    let retry = |status, network_says: Option<Duration>| {
        if attempts >= policy.max_attempts {
            return Ending::End {
                status: DeliveryStatus::Failed,
                error: error.clone(),
            };
        }
        Ending::Retry {
            status,
            wait: policy.next_wait(attempts, unit, network_says),
            error: error.clone(),
        }
    };
    let now_unix = now.unix_timestamp();
    match err {
        PublishError::Permanent { .. } => Verdict {
            ending: Ending::End {
                status: DeliveryStatus::Failed,
                error,
            },
            effect: None,
        },
        PublishError::AuthRevoked { .. } => Verdict {
            ending: Ending::End {
                status: DeliveryStatus::NeedsReauth,
                error,
            },
            effect: Some(Effect::NeedsReauth),
        },
        PublishError::RateLimited {
            until_unix, scope, ..
        } => {
            let until = until_unix
                .unwrap_or(now_unix + policy.cap.as_secs() as i64)
                .max(now_unix + 1);
            Verdict {
                ending: retry(
                    DeliveryStatus::Retrying,
                    Some(Duration::from_secs((until - now_unix) as u64)),
                ),
                effect: Some(Effect::Hold {
                    until_unix: until,
                    scope: *scope,
                }),
            }
        }
        PublishError::Retryable { after, .. } => Verdict {
            ending: retry(DeliveryStatus::Retrying, *after),
            effect: None,
        },
        PublishError::MediaUnavailable { .. } => Verdict {
            ending: retry(DeliveryStatus::Retrying, None),
            effect: None,
        },
        PublishError::Uncertain { .. } => Verdict {
            ending: retry(DeliveryStatus::Uncertain, None),
            effect: None,
        },
        PublishError::Duplicate { .. } if unanswered => Verdict {
            ending: retry(DeliveryStatus::Uncertain, None),
            effect: None,
        },
        PublishError::Duplicate { .. } => Verdict {
            ending: Ending::End {
                status: DeliveryStatus::Failed,
                error,
            },
            effect: None,
        },
        PublishError::ParentNotVisible { .. } if attempts >= PARENT_NOT_VISIBLE_ATTEMPTS => {
            Verdict {
                ending: Ending::End {
                    status: DeliveryStatus::Failed,
                    error,
                },
                effect: None,
            }
        }
        PublishError::ParentNotVisible { .. } => Verdict {
            ending: retry(DeliveryStatus::Retrying, None),
            effect: None,
        },
    }
}

/// The candidates a part may adopt as its own: made no earlier than the part's first
/// send (`since`, less [`CREATION_SKEW_SECS`]), in the network's order. A post made
/// before this part was first sent is someone else's, whatever its text.
pub fn adoptable(candidates: Vec<Candidate>, since: Option<OffsetDateTime>) -> Vec<Candidate> {
    let Some(since) = since else {
        return candidates;
    };
    let earliest = since.unix_timestamp() - CREATION_SKEW_SECS;
    candidates
        .into_iter()
        .filter(|c| c.created_unix >= earliest)
        .collect()
}

/// How long a first-part lease outlives its delivery's maximum age, after which the
/// delivery has ended whatever happened.
pub const FIRST_PART_LEASE_MARGIN: time::Duration = time::Duration::hours(1);

/// When the first-part lease of a delivery created at `created_at` expires, under a
/// policy whose maximum age is `max_age`.
pub fn first_part_lease_expires_at(
    created_at: OffsetDateTime,
    max_age: std::time::Duration,
) -> OffsetDateTime {
    created_at + max_age + FIRST_PART_LEASE_MARGIN
}

/// Whether the delivery holds the first-part lease for `digest` since intake, until
/// at least `needed` (as [`first_part_lease_expires_at`] gives it): then it need not
/// take it. Nobody takes it over before: a holder is taken over from only once its
/// first part is recorded or it has ended, and a delivery queued again after it ended
/// no longer names the lease (see [`DeliveryRecord::first_part_taken`]).
pub fn holds_first_part_since_intake(
    d: &DeliveryRecord,
    digest: &str,
    needed: OffsetDateTime,
) -> bool {
    d.parts.is_empty()
        && d.first_part_taken.as_ref().is_some_and(|t| {
            t.digest == digest && t.expires_at.unix_timestamp() >= needed.unix_timestamp()
        })
}

/// Whether a first-part lease's holder only reserved it at intake and was never
/// claimed since (PENDING, no attempt, the lease named in its item): it has sent
/// nothing, so another delivery may take the lease over, in one write that also drops
/// the holder's mark, conditional on the holder still being so. The holder's claim
/// then finds no mark and takes the lease like any delivery. Without this, a delivery
/// whose message was never queued would hold its text back for a day.
pub fn first_part_only_reserved(holder: Option<&DeliveryRecord>, digest: &str) -> bool {
    holder.is_some_and(|d| {
        d.status == DeliveryStatus::Pending
            && d.attempts == 0
            && d.first_part_taken
                .as_ref()
                .is_some_and(|t| t.digest == digest)
    })
}

/// How long a delivery waits, without an attempt, while another post's delivery holds
/// the first-part lease for the same text and account (seconds).
pub const FIRST_PART_WAIT_SECS: i64 = 15;

/// Whether a first-part lease's holder is done with it: its delivery is gone, has
/// ended, or has recorded its first part (that post is the holder's, and a lookup never
/// adopts a recorded post or one older than its own first send). While the holder's
/// first part is unsettled, a second send of the same text to the same account could
/// make a post either lookup might adopt, so the other delivery waits.
pub fn first_part_settled(holder: Option<&DeliveryRecord>) -> bool {
    holder.is_none_or(|d| d.status.is_terminal() || !d.parts.is_empty())
}

/// Past the policy's maximum age, or out of attempts: the delivery ends, its last
/// error kept (an expiry names it in its message).
pub fn expiry(d: &DeliveryRecord, policy: &RetryPolicy, now: OffsetDateTime) -> Option<Ending> {
    if now - d.created_at > policy.max_age {
        let within = format!("not published within {} s", policy.max_age.as_secs());
        let message = match &d.last_error {
            Some(e) => format!("{within}; last error: {}", e.message),
            None => within,
        };
        return Some(Ending::failed(FailureReason::Expired, message));
    }
    if d.attempts > policy.max_attempts {
        return Some(Ending::End {
            status: DeliveryStatus::Failed,
            error: d.last_error.clone().unwrap_or_else(|| {
                LastError::new(FailureReason::TooManyAttempts, "no attempt succeeded")
            }),
        });
    }
    None
}

/// The account a delivery publishes with, if it can: an ACTIVE one. Otherwise the
/// ending: FAILED `account_unlinked` when it is gone, `account_needs_reauth` when it
/// must be linked again.
pub fn usable_account(account: Option<SealedAccount>) -> Result<SealedAccount, Ending> {
    match account {
        Some(a) if a.status == AccountStatus::Active => Ok(a),
        Some(_) => Err(Ending::failed(
            FailureReason::AccountNeedsReauth,
            "the account must be linked again; retry the post after that",
        )),
        None => Err(Ending::failed(
            FailureReason::AccountUnlinked,
            "the account is not linked",
        )),
    }
}

/// How far before a part's first send a lookup also reads: older posts with the same
/// text are never adopted ([`adoptable`]), but seeing one tells a duplicate refusal
/// apart from our own unanswered request.
pub const DUPLICATE_LOOKBACK_SECS: i64 = 3600;

/// What a lookup of a part whose outcome is unknown reads: from
/// [`DUPLICATE_LOOKBACK_SECS`] before the first attempt since the last confirmed part
/// (a day back if that is not known) until now. Only posts made since that first
/// attempt may be adopted.
pub fn reconcile_window(d: &DeliveryRecord, now: OffsetDateTime) -> Window {
    Window {
        since_unix: d
            .unconfirmed_since
            .map(|t| t.unix_timestamp() - DUPLICATE_LOOKBACK_SECS)
            .unwrap_or_else(|| now.unix_timestamp() - 24 * 3600),
        until_unix: now.unix_timestamp(),
    }
}

/// Waiting out a rate limit until `until_unix` without calling the network: not an
/// attempt. The delivery waits UNCERTAIN when the previous attempt's outcome is still
/// unknown (so the next one looks first), RETRYING otherwise.
pub fn hold(d: &DeliveryRecord, until_unix: i64, now: OffsetDateTime) -> (Conclusion, Next) {
    let status = if d.needs_reconcile() {
        DeliveryStatus::Uncertain
    } else {
        DeliveryStatus::Retrying
    };
    let until = OffsetDateTime::from_unix_timestamp(until_unix).unwrap_or(now);
    let wait = Duration::from_secs((until_unix - now.unix_timestamp()).max(1) as u64);
    (
        Conclusion::Deferred { status, until },
        Next::RetryIn(wait.min(MAX_VISIBILITY)),
    )
}

/// A message for a delivery that could not be claimed for `op`: acknowledged when
/// there is nothing to do (ended, gone, nothing to delete); otherwise back when it is
/// due, or soon when a live invocation holds it (at least a second from now).
pub fn when_unclaimable(op: DeliveryOp, d: Option<&DeliveryRecord>, now: OffsetDateTime) -> Next {
    let due = match (op, d) {
        (DeliveryOp::Publish, Some(d)) if !d.status.is_terminal() => {
            if d.status == DeliveryStatus::Publishing {
                d.lease_until.unwrap_or(now).min(now + LEASED_RECHECK)
            } else {
                d.next_attempt_at.unwrap_or(now)
            }
        }
        (DeliveryOp::Delete, Some(d)) if d.status == DeliveryStatus::Deleting => {
            d.lease_until.unwrap_or(now)
        }
        _ => return Next::Done,
    };
    let wait = (due - now).max(time::Duration::SECOND);
    Next::RetryIn(Duration::try_from(wait).unwrap_or(Duration::from_secs(1)))
}

/// After a delete call failed with `err` on the message's `receive_count`-th receive
/// (SQS's `ApproximateReceiveCount`: deletes count no attempts of their own): a refusal
/// for good (or a refused token) leaves the post PUBLISHED with the error; anything
/// else stays DELETING and comes back after the network's time or the backoff for that
/// receive (at least a second), so a network down for an hour is not asked every two
/// seconds until the message reaches the DLQ.
pub fn after_delete_failure(
    err: &PublishError,
    receive_count: u32,
    policy: &RetryPolicy,
    unit: f64,
    now: OffsetDateTime,
) -> (Conclusion, Next) {
    let error = Some(LastError::new(
        FailureReason::of_delete(err),
        err.to_string(),
    ));
    let after = match err {
        PublishError::Permanent { .. } | PublishError::AuthRevoked { .. } => {
            return (
                Conclusion::Delete {
                    status: DeliveryStatus::Published,
                    error,
                },
                Next::Done,
            )
        }
        PublishError::RateLimited {
            until_unix: Some(u),
            ..
        } => Some(Duration::from_secs((u - now.unix_timestamp()).max(1) as u64)),
        PublishError::Retryable { after, .. } => *after,
        _ => None,
    };
    (
        Conclusion::Delete {
            status: DeliveryStatus::Deleting,
            error,
        },
        Next::RetryIn(
            policy
                .next_wait(receive_count.max(1), unit, after)
                .max(Duration::from_secs(1)),
        ),
    )
}
