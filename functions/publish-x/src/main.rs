//! The X worker: consumes the X delivery queue and publishes each delivery to X.

use crosspost_aws::{AccountsStore, PostsStore};
use crosspost_core::{LinkedAccount, PublishError, Publisher, RemotePost};
use crosspost_lambda::{DeliveryWorker, Env};
use crosspost_networks::x::XClient;
use lambda_runtime::Error;

/// Deliveries of one batch worked at the same time.
const CONCURRENCY: usize = 10;

struct XPublisher(XClient);

impl Publisher for XPublisher {
    async fn publish_part(
        &self,
        account: &LinkedAccount,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        self.0
            .post_tweet(&account.access_token, text, reply_to)
            .await
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
    let posts_table = env.required("POSTS_TABLE")?;
    let accounts_table = env.required("ACCOUNTS_TABLE")?;
    let base_url = env.base_url("X_API_BASE_URL")?;
    let sdk = crosspost_aws::load_sdk_config().await;
    let dynamodb = crosspost_aws::aws_sdk_dynamodb::Client::new(&sdk);
    let worker = DeliveryWorker {
        posts: PostsStore::new(dynamodb.clone(), posts_table),
        accounts: AccountsStore::new(dynamodb, accounts_table),
        publisher: XPublisher(XClient::new(crosspost_networks::http_client()?, base_url)),
    };
    crosspost_lambda::run_worker(worker, CONCURRENCY).await
}
