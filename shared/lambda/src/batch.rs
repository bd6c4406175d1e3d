//! The SQS partial-batch driver every worker uses. Each record is parsed on its own, so
//! one bad body fails only itself; records run concurrently, bounded; the answer lists
//! exactly the records that must come back.
//!
//! A record whose work panics fails alone too: the panic is caught (the workspace
//! builds every profile with `panic = "unwind"`, also the release build cargo-lambda
//! makes, which would otherwise use `abort`), logged, and the record is reported for
//! retry, while the batch's other records finish and the instance stays warm. Under
//! `abort`, one panic would end the process, send the whole batch back, and make the
//! next call a cold start.
//!
//! A batch can be stopped (the worker stops it a little before the invocation's
//! deadline): the records still running are dropped where they are, as a timeout
//! would leave them, and reported for retry, while the answer and what the finished
//! records made (their events) still go out.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::stream::{self, StreamExt};
use futures::FutureExt;
use serde::de::DeserializeOwned;
use std::future::Future;

/// How long before the invocation's deadline a batch is stopped: time to send what the
/// finished records made (their events) and the answer.
pub const STOP_BEFORE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// The `stop` of [`run_batch_with`] for an invocation whose deadline is `deadline_ms`
/// (Unix milliseconds, as the runtime API gives it): [`STOP_BEFORE_DEADLINE`] before it.
pub fn stop_before_deadline(deadline_ms: u64) -> tokio::time::Sleep {
    let now_ms = u64::try_from(crosspost_core::clock::unix_ms(
        time::OffsetDateTime::now_utc(),
    ))
    .unwrap_or(0);
    let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    tokio::time::sleep(left.saturating_sub(STOP_BEFORE_DEADLINE))
}

/// What the driver knows of a record besides its body.
#[derive(Debug, Clone)]
pub struct RecordContext {
    pub message_id: String,
    pub receipt_handle: Option<String>,
    /// How many times SQS has handed out this message, this time included.
    pub receive_count: u32,
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Done with: the message may be deleted.
    Done,
    /// The message must come back (after its visibility timeout).
    Retry,
}

/// Runs `handle` on every record whose body parses as `T`, at most `concurrency` at a
/// time, and reports the records to keep.
pub async fn run_batch<T, F, Fut>(
    event: SqsEvent,
    concurrency: usize,
    handle: F,
) -> SqsBatchResponse
where
    T: DeserializeOwned,
    F: Fn(T, RecordContext) -> Fut,
    Fut: Future<Output = RecordOutcome>,
{
    run_batch_with(
        event,
        concurrency,
        handle,
        |_ctx| async {},
        std::future::pending(),
    )
    .await
}

