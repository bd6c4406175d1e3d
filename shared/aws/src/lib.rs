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

/// The AWS configuration of a Lambda function, from the variables Lambda sets:
/// - region: `AWS_REGION` (else `AWS_DEFAULT_REGION`);
/// - credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`
///   (the execution role's; read at the first AWS call, which fails naming a missing one);
/// - endpoints: `AWS_ENDPOINT_URL_<SERVICE>` (`DYNAMODB`, `SQS`, `KMS`,
///   `SECRETS_MANAGER`), else `AWS_ENDPOINT_URL`, else the service's own for the region;
///   `AWS_USE_FIPS_ENDPOINT` and `AWS_USE_DUALSTACK_ENDPOINT` (`true`/`false`);
/// - retries, timeouts, sleeps, clocks and the credentials cache: the SDK clients'
///   defaults for the latest behaviour version (standard retries, 3 attempts; 3.1 s to
///   connect).
///
/// Every SDK client made from it sends through [`SdkHttpClient`] on `tls` (the network
/// clients' TLS configuration).
///
/// Built with aws-types' `SdkConfig` builder rather than aws-config's loader: the
/// loader's default credential chains (profile files, SSO, web identity with its own
/// STS client, ECS, IMDS) are linked into every function although Lambda hands over
/// credentials in the environment, and they were a tenth of each package (measured by
/// `make bench`). aws-config's environment credentials provider is still the one used.
pub fn load_sdk_config(tls: rustls::ClientConfig) -> aws_types::SdkConfig {
    sdk_config_from(|name| std::env::var(name).ok(), tls)
}

/// [`load_sdk_config`] reading variables through `var`.
fn sdk_config_from(
    var: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    tls: rustls::ClientConfig,
) -> aws_types::SdkConfig {
    let flag = |name: &str| var(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .filter(|r| !r.is_empty())
        .map(aws_types::region::Region::new);
    let use_fips = flag("AWS_USE_FIPS_ENDPOINT");
    let use_dual_stack = flag("AWS_USE_DUALSTACK_ENDPOINT");
    let endpoint_url = var("AWS_ENDPOINT_URL").filter(|u| !u.is_empty());
    let mut builder = aws_types::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            ),
        )
        .use_fips(use_fips)
        .use_dual_stack(use_dual_stack)
        .service_config(ServiceEndpoints { var: Box::new(var) })
        .http_client(SdkHttpClient::new(tls));
    builder.set_region(region);
    builder.set_endpoint_url(endpoint_url);
    builder.build()
}

/// Per-service endpoint URLs from `AWS_ENDPOINT_URL_<SERVICE ID>`, the service id upper
/// case with spaces as underscores (the AWS SDKs' rule for service-specific endpoints).
struct ServiceEndpoints {
    var: Box<EnvVar>,
}

/// Reads an environment variable: `std::env::var`, or a map in tests.
type EnvVar = dyn Fn(&str) -> Option<String> + Send + Sync;

impl std::fmt::Debug for ServiceEndpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceEndpoints")
    }
}

impl aws_types::service_config::LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        let service: String = key
            .service_id()
            .chars()
            .map(|c| {
                if c == ' ' || c == '-' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect();
        (self.var)(&format!("{}_{service}", key.env())).filter(|v| !v.is_empty())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_types::service_config::ServiceConfigKey;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> aws_types::SdkConfig {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        sdk_config_from(
            move |name| vars.get(name).cloned(),
            crosspost_networks::tls_config(),
        )
    }

    fn endpoint_of(sdk: &aws_types::SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        sdk.service_config()?.load_config(key)
    }

    #[test]
    fn region_and_endpoints_come_from_lambdas_variables() {
        let sdk = config(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:5001"),
        ]);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(
            endpoint_of(&sdk, "DynamoDB").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            endpoint_of(&sdk, "Secrets Manager").as_deref(),
            Some("http://127.0.0.1:5001")
        );
        // No service-specific variable: the SDK falls back to AWS_ENDPOINT_URL.
        assert_eq!(endpoint_of(&sdk, "SQS"), None);
        assert_eq!(sdk.use_fips(), Some(false));
    }

    #[test]
    fn the_default_region_and_fips_endpoints_are_read_too() {
        let sdk = config(&[
            ("AWS_DEFAULT_REGION", "us-gov-west-1"),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "TRUE"),
        ]);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-gov-west-1"));
        assert_eq!(sdk.use_fips(), Some(true));
        assert_eq!(sdk.use_dual_stack(), Some(true));
        assert_eq!(sdk.endpoint_url(), None);
        assert!(sdk.credentials_provider().is_some());
    }
}
