//! Secrets Manager: secrets read once per cold start, or at their first use.

use crate::StoreError;
use crosspost_core::Secret;

/// Reads a secret's current string value.
pub async fn read_secret(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
) -> Result<Secret, StoreError> {
    read(&aws_sdk_secretsmanager::Client::new(sdk), secret_id).await
}

async fn read(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Secret, StoreError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| crate::backend("secretsmanager", e.into_service_error()))?;
    out.secret_string
        .map(Secret::new)
        .ok_or_else(|| StoreError::Backend {
            service: "secretsmanager",
            detail: format!("secret {secret_id} has no string value"),
        })
}

/// A secret read at its first use and kept for the instance's life: for a secret only
/// some invocations need, so start-up makes no Secrets Manager call for it. A failed
/// read keeps nothing and is tried again at the next use.
pub struct LazySecret {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    value: tokio::sync::OnceCell<Secret>,
}

impl LazySecret {
    pub fn new(sdk: &aws_config::SdkConfig, secret_id: impl Into<String>) -> Self {
        LazySecret {
            client: aws_sdk_secretsmanager::Client::new(sdk),
            secret_id: secret_id.into(),
            value: tokio::sync::OnceCell::new(),
        }
    }

    /// The secret's id (its name or ARN), for messages.
    pub fn id(&self) -> &str {
        &self.secret_id
    }

    /// The secret's string value, read on the first call.
    pub async fn get(&self) -> Result<&Secret, StoreError> {
        self.value
            .get_or_try_init(|| read(&self.client, &self.secret_id))
            .await
    }
}
