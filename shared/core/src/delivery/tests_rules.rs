//! Every transition of DESIGN section 4, on the in-memory store (which keeps the same
//! conditions as PostsTable) and the pure rules.

use super::memory::MemoryDeliveries;
use super::rules::{self, Effect, Ending, Next};
use super::*;
use crate::ports::{DeliveryStore, StoreError};
use crate::retry::RetryPolicy;
use crate::{Overflow, PublishError, RateLimitScope};
use std::time::Duration;
use time::OffsetDateTime;

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn secs(n: i64) -> time::Duration {
    time::Duration::seconds(n)
}

const ACCOUNT: &str = "42";

fn key() -> DeliveryKey {
    DeliveryKey {
        network: Network::X,
        account_id: "42".into(),
    }
}

fn setup() -> (MemoryDeliveries, PostId) {
    let store = MemoryDeliveries::default();
    let post_id = PostId::parse("0190a0b0-0000-7000-8000-000000000001").unwrap();
    store.insert_post(
        PostRecord {
            post_id: post_id.clone(),
            user_id: "u1".into(),
            source_id: "s1".into(),
            text: "早安".into(),
            media: Vec::new(),
            link: None,
            overflow: Overflow::Thread,
            created_at: None,
            received_at: t0(),
            mentions: Default::default(),
            texts: Vec::new(),
        },
        &[key()],
    );
    (store, post_id)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    // The memory store never waits, so one poll finishes every call.
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the memory store waited"),
    }
}

fn claim(store: &MemoryDeliveries, post_id: &PostId, owner: &str, now: OffsetDateTime) -> Claim {
    block_on(store.claim(
        DeliveryOp::Publish,
        post_id,
        &key(),
        owner,
        now + secs(60),
        now,
    ))
    .unwrap()
}

fn claimed(
    store: &MemoryDeliveries,
    post_id: &PostId,
    owner: &str,
    now: OffsetDateTime,
) -> (Lease, DeliveryRecord) {
    match claim(store, post_id, owner, now) {
        Claim::Claimed(lease, d, _) => (lease, d),
        Claim::NotClaimable(d) => panic!("not claimable: {d:?}"),
    }
}

fn conclude(
    store: &MemoryDeliveries,
    lease: &Lease,
    c: Conclusion,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    block_on(store.conclude(lease, &c, now))
}

fn part(index: u32, id: &str, at: OffsetDateTime) -> PublishedPart {
    PublishedPart {
        index,
        remote_id: id.into(),
        url: Some(format!("https://x.com/i/status/{id}")),
        attempted_at: at,
        media: Vec::new(),
    }
}

const POLICY: RetryPolicy = RetryPolicy {
    base: Duration::from_secs(2),
    cap: Duration::from_secs(900),
    max_attempts: 3,
    max_age: Duration::from_secs(24 * 3600),
};

fn retryable() -> PublishError {
    PublishError::Retryable {
        after: None,
        detail: "503".into(),
    }
}

#[test]
fn pending_is_claimed_into_publishing_and_published_with_its_parts() {
    let (store, post_id) = setup();
    let (lease, d) = claimed(&store, &post_id, "req-1", t0());
    assert_eq!(d.status, DeliveryStatus::Publishing);
    assert_eq!(
        (d.attempts, d.prev_status),
        (1, Some(DeliveryStatus::Pending))
    );
    assert_eq!(d.unconfirmed_since, Some(t0()));
    assert!(!d.needs_reconcile());

    block_on(store.record_part(&lease, &part(0, "1", t0()), t0() + secs(1))).unwrap();
    let c = Conclusion::Published {
        remote_url: Some("https://x.com/i/status/1".into()),
    };
    conclude(&store, &lease, c, t0() + secs(2)).unwrap();
    let d = store.delivery(&post_id, &key()).unwrap();
    assert_eq!(d.status, DeliveryStatus::Published);
    assert_eq!(d.parts.len(), 1);
    assert_eq!(d.lease_owner, None);
    assert_eq!(d.unconfirmed_since, None);
    assert_eq!(d.remote_url.as_deref(), Some("https://x.com/i/status/1"));
    // A published delivery is never claimed again; its message is acknowledged.
    let Claim::NotClaimable(Some(d)) = claim(&store, &post_id, "req-2", t0() + secs(3)) else {
        panic!("claimed a published delivery");
    };
    assert_eq!(
        rules::when_unclaimable(DeliveryOp::Publish, Some(&d), t0()),
        Next::Done
    );
}

