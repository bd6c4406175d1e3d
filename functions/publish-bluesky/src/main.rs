//! The Bluesky worker: consumes the Bluesky delivery queue and publishes each delivery
//! to the account's PDS. A composition root: configuration read once, one HTTP client,
//! Bluesky's publisher and session refresher built once and handed to the delivery
//! worker. Each account's PDS URL is sealed with its tokens, so nothing here names one.

/// The AWS actions this function calls, kept with the code and checked against template.yaml.
#[cfg(test)]
mod iam;

use crosspost_core::Network;
use crosspost_lambda::Env;
use crosspost_networks::bluesky::{BlueskyPublisher, BlueskyRefresher};
use lambda_runtime::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    crosspost_lambda::init_tracing();
    let env = Env::process();
    let http = crosspost_networks::http_client(env.http_timeout()?)?;
    let sdk = crosspost_aws::load_sdk_config(crosspost_networks::tls_config()).await;
    let publisher = BlueskyPublisher::new(http.clone());
    let refresher = BlueskyRefresher::new(http);
    crosspost_lambda::run_worker_refreshing(Network::Bluesky, &sdk, publisher, Some(refresher))
        .await
}
