//! `AWS::Serverless::Function`: the binary to run, its limits and its environment, with
//! `Globals.Function` under the function's own properties.

use super::events::{parse_events, RouteSpec, SqsEventSpec};
use super::intrinsics::Expr;
use super::props::{check_keys, int, key_str, literal, mapping, required_literal};
use super::resolver::Resolver;
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
    /// `ReservedConcurrentExecutions` (a number, or a `!Ref` to a parameter): caps the
    /// function's instances locally once resolved ([`FunctionSpec::reserved_instances`]).
    pub reserved_concurrency: Option<Expr>,
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

/// A reserved concurrency's value: a count of instances.
fn reserved_count(value: &str) -> Result<usize> {
    value.parse::<usize>().map_err(|_| {
        anyhow!("ReservedConcurrentExecutions must be a whole number of instances, found `{value}`")
    })
}

impl FunctionSpec {
    /// The reserved concurrency with its parameter resolved; `None` when there is none.
    /// Errors when the value is not a whole number (a parameter given `-1`, `ten`).
    pub fn reserved_instances(&self, resolver: &Resolver) -> Result<Option<usize>> {
        self.reserved_concurrency
            .as_ref()
            .map(|e| {
                reserved_count(&resolver.resolve(e)?)
                    .with_context(|| format!("function {}", self.logical_id))
            })
            .transpose()
    }
}

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
        .map(|v| Expr::parse(v).context("ReservedConcurrentExecutions"))
        .transpose()?;
    if let Some(Expr::Lit(n)) = &reserved_concurrency {
        reserved_count(n)?;
    }

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
    use super::super::{Resolver, Template};
    use std::collections::BTreeMap;

    #[test]
    fn reads_reserved_concurrency_given_or_from_a_parameter() {
        let text = |b: &str| {
            format!(
                r#"
Parameters:
  Cap:
    Type: Number
    Default: 4
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
  C:
    Type: AWS::Serverless::Function
    Properties: {{ CodeUri: functions/c/, ReservedConcurrentExecutions: !Ref Cap }}
"#
            )
        };
        let t = Template::parse(&text("1")).unwrap();
        let resolver = |overrides: &[(&str, &str)]| Resolver {
            parameters: t
                .parameter_values(
                    &overrides
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect::<BTreeMap<_, _>>(),
                )
                .unwrap(),
            ..Default::default()
        };
        let reserved = |r: &Resolver| -> Vec<_> {
            t.functions
                .iter()
                .map(|f| (f.logical_id.clone(), f.reserved_instances(r).unwrap()))
                .collect()
        };
        assert_eq!(
            reserved(&resolver(&[])),
            [
                ("A".to_string(), Some(3)),
                ("B".to_string(), Some(1)),
                ("C".to_string(), Some(4))
            ]
        );
        assert_eq!(reserved(&resolver(&[("Cap", "7")]))[2].1, Some(7));

        let err = t.functions[2]
            .reserved_instances(&resolver(&[("Cap", "-1")]))
            .unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("function C") && err.contains("`-1`"), "{err}");
        assert!(Template::parse(&text("-1")).is_err());
        let small = Template::parse(SMALL).unwrap();
        assert_eq!(small.functions[0].reserved_concurrency, None);
    }
}