#[test]
fn a_retryable_failure_waits_in_retrying_and_is_claimed_again_only_when_due() {
    let (store, post_id) = setup();
    let (lease, d) = claimed(&store, &post_id, "req-1", t0());
    let verdict = rules::after_failure(&retryable(), d.attempts, false, &POLICY, 1.0, t0());
    assert_eq!(verdict.effect, None);
    let Ending::Retry { status, wait, .. } = &verdict.ending else {
        panic!("{verdict:?}");
    };
    assert_eq!(
        (*status, *wait),
        (DeliveryStatus::Retrying, Duration::from_secs(2))
    );
    conclude(&store, &lease, verdict.ending.conclusion(t0()), t0()).unwrap();
    let d = store.delivery(&post_id, &key()).unwrap();
    assert_eq!(d.status, DeliveryStatus::Retrying);
    assert_eq!(d.last_error.as_ref().unwrap().kind, "retryable");
    assert_eq!(d.next_attempt_at, Some(t0() + secs(2)));

    // Not due: the message comes back when it is.
    let Claim::NotClaimable(Some(d)) = claim(&store, &post_id, "req-2", t0() + secs(1)) else {
        panic!("claimed before it was due");
    };
    assert_eq!(
        rules::when_unclaimable(DeliveryOp::Publish, Some(&d), t0() + secs(1)),
        Next::RetryIn(Duration::from_secs(1))
    );
    let (_, d) = claimed(&store, &post_id, "req-2", t0() + secs(2));
    assert_eq!(
        (d.attempts, d.prev_status),
        (2, Some(DeliveryStatus::Retrying))
    );
    assert!(!d.needs_reconcile());
}

#[test]
fn an_unknown_outcome_waits_uncertain_and_the_next_claim_reconciles_first() {
    let (store, post_id) = setup();
    let (lease, d) = claimed(&store, &post_id, "req-1", t0());
    let err = PublishError::Uncertain {
        detail: "timed out".into(),
    };
    let verdict = rules::after_failure(&err, d.attempts, false, &POLICY, 0.0, t0());
    conclude(&store, &lease, verdict.ending.conclusion(t0()), t0()).unwrap();
    let (_, d) = claimed(&store, &post_id, "req-2", t0() + secs(1));
    assert!(d.needs_reconcile());
    // The lookup covers every attempt since the last confirmed part, and an hour
    // before it, to see an older post a duplicate refusal would be about.
    let w = rules::reconcile_window(&d, t0() + secs(1));
    assert_eq!(
        (w.since_unix, w.until_unix),
        (
            t0().unix_timestamp() - rules::DUPLICATE_LOOKBACK_SECS,
            t0().unix_timestamp() + 1
        )
    );
}

#[test]
fn a_lookup_that_fails_keeps_the_delivery_uncertain() {
    let verdict = rules::after_failure(&retryable(), 1, false, &POLICY, 0.5, t0());
    let Ending::Retry { status, .. } = verdict.ending.still_uncertain() else {
        panic!("ended");
    };
    assert_eq!(status, DeliveryStatus::Uncertain);
    let permanent = PublishError::Permanent {
        reason: "no".into(),
    };
    let end = rules::after_failure(&permanent, 1, false, &POLICY, 0.5, t0()).ending;
    assert_eq!(end.clone().still_uncertain(), end);
}

#[test]
fn a_live_lease_is_not_claimed_and_an_expired_one_is_claimed_with_reconcile() {
    let (store, post_id) = setup();
    let (_, _) = claimed(&store, &post_id, "req-1", t0());
    let Claim::NotClaimable(Some(d)) = claim(&store, &post_id, "req-2", t0() + secs(10)) else {
        panic!("two holders");
    };
    // Looks again within five seconds, when that invocation has most likely finished.
    assert_eq!(
        rules::when_unclaimable(DeliveryOp::Publish, Some(&d), t0() + secs(10)),
        Next::RetryIn(rules::LEASED_RECHECK)
    );
    // The first holder died: its lease runs out at 60 s.
    let (_, d) = claimed(&store, &post_id, "req-2", t0() + secs(61));
    assert_eq!(d.prev_status, Some(DeliveryStatus::Publishing));
    assert!(d.needs_reconcile());
    assert_eq!(d.attempts, 2);
}

