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
    "lambda_runtime::layers::api_response",
    "aws_smithy_runtime::client::orchestrator",
];

/// The log filter: `RUST_LOG` as a list of `target=level` (or a bare level), default
/// `info`; a value that is not such a list (span or field filters, an unknown level)
/// logs at `info`.
/// The [`PAYLOAD_DUMPS`] targets log at most at DEBUG, and never more than `RUST_LOG`
/// lets them.
///
/// tracing-subscriber's `Targets` filter, not its `EnvFilter`: the same syntax for
/// levels and targets without compiling regular expressions at every cold start.
pub fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::filter::Targets {
    use tracing::level_filters::LevelFilter;
    use tracing::Level;
    use tracing_subscriber::filter::Targets;
    let configured: Targets = rust_log
        .and_then(plain_directives)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO));
    let mut filter = configured.clone();
    for target in PAYLOAD_DUMPS {
        let allowed = [Level::DEBUG, Level::INFO, Level::WARN, Level::ERROR]
            .into_iter()
            .find(|level| configured.would_enable(target, level))
            .map_or(LevelFilter::OFF, LevelFilter::from_level);
        filter = filter.with_target(target, allowed);
    }
    filter
}

/// `rust_log` without empty parts, if every part is a level or `target=level` with a
/// Rust path for the target; `None` otherwise. `Targets` would read a misspelt level
/// (`inf`) or a span filter as a target at TRACE with no default, which silences every
/// other log, errors included.
fn plain_directives(rust_log: &str) -> Option<String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let is_level = |l: &str| LEVELS.contains(&l.to_ascii_lowercase().as_str());
    let is_target = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '-')
    };
    let parts: Vec<&str> = rust_log
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let plain = parts.iter().all(|part| match part.split_once('=') {
        Some((target, level)) => is_target(target) && is_level(level),
        None => is_level(part),
    });
    (plain && !parts.is_empty()).then(|| parts.join(","))
}

/// JSON logs on stdout (CloudWatch reads them), filtered by [`log_filter`].
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let format = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_target(false)
        .without_time();
    tracing_subscriber::registry()
        .with(format)
        .with(log_filter(std::env::var("RUST_LOG").ok().as_deref()))
        .init();
}

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
        // Stopped a little before the deadline, so the finished records' events are
        // sent and the answer names the records that come back; a timeout would lose
        // both, and the whole batch would come back.
        let stop = batch::stop_before_deadline(event.context.deadline);
        let response = batch::run_batch_with(
            event.payload,
            BATCH_CONCURRENCY,
            |msg, ctx: RecordContext| async move { worker.process(msg, &ctx, inv).await },
            |ctx: RecordContext| async move { worker.release_malformed(&ctx).await },
            stop,
        )
        .await;
        worker.flush_events().await;
        Ok::<_, lambda_runtime::Error>(response)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn payload_dumps_log_at_most_at_debug_and_never_above_rust_log() {
        let orchestrator = "aws_smithy_runtime::client::orchestrator";
        let trace = log_filter(Some("trace"));
        assert!(trace.would_enable(orchestrator, &Level::DEBUG));
        assert!(!trace.would_enable(orchestrator, &Level::TRACE));
        assert!(!trace.would_enable("lambda_runtime::layers::api_response", &Level::TRACE));
        assert!(trace.would_enable("crosspost_lambda::worker", &Level::TRACE));
        // Under `info` the dumps' DEBUG lines stay off too.
        let info = log_filter(Some("info"));
        assert!(info.would_enable(orchestrator, &Level::INFO));
        assert!(!info.would_enable(orchestrator, &Level::DEBUG));
        assert!(!info.would_enable("webhook", &Level::DEBUG));
        let off = log_filter(Some("error,aws_smithy_runtime=off"));
        assert!(!off.would_enable(orchestrator, &Level::ERROR));
    }

    #[test]
    fn rust_log_names_levels_per_target_and_falls_back_to_info() {
        let trailing = log_filter(Some("debug,"));
        assert!(trailing.would_enable("webhook", &Level::DEBUG));
        let f = log_filter(Some("warn,crosspost_lambda=debug"));
        assert!(f.would_enable("crosspost_lambda::batch", &Level::DEBUG));
        assert!(!f.would_enable("hyper", &Level::INFO));
        for unusable in [
            None,
            Some(""),
            Some("[span{field=1}]=debug"),
            Some("webhook[span]=debug"),
            Some("inf"),
            Some("info,hyper=loud"),
        ] {
            let f = log_filter(unusable);
            assert!(f.would_enable("webhook", &Level::INFO), "{unusable:?}");
            assert!(!f.would_enable("webhook", &Level::DEBUG), "{unusable:?}");
        }
    }
}
