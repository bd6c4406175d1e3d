//! `AWS::Serverless::Function`: the binary to run, its limits and its environment, with
//! `Globals.Function` under the function's own properties.

use super::events::{parse_events, RouteSpec, SqsEventSpec};
use super::intrinsics::Expr;
use super::props::{check_keys, int, key_str, literal, mapping, required_literal};
use anyhow::{anyhow, Context, Result};
use serde_yaml::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// The binary's name: Metadata.BuildProperties.Binary, else CodeUri's last component.
    pub binary: String,
    pub timeout_s: u64,
    pub memory_mb: u64,
    /// `ReservedConcurrentExecutions`: caps the function's instances locally.
    pub reserved_concurrency: Option<usize>,
    pub environment: BTreeMap<String, Expr>,
    pub routes: Vec<RouteSpec>,
    pub sqs_events: Vec<SqsEventSpec>,
}

pub(super) const FUNCTION_PROPS: &[&str] = &[
    "CodeUri",
    "Timeout",
    "MemorySize",
    "Environment",
    "Events",
    "ReservedConcurrentExecutions",
];
/// Function properties with no local meaning: IAM (`Policies`, including SAM policy
/// templates such as `AWSSecretsManagerGetSecretValuePolicy` or `KMSDecryptPolicy`, and
/// whatever intrinsic functions they hold: moto does not enforce IAM), packaging, runtime
/// choice (the local binary is built for this machine), descriptions, tags, tracing.
pub(super) const FUNCTION_IGNORED: &[&str] = &[
    "Description",
    "Policies",
    "Role",
    "Handler",
    "Runtime",
    "Architectures",
    "Tags",
    "Tracing",
    "FunctionName",
    "LoggingConfig",
    "AutoPublishAlias",
    "PropagateTags",
];

pub(super) fn parse_function(
    id: &str,
    props: &serde_yaml::Mapping,
    metadata: Option<&Value>,
    globals: Option<&serde_yaml::Mapping>,
    resource_types: &BTreeMap<String, String>,
) -> Result<FunctionSpec> {
    check_keys(props, "function", FUNCTION_PROPS, FUNCTION_IGNORED)?;
    let get = |k: &str| props.get(k).or_else(|| globals.and_then(|g| g.get(k)));
    let code_uri = required_literal(props, "CodeUri", "function")?;
    // SAM's rust-cargolambda builds `BuildProperties.Binary` when it is given (a
    // workspace built from its root); otherwise the package at CodeUri.
    let named_binary = metadata
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .map(|b| literal(b, "Metadata.BuildProperties.Binary"))
        .transpose()?;
    let binary = named_binary
        .as_deref()
        .unwrap_or(&code_uri)
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow!("CodeUri `{code_uri}` has no last component"))?
        .to_string();
    let timeout_s = get("Timeout")
        .map(|v| int(v, "Timeout"))
        .transpose()?
        .unwrap_or(3) as u64;
    let memory_mb = get("MemorySize")
        .map(|v| int(v, "MemorySize"))
        .transpose()?
        .unwrap_or(128) as u64;
    let reserved_concurrency = get("ReservedConcurrentExecutions")
        .map(|v| int(v, "ReservedConcurrentExecutions"))
        .transpose()?
        .map(|n| {
            usize::try_from(n)
                .map_err(|_| anyhow!("ReservedConcurrentExecutions must not be negative"))
        })
        .transpose()?;

    let mut environment = BTreeMap::new();
    for source in [
        globals.and_then(|g| g.get("Environment")),
        props.get("Environment"),
    ]
    .into_iter()
    .flatten()
    {
        let env = mapping(source, "Environment")?;
        check_keys(env, "Environment", &["Variables"], &[])?;
        if let Some(vars) = env.get("Variables") {
            for (k, v) in mapping(vars, "Environment.Variables")? {
                let k = key_str(k)?;
                environment.insert(
                    k.to_string(),
                    Expr::parse(v).with_context(|| format!("environment variable {k}"))?,
                );
            }
        }
    }

    let (routes, sqs_events) = parse_events(props.get("Events"), resource_types)?;
    Ok(FunctionSpec {
        logical_id: id.to_string(),
        binary,
        timeout_s,
        memory_mb,
        reserved_concurrency,
        environment,
        routes,
        sqs_events,
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::SMALL;
    use super::super::Template;

    #[test]
    fn reads_reserved_concurrency() {
        let text = |b: &str| {
            format!(
                r#"
Globals:
  Function:
    ReservedConcurrentExecutions: 3
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties: {{ CodeUri: functions/a/ }}
  B:
    Type: AWS::Serverless::Function
    Properties: {{ CodeUri: functions/b/, ReservedConcurrentExecutions: {b} }}
"#
            )
        };
        let t = Template::parse(&text("1")).unwrap();
        let reserved: Vec<_> = t
            .functions
            .iter()
            .map(|f| (f.logical_id.as_str(), f.reserved_concurrency))
            .collect();
        assert_eq!(reserved, [("A", Some(3)), ("B", Some(1))]);
        assert!(Template::parse(&text("-1")).is_err());
        let small = Template::parse(SMALL).unwrap();
        assert_eq!(small.functions[0].reserved_concurrency, None);
    }
}