#[test]
fn a_lost_lease_cannot_write() {
    let (store, post_id) = setup();
    let (old, _) = claimed(&store, &post_id, "req-1", t0());
    let (_, _) = claimed(&store, &post_id, "req-2", t0() + secs(61));
    let err = block_on(store.record_part(&old, &part(0, "1", t0()), t0() + secs(62)));
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    let c = Conclusion::Published { remote_url: None };
    assert!(matches!(
        conclude(&store, &old, c, t0() + secs(62)),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .delivery(&post_id, &key())
            .unwrap()
            .lease_owner
            .as_deref(),
        Some("req-2")
    );
}

#[test]
fn a_thread_resumes_after_its_last_confirmed_part() {
    let (store, post_id) = setup();
    let (lease, _) = claimed(&store, &post_id, "req-1", t0());
    block_on(store.record_part(&lease, &part(0, "1", t0()), t0() + secs(5))).unwrap();
    let verdict = rules::after_failure(&retryable(), 1, false, &POLICY, 0.0, t0() + secs(6));
    conclude(
        &store,
        &lease,
        verdict.ending.conclusion(t0() + secs(6)),
        t0() + secs(6),
    )
    .unwrap();
    let (_, d) = claimed(&store, &post_id, "req-2", t0() + secs(7));
    assert_eq!(d.parts.len(), 1);
    assert_eq!(d.parts[0].remote_id, "1");
    // The second part's uncertainty started when the first was confirmed.
    assert_eq!(d.unconfirmed_since, Some(t0() + secs(5)));
}

#[test]
fn permanent_and_revoked_end_the_delivery_and_revoked_flags_the_account() {
    let permanent = PublishError::Permanent {
        reason: "too long".into(),
    };
    let v = rules::after_failure(&permanent, 1, false, &POLICY, 0.5, t0());
    assert_eq!(v.ending.next(), Next::Done);
    assert!(
        matches!(&v.ending, Ending::End { status: DeliveryStatus::Failed, error } if error.kind == "permanent")
    );

    let revoked = PublishError::AuthRevoked {
        detail: "401".into(),
    };
    let v = rules::after_failure(&revoked, 1, false, &POLICY, 0.5, t0());
    assert_eq!(v.effect, Some(Effect::NeedsReauth));
    assert!(
        matches!(&v.ending, Ending::End { status: DeliveryStatus::NeedsReauth, error } if error.kind == "auth_revoked")
    );
}

#[test]
fn a_rate_limit_holds_its_scope_until_the_reset_and_waits_that_long() {
    for scope in [RateLimitScope::Account, RateLimitScope::App] {
        let err = PublishError::RateLimited {
            until_unix: Some(t0().unix_timestamp() + 600),
            scope,
            detail: "429".into(),
        };
        let v = rules::after_failure(&err, 1, false, &POLICY, 0.0, t0());
        assert_eq!(
            v.effect,
            Some(Effect::Hold {
                until_unix: t0().unix_timestamp() + 600,
                scope
            })
        );
        assert_eq!(v.ending.next(), Next::RetryIn(Duration::from_secs(600)));
    }
    // No reset time: the policy's cap.
    let err = PublishError::RateLimited {
        until_unix: None,
        scope: RateLimitScope::Account,
        detail: "429".into(),
    };
    let v = rules::after_failure(&err, 1, false, &POLICY, 0.0, t0());
    assert_eq!(v.ending.next(), Next::RetryIn(POLICY.cap));
}

#[test]
fn a_hold_gives_the_attempt_back_and_keeps_an_unknown_outcome_uncertain() {
    let (store, post_id) = setup();
    let (lease, d) = claimed(&store, &post_id, "req-1", t0());
    let until = t0().unix_timestamp() + 120;
    let (c, next) = rules::hold(&d, until, t0());
    assert_eq!(next, Next::RetryIn(Duration::from_secs(120)));
    conclude(&store, &lease, c, t0()).unwrap();
    let d = store.delivery(&post_id, &key()).unwrap();
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Retrying, 0));
    assert_eq!(d.next_attempt_at, Some(t0() + secs(120)));

    // After an uncertain attempt the hold keeps the need to look first.
    store.update(&post_id, &key(), |d| {
        d.prev_status = Some(DeliveryStatus::Uncertain)
    });
    let d = store.delivery(&post_id, &key()).unwrap();
    let (c, _) = rules::hold(&d, until, t0());
    assert!(matches!(
        c,
        Conclusion::Deferred {
            status: DeliveryStatus::Uncertain,
            ..
        }
    ));
}

#[test]
fn the_last_attempt_fails_instead_of_retrying() {
    let v = rules::after_failure(&retryable(), POLICY.max_attempts, false, &POLICY, 0.5, t0());
    assert!(
        matches!(&v.ending, Ending::End { status: DeliveryStatus::Failed, error } if error.kind == "retryable")
    );
}

