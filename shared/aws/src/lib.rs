//! AWS adapters: the DynamoDB tables (posts, deliveries, linked accounts) and the SQS
//! delivery queues. One `SdkConfig` per cold start is built by [`load_sdk_config`];
//! endpoints come from the standard `AWS_ENDPOINT_URL_*` variables, so the same code
//! runs against DynamoDB Local and moto.

mod attr;
mod http;

pub use aws_sdk_dynamodb;
pub use aws_sdk_kms;
pub use aws_sdk_sqs;
pub mod accounts;
pub mod posts;
pub mod queues;
pub mod seal;
pub mod secrets;

pub use accounts::{AccountsStore, PendingLink, TokenVault};
pub use posts::{IntakeRecord, NewPost, PostsStore, SourceGuard, StoredAnswer, WebhookUse};
// The delivery model is core's; these names stay reachable from here for callers that
// read the tables.
pub use crosspost_core::delivery::{
    Claim, DeliveryKey, DeliveryRecord, LastError, PostRecord, PublishedPart,
};
pub use crosspost_core::StoreError;
pub use http::SdkHttpClient;
pub use queues::{DeliveryQueues, EventQueue, WorkQueue};
pub use seal::Sealer;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};

/// Loads the AWS configuration of a Lambda function: region and credentials from the
/// variables Lambda sets (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`), the rest (endpoint URLs, retries, timeouts) as aws-config
/// reads it. Every SDK client made from it sends through [`SdkHttpClient`] on `tls`
/// (the network clients' TLS configuration).
///
/// Naming the two providers keeps aws-config from building its default chains at
/// start-up: the web-identity one alone builds an STS client, whose endpoint partitions
/// take a tenth of a cold start to parse (measured by `make bench`), for credentials
/// Lambda already hands over in the environment. Missing variables fail the first AWS
/// call, naming the variable.
pub async fn load_sdk_config(tls: rustls::ClientConfig) -> aws_config::SdkConfig {
    use aws_config::environment::{
        EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
    };
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(EnvironmentVariableRegionProvider::new())
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .http_client(SdkHttpClient::new(tls))
        .load()
        .await
}

/// An AWS service's error as a [`StoreError::Backend`]: its code and message, or the
/// whole error chain when it has neither.
pub(crate) fn backend<E>(service: &'static str, err: E) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata,
{
    let detail = match (err.code(), err.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(&err).to_string(),
    };
    StoreError::Backend { service, detail }
}

/// A DynamoDB request that could not be built (a required field missing).
pub(crate) fn backend_build(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend {
        service: "dynamodb",
        detail: err.to_string(),
    }
}
