//! The notify function: sends each delivery event on the events queue to the source
//! app's EVENTS_URL, signed with Standard Webhooks (the event id is the webhook-id, so
//! the source app can drop a repeat). Every events secret in the secret (space-separated,
//! during a rotation) signs each event, one `v1,` entry each, so the receiver may hold
//! the old or the new one. A failed send comes back with backoff; after the queue's
//! maxReceiveCount it rests in the events DLQ.

/// The AWS actions this function calls, kept with the code and checked against template.yaml.
#[cfg(test)]
mod iam;

use aws_lambda_events::sqs::SqsEvent;
use crosspost_aws::WorkQueue;
use crosspost_core::retry::RetryPolicy;
use crosspost_core::signing::{self, SigningSecret};
use crosspost_lambda::{run_batch, Env, RecordContext, RecordOutcome};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;

/// An event as the workers queue it; only the id is needed here, the rest is sent as is.
#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

struct Notifier {
    url: String,
    /// Every active events secret (old and new during a rotation).
    secrets: Vec<SigningSecret>,
    http: reqwest::Client,
    queue: Option<WorkQueue>,
    policy: RetryPolicy,
}

impl Notifier {
    async fn send(&self, body: &str, ctx: &RecordContext) -> RecordOutcome {
        let Ok(event) = serde_json::from_str::<Event>(body) else {
            tracing::error!(message_id = %ctx.message_id, "malformed event; it will reach the DLQ");
            return RecordOutcome::Retry;
        };
        let ts = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = signing::sign_all(&self.secrets, &event.id, ts, body.as_bytes());
        let result = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature.expose())
            .body(body.to_owned())
            .send()
            .await;
        let failure = match result {
            Ok(resp) if resp.status().is_success() => {
                tracing::info!(event_id = %event.id, kind = %event.kind, "event delivered");
                return RecordOutcome::Done;
            }
            Ok(resp) => format!("the receiver answered {}", resp.status().as_u16()),
            Err(e) => format!("the receiver is unreachable: {}", e.without_url()),
        };
        let wait = self.policy.backoff(ctx.receive_count, 1.0);
        tracing::warn!(event_id = %event.id, kind = %event.kind, %failure, attempt = ctx.receive_count, wait_s = wait.as_secs(), "event not delivered; will send again");
        if let (Some(queue), Some(receipt)) = (&self.queue, &ctx.receipt_handle) {
            if let Err(e) = queue.delay(receipt, wait.as_secs().max(1)).await {
                tracing::warn!(error = %e, "could not set when the event comes back");
            }
        }
        RecordOutcome::Retry
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    crosspost_lambda::init_tracing();
    let env = Env::process();
    // Without a receiver there is nothing to send: events are acknowledged and dropped.
    let Some(url) = env.optional("EVENTS_URL") else {
        tracing::info!("EVENTS_URL is not set; events are dropped");
        return lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
            let _ = event;
            Ok::<_, Error>(aws_lambda_events::sqs::SqsBatchResponse::default())
        }))
        .await;
    };
    let sdk = crosspost_aws::load_sdk_config(crosspost_networks::tls_config());
    let secret_id = env.required("EVENTS_SECRET_ID")?;
    let secret_text = crosspost_aws::secrets::read_secret(&sdk, &secret_id)
        .await
        .map_err(|e| format!("reading the events signing secret: {e}"))?;
    let secrets = SigningSecret::parse_list(&secret_text)
        .map_err(|e| format!("the events signing secret in {secret_id} is unusable: {e}"))?;
    let notifier = Notifier {
        url,
        secrets,
        http: crosspost_networks::http_client(env.http_timeout()?)?,
        queue: env
            .optional("QUEUE_URL")
            .map(|u| WorkQueue::new(crosspost_aws::aws_sdk_sqs::Client::new(&sdk), u)),
        policy: crosspost_lambda::worker::retry_policy(&env)?,
    };
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let response =
            run_batch(
                event.payload,
                10,
                |body: serde_json::Value, ctx| async move {
                    notifier.send(&body.to_string(), &ctx).await
                },
            )
            .await;
        Ok::<_, Error>(response)
    }))
    .await
}
