//! The Facebook worker: consumes the Facebook delivery queue and publishes each
//! delivery to its Page.

use crosspost_core::{LinkedAccount, Network, OutgoingPart, PublishError, Publisher, RemotePost};
use crosspost_lambda::Env;
use crosspost_networks::facebook::FacebookClient;
use lambda_runtime::Error;

struct FacebookPublisher(FacebookClient);

impl Publisher for FacebookPublisher {
    async fn publish_part(
        &self,
        account: &LinkedAccount,
        part: OutgoingPart<'_>,
        _reply_to: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        // Pages have no threads: a post is one part (up to 63,206 characters).
        self.0
            .post_feed(&account.account_id, &account.access_token, part.text, None)
            .await
    }

    async fn reconcile(
        &self,
        account: &LinkedAccount,
        text: &str,
        since_unix: i64,
    ) -> Result<Option<RemotePost>, PublishError> {
        self.0.find_recent(account, text, since_unix).await
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
    let sdk = crosspost_aws::load_sdk_config().await;
    let publisher = FacebookPublisher(FacebookClient::new(http, base_url, version));
    crosspost_lambda::run_worker(Network::Facebook, &sdk, publisher).await
}
