//! The per-network delivery queues.

use crate::StoreError;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use crosspost_core::{DeliveryMessage, Network};
use std::collections::BTreeMap;

/// SendMessageBatch takes at most ten entries.
const BATCH_LIMIT: usize = 10;
/// Entries that fail are sent again this many times before the call gives up.
const ENTRY_RETRIES: usize = 3;

#[derive(Clone, Debug)]
pub struct DeliveryQueues {
    client: Client,
    urls: BTreeMap<Network, String>,
}

impl DeliveryQueues {
    pub fn new(client: Client, urls: BTreeMap<Network, String>) -> Self {
        DeliveryQueues { client, urls }
    }

    /// Sends each message to its network's queue, in batches, sending failed entries
    /// again; an error means some message is not on its queue.
    pub async fn enqueue(&self, messages: &[DeliveryMessage]) -> Result<(), StoreError> {
        let mut by_network: BTreeMap<Network, Vec<&DeliveryMessage>> = BTreeMap::new();
        for m in messages {
            by_network.entry(m.network).or_default().push(m);
        }
        for (network, msgs) in by_network {
            let url = self.urls.get(&network).ok_or_else(|| StoreError::Backend {
                service: "sqs",
                detail: format!("no queue is configured for network {network}"),
            })?;
            for chunk in msgs.chunks(BATCH_LIMIT) {
                self.send_batch(url, chunk).await?;
            }
        }
        Ok(())
    }

    async fn send_batch(&self, url: &str, msgs: &[&DeliveryMessage]) -> Result<(), StoreError> {
        let bodies = msgs
            .iter()
            .map(|m| {
                serde_json::to_string(m).map_err(|e| StoreError::Backend {
                    service: "sqs",
                    detail: format!("message not serialisable: {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        send_bodies(&self.client, url, bodies).await
    }
}

/// Sends `bodies` to the queue at `url` in order, ten to a SendMessageBatch, sending
/// failed entries again ([`ENTRY_RETRIES`] times); an error means some message is not
/// on the queue.
async fn send_bodies(client: &Client, url: &str, bodies: Vec<String>) -> Result<(), StoreError> {
    let mut all: Vec<(String, String)> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| (i.to_string(), body))
        .collect();
    while !all.is_empty() {
        let rest = all.split_off(all.len().min(BATCH_LIMIT));
        send_chunk(client, url, std::mem::replace(&mut all, rest)).await?;
    }
    Ok(())
}

async fn send_chunk(
    client: &Client,
    url: &str,
    mut pending: Vec<(String, String)>,
) -> Result<(), StoreError> {
    let mut last_failure = String::new();
    for _ in 0..=ENTRY_RETRIES {
        if pending.is_empty() {
            return Ok(());
        }
        let entries = pending
            .iter()
            .map(|(id, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(body)
                    .build()
                    .map_err(|e| StoreError::Backend {
                        service: "sqs",
                        detail: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| crate::backend("sqs", e.into_service_error()))?;
        let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
        if let Some(f) = out.failed().first() {
            last_failure = format!("{}: {}", f.code(), f.message().unwrap_or(""));
            tracing::warn!(failed = failed.len(), error = %last_failure, "some queue entries failed; sending them again");
        }
        pending.retain(|(id, _)| failed.contains(&id.as_str()));
    }
    if pending.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Backend {
            service: "sqs",
            detail: format!(
                "{} message(s) could not be queued: {last_failure}",
                pending.len()
            ),
        })
    }
}

/// The queue a worker consumes: moving a message's next delivery to when it is due.
#[derive(Clone, Debug)]
pub struct WorkQueue {
    client: Client,
    url: String,
}

impl WorkQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        WorkQueue {
            client,
            url: url.into(),
        }
    }

    /// Makes the message visible again now.
    pub async fn make_visible(&self, receipt_handle: &str) -> Result<(), StoreError> {
        self.set_visibility(receipt_handle, 0).await
    }

    /// Makes the message invisible for `seconds` from now (at least 1 s; at most 12 h,
    /// SQS's limit).
    pub async fn delay(&self, receipt_handle: &str, seconds: u64) -> Result<(), StoreError> {
        self.set_visibility(receipt_handle, seconds.clamp(1, 12 * 60 * 60) as i32)
            .await
    }

    async fn set_visibility(&self, receipt_handle: &str, seconds: i32) -> Result<(), StoreError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| crate::backend("sqs", e.into_service_error()))?;
        Ok(())
    }
}

/// The queue of outbound events for the source app.
#[derive(Clone, Debug)]
pub struct EventQueue {
    client: Client,
    url: String,
}

impl EventQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        EventQueue {
            client,
            url: url.into(),
        }
    }
}

impl crosspost_core::EventSink for EventQueue {
    /// The events' JSON, ten to a SendMessageBatch.
    async fn send_all(&self, events: &[crosspost_core::Envelope]) -> Result<(), StoreError> {
        let bodies = events
            .iter()
            .map(|event| {
                serde_json::to_string(event).map_err(|e| StoreError::Backend {
                    service: "sqs",
                    detail: format!("the event does not serialise: {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        send_bodies(&self.client, &self.url, bodies).await
    }
}
