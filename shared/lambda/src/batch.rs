//! The SQS partial-batch driver every worker uses. Each record is parsed on its own, so
//! one bad body fails only itself; records run concurrently, bounded; the answer lists
//! exactly the records that must come back.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::stream::{self, StreamExt};
use serde::de::DeserializeOwned;
use std::future::Future;

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
    run_batch_with(event, concurrency, handle, |_ctx| async {}).await
}

/// [`run_batch`], calling `on_malformed` for each record whose body does not parse
/// (a worker makes it visible again at once, so a poison message reaches the DLQ after
/// maxReceiveCount quick receives instead of as many visibility timeouts).
pub async fn run_batch_with<T, F, Fut, M, MFut>(
    event: SqsEvent,
    concurrency: usize,
    handle: F,
    on_malformed: M,
) -> SqsBatchResponse
where
    T: DeserializeOwned,
    F: Fn(T, RecordContext) -> Fut,
    Fut: Future<Output = RecordOutcome>,
    M: Fn(RecordContext) -> MFut,
    MFut: Future<Output = ()>,
{
    let handle = &handle;
    let on_malformed = &on_malformed;
    let failures: Vec<String> = stream::iter(event.records)
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
                    Some(message_id)
                }
                Ok(msg) => match handle(msg, ctx).await {
                    RecordOutcome::Done => None,
                    RecordOutcome::Retry => Some(message_id),
                },
            }
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
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
}
