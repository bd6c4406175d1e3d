//! The webhook function: the source app's door. It accepts a post, records it with one
//! PENDING delivery per target in one transaction, and queues one message per delivery.

mod intake;

use crosspost_aws::{AccountsStore, DeliveryQueues, PostsStore};
use crosspost_core::Network;
use crosspost_lambda::Env;
use lambda_http::{service_fn, Error};
use std::collections::BTreeMap;

#[tokio::main]
async fn main() -> Result<(), Error> {
    crosspost_lambda::init_tracing();
    let env = Env::process();
    let posts_table = env.required("POSTS_TABLE")?;
    let accounts_table = env.required("ACCOUNTS_TABLE")?;
    let queue_urls = BTreeMap::from([
        (Network::X, env.required("X_QUEUE_URL")?),
        (Network::Facebook, env.required("FACEBOOK_QUEUE_URL")?),
    ]);
    let sdk = crosspost_aws::load_sdk_config().await;
    let dynamodb = crosspost_aws::aws_sdk_dynamodb::Client::new(&sdk);
    let app = intake::Intake {
        posts: PostsStore::new(dynamodb.clone(), posts_table),
        accounts: AccountsStore::new(dynamodb, accounts_table),
        queues: DeliveryQueues::new(crosspost_aws::aws_sdk_sqs::Client::new(&sdk), queue_urls),
    };
    let app = &app;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(app.route(req).await)
    }))
    .await
}
