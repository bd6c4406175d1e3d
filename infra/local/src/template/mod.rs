//! Reads the SAM template into the few things a local stack needs: parameters, tables,
//! queues (in creation order), KMS keys and aliases, Secrets Manager secrets, functions
//! with their environment and event sources.
//!
//! Only what the local stack can honour is accepted. A property it does not understand
//! is an error, so the local stack never silently differs from the deployed one; the
//! properties that have no local meaning are listed explicitly as ignored.
//!
//! One module per kind of resource (`tables`, `queues`, `security` for KMS and Secrets
//! Manager, `functions` with their `events`); `intrinsics` reads `!Ref`, `!GetAtt` and
//! `!Sub`, and `resolver` turns them into values once the resources exist.

mod events;
#[cfg(test)]
mod fixtures;
mod functions;
mod intrinsics;
#[cfg(test)]
mod operable;
mod props;
mod queues;
mod resolver;
mod security;
mod tables;

pub use events::{RouteSpec, SqsEventSpec};
pub use functions::FunctionSpec;
pub use intrinsics::Expr;
pub use queues::{QueueSpec, RedriveSpec};
pub use resolver::{KmsKeyInfo, QueueInfo, Resolver};
pub use security::{GenerateSecretSpec, KmsAliasSpec, KmsKeySpec, SecretSource, SecretSpec};
pub use tables::{IndexSpec, TableSpec};

use anyhow::{anyhow, bail, Context, Result};
use functions::{parse_function, FUNCTION_IGNORED, FUNCTION_PROPS};
use props::{check_keys, key_str, literal, mapping};
use queues::{order_queues, parse_queue};
use security::{parse_kms_alias, parse_kms_key, parse_secret};
use serde_yaml::Value;
use std::collections::BTreeMap;
use tables::parse_table;

/// Region every local resource lives in.
pub const REGION: &str = "us-east-1";
/// Account id used in ARNs built locally (moto's default account).
pub const ACCOUNT_ID: &str = "123456789012";

/// Resource attributes (beside Type and Properties) that change nothing locally.
const IGNORED_RESOURCE_KEYS: &[&str] = &[
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "Metadata",
    "DependsOn",
];

#[derive(Debug, Clone)]
pub struct Parameter {
    pub default: Option<String>,
    pub allowed_values: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub parameters: BTreeMap<String, Parameter>,
    /// Every resource's type, by logical id.
    pub resource_types: BTreeMap<String, String>,
    pub tables: Vec<TableSpec>,
    /// In creation order: a queue comes after every queue it refers to (its DLQ).
    pub queues: Vec<QueueSpec>,
    pub kms_keys: Vec<KmsKeySpec>,
    pub kms_aliases: Vec<KmsAliasSpec>,
    pub secrets: Vec<SecretSpec>,
    pub functions: Vec<FunctionSpec>,
}

impl Template {
    pub fn parse(text: &str) -> Result<Template> {
        let doc: Value = serde_yaml::from_str(text).context("template is not valid YAML")?;
        let root = mapping(&doc, "template")?;

        let mut parameters = BTreeMap::new();
        if let Some(p) = root.get("Parameters") {
            for (k, v) in mapping(p, "Parameters")? {
                let name = key_str(k)?;
                let m = mapping(v, name)?;
                let default = m.get("Default").map(|d| literal(d, name)).transpose()?;
                let allowed_values = match m.get("AllowedValues") {
                    Some(Value::Sequence(seq)) => Some(
                        seq.iter()
                            .map(|x| literal(x, name))
                            .collect::<Result<Vec<_>>>()?,
                    ),
                    _ => None,
                };
                parameters.insert(
                    name.to_string(),
                    Parameter {
                        default,
                        allowed_values,
                    },
                );
            }
        }

        let globals = match root.get("Globals").and_then(|g| g.get("Function")) {
            Some(g) => {
                let g = mapping(g, "Globals.Function")?;
                check_keys(g, "Globals.Function", FUNCTION_PROPS, FUNCTION_IGNORED)?;
                Some(g)
            }
            None => None,
        };

        let resources = mapping(
            root.get("Resources")
                .ok_or_else(|| anyhow!("template has no Resources"))?,
            "Resources",
        )?;
        let mut resource_types = BTreeMap::new();
        for (k, v) in resources {
            let id = key_str(k)?;
            let ty = v
                .get("Type")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("resource {id} has no Type"))?;
            resource_types.insert(id.to_string(), ty.to_string());
        }

