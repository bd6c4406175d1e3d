//! The first-part lease on DynamoDB Local, raced: several deliveries with the same
//! first-part text wait on a holder that has just ended, and all try to take the
//! lease over at once. One takes it; every other one reads it again and waits for the
//! new holder. None may get a conflict: the worker would take that for a lost lease
//! on its own delivery, acknowledge its message and leave the delivery PUBLISHING
//! with nothing to bring it back.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_aws::DeliveryKey;
use crosspost_cli::sandbox::DEMO_X_ACCOUNT;
use crosspost_core::delivery::{Claim, Conclusion, FirstPartLease, Lease};
use crosspost_core::{
    DeliveryOp, DeliveryStatus, DeliveryStore, FailureReason, LastError, Network, PostId,
};
use crosspost_tests::{post, record_as_intake, sandbox};
use serde_json::json;
use time::{Duration, OffsetDateTime};

/// A post to the demo X account written as intake writes it (not queued), and its
/// delivery claimed for publishing.
async fn claimed(sb: &crosspost_cli::Sandbox, n: usize) -> Lease {
    let mut body = post(&format!("抢同一把锁 {n}"));
    body["targets"] = json!([{"network": "x", "account_id": DEMO_X_ACCOUNT}]);
    let id = PostId::from_uuid(uuid::Uuid::now_v7());
    let now = OffsetDateTime::now_utc();
    let key = DeliveryKey {
        network: Network::X,
        account_id: DEMO_X_ACCOUNT.into(),
    };
    record_as_intake(
        sb,
        &id,
        &body,
        std::slice::from_ref(&key),
        "{}",
        now + Duration::minutes(5),
    )
    .await;
    match sb
        .posts
        .claim(
            DeliveryOp::Publish,
            &id,
            &key,
            &format!("racer-{n}"),
            now + Duration::minutes(5),
            now,
        )
        .await
        .unwrap()
    {
        Claim::Claimed(lease, ..) => lease,
        other => panic!("delivery {n} not claimed: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn waiters_racing_for_a_freed_lease_never_get_a_conflict() {
    let sb = sandbox().await;
    // A digest of its own: intake's reservations (of the posts' real texts) stay apart.
    let digest = format!("race-{}", uuid::Uuid::now_v7().simple());
    let expires = OffsetDateTime::now_utc() + Duration::hours(2);
    let holder = claimed(&sb, 0).await;
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        sb.posts
            .take_first_part_lease(&holder, &digest, expires, now)
            .await
            .unwrap(),
        FirstPartLease::Taken
    );
    let mut racers = Vec::new();
    for n in 1..=8 {
        racers.push(claimed(&sb, n).await);
    }
    // Each waits while the holder is out.
    let now = OffsetDateTime::now_utc();
    let waiting = sb
        .posts
        .take_first_part_lease(&racers[0], &digest, expires, now)
        .await
        .unwrap();
    assert_eq!(
        waiting,
        FirstPartLease::HeldBy(holder.post_id().clone()),
        "the holder has not settled"
    );
    // The holder ends: every waiter tries to take the lease over at once.
    sb.posts
        .conclude(
            &holder,
            &Conclusion::Ended {
                status: DeliveryStatus::Failed,
                error: LastError {
                    kind: FailureReason::Permanent,
                    message: "refused".into(),
                },
            },
            now,
        )
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let results = futures::future::join_all(
        racers
            .iter()
            .map(|lease| sb.posts.take_first_part_lease(lease, &digest, expires, now)),
    )
    .await;
    let results: Vec<FirstPartLease> = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("racer {}: {e}", i + 1)))
        .collect();
    let winners: Vec<usize> = (0..results.len())
        .filter(|&i| results[i] == FirstPartLease::Taken)
        .collect();
    assert_eq!(winners.len(), 1, "one takes it: {results:?}");
    let winner = racers[winners[0]].post_id().clone();
    for (i, r) in results.iter().enumerate() {
        if i != winners[0] {
            assert_eq!(
                r,
                &FirstPartLease::HeldBy(winner.clone()),
                "racer {}",
                i + 1
            );
        }
    }
    sb.stop().await;
}
