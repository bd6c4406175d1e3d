//! The X worker: consumes the X delivery queue and publishes each delivery to X.

/// The AWS actions this function calls, kept with the code and checked against template.yaml.
#[cfg(test)]
mod iam;
use crosspost_core::{
    LinkedAccount, Network, OutgoingPart, PublishError, Publisher, RemotePost, Window,
};
use crosspost_lambda::Env;
use crosspost_networks::fetch::{CheckedFetcher, FetchRules};
use crosspost_networks::media::MediaFetcher;
use crosspost_networks::x::XClient;
use crosspost_networks::x_media::XMediaUploader;
use crosspost_networks::x_oauth::{ClientCredentials, XOAuth};
use lambda_runtime::Error;
use std::time::Duration;

/// The X client, and its media uploader for the first part of a post.
struct XPublisher(XClient, XMediaUploader);

impl Publisher for XPublisher {
    async fn publish_part(
        &self,
        account: &LinkedAccount,
        part: OutgoingPart<'_>,
        reply_to: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        let media_ids = if part.index == 0 && !part.media.is_empty() {
            self.1.upload_all(&account.access_token, part.media).await?
        } else {
            Vec::new()
        };
        self.0
            .post_tweet(&account.access_token, part.text, reply_to, &media_ids)
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
        self.0.delete_tweet(&account.access_token, remote_id).await
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    crosspost_lambda::init_tracing();
    let env = Env::process();
    let base_url = env.base_url("X_API_BASE_URL")?;
    let http = crosspost_networks::http_client(env.http_timeout()?)?;
    // The same rules as the webhook's intake check (the local stack serves media from
    // loopback).
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
    let publisher = XPublisher(XClient::new(http, base_url), media);
    crosspost_lambda::run_worker_refreshing(Network::X, &sdk, publisher, Some(oauth)).await
}
