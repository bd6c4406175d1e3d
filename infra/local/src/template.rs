//! Reads the SAM template into the few things a local stack needs: parameters, tables,
//! queues (in creation order), KMS keys and aliases, Secrets Manager secrets, functions
//! with their environment and event sources.
//!
//! Only what the local stack can honour is accepted. A property it does not understand
//! is an error, so the local stack never silently differs from the deployed one; the
//! properties that have no local meaning are listed explicitly as ignored.

use anyhow::{anyhow, bail, Context, Result};
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Region every local resource lives in.
pub const REGION: &str = "us-east-1";
/// Account id used in ARNs built locally (moto's default account).
pub const ACCOUNT_ID: &str = "123456789012";

/// A template value that may be an intrinsic function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Lit(String),
    Ref(String),
    GetAtt(String, String),
    /// `!Sub` text with its explicit variables.
    Sub(String, BTreeMap<String, Expr>),
}

impl Expr {
    pub fn parse(v: &Value) -> Result<Expr> {
        match v {
            Value::String(s) => Ok(Expr::Lit(s.clone())),
            Value::Number(n) => Ok(Expr::Lit(n.to_string())),
            Value::Bool(b) => Ok(Expr::Lit(b.to_string())),
            Value::Tagged(t) => {
                let tag = t.tag.to_string();
                let name = tag.trim_start_matches('!');
                Self::parse_fn(name, &t.value)
            }
            Value::Mapping(m) if m.len() == 1 => {
                let (k, inner) = m.iter().next().expect("one entry");
                match k.as_str() {
                    Some("Ref") => Self::parse_fn("Ref", inner),
                    Some("Fn::GetAtt") => Self::parse_fn("GetAtt", inner),
                    Some("Fn::Sub") => Self::parse_fn("Sub", inner),
                    Some(other) => bail!("unsupported intrinsic function `{other}`"),
                    None => bail!("unsupported value {v:?}"),
                }
            }
            other => bail!("expected a string, number, bool, Ref, GetAtt or Sub, found {other:?}"),
        }
    }

    fn parse_fn(name: &str, v: &Value) -> Result<Expr> {
        match name {
            "Ref" => Ok(Expr::Ref(
                v.as_str()
                    .ok_or_else(|| anyhow!("Ref takes a logical id, found {v:?}"))?
                    .to_string(),
            )),
            "GetAtt" | "Fn::GetAtt" => {
                let (id, attr) = match v {
                    Value::String(s) => s
                        .split_once('.')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .ok_or_else(|| anyhow!("GetAtt `{s}` is not `Resource.Attribute`"))?,
                    Value::Sequence(seq) if seq.len() == 2 => {
                        let s = |i: usize| {
                            seq[i]
                                .as_str()
                                .map(str::to_string)
                                .ok_or_else(|| anyhow!("GetAtt list items must be strings"))
                        };
                        (s(0)?, s(1)?)
                    }
                    other => bail!("GetAtt takes `Resource.Attribute` or [Resource, Attribute], found {other:?}"),
                };
                Ok(Expr::GetAtt(id, attr))
            }
            "Sub" | "Fn::Sub" => match v {
                Value::String(s) => Ok(Expr::Sub(s.clone(), BTreeMap::new())),
                Value::Sequence(seq) if seq.len() == 2 => {
                    let text = seq[0]
                        .as_str()
                        .ok_or_else(|| anyhow!("Sub's first item must be a string"))?;
                    let mut vars = BTreeMap::new();
                    if let Value::Mapping(m) = &seq[1] {
                        for (k, val) in m {
                            let k = k
                                .as_str()
                                .ok_or_else(|| anyhow!("Sub variable names must be strings"))?;
                            vars.insert(k.to_string(), Expr::parse(val)?);
                        }
                    } else {
                        bail!("Sub's second item must be a mapping of variables");
                    }
                    Ok(Expr::Sub(text.to_string(), vars))
                }
                other => bail!("Sub takes a string or [string, variables], found {other:?}"),
            },
            other => bail!("unsupported intrinsic function `!{other}`"),
        }
    }

    /// Logical ids this expression refers to (for ordering).
    fn references(&self, out: &mut BTreeSet<String>) {
        match self {
            Expr::Lit(_) => {}
            Expr::Ref(id) | Expr::GetAtt(id, _) => {
                out.insert(id.clone());
            }
            Expr::Sub(text, vars) => {
                for name in sub_placeholders(text) {
                    let id = name.split('.').next().unwrap_or_default();
                    if !vars.contains_key(id) {
                        out.insert(id.to_string());
                    }
                }
                for v in vars.values() {
                    v.references(out);
                }
            }
        }
    }
}

/// `${Name}` placeholders of a `!Sub` text (`${!Literal}` excluded).
fn sub_placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                if !name.starts_with('!') {
                    out.push(name.to_string());
                }
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