#[test]
fn age_and_attempts_expire_a_delivery_keeping_its_last_error() {
    let (store, post_id) = setup();
    let mut d = store.delivery(&post_id, &key()).unwrap();
    assert_eq!(rules::expiry(&d, &POLICY, t0() + secs(3600)), None);
    d.last_error = Some(LastError::new(FailureReason::Retryable, "503 from X"));
    let Some(Ending::End { status, error }) =
        rules::expiry(&d, &POLICY, t0() + secs(24 * 3600 + 1))
    else {
        panic!("not expired");
    };
    assert_eq!(status, DeliveryStatus::Failed);
    assert_eq!(error.kind, FailureReason::Expired);
    assert_eq!(
        error.message,
        "not published within 86400 s; last error: 503 from X"
    );

    d.attempts = POLICY.max_attempts + 1;
    let Some(Ending::End { error, .. }) = rules::expiry(&d, &POLICY, t0()) else {
        panic!("not out of attempts");
    };
    assert_eq!(error.kind, FailureReason::Retryable);
    d.last_error = None;
    let Some(Ending::End { error, .. }) = rules::expiry(&d, &POLICY, t0()) else {
        panic!("not out of attempts");
    };
    assert_eq!(error.kind, FailureReason::TooManyAttempts);
}

#[test]
fn an_account_gone_or_not_active_ends_the_delivery() {
    assert!(matches!(
        rules::usable_account(None),
        Err(Ending::End { error, .. }) if error.kind == FailureReason::AccountUnlinked
    ));
    let account = crate::LinkedAccount {
        user_id: "u1".into(),
        network: Network::X,
        account_id: "42".into(),
        display_name: "Lily".into(),
        status: crate::AccountStatus::NeedsReauth,
        access_token: crate::SealedToken::new("sealed"),
        rate_limited_until: None,
        refresh_token: None,
        access_expires_at: None,
        token_version: 1,
    };
    assert!(matches!(
        rules::usable_account(Some(account.clone())),
        Err(Ending::End { error, .. }) if error.kind == FailureReason::AccountNeedsReauth
    ));
    let active = crate::LinkedAccount {
        status: crate::AccountStatus::Active,
        ..account
    };
    assert_eq!(rules::usable_account(Some(active.clone())), Ok(active));
}

#[test]
fn a_delete_is_claimed_only_while_deleting_and_ends_by_the_network_answer() {
    let (store, post_id) = setup();
    let delete = |now| {
        block_on(store.claim(
            DeliveryOp::Delete,
            &post_id,
            &key(),
            "del-1",
            now + secs(60),
            now,
        ))
        .unwrap()
    };
    // Nothing to delete while PENDING: the message is acknowledged.
    let Claim::NotClaimable(d) = delete(t0()) else {
        panic!("claimed a pending delivery for delete");
    };
    assert_eq!(
        rules::when_unclaimable(DeliveryOp::Delete, d.as_ref(), t0()),
        Next::Done
    );

    store.update(&post_id, &key(), |d| d.status = DeliveryStatus::Deleting);
    let Claim::Claimed(lease, _, _) = delete(t0()) else {
        panic!("not claimed");
    };
    // A second copy of the message waits for the lease.
    let Claim::NotClaimable(d) = delete(t0() + secs(1)) else {
        panic!("two delete holders");
    };
    assert_eq!(
        rules::when_unclaimable(DeliveryOp::Delete, d.as_ref(), t0() + secs(1)),
        Next::RetryIn(Duration::from_secs(59))
    );
    // A temporary failure stays DELETING; a refusal leaves it PUBLISHED.
    let (c, next) = rules::after_delete_failure(&retryable(), 1, &POLICY, 1.0, t0());
    assert!(matches!(next, Next::RetryIn(w) if w >= Duration::from_secs(1)));
    // Later receives wait longer, up to the cap.
    let waits: Vec<Next> = [2, 5, 20]
        .into_iter()
        .map(|receive| rules::after_delete_failure(&retryable(), receive, &POLICY, 1.0, t0()).1)
        .collect();
    assert_eq!(
        waits,
        [4, 32, 900].map(|s| Next::RetryIn(Duration::from_secs(s)))
    );
    conclude(&store, &lease, c, t0()).unwrap();
    let d = store.delivery(&post_id, &key()).unwrap();
    assert_eq!(d.status, DeliveryStatus::Deleting);
    assert_eq!(d.last_error.unwrap().kind, "delete_retryable");

    let Claim::Claimed(lease, _, _) = delete(t0() + secs(2)) else {
        panic!("not claimed again");
    };
    let refused = PublishError::Permanent {
        reason: "not yours".into(),
    };
    let (c, next) = rules::after_delete_failure(&refused, 2, &POLICY, 1.0, t0());
    assert_eq!(next, Next::Done);
    conclude(&store, &lease, c, t0() + secs(2)).unwrap();
    let d = store.delivery(&post_id, &key()).unwrap();
    assert_eq!(d.status, DeliveryStatus::Published);
    assert_eq!(d.last_error.unwrap().kind, "delete_permanent");

    store.update(&post_id, &key(), |d| d.status = DeliveryStatus::Deleting);
    let Claim::Claimed(lease, _, _) = delete(t0() + secs(3)) else {
        panic!("not claimed");
    };
    let done = Conclusion::Delete {
        status: DeliveryStatus::Deleted,
        error: None,
    };
    conclude(&store, &lease, done, t0() + secs(3)).unwrap();
    let d = store.delivery(&post_id, &key()).unwrap();
    assert_eq!((d.status, d.last_error), (DeliveryStatus::Deleted, None));
}

