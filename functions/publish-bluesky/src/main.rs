//! The Bluesky worker: consumes the Bluesky delivery queue and publishes each delivery
//! to the account's PDS. A composition root: configuration read once, one HTTP client,
//! Bluesky's publisher (with the media fetcher for images and linked pages) and session refresher built once and handed to the delivery
//! worker. Each account's PDS URL is sealed with its tokens, so nothing here names one.

/// The AWS actions this function calls, kept with the code and checked against template.yaml.
#[cfg(test)]
mod iam;

use crosspost_core::Network;
use crosspost_lambda::Env;
use crosspost_networks::bluesky::{BlueskyPublisher, BlueskyRefresher};
use crosspost_networks::fetch::{CheckedFetcher, FetchRules};
use crosspost_networks::media::MediaFetcher;
use lambda_runtime::Error;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Error> {
    crosspost_lambda::init_tracing();
    let env = Env::process();
    let http = crosspost_networks::http_client(env.http_timeout()?)?;
    // Images and linked pages are fetched by the same rules as media at intake: every
    // hop checked.
    let rules = FetchRules::configured(
        env.media_hosts()?,
        env.optional("MEDIA_STAND_INS").as_deref(),
    )?;
    let checked = CheckedFetcher::new(rules, env.http_timeout()?.min(Duration::from_secs(5)))?;
    // A download must end well inside the function's 60 s.
    let media = MediaFetcher::new(checked, Duration::from_secs(30));
    let sdk = crosspost_aws::load_sdk_config(crosspost_networks::tls_config());
    let publisher = BlueskyPublisher::new(http.clone(), media);
    let refresher = BlueskyRefresher::new(http);
    crosspost_lambda::run_worker_refreshing(Network::Bluesky, &sdk, publisher, Some(refresher))
        .await
}
