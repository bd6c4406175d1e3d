//! The Facebook worker: consumes the Facebook delivery queue and publishes each
//! delivery to its Page.

/// The AWS actions this function calls, kept with the code and checked against template.yaml.
#[cfg(test)]
mod iam;
use crosspost_core::{
    LinkedAccount, Network, OutgoingPart, PublishError, Publisher, RemotePost, Window,
};
use crosspost_lambda::Env;
use crosspost_networks::facebook::FacebookClient;
use crosspost_networks::facebook_oauth::AppCredentials;
use crosspost_networks::fetch::{CheckedFetcher, FetchError, FetchRules};
use lambda_runtime::Error;

/// Facebook fetches a post's photos itself; each URL is still checked by the rules
/// every media fetch of ours follows, so no network gets an address we would refuse.
struct FacebookPublisher(FacebookClient, CheckedFetcher);

impl Publisher for FacebookPublisher {
    async fn publish_part(
        &self,
        account: &LinkedAccount,
        part: OutgoingPart<'_>,
        _reply_to: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        for item in part.media {
            if let Err(e @ FetchError::Refused { .. }) = self.1.check(&item.url).await {
                return Err(PublishError::MediaUnavailable {
                    detail: format!("media_refused: {e}"),
                });
            }
        }
        // Pages have no threads: a post is one part (up to 63,206 characters).
        self.0
            .publish(
                &account.account_id,
                &account.access_token,
                part.text,
                part.link,
                part.media,
            )
            .await
    }

    async fn reconcile(
        &self,
        account: &LinkedAccount,
        text: &str,
        window: Window,
    ) -> Result<Option<RemotePost>, PublishError> {
        self.0.find_recent(account, text, window).await
    }

    async fn delete_part(
        &self,
        account: &LinkedAccount,
        remote_id: &str,
    ) -> Result<(), PublishError> {
        self.0.delete_post(remote_id, &account.access_token).await
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    crosspost_lambda::init_tracing();
    let env = Env::process();
    let base_url = env.base_url("FACEBOOK_GRAPH_BASE_URL")?;
    let version = env.required("FACEBOOK_GRAPH_VERSION")?;
    let http = crosspost_networks::http_client(env.http_timeout()?)?;
    let secret_id = env.required("FACEBOOK_APP_SECRET_ID")?;
    let sdk = crosspost_aws::load_sdk_config().await;
    // Read once per cold start.
    let raw = crosspost_aws::secrets::read_secret(&sdk, &secret_id)
        .await
        .map_err(|e| format!("reading the Facebook app secret: {e}"))?;
    let app_secret = AppCredentials::parse(&raw, &secret_id)?.app_secret;
    let rules = FetchRules::configured(
        env.media_hosts()?,
        env.optional("MEDIA_STAND_INS").as_deref(),
    )?;
    let checked = CheckedFetcher::new(rules, std::time::Duration::from_secs(5))?;
    let publisher = FacebookPublisher(
        FacebookClient::new(http, base_url, version, app_secret),
        checked,
    );
    crosspost_lambda::run_worker(Network::Facebook, &sdk, publisher).await
}
