//! The notify function: sends each delivery event on the events queue to the source
//! app's EVENTS_URL, signed with Standard Webhooks (the event id is the webhook-id, so
//! the source app can drop a repeat). Every events secret in the secret (space-separated,
//! during a rotation) signs each event, one `v1,` entry each, so the receiver may hold
//! the old or the new one. Only a 2xx answer delivers an event (a redirect is not
//! followed: it is a failure, as a POST redirected to a login page is not delivered). A
//! failed send comes back after a backoff of its own, growing to an hour with jitter
//! ([`events_policy`]), for about three days; after the queue's maxReceiveCount it rests
//! in the events DLQ, before the queue's retention would delete it. A batch stops a
//! little before the invocation's deadline, so one slow receiver call does not bring
//! back the events already delivered.

/// The AWS actions this function calls, kept with the code and checked against template.yaml.
#[cfg(test)]
mod iam;

use aws_lambda_events::sqs::SqsEvent;
use crosspost_aws::WorkQueue;
use crosspost_core::retry::RetryPolicy;
use crosspost_core::signing::{self, SigningSecret};
use crosspost_lambda::batch::{run_batch_with, stop_before_deadline};
use crosspost_lambda::{Env, RecordContext, RecordOutcome};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::Deserialize;
use std::time::Duration;

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
    /// Makes a malformed event's message visible at once (JSON without an event's `id`
    /// here, or not JSON, through the batch driver's `on_malformed`): it reaches the
    /// DLQ after maxReceiveCount quick receives, not as many visibility timeouts.
    async fn release(&self, ctx: &RecordContext) {
        if let (Some(queue), Some(receipt)) = (&self.queue, &ctx.receipt_handle) {
            if let Err(e) = queue.make_visible(receipt).await {
                tracing::warn!(error = %e, "could not release the malformed event");
            }
        }
    }

    async fn send(&self, body: &str, ctx: &RecordContext) -> RecordOutcome {
        let Ok(event) = serde_json::from_str::<Event>(body) else {
            tracing::error!(message_id = %ctx.message_id, "malformed event; it will reach the DLQ");
            self.release(ctx).await;
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
        // Between half and all of the ceiling: receivers back from an outage are not
        // sent every waiting event at the same moment.
        let wait = self.policy.backoff(
            ctx.receive_count,
            0.5 + crosspost_lambda::worker::os_random() / 2.0,
        );
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
        policy: events_policy(crosspost_lambda::worker::retry_policy(&env)?),
    };
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let stop = stop_before_deadline(event.context.deadline);
        let response =
            run_batch_with(
                event.payload,
                10,
                |body: serde_json::Value, ctx| async move {
                    notifier.send(&body.to_string(), &ctx).await
                },
                |ctx: RecordContext| async move { notifier.release(&ctx).await },
                stop,
            )
            .await;
        Ok::<_, Error>(response)
    }))
    .await
}

/// The longest wait between two sends of one event.
const EVENTS_CAP: Duration = Duration::from_secs(3600);

/// The events' backoff: the deliveries' base (`RETRY_BASE_SECONDS`), growing to an hour
/// ([`EVENTS_CAP`]) whatever the deliveries' cap, so a receiver that is down for hours
/// still gets its events, sent about three days in all (see the test below and the
/// EventsQueue's maxReceiveCount).
fn events_policy(deliveries: RetryPolicy) -> RetryPolicy {
    RetryPolicy {
        cap: EVENTS_CAP,
        ..deliveries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The template's EventsQueue: its maxReceiveCount and retention (seconds).
    fn events_queue() -> (u32, u64) {
        let template: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../template.yaml")).unwrap();
        let queue = &template["Resources"]["EventsQueue"]["Properties"];
        let max_receives = queue["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap() as u32;
        let retention = queue["MessageRetentionPeriod"].as_u64().unwrap();
        (max_receives, retention)
    }

    /// An event failing all along is sent for a day and a half at least (with the
    /// template's default RetryBaseSeconds), and reaches the DLQ before the queue's
    /// retention would delete it.
    #[test]
    fn a_failing_event_is_sent_for_days_and_reaches_the_dlq_before_retention() {
        let (max_receives, retention) = events_queue();
        let policy = events_policy(RetryPolicy {
            base: Duration::from_secs(2),
            ..RetryPolicy::default()
        });
        let window = |unit: f64| -> u64 {
            (1..max_receives)
                .map(|k| policy.backoff(k, unit).as_secs().max(1))
                .sum()
        };
        let (shortest, longest) = (window(0.5), window(1.0));
        assert!(shortest >= 129_600, "{shortest} s");
        assert!(longest < retention, "{longest} s of {retention} s");
    }

    /// A receiver that answers a redirect (a login page, an http→https hop) has not
    /// taken the event: the send is a failure, and the redirect is not followed.
    #[tokio::test]
    async fn a_redirect_is_a_failed_send_not_followed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).await.unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                // The whole request read before answering, so the answer is not lost
                // to a reset.
                let length: usize = String::from_utf8_lossy(&head)
                    .to_ascii_lowercase()
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; length];
                let _ = conn.read_exact(&mut body).await;
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let answer = if line.starts_with("POST") {
                    "HTTP/1.1 302 Found\r\nlocation: /login\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                } else {
                    "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                };
                seen.lock().unwrap().push(line);
                let _ = conn.write_all(answer.as_bytes()).await;
            }
        });
        let secret = crosspost_core::Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let notifier = Notifier {
            url,
            secrets: vec![SigningSecret::parse(&secret).unwrap()],
            http: crosspost_networks::http_client(Duration::from_secs(5)).unwrap(),
            queue: None,
            policy: events_policy(RetryPolicy::default()),
        };
        let ctx = RecordContext {
            message_id: "m1".into(),
            receipt_handle: None,
            receive_count: 1,
        };
        let outcome = notifier
            .send(r#"{"id":"evt_1","type":"delivery.published"}"#, &ctx)
            .await;
        assert_eq!(outcome, RecordOutcome::Retry);
        let requests = requests.lock().unwrap().clone();
        assert_eq!(requests, ["POST /events HTTP/1.1"], "not followed");
    }

    /// A receiver call that takes its whole HTTP timeout (the default, 20 s) ends
    /// before the batch is stopped, which is before the function's timeout.
    #[test]
    fn a_slow_receiver_ends_within_the_invocation() {
        let template: serde_yaml::Value =
            serde_yaml::from_str(include_str!("../../../template.yaml")).unwrap();
        let timeout = template["Resources"]["NotifyFunction"]["Properties"]["Timeout"]
            .as_u64()
            .unwrap();
        let http = Env::from_fn(|_| None).http_timeout().unwrap();
        assert!(
            Duration::from_secs(timeout)
                >= http + crosspost_lambda::batch::STOP_BEFORE_DEADLINE + Duration::from_secs(1)
        );
    }
}
