//! The webhook function: the source app's only door (DESIGN sections 7 and 8). Every
//! call is signed; posts are validated, recorded with one PENDING delivery per target in
//! one transaction, and queued; status, delete, retry and preview read the same truth.

/// The AWS actions this function calls, kept with the code and checked against template.yaml.
#[cfg(test)]
mod iam;
mod intake;
mod manage;
mod media_hosts;
mod preview;
mod routes;

use crosspost_aws::{AccountsStore, DeliveryQueues, PostsStore};
use crosspost_core::signing::SigningSecret;
use crosspost_core::{MediaHosts, Network};
use crosspost_lambda::Env;
use crosspost_networks::fetch::{CheckedFetcher, FetchRules};
use crosspost_networks::media::MediaFetcher;
use lambda_http::{service_fn, Error};
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything a request needs, built once per cold start.
pub struct App {
    pub posts: PostsStore,
    pub accounts: AccountsStore,
    pub queues: DeliveryQueues,
    pub secrets: Vec<SigningSecret>,
    pub media_hosts: MediaHosts,
    /// Checks media hosts by the rules the workers fetch by.
    pub fetcher: CheckedFetcher,
    /// Reads the first bytes of a previewed post's media, as the workers do.
    pub media: MediaFetcher,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    crosspost_lambda::init_tracing();
    let env = Env::process();
    let posts_table = env.required("POSTS_TABLE")?;
    let accounts_table = env.required("ACCOUNTS_TABLE")?;
    let queue_urls = BTreeMap::from([
        (Network::X, env.required("X_QUEUE_URL")?),
        (Network::Facebook, env.required("FACEBOOK_QUEUE_URL")?),
        (Network::Bluesky, env.required("BLUESKY_QUEUE_URL")?),
    ]);
    let secrets_id = env.required("WEBHOOK_SECRETS_ID")?;
    let media_hosts = env.media_hosts()?;
    let rules = FetchRules::configured(media_hosts, env.optional("MEDIA_STAND_INS").as_deref())?;
    let fetcher = CheckedFetcher::new(rules, Duration::from_secs(5))?;
    // A preview waits for its media's first bytes, a few seconds at most.
    let media = MediaFetcher::new(fetcher.clone(), Duration::from_secs(5));
    let sdk = crosspost_aws::load_sdk_config(crosspost_networks::tls_config());
    let secret_text = crosspost_aws::secrets::read_secret(&sdk, &secrets_id)
        .await
        .map_err(|e| format!("reading the signing secrets: {e}"))?;
    let secrets = SigningSecret::parse_list(&secret_text)
        .map_err(|e| format!("the signing secrets in {secrets_id} are unusable: {e}"))?;
    let dynamodb = crosspost_aws::aws_sdk_dynamodb::Client::new(&sdk);
    let app = App {
        posts: PostsStore::new(dynamodb.clone(), posts_table),
        accounts: AccountsStore::new(dynamodb, accounts_table),
        queues: DeliveryQueues::new(crosspost_aws::aws_sdk_sqs::Client::new(&sdk), queue_urls),
        secrets,
        media_hosts,
        fetcher,
        media,
    };
    let app = &app;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(routes::handle(app, req).await)
    }))
    .await
}
