//! AWS adapters: the DynamoDB tables (posts, deliveries, linked accounts) and the SQS
//! delivery queues. One `SdkConfig` per cold start is built by [`load_sdk_config`];
//! endpoints come from the standard `AWS_ENDPOINT_URL_*` variables, so the same code
//! runs against DynamoDB Local and moto.

mod attr;

pub use aws_sdk_dynamodb;
pub use aws_sdk_kms;
pub use aws_sdk_sqs;
pub mod accounts;
pub mod posts;
pub mod queues;
pub mod seal;
pub mod secrets;

pub use accounts::{AccountsStore, PendingLink, TokenVault};
pub use posts::{
    Claim, DeliveryError, DeliveryKey, DeliveryRecord, IntakeRecord, NewPost, PostRecord,
    PostsStore, PublishedPart, SourceGuard, StoredAnswer,
};
pub use queues::{DeliveryQueues, EventQueue, WorkQueue};
pub use seal::Sealer;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};

/// Loads the AWS configuration from the environment (region, credentials, endpoints).
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// What went wrong talking to AWS, classified by what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition of a write did not hold: someone else changed the item first.
    #[error("condition failed: {0}")]
    Conflict(String),
    /// An item in the table does not have the shape this code writes.
    #[error("corrupt item {key}: {detail}")]
    Corrupt { key: String, detail: String },
    /// The service or the connection failed; trying again later may work.
    #[error("{service} call failed: {detail}")]
    Backend {
        service: &'static str,
        detail: String,
    },
}

impl StoreError {
    fn backend<E>(service: &'static str, err: E) -> Self
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
}
