//! Secrets Manager: secrets read once per cold start.

use crate::StoreError;
use crosspost_core::Secret;

/// Reads a secret's current string value.
pub async fn read_secret(
    sdk: &aws_config::SdkConfig,
    secret_id: &str,
) -> Result<Secret, StoreError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
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
