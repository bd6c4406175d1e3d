//! The X worker: consumes the X delivery queue and publishes each delivery to X.

use crosspost_core::{LinkedAccount, Network, OutgoingPart, PublishError, Publisher, RemotePost};
use crosspost_lambda::Env;
use crosspost_networks::x::XClient;
use lambda_runtime::Error;

struct XPublisher(XClient);

impl Publisher for XPublisher {
    async fn publish_part(
        &self,
        account: &LinkedAccount,
        part: OutgoingPart<'_>,
        reply_to: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        self.0
            .post_tweet(&account.access_token, part.text, reply_to)
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
        self.0.delete_tweet(&account.access_token, remote_id).await
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    crosspost_lambda::init_tracing();
    let env = Env::process();
    let base_url = env.base_url("X_API_BASE_URL")?;
    let http = crosspost_networks::http_client(env.http_timeout()?)?;
    let sdk = crosspost_aws::load_sdk_config().await;
    crosspost_lambda::run_worker(Network::X, &sdk, XPublisher(XClient::new(http, base_url))).await
}