#[derive(Debug, Clone)]
pub struct Parameter {
    pub default: Option<String>,
    pub allowed_values: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub key_schema: Vec<(String, String)>,
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
    pub provisioned: Option<(i64, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub logical_id: String,
    /// (name, type)
    pub attribute_definitions: Vec<(String, String)>,
    /// (name, HASH|RANGE)
    pub key_schema: Vec<(String, String)>,
    pub billing_mode: Option<String>,
    /// (read, write) capacity units
    pub provisioned: Option<(i64, i64)>,
    pub global_secondary_indexes: Vec<IndexSpec>,
    pub local_secondary_indexes: Vec<IndexSpec>,
    /// (attribute, enabled)
    pub ttl: Option<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedriveSpec {
    pub dead_letter_target_arn: Expr,
    pub max_receive_count: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub logical_id: String,
    /// SQS queue attributes by their API name (VisibilityTimeout, ...), already as strings.
    pub attributes: BTreeMap<String, Expr>,
    pub redrive: Option<RedriveSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub event_name: String,
    pub method: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsEventSpec {
    pub event_name: String,
    /// Logical id of the queue.
    pub queue: String,
    pub batch_size: usize,
    pub report_batch_item_failures: bool,
    pub enabled: bool,
}

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

/// `GenerateSecretString`: how CloudFormation makes a secret's first value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateSecretSpec {
    pub password_length: usize,
    /// Characters never used.
    pub exclude_characters: String,
    pub exclude_lowercase: bool,
    pub exclude_uppercase: bool,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub include_space: bool,
    /// At least one character of every type still included.
    pub require_each_included_type: bool,
    /// `SecretStringTemplate` (a JSON object, maybe a `!Sub`) and `GenerateStringKey`: the
    /// value is the template with the generated string under that key.
    pub template: Option<(Expr, String)>,
}

/// Where a secret's first value comes from (`StackOptions::secret_values` wins over both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `SecretString`.
    Given(Expr),
    /// `GenerateSecretString`.
    Generate(GenerateSecretSpec),
    /// Neither: the local run must be given the value.
    Unset,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    pub logical_id: String,
    pub source: SecretSource,
    /// `KmsKeyId`: passed to moto once resolved (moto records it; it encrypts nothing).
    pub kms_key_id: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeySpec {
    pub logical_id: String,
    /// SYMMETRIC_DEFAULT unless the template says otherwise.
    pub key_spec: String,
    /// ENCRYPT_DECRYPT unless the template says otherwise.
    pub key_usage: String,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsAliasSpec {
    pub logical_id: String,
    /// `alias/...`
    pub alias_name: String,
    pub target_key_id: Expr,
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

/// Resource attributes (beside Type and Properties) that change nothing locally.
const IGNORED_RESOURCE_KEYS: &[&str] = &[
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "Metadata",
    "DependsOn",
];

const FUNCTION_PROPS: &[&str] = &[
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
const FUNCTION_IGNORED: &[&str] = &[
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

fn mapping<'a>(v: &'a Value, what: &str) -> Result<&'a serde_yaml::Mapping> {
    v.as_mapping()
        .ok_or_else(|| anyhow!("{what} must be a mapping"))
}

fn key_str(k: &Value) -> Result<&str> {
    k.as_str().ok_or_else(|| anyhow!("non-string key {k:?}"))
}

fn literal(v: &Value, what: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => bail!("{what} must be a literal value, found {other:?}"),
    }
}

fn int(v: &Value, what: &str) -> Result<i64> {
    literal(v, what)?
        .parse()
        .with_context(|| format!("{what} must be an integer"))
}

fn check_keys(m: &serde_yaml::Mapping, what: &str, known: &[&str], ignored: &[&str]) -> Result<()> {
    for k in m.keys() {
        let k = key_str(k)?;
        if !known.contains(&k) && !ignored.contains(&k) {
            bail!(
                "{what}: property `{k}` is not understood by the local stack \
                 (supported: {}); teach infra/local about it rather than ignoring it",
                known.join(", ")
            );
        }
    }
    Ok(())
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

fn parse_key_schema(v: &Value, what: &str) -> Result<Vec<(String, String)>> {
    let seq = v
        .as_sequence()
        .ok_or_else(|| anyhow!("{what} must be a list"))?;
    seq.iter()
        .map(|e| {
            let m = mapping(e, what)?;
            check_keys(m, what, &["AttributeName", "KeyType"], &[])?;
            Ok((
                literal(
                    m.get("AttributeName")
                        .ok_or_else(|| anyhow!("{what}: AttributeName missing"))?,
                    what,
                )?,
                literal(
                    m.get("KeyType")
                        .ok_or_else(|| anyhow!("{what}: KeyType missing"))?,
                    what,
                )?,
            ))
        })
        .collect()
}

fn parse_throughput(v: Option<&Value>) -> Result<Option<(i64, i64)>> {
    let Some(v) = v else { return Ok(None) };
    let m = mapping(v, "ProvisionedThroughput")?;
    check_keys(
        m,
        "ProvisionedThroughput",
        &["ReadCapacityUnits", "WriteCapacityUnits"],
        &[],
    )?;
    let get = |k: &str| -> Result<i64> {
        int(
            m.get(k)
                .ok_or_else(|| anyhow!("ProvisionedThroughput.{k} missing"))?,
            k,
        )
    };
    Ok(Some((
        get("ReadCapacityUnits")?,
        get("WriteCapacityUnits")?,
    )))
}

fn parse_indexes(v: Option<&Value>, what: &str, global: bool) -> Result<Vec<IndexSpec>> {
    let Some(v) = v else { return Ok(vec![]) };
    let seq = v
        .as_sequence()
        .ok_or_else(|| anyhow!("{what} must be a list"))?;
    let known: &[&str] = if global {
        &[
            "IndexName",
            "KeySchema",
            "Projection",
            "ProvisionedThroughput",
        ]
    } else {
        &["IndexName", "KeySchema", "Projection"]
    };
    seq.iter()
        .map(|e| {
            let m = mapping(e, what)?;
            check_keys(m, what, known, &["ContributorInsightsSpecification"])?;
            let name = literal(
                m.get("IndexName")
                    .ok_or_else(|| anyhow!("{what}: IndexName missing"))?,
                what,
            )?;
            let proj = mapping(
                m.get("Projection")
                    .ok_or_else(|| anyhow!("{what} {name}: Projection missing"))?,
                "Projection",
            )?;
            check_keys(
                proj,
                "Projection",
                &["ProjectionType", "NonKeyAttributes"],
                &[],
            )?;
            let projection_type = proj
                .get("ProjectionType")
                .map(|p| literal(p, "ProjectionType"))
                .transpose()?
                .unwrap_or_else(|| "ALL".to_string());
            let non_key_attributes = match proj.get("NonKeyAttributes") {
                Some(Value::Sequence(s)) => s
                    .iter()
                    .map(|x| literal(x, "NonKeyAttributes"))
                    .collect::<Result<_>>()?,
                _ => vec![],
            };
            Ok(IndexSpec {
                key_schema: parse_key_schema(
                    m.get("KeySchema")
                        .ok_or_else(|| anyhow!("{what} {name}: KeySchema missing"))?,
                    "KeySchema",
                )?,
                provisioned: parse_throughput(m.get("ProvisionedThroughput"))?,
                name,
                projection_type,
                non_key_attributes,
            })
        })
        .collect()
}

fn parse_table(id: &str, props: &serde_yaml::Mapping) -> Result<TableSpec> {
    check_keys(
        props,
        "table",
        &[
            "AttributeDefinitions",
            "KeySchema",
            "BillingMode",
            "ProvisionedThroughput",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "TimeToLiveSpecification",
        ],
        // DynamoDB Local has no point-in-time recovery (backups are not emulated), keeps
        // everything in memory unencrypted, and has no deletion protection or tags that
        // change behaviour; the local table's name is always its logical id.
        &[
            "PointInTimeRecoverySpecification",
            "SSESpecification",
            "DeletionProtectionEnabled",
            "Tags",
            "TableName",
            "TableClass",
        ],
    )?;
    let attribute_definitions = props
        .get("AttributeDefinitions")
        .ok_or_else(|| anyhow!("AttributeDefinitions missing"))?
        .as_sequence()
        .ok_or_else(|| anyhow!("AttributeDefinitions must be a list"))?
        .iter()
        .map(|e| {
            let m = mapping(e, "AttributeDefinitions")?;
            check_keys(
                m,
                "AttributeDefinitions",
                &["AttributeName", "AttributeType"],
                &[],
            )?;
            Ok((
                literal(
                    m.get("AttributeName")
                        .ok_or_else(|| anyhow!("AttributeName missing"))?,
                    "AttributeName",
                )?,
                literal(
                    m.get("AttributeType")
                        .ok_or_else(|| anyhow!("AttributeType missing"))?,
                    "AttributeType",
                )?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let key_schema = parse_key_schema(
        props
            .get("KeySchema")
            .ok_or_else(|| anyhow!("KeySchema missing"))?,
        "KeySchema",
    )?;
    let ttl = match props.get("TimeToLiveSpecification") {
        Some(v) => {
            let m = mapping(v, "TimeToLiveSpecification")?;
            check_keys(
                m,
                "TimeToLiveSpecification",
                &["AttributeName", "Enabled"],
                &[],
            )?;
            let attr = literal(
                m.get("AttributeName")
                    .ok_or_else(|| anyhow!("TimeToLiveSpecification.AttributeName missing"))?,
                "AttributeName",
            )?;
            let enabled =
                literal(m.get("Enabled").unwrap_or(&Value::Bool(false)), "Enabled")? == "true";
            Some((attr, enabled))
        }
        None => None,
    };
    Ok(TableSpec {
        logical_id: id.to_string(),
        attribute_definitions,
        key_schema,
        billing_mode: props
            .get("BillingMode")
            .map(|b| literal(b, "BillingMode"))
            .transpose()?,
        provisioned: parse_throughput(props.get("ProvisionedThroughput"))?,
        global_secondary_indexes: parse_indexes(
            props.get("GlobalSecondaryIndexes"),
            "GlobalSecondaryIndexes",
            true,
        )?,
        local_secondary_indexes: parse_indexes(
            props.get("LocalSecondaryIndexes"),
            "LocalSecondaryIndexes",
            false,
        )?,
        ttl,
    })
}

/// Queue properties that map one to one onto SQS queue attributes.
const QUEUE_ATTRIBUTES: &[&str] = &[
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "MaximumMessageSize",
];

fn parse_queue(id: &str, props: &serde_yaml::Mapping) -> Result<QueueSpec> {
    let mut known = QUEUE_ATTRIBUTES.to_vec();
    known.push("RedrivePolicy");
    // Encryption at rest and tags change nothing a local run can observe; the local
    // queue's name is always its logical id.
    check_keys(
        props,
        "queue",
        &known,
        &["SqsManagedSseEnabled", "Tags", "QueueName"],
    )?;
    let mut attributes = BTreeMap::new();
    for name in QUEUE_ATTRIBUTES {
        if let Some(v) = props.get(*name) {
            attributes.insert(
                name.to_string(),
                Expr::parse(v).with_context(|| name.to_string())?,
            );
        }
    }
    let redrive = match props.get("RedrivePolicy") {
        Some(v) => {
            let parsed;
            let v = if let Value::String(s) = v {
                parsed = serde_yaml::from_str::<Value>(s).context("RedrivePolicy is not JSON")?;
                &parsed
            } else {
                v
            };
            let m = mapping(v, "RedrivePolicy")?;
            check_keys(
                m,
                "RedrivePolicy",
                &["deadLetterTargetArn", "maxReceiveCount"],
                &[],
            )?;
            Some(RedriveSpec {
                dead_letter_target_arn: Expr::parse(
                    m.get("deadLetterTargetArn")
                        .ok_or_else(|| anyhow!("RedrivePolicy.deadLetterTargetArn missing"))?,
                )?,
                max_receive_count: literal(
                    m.get("maxReceiveCount")
                        .ok_or_else(|| anyhow!("RedrivePolicy.maxReceiveCount missing"))?,
                    "maxReceiveCount",
                )?,
            })
        }
        None => None,
    };
    Ok(QueueSpec {
        logical_id: id.to_string(),
        attributes,
        redrive,
    })
}

fn flag(m: &serde_yaml::Mapping, key: &str, default: bool) -> Result<bool> {
    match m.get(key) {
        None => Ok(default),
        Some(v) => match literal(v, key)?.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => bail!("{key} must be true or false, found `{other}`"),
        },
    }
}

fn parse_generate_secret(v: &Value) -> Result<GenerateSecretSpec> {
    let what = "GenerateSecretString";
    let m = mapping(v, what)?;
    check_keys(
        m,
        what,
        &[
            "PasswordLength",
            "ExcludeCharacters",
            "ExcludeLowercase",
            "ExcludeUppercase",
            "ExcludeNumbers",
            "ExcludePunctuation",
            "IncludeSpace",
            "RequireEachIncludedType",
            "SecretStringTemplate",
            "GenerateStringKey",
        ],
        &[],
    )?;
    let password_length = m
        .get("PasswordLength")
        .map(|v| int(v, "PasswordLength"))
        .transpose()?
        .unwrap_or(32);
    if !(1..=4096).contains(&password_length) {
        bail!("{what}: PasswordLength must be between 1 and 4096, found {password_length}");
    }
    let template = match (m.get("SecretStringTemplate"), m.get("GenerateStringKey")) {
        (Some(t), Some(k)) => Some((
            Expr::parse(t).context("SecretStringTemplate")?,
            literal(k, "GenerateStringKey")?,
        )),
        (None, None) => None,
        _ => bail!("{what}: SecretStringTemplate and GenerateStringKey must be given together"),
    };
    Ok(GenerateSecretSpec {
        password_length: password_length as usize,
        exclude_characters: m
            .get("ExcludeCharacters")
            .map(|v| literal(v, "ExcludeCharacters"))
            .transpose()?
            .unwrap_or_default(),
        exclude_lowercase: flag(m, "ExcludeLowercase", false)?,
        exclude_uppercase: flag(m, "ExcludeUppercase", false)?,
        exclude_numbers: flag(m, "ExcludeNumbers", false)?,
        exclude_punctuation: flag(m, "ExcludePunctuation", false)?,
        include_space: flag(m, "IncludeSpace", false)?,
        require_each_included_type: flag(m, "RequireEachIncludedType", true)?,
        template,
    })
}

fn parse_secret(id: &str, props: &serde_yaml::Mapping) -> Result<SecretSpec> {
    // The local secret is always named by its logical id, like tables and queues: the
    // functions reach it through `!Ref` (its ARN), never by name, and a fixed `Name` could
    // collide between stacks. Description and tags change nothing a function can observe;
    // replication to other regions has no local meaning.
    check_keys(
        props,
        "secret",
        &["SecretString", "GenerateSecretString", "KmsKeyId"],
        &["Name", "Description", "Tags", "ReplicaRegions"],
    )?;
    let source = match (props.get("SecretString"), props.get("GenerateSecretString")) {
        (Some(_), Some(_)) => {
            bail!("SecretString and GenerateSecretString cannot both be given")
        }
        (Some(v), None) => SecretSource::Given(Expr::parse(v).context("SecretString")?),
        (None, Some(g)) => SecretSource::Generate(parse_generate_secret(g)?),
        (None, None) => SecretSource::Unset,
    };
    let kms_key_id = props
        .get("KmsKeyId")
        .map(|v| Expr::parse(v).context("KmsKeyId"))
        .transpose()?;
    Ok(SecretSpec {
        logical_id: id.to_string(),
        source,
        kms_key_id,
    })
}

fn parse_kms_key(id: &str, props: &serde_yaml::Mapping) -> Result<KmsKeySpec> {
    // moto enforces no key policy, rotates nothing and keeps no deletion window, so the
    // policy, rotation, description, deletion window, tags and the policy lockout check
    // change nothing locally. Multi-region keys act as ordinary keys in one region.
    check_keys(
        props,
        "KMS key",
        &["KeySpec", "KeyUsage", "Enabled", "Origin"],
        &[
            "KeyPolicy",
            "EnableKeyRotation",
            "RotationPeriodInDays",
            "Description",
            "PendingWindowInDays",
            "Tags",
            "MultiRegion",
            "BypassPolicyLockoutSafetyCheck",
        ],
    )?;
    if let Some(o) = props.get("Origin") {
        let o = literal(o, "Origin")?;
        if o != "AWS_KMS" {
            bail!("Origin `{o}` is not supported locally (only AWS_KMS keys are)");
        }
    }
    Ok(KmsKeySpec {
        logical_id: id.to_string(),
        key_spec: props
            .get("KeySpec")
            .map(|v| literal(v, "KeySpec"))
            .transpose()?
            .unwrap_or_else(|| "SYMMETRIC_DEFAULT".to_string()),
        key_usage: props
            .get("KeyUsage")
            .map(|v| literal(v, "KeyUsage"))
            .transpose()?
            .unwrap_or_else(|| "ENCRYPT_DECRYPT".to_string()),
        enabled: flag(props, "Enabled", true)?,
    })
}

fn parse_kms_alias(
    id: &str,
    props: &serde_yaml::Mapping,
    resource_types: &BTreeMap<String, String>,
) -> Result<KmsAliasSpec> {
    check_keys(props, "KMS alias", &["AliasName", "TargetKeyId"], &[])?;
    let alias_name = literal(
        props
            .get("AliasName")
            .ok_or_else(|| anyhow!("AliasName missing"))?,
        "AliasName",
    )?;
    if !alias_name.starts_with("alias/") || alias_name.starts_with("alias/aws/") {
        bail!("AliasName `{alias_name}` must start with `alias/` (and not `alias/aws/`)");
    }
    let target_key_id = Expr::parse(
        props
            .get("TargetKeyId")
            .ok_or_else(|| anyhow!("TargetKeyId missing"))?,
    )
    .context("TargetKeyId")?;
    if let Expr::Ref(k) | Expr::GetAtt(k, _) = &target_key_id {
        if resource_types.get(k).map(String::as_str) != Some("AWS::KMS::Key") {
            bail!("TargetKeyId: {k} is not an AWS::KMS::Key of the template");
        }
    }
    Ok(KmsAliasSpec {
        logical_id: id.to_string(),
        alias_name,
        target_key_id,
    })
}

/// Orders queues so every queue comes after the queues it refers to; otherwise keeps
/// the template's order.
fn order_queues(queues: Vec<QueueSpec>) -> Result<Vec<QueueSpec>> {
    let ids: BTreeSet<String> = queues.iter().map(|q| q.logical_id.clone()).collect();
    let deps: Vec<BTreeSet<String>> = queues
        .iter()
        .map(|q| {
            let mut refs = BTreeSet::new();
            for e in q.attributes.values() {
                e.references(&mut refs);
            }
            if let Some(r) = &q.redrive {
                r.dead_letter_target_arn.references(&mut refs);
            }
            refs.retain(|r| ids.contains(r));
            refs
        })
        .collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(queues.len());
    let mut pending: Vec<usize> = (0..queues.len()).collect();
    while !pending.is_empty() {
        let pos = pending
            .iter()
            .position(|&i| deps[i].iter().all(|d| done.contains(d)))
            .ok_or_else(|| {
                let stuck: Vec<_> = pending
                    .iter()
                    .map(|&i| queues[i].logical_id.as_str())
                    .collect();
                anyhow!(
                    "queues refer to each other in a cycle: {}",
                    stuck.join(", ")
                )
            })?;
        let i = pending.remove(pos);
        done.insert(queues[i].logical_id.clone());
        out.push(queues[i].clone());
    }
    Ok(out)
}

fn parse_function(
    id: &str,
    props: &serde_yaml::Mapping,
    metadata: Option<&Value>,
    globals: Option<&serde_yaml::Mapping>,
    resource_types: &BTreeMap<String, String>,
) -> Result<FunctionSpec> {
    check_keys(props, "function", FUNCTION_PROPS, FUNCTION_IGNORED)?;
    let get = |k: &str| props.get(k).or_else(|| globals.and_then(|g| g.get(k)));
    let code_uri = literal(
        props
            .get("CodeUri")
            .ok_or_else(|| anyhow!("CodeUri missing"))?,
        "CodeUri",
    )?;
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

    let mut routes = Vec::new();
    let mut sqs_events = Vec::new();
    if let Some(events) = props.get("Events") {
        for (k, v) in mapping(events, "Events")? {
            let name = key_str(k)?;
            let ev = mapping(v, name)?;
            let ty = ev.get("Type").and_then(Value::as_str).unwrap_or_default();
            let empty = Value::Mapping(Default::default());
            let p = mapping(ev.get("Properties").unwrap_or(&empty), name)?;
            let what = format!("event {name} ({ty})");
            match ty {
                "HttpApi" => {
                    // Auth is not emulated: the functions check signatures themselves.
                    check_keys(
                        p,
                        &what,
                        &[
                            "Path",
                            "Method",
                            "ApiId",
                            "PayloadFormatVersion",
                            "TimeoutInMillis",
                        ],
                        &["Auth"],
                    )?;
                    if let Some(v) = p.get("PayloadFormatVersion") {
                        if literal(v, "PayloadFormatVersion")? != "2.0" {
                            bail!("{what}: only PayloadFormatVersion 2.0 is served locally");
                        }
                    }
                    let path = literal(
                        p.get("Path")
                            .ok_or_else(|| anyhow!("{what}: Path missing"))?,
                        "Path",
                    )?;
                    let method = literal(
                        p.get("Method")
                            .ok_or_else(|| anyhow!("{what}: Method missing"))?,
                        "Method",
                    )?;
                    routes.push(RouteSpec {
                        event_name: name.to_string(),
                        method: method.to_uppercase(),
                        path,
                    });
                }
                "SQS" => {
                    check_keys(
                        p,
                        &what,
                        &["Queue", "BatchSize", "FunctionResponseTypes", "Enabled"],
                        // Batching window and scaling only change timing, not behaviour.
                        &["MaximumBatchingWindowInSeconds", "ScalingConfig"],
                    )?;
                    let queue = match Expr::parse(
                        p.get("Queue")
                            .ok_or_else(|| anyhow!("{what}: Queue missing"))?,
                    )? {
                        Expr::GetAtt(q, attr) if attr == "Arn" => q,
                        other => {
                            bail!("{what}: Queue must be `!GetAtt <Queue>.Arn`, found {other:?}")
                        }
                    };
                    if resource_types.get(&queue).map(String::as_str) != Some("AWS::SQS::Queue") {
                        bail!("{what}: {queue} is not an AWS::SQS::Queue of the template");
                    }
                    let batch_size = p
                        .get("BatchSize")
                        .map(|v| int(v, "BatchSize"))
                        .transpose()?
                        .unwrap_or(10)
                        .max(1) as usize;
                    let mut report = false;
                    if let Some(v) = p.get("FunctionResponseTypes") {
                        for t in v
                            .as_sequence()
                            .ok_or_else(|| anyhow!("FunctionResponseTypes must be a list"))?
                        {
                            match t.as_str() {
                                Some("ReportBatchItemFailures") => report = true,
                                other => {
                                    bail!("{what}: unknown FunctionResponseTypes entry {other:?}")
                                }
                            }
                        }
                    }
                    let enabled = p
                        .get("Enabled")
                        .map(|v| literal(v, "Enabled"))
                        .transpose()?
                        .is_none_or(|e| e == "true");
                    sqs_events.push(SqsEventSpec {
                        event_name: name.to_string(),
                        queue,
                        batch_size,
                        report_batch_item_failures: report,
                        enabled,
                    });
                }
                other => bail!("{what}: event type `{other}` is not run by the local stack"),
            }
        }
    }
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

/// A created queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    pub name: String,
    pub url: String,
    pub arn: String,
}

/// A created KMS key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyInfo {
    pub key_id: String,
    pub arn: String,
}

/// What intrinsic functions resolve to once the local resources exist.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    pub parameters: BTreeMap<String, String>,
    /// logical id → (table name, table ARN)
    pub tables: BTreeMap<String, (String, String)>,
    pub queues: BTreeMap<String, QueueInfo>,
    pub kms_keys: BTreeMap<String, KmsKeyInfo>,
    /// logical id → alias name (`alias/...`)
    pub kms_aliases: BTreeMap<String, String>,
    /// logical id → secret ARN
    pub secrets: BTreeMap<String, String>,
    pub resource_types: BTreeMap<String, String>,
}

impl Resolver {
    pub fn resolve(&self, e: &Expr) -> Result<String> {
        match e {
            Expr::Lit(s) => Ok(s.clone()),
            Expr::Ref(id) => self.resolve_ref(id),
            Expr::GetAtt(id, attr) => self.resolve_getatt(id, attr),
            Expr::Sub(text, vars) => {
                let mut out = String::new();
                let mut rest = text.as_str();
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let after = &rest[start + 2..];
                    let end = after
                        .find('}')
                        .ok_or_else(|| anyhow!("unclosed `${{` in Sub `{text}`"))?;
                    let name = &after[..end];
                    if let Some(lit) = name.strip_prefix('!') {
                        out.push_str("${");
                        out.push_str(lit);
                        out.push('}');
                    } else if let Some(v) = vars.get(name) {
                        out.push_str(&self.resolve(v)?);
                    } else if let Some((id, attr)) =
                        name.split_once('.').filter(|_| !name.starts_with("AWS::"))
                    {
                        out.push_str(&self.resolve_getatt(id, attr)?);
                    } else {
                        out.push_str(&self.resolve_ref(name)?);
                    }
                    rest = &after[end + 1..];
                }
                out.push_str(rest);
                Ok(out)
            }
        }
    }

    fn resolve_ref(&self, id: &str) -> Result<String> {
        if let Some(v) = self.parameters.get(id) {
            return Ok(v.clone());
        }
        if let Some((name, _)) = self.tables.get(id) {
            return Ok(name.clone());
        }
        if let Some(q) = self.queues.get(id) {
            return Ok(q.url.clone());
        }
        if let Some(k) = self.kms_keys.get(id) {
            return Ok(k.key_id.clone());
        }
        if let Some(a) = self.kms_aliases.get(id) {
            return Ok(a.clone());
        }
        // As in CloudFormation, a secret's Ref is its ARN.
        if let Some(arn) = self.secrets.get(id) {
            return Ok(arn.clone());
        }
        match id {
            "AWS::Region" => Ok(REGION.to_string()),
            "AWS::AccountId" => Ok(ACCOUNT_ID.to_string()),
            "AWS::Partition" => Ok("aws".to_string()),
            "AWS::URLSuffix" => Ok("amazonaws.com".to_string()),
            "AWS::StackName" => Ok("crosspost-local".to_string()),
            _ => Err(self.unknown(id)),
        }
    }

    fn resolve_getatt(&self, id: &str, attr: &str) -> Result<String> {
        if let Some((_, arn)) = self.tables.get(id) {
            return match attr {
                "Arn" => Ok(arn.clone()),
                _ => bail!("!GetAtt {id}.{attr}: only Arn of a table is available locally"),
            };
        }
        if let Some(q) = self.queues.get(id) {
            return match attr {
                "Arn" => Ok(q.arn.clone()),
                "QueueName" => Ok(q.name.clone()),
                "QueueUrl" => Ok(q.url.clone()),
                _ => bail!("!GetAtt {id}.{attr}: a queue has Arn, QueueName and QueueUrl"),
            };
        }
        if let Some(k) = self.kms_keys.get(id) {
            return match attr {
                "Arn" => Ok(k.arn.clone()),
                "KeyId" => Ok(k.key_id.clone()),
                _ => bail!("!GetAtt {id}.{attr}: a KMS key has Arn and KeyId"),
            };
        }
        if self.kms_aliases.contains_key(id) {
            bail!("!GetAtt {id}.{attr}: a KMS alias has no attributes (use !Ref)");
        }
        if let Some(arn) = self.secrets.get(id) {
            return match attr {
                "Id" => Ok(arn.clone()),
                _ => bail!("!GetAtt {id}.{attr}: a secret has Id (its ARN)"),
            };
        }
        Err(self.unknown(id))
    }

    fn unknown(&self, id: &str) -> anyhow::Error {
        match self.resource_types.get(id).map(String::as_str) {
            Some(
                ty @ ("AWS::SecretsManager::Secret"
                | "AWS::KMS::Key"
                | "AWS::KMS::Alias"
                | "AWS::DynamoDB::Table"
                | "AWS::SQS::Queue"),
            ) => anyhow!("{id} (a {ty}) is not created yet where it is referred to"),
            Some(ty) => anyhow!("{id} is a {ty}, which the local stack does not run"),
            None => anyhow!("{id} is neither a parameter nor a resource of the template"),
        }
    }

    /// The function's environment from the template, resolved.
    pub fn environment(&self, f: &FunctionSpec) -> Result<BTreeMap<String, String>> {
        f.environment
            .iter()
            .map(|(k, e)| {
                self.resolve(e)
                    .map(|v| (k.clone(), v))
                    .with_context(|| format!("{}: environment variable {k}", f.logical_id))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
Parameters:
  Base:
    Type: String
    Default: https://example.com
  Level:
    Type: String
    Default: info
    AllowedValues: [info, debug]
Globals:
  Function:
    Timeout: 30
    MemorySize: 256
    Environment:
      Variables:
        TABLE: !Ref Table
        LEVEL: { Ref: Level }
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
  Main:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 360
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt Dlq.Arn
        maxReceiveCount: 5
  Dlq:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  Table:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - { AttributeName: pk, AttributeType: S }
      KeySchema:
        - { AttributeName: pk, KeyType: HASH }
      TimeToLiveSpecification: { AttributeName: expires_at, Enabled: true }
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true }
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Timeout: 60
      Environment:
        Variables:
          QUEUE: !Ref Main
          QUEUE_NAME: !GetAtt Main.QueueName
          DLQ_ARN: { "Fn::GetAtt": [Dlq, Arn] }
          BASE: !Ref Base
          WHERE: !Sub "${AWS::Region}/${Main.QueueName}/${Base}"
          PORT: 8080
      Events:
        Hook:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Path: "/v1/items/{id}", Method: post }
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Main.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
"#;

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
    fn resolves_environment() {
        let t = Template::parse(SMALL).unwrap();
        let mut over = BTreeMap::new();
        over.insert("Base".to_string(), "http://127.0.0.1:9".to_string());
        let mut r = Resolver {
            parameters: t.parameter_values(&over).unwrap(),
            resource_types: t.resource_types.clone(),
            ..Default::default()
        };
        r.tables
            .insert("Table".into(), ("Table".into(), "arn:table".into()));
        for q in ["Main", "Dlq"] {
            r.queues.insert(
                q.into(),
                QueueInfo {
                    name: q.into(),
                    url: format!("http://q/{q}"),
                    arn: format!("arn:q:{q}"),
                },
            );
        }
        let env = r.environment(&t.functions[0]).unwrap();
        assert_eq!(env["TABLE"], "Table");
        assert_eq!(env["LEVEL"], "info");
        assert_eq!(env["QUEUE"], "http://q/Main");
        assert_eq!(env["QUEUE_NAME"], "Main");
        assert_eq!(env["DLQ_ARN"], "arn:q:Dlq");
        assert_eq!(env["BASE"], "http://127.0.0.1:9");
        assert_eq!(env["WHERE"], "us-east-1/Main/http://127.0.0.1:9");
        assert_eq!(env["PORT"], "8080");

        // A reference to something the local stack does not run names it.
        let err = r.resolve(&Expr::Ref("Api".into())).unwrap_err().to_string();
        assert!(err.contains("AWS::Serverless::HttpApi"), "{err}");
        // Overrides are checked against the template.
        over.insert("Nope".into(), "x".into());
        assert!(t.parameter_values(&over).is_err());
        let bad = BTreeMap::from([("Level".to_string(), "loud".to_string())]);
        assert!(t.parameter_values(&bad).is_err());
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

    const SECURITY: &str = r#"
Parameters:
  User:
    Type: String
    Default: app
Resources:
  TokenKey:
    Type: AWS::KMS::Key
    Properties:
      Description: Seals network tokens.
      EnableKeyRotation: true
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: { AWS: !Sub "arn:aws:iam::${AWS::AccountId}:root" }
            Action: "kms:*"
            Resource: "*"
  TokenKeyAlias:
    Type: AWS::KMS::Alias
    Properties:
      AliasName: alias/crosspost-tokens
      TargetKeyId: !Ref TokenKey
  SigningSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: crosspost/signing
      Description: Webhook signing secrets.
      KmsKeyId: !GetAtt TokenKey.Arn
      Tags: [{ Key: app, Value: crosspost }]
      GenerateSecretString:
        PasswordLength: 24
        ExcludePunctuation: true
  DbSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString:
        SecretStringTemplate: !Sub '{"username": "${User}"}'
        GenerateStringKey: password
        ExcludeCharacters: '"@/\'
  FixedSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      SecretString: whsec_Zm9v
  GivenSecret:
    Type: AWS::SecretsManager::Secret
  Hook:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/webhook/
      Environment:
        Variables:
          SECRET_ID: !Ref SigningSecret
          SECRET_ID_ATT: !GetAtt SigningSecret.Id
          KEY_ID: !Ref TokenKey
          KEY_ARN: !GetAtt TokenKey.Arn
          KEY_ALIAS: !Ref TokenKeyAlias
          KEY_ARN_SUB: !Sub "${TokenKey.Arn}"
      Policies:
        - AWSSecretsManagerGetSecretValuePolicy:
            SecretArn: !Ref SigningSecret
        - KMSDecryptPolicy:
            KeyId: !Ref TokenKey
        - KMSEncryptPolicy:
            KeyId: !GetAtt TokenKey.Arn
        - Statement:
            - Effect: Allow
              Action: [secretsmanager:GetSecretValue]
              Resource: !Ref DbSecret
"#;

    #[test]
    fn parses_keys_aliases_and_secrets() {
        let t = Template::parse(SECURITY).unwrap();
        assert_eq!(
            t.kms_keys,
            vec![KmsKeySpec {
                logical_id: "TokenKey".into(),
                key_spec: "SYMMETRIC_DEFAULT".into(),
                key_usage: "ENCRYPT_DECRYPT".into(),
                enabled: true,
            }]
        );
        assert_eq!(
            t.kms_aliases,
            vec![KmsAliasSpec {
                logical_id: "TokenKeyAlias".into(),
                alias_name: "alias/crosspost-tokens".into(),
                target_key_id: Expr::Ref("TokenKey".into()),
            }]
        );
        let secret = |id: &str| t.secrets.iter().find(|s| s.logical_id == id).unwrap();
        let signing = secret("SigningSecret");
        assert_eq!(
            signing.kms_key_id,
            Some(Expr::GetAtt("TokenKey".into(), "Arn".into()))
        );
        match &signing.source {
            SecretSource::Generate(g) => {
                assert_eq!(g.password_length, 24);
                assert!(g.exclude_punctuation && !g.exclude_numbers);
                assert!(g.require_each_included_type);
                assert_eq!(g.template, None);
            }
            other => panic!("{other:?}"),
        }
        match &secret("DbSecret").source {
            SecretSource::Generate(g) => {
                assert_eq!(g.password_length, 32);
                assert_eq!(g.exclude_characters, "\"@/\\");
                let (tpl, key) = g.template.as_ref().unwrap();
                assert_eq!(key, "password");
                assert!(matches!(tpl, Expr::Sub(..)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            secret("FixedSecret").source,
            SecretSource::Given(Expr::Lit("whsec_Zm9v".into()))
        );
        assert_eq!(secret("GivenSecret").source, SecretSource::Unset);
        // Policies (SAM policy templates with intrinsics inside) do not get in the way.
        assert_eq!(t.functions[0].binary, "webhook");
    }

    #[test]
    fn resolves_keys_aliases_and_secrets() {
        let t = Template::parse(SECURITY).unwrap();
        let secret_arn =
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:SigningSecret-AbCdEf";
        let key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd";
        let mut r = Resolver {
            parameters: t.parameter_values(&BTreeMap::new()).unwrap(),
            resource_types: t.resource_types.clone(),
            ..Default::default()
        };
        // Before the secret exists, a reference to it says so.
        let err = r.environment(&t.functions[0]).unwrap_err();
        assert!(format!("{err:#}").contains("not created yet"), "{err:#}");

        r.kms_keys.insert(
            "TokenKey".into(),
            KmsKeyInfo {
                key_id: "1234abcd".into(),
                arn: key_arn.into(),
            },
        );
        r.kms_aliases
            .insert("TokenKeyAlias".into(), "alias/crosspost-tokens".into());
        r.secrets.insert("SigningSecret".into(), secret_arn.into());
        let env = r.environment(&t.functions[0]).unwrap();
        assert_eq!(env["SECRET_ID"], secret_arn);
        assert_eq!(env["SECRET_ID_ATT"], secret_arn);
        assert_eq!(env["KEY_ID"], "1234abcd");
        assert_eq!(env["KEY_ARN"], key_arn);
        assert_eq!(env["KEY_ARN_SUB"], key_arn);
        assert_eq!(env["KEY_ALIAS"], "alias/crosspost-tokens");
        assert!(r
            .resolve(&Expr::GetAtt("TokenKey".into(), "Nope".into()))
            .is_err());
        assert!(r
            .resolve(&Expr::GetAtt("TokenKeyAlias".into(), "Arn".into()))
            .is_err());
        assert!(r
            .resolve(&Expr::GetAtt("SigningSecret".into(), "Arn".into()))
            .is_err());
    }

    #[test]
    fn bad_security_resources_are_errors() {
        let cases = [
            (
                "      SecretString: whsec_Zm9v\n",
                "      SecretString: whsec_Zm9v\n      GenerateSecretString: {}\n",
                "cannot both",
            ),
            ("        GenerateStringKey: password\n", "", "together"),
            (
                "      Description: Webhook signing secrets.\n",
                "      Description: Webhook signing secrets.\n      RotationRules: {}\n",
                "RotationRules",
            ),
            (
                "      AliasName: alias/crosspost-tokens\n",
                "      AliasName: crosspost-tokens\n",
                "alias/",
            ),
            (
                "      TargetKeyId: !Ref TokenKey\n",
                "      TargetKeyId: !Ref SigningSecret\n",
                "not an AWS::KMS::Key",
            ),
            (
                "      EnableKeyRotation: true\n",
                "      EnableKeyRotation: true\n      Origin: EXTERNAL\n",
                "EXTERNAL",
            ),
            (
                "        PasswordLength: 24\n",
                "        PasswordLength: 0\n",
                "PasswordLength",
            ),
        ];
        for (from, to, expected) in cases {
            assert_eq!(SECURITY.matches(from).count(), 1, "{from}");
            let text = SECURITY.replace(from, to);
            let err = format!("{:#}", Template::parse(&text).unwrap_err());
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn queue_cycle_is_an_error() {
        let text = SMALL.replace(
            "      MessageRetentionPeriod: 1209600\n",
            "      MessageRetentionPeriod: 1209600\n      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt Main.Arn\n        maxReceiveCount: 1\n",
        );
        let err = Template::parse(&text).unwrap_err().to_string();
        assert!(err.contains("cycle"), "{err}");
    }
}
