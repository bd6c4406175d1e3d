//! The X worker: consumes the X delivery queue and publishes each delivery to X. A
//! composition root: configuration read once, one HTTP client, X's publisher and token
//! refresher built once and handed to the delivery worker.

/// The AWS actions this function calls, kept with the code and checked against template.yaml.
#[cfg(test)]
mod iam;

use crosspost_core::Network;
use crosspost_lambda::Env;
use crosspost_networks::fetch::{CheckedFetcher, FetchRules};
use crosspost_networks::media::MediaFetcher;
use crosspost_networks::x::media::XMediaUploader;
use crosspost_networks::x::oauth::{ClientCredentials, XOAuth};
use crosspost_networks::x::{XClient, XPublisher};
use lambda_runtime::Error;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Error> {
    crosspost_lambda::init_tracing();
    let env = Env::process();
    let base_url = env.base_url("X_API_BASE_URL")?;
    let http = crosspost_networks::http_client(env.http_timeout()?)?;
    // Media are fetched by the same rules as at intake: every hop checked.
    let rules = FetchRules::configured(
        env.media_hosts()?,
        env.optional("MEDIA_STAND_INS").as_deref(),
    )?;
    let checked = CheckedFetcher::new(rules, env.http_timeout()?.min(Duration::from_secs(5)))?;
    // A download or X's processing may take longer than one API call, but must end
    // well inside the function's 60 s.
    let fetcher = MediaFetcher::new(checked, Duration::from_secs(40));
    let media = XMediaUploader::new(http.clone(), &base_url, fetcher, Duration::from_secs(20));
    let sdk = crosspost_aws::load_sdk_config().await;
    // The OAuth client's credentials, read once per cold start, refresh expiring tokens.
    let client_secret_id = env.required("X_OAUTH_CLIENT_SECRET_ID")?;
    let credentials = crosspost_aws::secrets::read_secret(&sdk, &client_secret_id).await?;
    let oauth = XOAuth::new(
        http.clone(),
        &base_url,
        ClientCredentials::parse(&credentials)?,
    )?;
    let publisher = XPublisher::new(XClient::new(http, base_url), media);
    crosspost_lambda::run_worker_refreshing(Network::X, &sdk, publisher, Some(oauth)).await
}
