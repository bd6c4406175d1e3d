//! `AWS::DynamoDB::Table`: keys, billing, indexes and TTL, as DynamoDB Local creates them.

use super::props::{
    check_keys, int, literal, mapping, optional_literal, required, required_literal,
};
use anyhow::{anyhow, Result};
use serde_yaml::Value;

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

fn parse_key_schema(v: &Value, what: &str) -> Result<Vec<(String, String)>> {
    let seq = v
        .as_sequence()
        .ok_or_else(|| anyhow!("{what} must be a list"))?;
    seq.iter()
        .map(|e| {
            let m = mapping(e, what)?;
            check_keys(m, what, &["AttributeName", "KeyType"], &[])?;
            Ok((
                required_literal(m, "AttributeName", what)?,
                required_literal(m, "KeyType", what)?,
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
    let get = |k: &str| -> Result<i64> { int(required(m, k, "ProvisionedThroughput")?, k) };
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
            let name = required_literal(m, "IndexName", what)?;
            let proj = mapping(
                required(m, "Projection", &format!("{what} {name}"))?,
                "Projection",
            )?;
            check_keys(
                proj,
                "Projection",
                &["ProjectionType", "NonKeyAttributes"],
                &[],
            )?;
            let projection_type =
                optional_literal(proj, "ProjectionType")?.unwrap_or_else(|| "ALL".to_string());
            let non_key_attributes = match proj.get("NonKeyAttributes") {
                Some(Value::Sequence(s)) => s
                    .iter()
                    .map(|x| literal(x, "NonKeyAttributes"))
                    .collect::<Result<_>>()?,
                _ => vec![],
            };
            Ok(IndexSpec {
                key_schema: parse_key_schema(
                    required(m, "KeySchema", &format!("{what} {name}"))?,
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

pub(super) fn parse_table(id: &str, props: &serde_yaml::Mapping) -> Result<TableSpec> {
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
    let attribute_definitions = required(props, "AttributeDefinitions", "table")?
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
                required_literal(m, "AttributeName", "AttributeDefinitions")?,
                required_literal(m, "AttributeType", "AttributeDefinitions")?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let key_schema = parse_key_schema(required(props, "KeySchema", "table")?, "KeySchema")?;
    let ttl = match props.get("TimeToLiveSpecification") {
        Some(v) => {
            let m = mapping(v, "TimeToLiveSpecification")?;
            check_keys(
                m,
                "TimeToLiveSpecification",
                &["AttributeName", "Enabled"],
                &[],
            )?;
            let attr = required_literal(m, "AttributeName", "TimeToLiveSpecification")?;
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
        billing_mode: optional_literal(props, "BillingMode")?,
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::SMALL;
    use super::super::Template;

    #[test]
    fn a_missing_required_property_is_named_with_its_table() {
        let text = SMALL.replace(
            "      KeySchema:\n        - { AttributeName: pk, KeyType: HASH }\n",
            "",
        );
        assert_ne!(text, SMALL);
        let err = format!("{:#}", Template::parse(&text).unwrap_err());
        assert!(
            err.contains("Table") && err.contains("KeySchema missing"),
            "{err}"
        );
    }
}
