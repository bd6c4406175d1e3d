//! The Facebook worker: consumes the Facebook delivery queue and publishes each
//! delivery to its Page.

use crosspost_aws::{AccountsStore, PostsStore};
use crosspost_core::{LinkedAccount, PublishError, Publisher, RemotePost};
use crosspost_lambda::{DeliveryWorker, Env};
use crosspost_networks::facebook::FacebookClient;
use lambda_runtime::Error;

/// Deliveries of one batch worked at the same time.
const CONCURRENCY: usize = 10;

struct FacebookPublisher(FacebookClient);

impl Publisher for FacebookPublisher {
    async fn publish_part(
        &self,
        account: &LinkedAccount,
        text: &str,
        _reply_to: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        // Pages have no threads: the whole text is one post (up to 63,206 characters).
        self.0
            .post_feed(&account.account_id, &account.access_token, text, None)
            .await
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
    let posts_table = env.required("POSTS_TABLE")?;
    let accounts_table = env.required("ACCOUNTS_TABLE")?;
    let base_url = env.base_url("FACEBOOK_GRAPH_BASE_URL")?;
    let version = env.required("FACEBOOK_GRAPH_VERSION")?;
    let sdk = crosspost_aws::load_sdk_config().await;
    let dynamodb = crosspost_aws::aws_sdk_dynamodb::Client::new(&sdk);
    let worker = DeliveryWorker {
        posts: PostsStore::new(dynamodb.clone(), posts_table),
        accounts: AccountsStore::new(dynamodb, accounts_table),
        publisher: FacebookPublisher(FacebookClient::new(
            crosspost_networks::http_client()?,
            base_url,
            version,
        )),
    };
    crosspost_lambda::run_worker(worker, CONCURRENCY).await
}
