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

/// A secret to be read when first needed: start-up makes no Secrets Manager call for
/// it and does not even build the Secrets Manager client (whose endpoint rules take a
/// tenth of a cold start to load). [`FromSecret`] reads it and keeps what it makes.
pub struct LazySecret {
    sdk: aws_config::SdkConfig,
    client: std::sync::OnceLock<aws_sdk_secretsmanager::Client>,
    secret_id: String,
}

impl LazySecret {
    pub fn new(sdk: &aws_config::SdkConfig, secret_id: impl Into<String>) -> Self {
        LazySecret {
            sdk: sdk.clone(),
            client: std::sync::OnceLock::new(),
            secret_id: secret_id.into(),
        }
    }

    /// The secret's id (its name or ARN), for messages.
    fn id(&self) -> &str {
        &self.secret_id
    }

    /// The secret's current string value, read now and not kept.
    async fn read_now(&self) -> Result<Secret, StoreError> {
        let client = self
            .client
            .get_or_init(|| aws_sdk_secretsmanager::Client::new(&self.sdk));
        read(client, &self.secret_id).await
    }
}

/// Makes a value from a secret's string, or says why it cannot (never quoting it).
pub type MakeFromSecret<T> = Box<dyn Fn(&Secret) -> Result<T, String> + Send + Sync>;

/// A value made from a secret at its first use (credentials parsed, a client built on
/// them) and kept for the instance's life. A failed read or make keeps nothing: the
/// next use reads the secret again, so a mended secret works without a restart.
pub struct FromSecret<T> {
    secret: LazySecret,
    make: MakeFromSecret<T>,
    value: tokio::sync::OnceCell<T>,
}

impl<T> FromSecret<T> {
    pub fn new(secret: LazySecret, make: MakeFromSecret<T>) -> Self {
        FromSecret {
            secret,
            make,
            value: tokio::sync::OnceCell::new(),
        }
    }

    /// The value, made on the first call that succeeds.
    ///
    /// Errors: the secret could not be read, or `make` refused it; the text names the
    /// secret's id and never its value.
    pub async fn get(&self) -> Result<&T, String> {
        self.value
            .get_or_try_init(|| async {
                // Read afresh each time nothing is made yet: a value `make` refused is
                // not kept, so a mended secret is seen at the next use.
                let raw = self
                    .secret
                    .read_now()
                    .await
                    .map_err(|e| format!("reading secret {}: {e}", self.secret.id()))?;
                (self.make)(&raw)
                    .map_err(|e| format!("secret {} is unusable: {e}", self.secret.id()))
            })
            .await
    }
}