#[test]
fn a_message_for_no_delivery_is_acknowledged() {
    assert_eq!(
        rules::when_unclaimable(DeliveryOp::Publish, None, t0()),
        Next::Done
    );
}

#[test]
fn a_remote_post_belongs_to_the_first_delivery_that_records_it() {
    let (store, first) = setup();
    let second = PostId::parse("0190a0b0-0000-7000-8000-000000000002").unwrap();
    let mut post = block_on(store.get_post(&first)).unwrap().unwrap();
    post.post_id = second.clone();
    store.insert_post(post, &[key()]);
    let (a, _) = claimed(&store, &first, "req-1", t0());
    let (b, _) = claimed(&store, &second, "req-2", t0());
    let same = part(0, "777", t0());
    assert_eq!(
        block_on(store.record_part(&a, &same, t0())).unwrap(),
        Recorded::Ours
    );
    assert_eq!(
        block_on(store.record_part(&b, &same, t0())).unwrap(),
        Recorded::OwnedElsewhere {
            post_id: first.clone(),
            account_id: ACCOUNT.into()
        }
    );
    // Nothing was written for the second.
    assert!(store.delivery(&second, &key()).unwrap().parts.is_empty());
}

#[test]
fn a_duplicate_refusal_fails_at_once_unless_an_unanswered_request_explains_it() {
    let dup = PublishError::Duplicate {
        detail: "X answered 403: You are not allowed to create a Tweet with duplicate content."
            .into(),
    };
    let v = rules::after_failure(&dup, 1, false, &POLICY, 0.5, t0());
    let Ending::End { status, error } = &v.ending else {
        panic!("{v:?}");
    };
    assert_eq!(*status, DeliveryStatus::Failed);
    assert_eq!(error.kind, FailureReason::DuplicateContent);
    assert!(
        error.message.contains("duplicate content"),
        "{}",
        error.message
    );
    // Our own earlier request may have made it: look again.
    let v = rules::after_failure(&dup, 1, true, &POLICY, 0.5, t0());
    assert!(matches!(
        v.ending,
        Ending::Retry {
            status: DeliveryStatus::Uncertain,
            ..
        }
    ));
}

#[test]
fn a_reply_whose_parent_is_not_visible_is_retried_then_fails_with_its_own_kind() {
    let err = PublishError::ParentNotVisible {
        detail: "the Tweet you are replying to has been deleted or is not visible".into(),
    };
    for attempt in 1..rules::PARENT_NOT_VISIBLE_ATTEMPTS {
        let v = rules::after_failure(&err, attempt, false, &POLICY, 0.5, t0());
        assert!(matches!(
            v.ending,
            Ending::Retry {
                status: DeliveryStatus::Retrying,
                ..
            }
        ));
    }
    let v = rules::after_failure(
        &err,
        rules::PARENT_NOT_VISIBLE_ATTEMPTS,
        false,
        &POLICY,
        0.5,
        t0(),
    );
    assert!(
        matches!(&v.ending, Ending::End { error, .. } if error.kind == "reply_parent_unavailable")
    );
}

#[test]
fn only_posts_made_after_the_first_send_may_be_adopted() {
    let post = |id: &str, created_unix| crate::Candidate {
        post: crate::RemotePost {
            id: id.into(),
            url: String::new(),
            hold: None,
        },
        created_unix,
    };
    let sent = t0();
    let found = vec![
        post("new", sent.unix_timestamp() + 3),
        post("same-second", sent.unix_timestamp()),
        post("old", sent.unix_timestamp() - 60),
    ];
    let ids: Vec<String> = rules::adoptable(found, Some(sent))
        .into_iter()
        .map(|c| c.post.id)
        .collect();
    assert_eq!(ids, ["new", "same-second"]);
}
