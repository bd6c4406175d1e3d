//! The SQS event source mapping Lambda would run: receive, invoke the function with an
//! `SqsEvent`, delete what succeeded. Nothing local emulates it, so it lives here.

use crate::runtime::FunctionHost;
use crate::template::{SqsEventSpec, REGION};
use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// One receive/invoke/delete loop of an SQS event source; the stack runs several per
/// source (`poller_concurrency`), as Lambda processes several batches at once.
#[derive(Clone)]
pub struct Poller {
    pub client: aws_sdk_sqs::Client,
    pub spec: SqsEventSpec,
    pub queue_url: String,
    pub queue_arn: String,
    pub function: Arc<FunctionHost>,
}

fn base64_data(bytes: &[u8]) -> Base64Data {
    let mut d = Base64Data::default();
    d.extend_from_slice(bytes);
    d
}

/// Builds the event Lambda would deliver for these messages.
pub fn build_event(messages: &[Message], queue_arn: &str) -> SqsEvent {
    let mut event = SqsEvent::default();
    for m in messages {
        let mut rec = SqsMessage::default();
        rec.message_id = m.message_id().map(str::to_string);
        rec.receipt_handle = m.receipt_handle().map(str::to_string);
        rec.body = m.body().map(str::to_string);
        rec.md5_of_body = m.md5_of_body().map(str::to_string);
        rec.md5_of_message_attributes = m.md5_of_message_attributes().map(str::to_string);
        if let Some(attrs) = m.attributes() {
            for (k, v) in attrs {
                rec.attributes.insert(k.as_str().to_string(), v.clone());
            }
        }
        if let Some(attrs) = m.message_attributes() {
            for (k, v) in attrs {
                let mut a = SqsMessageAttribute::default();
                a.string_value = v.string_value().map(str::to_string);
                a.binary_value = v.binary_value().map(|b| base64_data(b.as_ref()));
                a.string_list_values = v.string_list_values().to_vec();
                a.binary_list_values = v
                    .binary_list_values()
                    .iter()
                    .map(|b| base64_data(b.as_ref()))
                    .collect();
                a.data_type = Some(v.data_type().to_string());
                rec.message_attributes.insert(k.clone(), a);
            }
        }
        rec.event_source = Some("aws:sqs".to_string());
        rec.event_source_arn = Some(queue_arn.to_string());
        rec.aws_region = Some(REGION.to_string());
        event.records.push(rec);
    }
    event
}

/// Which message ids to delete after a successful invocation, following Lambda's rules
/// for `ReportBatchItemFailures`: a null or empty answer means all succeeded; an answer
/// that cannot be read, or names an empty or unknown id, fails the whole batch.
pub fn ids_to_delete(
    report_failures: bool,
    ids: &[String],
    response: &Value,
) -> Result<Vec<String>, String> {
    if !report_failures || response.is_null() {
        return Ok(ids.to_vec());
    }
    if response
        .as_object()
        .is_some_and(|o| o.is_empty() || o.get("batchItemFailures").is_some_and(Value::is_null))
    {
        return Ok(ids.to_vec());
    }
    let parsed: SqsBatchResponse = serde_json::from_value(response.clone())
        .map_err(|e| format!("unreadable batch response: {e}"))?;
    let known: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut failed = BTreeSet::new();
    for f in &parsed.batch_item_failures {
        if f.item_identifier.is_empty() || !known.contains(f.item_identifier.as_str()) {
            return Err(format!(
                "batch response names unknown item `{}`",
                f.item_identifier
            ));
        }
        failed.insert(f.item_identifier.clone());
    }
    Ok(ids
        .iter()
        .filter(|id| !failed.contains(*id))
        .cloned()
        .collect())
}

