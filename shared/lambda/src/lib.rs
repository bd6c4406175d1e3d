//! Glue every Crosspost function shares: logging set-up, configuration from the
//! environment, problem+json answers, and the SQS partial-batch driver.

pub mod batch;
pub mod config;
pub mod events;
pub mod http;
pub mod iam;
pub mod metrics;
pub mod problem;
pub mod tokens;
pub mod worker;

pub use batch::{run_batch, RecordContext, RecordOutcome};
pub use config::{ConfigError, Env};
pub use worker::{DeliveryWorker, Invocation};

/// Targets that log whole payloads at TRACE, so they stay at DEBUG whatever `RUST_LOG`
/// says: the runtime dumps every raw event (a webhook call's signature headers), and
/// the AWS SDK's orchestrator every answer with its body (a secret's value from
/// Secrets Manager, a data key's plaintext from KMS), which `SdkHttpClient` hands it
/// read whole.
const PAYLOAD_DUMPS: [&str; 2] = [
    "lambda_runtime::layers::api_response=debug",
    "aws_smithy_runtime::client::orchestrator=debug",
];

/// JSON logs on stdout (CloudWatch reads them), filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for dump in PAYLOAD_DUMPS {
        if let Ok(directive) = dump.parse() {
            filter = filter.add_directive(directive);
        }
    }
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .init();
}

/// Deliveries of one batch worked at the same time.
const BATCH_CONCURRENCY: usize = 10;

/// Runs a `publish-<network>` function: reads its configuration from the environment
/// (POSTS_TABLE, ACCOUNTS_TABLE, TOKEN_KEY_ID, QUEUE_URL, EVENTS_QUEUE_URL, the retry
/// settings), then serves SQS batches until the runtime stops it.
pub async fn run_worker<P: crosspost_core::Publisher + 'static>(
    network: crosspost_core::Network,
    sdk: &aws_config::SdkConfig,
    publisher: P,
) -> Result<(), lambda_runtime::Error> {
    run_worker_refreshing(network, sdk, publisher, None::<tokens::NoRefresh>).await
}

/// [`run_worker`] for a network whose access tokens expire: `refresher` renews them
/// (see [`tokens`]).
pub async fn run_worker_refreshing<P, R>(
    network: crosspost_core::Network,
    sdk: &aws_config::SdkConfig,
    publisher: P,
    refresher: Option<R>,
) -> Result<(), lambda_runtime::Error>
where
    P: crosspost_core::Publisher + 'static,
    R: crosspost_core::TokenRefresher + 'static,
{
    use aws_lambda_events::sqs::SqsEvent;
    use crosspost_aws::{AccountsStore, EventQueue, PostsStore, Sealer, TokenVault, WorkQueue};
    use lambda_runtime::{service_fn, LambdaEvent};
    let env = Env::process();
    let dynamodb = crosspost_aws::aws_sdk_dynamodb::Client::new(sdk);
    let sqs = crosspost_aws::aws_sdk_sqs::Client::new(sdk);
    // One sealer per cold start: it caches data keys, so most opens make no KMS call.
    let sealer = Sealer::new(
        crosspost_aws::aws_sdk_kms::Client::new(sdk),
        env.required("TOKEN_KEY_ID")?,
    );
    let accounts = TokenVault::new(
        AccountsStore::new(dynamodb.clone(), env.required("ACCOUNTS_TABLE")?),
        sealer,
    );
    let ports = worker::Ports {
        deliveries: PostsStore::new(dynamodb, env.required("POSTS_TABLE")?),
        accounts: accounts.clone(),
        events: env
            .optional("EVENTS_QUEUE_URL")
            .map(|u| EventQueue::new(sqs.clone(), u)),
        clock: worker::SystemClock,
    };
    let mut worker = DeliveryWorker::new(
        network,
        ports,
        publisher,
        env.optional("QUEUE_URL").map(|u| WorkQueue::new(sqs, u)),
        worker::retry_policy(&env)?,
    );
    if let Some(refresher) = refresher {
        worker = worker.with_tokens(tokens::TokenKeeper::new(accounts, refresher));
    }
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let inv = Invocation {
            request_id: event.context.request_id.clone(),
            deadline_ms: i64::try_from(event.context.deadline).unwrap_or(i64::MAX),
        };
        let inv = &inv;
        let response = batch::run_batch_with(
            event.payload,
            BATCH_CONCURRENCY,
            |msg, ctx: RecordContext| async move { worker.process(msg, &ctx, inv).await },
            |ctx: RecordContext| async move { worker.release_malformed(&ctx).await },
        )
        .await;
        worker.flush_events().await;
        Ok::<_, lambda_runtime::Error>(response)
    }))
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_payload_dump_directives_parse() {
        for dump in super::PAYLOAD_DUMPS {
            let parsed: Result<tracing_subscriber::filter::Directive, _> = dump.parse();
            assert!(parsed.is_ok(), "{dump}");
        }
    }
}
