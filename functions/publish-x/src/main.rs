//! The X worker: consumes the X delivery queue and publishes each delivery to X. A
//! composition root: configuration read once, one HTTP client, X's publisher and token
//! refresher built once and handed to the delivery worker.

/// The AWS actions this function calls, kept with the code and checked against template.yaml.
#[cfg(test)]
mod iam;

use crosspost_aws::secrets::{FromSecret, LazySecret};
use crosspost_core::{Network, PublishError, RefreshedTokens, Secret, TokenRefresher};
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
    let media = XMediaUploader::new(
        http.clone(),
        &base_url,
        fetcher,
        env.media_processing_budget()?,
    );
    let sdk = crosspost_aws::load_sdk_config(crosspost_networks::tls_config());
    let oauth_http = http.clone();
    let oauth_base = base_url.clone();
    let refresher = XRefresher {
        oauth: FromSecret::new(
            LazySecret::new(&sdk, env.required("X_OAUTH_CLIENT_SECRET_ID")?),
            Box::new(move |raw| {
                let credentials = ClientCredentials::parse(raw).map_err(|e| e.to_string())?;
                XOAuth::new(oauth_http.clone(), &oauth_base, credentials).map_err(|e| e.to_string())
            }),
        ),
    };
    let publisher = XPublisher::new(XClient::new(http, base_url), media);
    crosspost_lambda::run_worker_refreshing(Network::X, &sdk, publisher, Some(refresher)).await
}

/// Refreshes expiring tokens with X's OAuth client, whose credentials are read from
/// Secrets Manager at the first refresh rather than at start-up: most instances refresh
/// nothing. An unreadable or malformed secret makes that refresh retryable (the
/// delivery comes back, and the secret is read again), and is logged by its id.
struct XRefresher {
    oauth: FromSecret<XOAuth>,
}

impl TokenRefresher for XRefresher {
    async fn refresh(&self, refresh_token: &Secret) -> Result<RefreshedTokens, PublishError> {
        let oauth = self.oauth.get().await.map_err(|detail| {
            tracing::error!(%detail, "the X OAuth client secret is unusable");
            PublishError::Retryable {
                after: None,
                detail,
            }
        })?;
        oauth.refresh(refresh_token).await
    }
}
