//! The Facebook worker: consumes the Facebook delivery queue and publishes each
//! delivery to its Page. A composition root: configuration read once, one HTTP client,
//! the Graph client (Facebook's publisher) built once and handed to the delivery worker.

/// The AWS actions this function calls, kept with the code and checked against template.yaml.
#[cfg(test)]
mod iam;

use crosspost_core::Network;
use crosspost_lambda::Env;
use crosspost_networks::facebook::oauth::AppCredentials;
use crosspost_networks::facebook::{FacebookClient, Graph};
use crosspost_networks::fetch::{CheckedFetcher, FetchRules};
use crosspost_networks::media::MediaFetcher;
use lambda_runtime::Error;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Error> {
    crosspost_lambda::init_tracing();
    let env = Env::process();
    let graph = Graph::new(
        env.base_url("FACEBOOK_GRAPH_BASE_URL")?,
        env.required("FACEBOOK_GRAPH_VERSION")?,
    );
    let http = crosspost_networks::http_client(env.http_timeout()?)?;
    // Each media file's first bytes tell what it is before Graph is called, read by the
    // rules every media fetch follows (every hop checked), so Graph is never handed a
    // URL we would refuse.
    let rules = FetchRules::configured(
        env.media_hosts()?,
        env.optional("MEDIA_STAND_INS").as_deref(),
    )?;
    let checked = CheckedFetcher::new(rules, env.http_timeout()?.min(Duration::from_secs(5)))?;
    // A video's download is interleaved with its upload to Graph, and Graph's
    // processing is waited for (20 s): both must end well inside the function's 60 s.
    let media = MediaFetcher::new(checked, Duration::from_secs(35));
    let secret_id = env.required("FACEBOOK_APP_SECRET_ID")?;
    let sdk = crosspost_aws::load_sdk_config(crosspost_networks::tls_config());
    // Read once per cold start.
    let raw = crosspost_aws::secrets::read_secret(&sdk, &secret_id)
        .await
        .map_err(|e| format!("reading the Facebook app secret: {e}"))?;
    let app_secret = AppCredentials::parse(&raw, &secret_id)?.app_secret;
    let publisher = FacebookClient::new(http, graph, app_secret, media);
    crosspost_lambda::run_worker(Network::Facebook, &sdk, publisher).await
}