/// [`run_batch`], calling `on_malformed` for each record whose body does not parse
/// (a worker makes it visible again at once, so a poison message reaches the DLQ after
/// maxReceiveCount quick receives instead of as many visibility timeouts), and
/// stopping when `stop` completes: the records not finished by then are dropped and
/// reported for retry.
pub async fn run_batch_with<T, F, Fut, M, MFut, S>(
    event: SqsEvent,
    concurrency: usize,
    handle: F,
    on_malformed: M,
    stop: S,
) -> SqsBatchResponse
where
    T: DeserializeOwned,
    F: Fn(T, RecordContext) -> Fut,
    Fut: Future<Output = RecordOutcome>,
    M: Fn(RecordContext) -> MFut,
    MFut: Future<Output = ()>,
    S: Future<Output = ()>,
{
    let handle = &handle;
    let on_malformed = &on_malformed;
    // Every record that can be reported, in order; those finished are taken out.
    let mut unfinished: Vec<String> = event
        .records
        .iter()
        .filter_map(|r| r.message_id.clone())
        .collect();
    let finished: Vec<(String, bool)> = stream::iter(event.records)
        .map(|record| async move {
            let Some(message_id) = record.message_id.clone() else {
                // Without an id the record cannot be reported; SQS never sends one.
                tracing::error!("SQS record without a message id; skipped");
                return None;
            };
            let ctx = RecordContext {
                message_id: message_id.clone(),
                receipt_handle: record.receipt_handle.clone(),
                receive_count: record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1),
            };
            let body = record.body.as_deref().unwrap_or("");
            match serde_json::from_str::<T>(body) {
                Err(e) => {
                    tracing::error!(%message_id, error = %e, "malformed message body; it will reach the DLQ");
                    on_malformed(ctx).await;
                    Some((message_id, true))
                }
                Ok(msg) => match std::panic::AssertUnwindSafe(handle(msg, ctx))
                    .catch_unwind()
                    .await
                {
                    Ok(RecordOutcome::Done) => Some((message_id, false)),
                    Ok(RecordOutcome::Retry) => Some((message_id, true)),
                    Err(panic) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        tracing::error!(%message_id, panic = %what, "the record's work panicked; it alone comes back");
                        Some((message_id, true))
                    }
                },
            }
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|outcome| async move { outcome })
        .take_until(stop)
        .collect()
        .await;
    let mut failures = Vec::new();
    for (id, failed) in finished {
        unfinished.retain(|u| *u != id);
        if failed {
            failures.push(id);
        }
    }
    if !unfinished.is_empty() {
        tracing::warn!(
            records = unfinished.len(),
            "the batch was stopped before its deadline; the records still running come back"
        );
    }
    failures.extend(unfinished);
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::sqs::SqsMessage;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Msg {
        n: u32,
    }

    fn event(bodies: &[&str]) -> SqsEvent {
        let mut ev = SqsEvent::default();
        ev.records = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let mut m = SqsMessage::default();
                m.message_id = Some(format!("m{i}"));
                m.body = Some((*b).to_owned());
                m
            })
            .collect();
        ev
    }

    #[tokio::test]
    async fn a_bad_body_fails_alone_and_retries_are_reported() {
        let ev = event(&[r#"{"n":1}"#, "not json", r#"{"n":2}"#, r#"{"n":3}"#]);
        let resp = run_batch(ev, 2, |m: Msg, _ctx| async move {
            if m.n == 2 {
                RecordOutcome::Retry
            } else {
                RecordOutcome::Done
            }
        })
        .await;
        let mut ids: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        ids.sort();
        assert_eq!(ids, ["m1", "m2"]);
    }

    #[tokio::test]
    async fn a_panicking_record_fails_alone_and_the_others_finish() {
        let ev = event(&[r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]);
        let done = std::sync::Mutex::new(Vec::new());
        let resp = run_batch(ev, 3, |m: Msg, _ctx| {
            let done = &done;
            async move {
                tokio::task::yield_now().await;
                if m.n == 2 {
                    panic!("record 2 is poison");
                }
                done.lock().unwrap().push(m.n);
                RecordOutcome::Done
            }
        })
        .await;
        let ids: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["m1"]);
        let mut done = done.into_inner().unwrap();
        done.sort();
        assert_eq!(done, [1, 3]);
    }

    #[tokio::test]
    async fn a_stopped_batch_reports_the_records_still_running_and_keeps_the_finished() {
        let ev = event(&[r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#, r#"{"n":4}"#]);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop_tx = std::sync::Mutex::new(Some(stop_tx));
        let resp = run_batch_with(
            ev,
            4,
            |m: Msg, _ctx| {
                let stop_tx = &stop_tx;
                async move {
                    match m.n {
                        // Never ends (a call that hangs until the deadline).
                        2 => std::future::pending().await,
                        3 => RecordOutcome::Retry,
                        4 => {
                            // The last to finish stops the batch.
                            tokio::task::yield_now().await;
                            if let Some(tx) = stop_tx.lock().unwrap().take() {
                                let _ = tx.send(());
                            }
                            RecordOutcome::Done
                        }
                        _ => RecordOutcome::Done,
                    }
                }
            },
            |_ctx| async {},
            async {
                let _ = stop_rx.await;
            },
        )
        .await;
        let mut ids: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        ids.sort();
        assert_eq!(ids, ["m1", "m2"]);
    }

    /// The driver's promise holds only if panics unwind in the deployed build too:
    /// cargo-lambda adds `panic = "abort"` unless the release profile names a strategy.
    #[test]
    fn the_release_profile_unwinds() {
        let manifest = include_str!("../../../Cargo.toml");
        let release = manifest
            .split("\n[")
            .find(|section| section.starts_with("profile.release]"))
            .expect("a [profile.release] section");
        let panic: Vec<&str> = release
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("panic"))
            .collect();
        assert_eq!(panic, [r#"panic = "unwind""#]);
    }
}
