//! Creates the template's tables on DynamoDB Local and its queues on moto.

use crate::template::{IndexSpec, QueueInfo, QueueSpec, Resolver, TableSpec};
use anyhow::{anyhow, Context, Result};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::error::DisplayErrorContext as SqsErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;

fn key_schema(keys: &[(String, String)]) -> Result<Vec<KeySchemaElement>> {
    keys.iter()
        .map(|(name, ty)| {
            Ok(KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(ty.as_str()))
                .build()?)
        })
        .collect()
}

fn throughput((read, write): (i64, i64)) -> Result<ProvisionedThroughput> {
    Ok(ProvisionedThroughput::builder()
        .read_capacity_units(read)
        .write_capacity_units(write)
        .build()?)
}

fn projection(ix: &IndexSpec) -> Projection {
    let mut p =
        Projection::builder().projection_type(ProjectionType::from(ix.projection_type.as_str()));
    for a in &ix.non_key_attributes {
        p = p.non_key_attributes(a);
    }
    p.build()
}

/// Creates one table named by its logical id; returns its ARN.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, t: &TableSpec) -> Result<String> {
    let mut req = client.create_table().table_name(&t.logical_id);
    for (name, ty) in &t.attribute_definitions {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(ty.as_str()))
                .build()?,
        );
    }
    req = req.set_key_schema(Some(key_schema(&t.key_schema)?));
    if let Some(mode) = &t.billing_mode {
        req = req.billing_mode(BillingMode::from(mode.as_str()));
    }
    if let Some(p) = t.provisioned {
        req = req.provisioned_throughput(throughput(p)?);
    }
    for ix in &t.global_secondary_indexes {
        let mut g = GlobalSecondaryIndex::builder()
            .index_name(&ix.name)
            .set_key_schema(Some(key_schema(&ix.key_schema)?))
            .projection(projection(ix));
        if let Some(p) = ix.provisioned {
            g = g.provisioned_throughput(throughput(p)?);
        }
        req = req.global_secondary_indexes(g.build()?);
    }
    for ix in &t.local_secondary_indexes {
        req = req.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(&ix.name)
                .set_key_schema(Some(key_schema(&ix.key_schema)?))
                .projection(projection(ix))
                .build()?,
        );
    }
    let out = req.send().await.map_err(|e| {
        anyhow!(
            "CreateTable {} on DynamoDB Local: {}",
            t.logical_id,
            DisplayErrorContext(&e)
        )
    })?;
    let arn = out
        .table_description()
        .and_then(|d| d.table_arn())
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "arn:aws:dynamodb:ddblocal:000000000000:table/{}",
                t.logical_id
            )
        });
    if let Some((attr, true)) = &t.ttl {
        client
            .update_time_to_live()
            .table_name(&t.logical_id)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "UpdateTimeToLive {} on DynamoDB Local: {}",
                    t.logical_id,
                    DisplayErrorContext(&e)
                )
            })?;
    }
    // PointInTimeRecoverySpecification is not applied: DynamoDB Local has no backups.
    Ok(arn)
}

/// Creates one queue named by its logical id; every queue it refers to must already be
/// in `resolver`. Adds it to `resolver`.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    q: &QueueSpec,
    resolver: &mut Resolver,
) -> Result<()> {
    let id = &q.logical_id;
    let mut req = client.create_queue().queue_name(id);
    for (name, value) in &q.attributes {
        let value = resolver
            .resolve(value)
            .with_context(|| format!("queue {id}: {name}"))?;
        req = req.attributes(QueueAttributeName::from(name.as_str()), value);
    }
    if let Some(r) = &q.redrive {
        let arn = resolver
            .resolve(&r.dead_letter_target_arn)
            .with_context(|| format!("queue {id}: RedrivePolicy.deadLetterTargetArn"))?;
        let count = match r.max_receive_count.parse::<u64>() {
            Ok(n) => serde_json::Value::from(n),
            Err(_) => serde_json::Value::from(r.max_receive_count.clone()),
        };
        let policy = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": count});
        req = req.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let out = req
        .send()
        .await
        .map_err(|e| anyhow!("CreateQueue {id} on moto: {}", SqsErrorContext(&e)))?;
    let url = out
        .queue_url()
        .context("CreateQueue returned no URL")?
        .to_string();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| anyhow!("GetQueueAttributes {id} on moto: {}", SqsErrorContext(&e)))?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .context("moto returned no QueueArn")?
        .clone();
    resolver.queues.insert(
        id.clone(),
        QueueInfo {
            name: id.clone(),
            url,
            arn,
        },
    );
    Ok(())
}
