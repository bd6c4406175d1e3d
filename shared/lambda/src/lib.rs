//! Glue every Crosspost function shares: logging set-up, configuration from the
//! environment, problem+json answers, and the SQS partial-batch driver.

pub mod batch;
pub mod config;
pub mod problem;
pub mod worker;

pub use batch::{run_batch, RecordContext, RecordOutcome};
pub use config::{ConfigError, Env};
pub use worker::{DeliveryWorker, Invocation};

/// JSON logs on stdout (CloudWatch reads them), filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .init();
}

/// Runs a delivery worker as the function's SQS handler until the runtime stops it.
pub async fn run_worker<P: crosspost_core::Publisher + 'static>(
    worker: DeliveryWorker<P>,
    concurrency: usize,
) -> Result<(), lambda_runtime::Error> {
    use aws_lambda_events::sqs::SqsEvent;
    use lambda_runtime::{service_fn, LambdaEvent};
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let inv = Invocation {
            request_id: event.context.request_id.clone(),
            deadline_ms: i64::try_from(event.context.deadline).unwrap_or(i64::MAX),
        };
        let inv = &inv;
        let response = run_batch(event.payload, concurrency, |msg, ctx: RecordContext| async move {
            tracing::debug!(message_id = %ctx.message_id, receive_count = ctx.receive_count, "record");
            worker.process(msg, inv).await
        })
        .await;
        Ok::<_, lambda_runtime::Error>(response)
    }))
    .await
}