impl Poller {
    /// Runs until `stop`; `loop_number` only tells the concurrent loops apart in logs.
    pub async fn run(self, loop_number: usize, mut stop: watch::Receiver<bool>) {
        let name = self.function.name().to_string();
        tracing::debug!(function = %name, event = %self.spec.event_name, poller = loop_number, "SQS poller started");
        let event_name = self.spec.event_name.clone();
        while !*stop.borrow() {
            let receive = self.receive(self.spec.batch_size, 1);
            let out = tokio::select! {
                r = receive => r,
                _ = stop.wait_for(|s| *s) => break,
            };
            let messages = match out {
                Ok(messages) => messages,
                Err(e) => {
                    tracing::warn!(function = %name, event = %event_name, error = %e, "ReceiveMessage failed");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {},
                        _ = stop.wait_for(|s| *s) => break,
                    }
                    continue;
                }
            };
            if messages.is_empty() {
                continue;
            }
            tokio::select! {
                r = self.invoke_batch(&messages) => if let Err(e) = r {
                    tracing::warn!(function = %name, error = %e, "batch left in the queue");
                },
                _ = stop.wait_for(|s| *s) => break,
            }
        }
    }

    /// Invokes the function once with `messages` as one batch, and deletes those it
    /// reports done (all, or all but its `batchItemFailures`). Returns how many were
    /// deleted; an error (invocation failed, answer unreadable) deletes none, so they
    /// come back after their visibility timeout.
    pub async fn invoke_batch(&self, messages: &[Message]) -> Result<usize, String> {
        let event = build_event(messages, &self.queue_arn);
        let payload =
            serde_json::to_value(&event).map_err(|e| format!("cannot serialize SqsEvent: {e}"))?;
        let ids: Vec<String> = messages
            .iter()
            .filter_map(|m| m.message_id().map(str::to_string))
            .collect();
        let response = self
            .function
            .invoke(payload)
            .await
            .map_err(|e| format!("invocation failed: {e}"))?;
        let to_delete = ids_to_delete(self.spec.report_batch_item_failures, &ids, &response)
            .map_err(|e| format!("whole batch counts as failed: {e}"))?;
        self.delete(messages, &to_delete).await;
        Ok(to_delete.len())
    }

    /// Receives up to `max` messages (at most 10), waiting up to `wait_s` seconds.
    pub async fn receive(&self, max: usize, wait_s: i32) -> Result<Vec<Message>, String> {
        self.client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait_s)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map(|o| o.messages.unwrap_or_default())
            .map_err(|e| {
                format!(
                    "ReceiveMessage: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(&e)
                )
            })
    }

    async fn delete(&self, messages: &[Message], ids: &[String]) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| m.message_id().is_some_and(|id| ids.iter().any(|x| x == id)))
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        for chunk in entries.chunks(10) {
            match self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(chunk.to_vec()))
                .send()
                .await
            {
                Ok(out) => {
                    for f in out.failed() {
                        tracing::warn!(queue = %self.spec.queue, id = %f.id(), code = %f.code(), message = ?f.message(), "DeleteMessageBatch entry failed");
                    }
                    tracing::debug!(queue = %self.spec.queue, deleted = out.successful().len(), "deleted processed messages");
                }
                Err(e) => {
                    tracing::warn!(queue = %self.spec.queue, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "DeleteMessageBatch failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deletes_all_but_reported_failures() {
        let ids = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let r = json!({"batchItemFailures": [{"itemIdentifier": "b"}]});
        assert_eq!(ids_to_delete(true, &ids, &r).unwrap(), ["a", "c"]);
        assert_eq!(ids_to_delete(false, &ids, &r).unwrap(), ids);
        assert_eq!(
            ids_to_delete(true, &ids, &json!({"batchItemFailures": []})).unwrap(),
            ids
        );
        assert_eq!(ids_to_delete(true, &ids, &Value::Null).unwrap(), ids);
        assert_eq!(ids_to_delete(true, &ids, &json!({})).unwrap(), ids);
        assert!(ids_to_delete(
            true,
            &ids,
            &json!({"batchItemFailures": [{"itemIdentifier": "zz"}]})
        )
        .is_err());
        assert!(ids_to_delete(true, &ids, &json!("nonsense")).is_err());
    }

    #[test]
    fn builds_sqs_event() {
        let m = Message::builder()
            .message_id("id-1")
            .receipt_handle("rh")
            .body("{\"x\":1}")
            .md5_of_body("md5")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .build();
        let e = build_event(&[m], "arn:aws:sqs:us-east-1:123456789012:Q");
        let v = serde_json::to_value(&e).unwrap();
        let r = &v["Records"][0];
        assert_eq!(r["messageId"], "id-1");
        assert_eq!(r["eventSource"], "aws:sqs");
        assert_eq!(r["eventSourceARN"], "arn:aws:sqs:us-east-1:123456789012:Q");
        assert_eq!(r["awsRegion"], "us-east-1");
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "1");
    }
}