        let mut tables = Vec::new();
        let mut queues = Vec::new();
        let mut kms_keys = Vec::new();
        let mut kms_aliases = Vec::new();
        let mut secrets = Vec::new();
        let mut functions = Vec::new();
        for (k, v) in resources {
            let id = key_str(k)?;
            let res = mapping(v, id)?;
            let ty = resource_types[id].as_str();
            if !matches!(
                ty,
                "AWS::DynamoDB::Table"
                    | "AWS::SQS::Queue"
                    | "AWS::KMS::Key"
                    | "AWS::KMS::Alias"
                    | "AWS::SecretsManager::Secret"
                    | "AWS::Serverless::Function"
            ) {
                // Other resources (the HTTP API itself, alarms, ...) have no local process
                // or state; a function referring to one fails when its environment resolves.
                continue;
            }
            for key in res.keys() {
                let key = key_str(key)?;
                if key != "Type" && key != "Properties" && !IGNORED_RESOURCE_KEYS.contains(&key) {
                    bail!("resource {id}: `{key}` is not understood by the local stack");
                }
            }
            let empty = Value::Mapping(Default::default());
            let props = mapping(res.get("Properties").unwrap_or(&empty), id)?;
            let ctx = || format!("resource {id} ({ty})");
            match ty {
                "AWS::DynamoDB::Table" => tables.push(parse_table(id, props).with_context(ctx)?),
                "AWS::SQS::Queue" => queues.push(parse_queue(id, props).with_context(ctx)?),
                "AWS::KMS::Key" => kms_keys.push(parse_kms_key(id, props).with_context(ctx)?),
                "AWS::KMS::Alias" => {
                    kms_aliases.push(parse_kms_alias(id, props, &resource_types).with_context(ctx)?)
                }
                "AWS::SecretsManager::Secret" => {
                    secrets.push(parse_secret(id, props).with_context(ctx)?)
                }
                _ => functions.push(
                    parse_function(id, props, res.get("Metadata"), globals, &resource_types)
                        .with_context(ctx)?,
                ),
            }
        }
        let queues = order_queues(queues)?;
        Ok(Template {
            parameters,
            resource_types,
            tables,
            queues,
            kms_keys,
            kms_aliases,
            secrets,
            functions,
        })
    }

    /// Parameter values: overrides win over defaults, like `sam deploy --parameter-overrides`.
    pub fn parameter_values(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>> {
        for k in overrides.keys() {
            if !self.parameters.contains_key(k) {
                bail!("parameter override `{k}` is not a parameter of the template");
            }
        }
        let mut out = BTreeMap::new();
        for (name, p) in &self.parameters {
            let value = overrides
                .get(name)
                .cloned()
                .or_else(|| p.default.clone())
                .ok_or_else(|| anyhow!("parameter {name} has no Default and no override"))?;
            if let Some(allowed) = &p.allowed_values {
                if !allowed.contains(&value) {
                    bail!("parameter {name}: `{value}` is not one of {allowed:?}");
                }
            }
            out.insert(name.clone(), value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::SMALL;
    use super::*;

    #[test]
    fn parses_tags_long_forms_and_orders_dlq_first() {
        let t = Template::parse(SMALL).unwrap();
        let order: Vec<_> = t.queues.iter().map(|q| q.logical_id.as_str()).collect();
        assert_eq!(order, ["Dlq", "Main"]);
        let main = &t.queues[1];
        assert_eq!(
            main.attributes["VisibilityTimeout"],
            Expr::Lit("360".into())
        );
        assert_eq!(
            main.redrive.as_ref().unwrap().dead_letter_target_arn,
            Expr::GetAtt("Dlq".into(), "Arn".into())
        );
        let table = &t.tables[0];
        assert_eq!(table.ttl, Some(("expires_at".into(), true)));
        assert_eq!(
            table.key_schema,
            vec![("pk".to_string(), "HASH".to_string())]
        );
        let f = &t.functions[0];
        assert_eq!(f.binary, "worker");
        assert_eq!((f.timeout_s, f.memory_mb), (60, 256));
        assert_eq!(f.environment["TABLE"], Expr::Ref("Table".into()));
        assert_eq!(f.environment["LEVEL"], Expr::Ref("Level".into()));
        assert_eq!(
            f.environment["DLQ_ARN"],
            Expr::GetAtt("Dlq".into(), "Arn".into())
        );
        assert_eq!(f.routes[0].method, "POST");
        assert_eq!(f.routes[0].path, "/v1/items/{id}");
        assert_eq!(f.sqs_events[0].queue, "Main");
        assert_eq!(f.sqs_events[0].batch_size, 5);
        assert!(f.sqs_events[0].report_batch_item_failures);
    }

    #[test]
    fn unknown_property_is_an_error() {
        let text = SMALL.replace(
            "      VisibilityTimeout: 360\n",
            "      VisibilityTimeout: 360\n      FifoQueue: true\n",
        );
        let err = format!("{:#}", Template::parse(&text).unwrap_err());
        assert!(err.contains("FifoQueue") && err.contains("Main"), "{err}");

        let text = SMALL.replace(
            "      BatchSize: 5\n",
            "      BatchSize: 5\n            FilterCriteria: {}\n",
        );
        let text = text.replace(
            "            BatchSize: 5\n",
            "            BatchSize: 5\n            FilterCriteria: {}\n",
        );
        let err = format!("{:#}", Template::parse(&text).unwrap_err());
        assert!(err.contains("FilterCriteria"), "{err}");
    }
}
