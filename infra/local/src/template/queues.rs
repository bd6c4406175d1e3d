//! `AWS::SQS::Queue`: attributes and redrive policy, and the order to create queues in
//! (a dead-letter queue before the queues that send to it).

use super::intrinsics::Expr;
use super::props::{check_keys, mapping, required, required_literal};
use anyhow::{anyhow, Context, Result};
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

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

/// Queue properties that map one to one onto SQS queue attributes.
const QUEUE_ATTRIBUTES: &[&str] = &[
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "MaximumMessageSize",
];

pub(super) fn parse_queue(id: &str, props: &serde_yaml::Mapping) -> Result<QueueSpec> {
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
                dead_letter_target_arn: Expr::parse(required(
                    m,
                    "deadLetterTargetArn",
                    "RedrivePolicy",
                )?)?,
                max_receive_count: required_literal(m, "maxReceiveCount", "RedrivePolicy")?,
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

/// Orders queues so every queue comes after the queues it refers to; otherwise keeps
/// the template's order.
pub(super) fn order_queues(queues: Vec<QueueSpec>) -> Result<Vec<QueueSpec>> {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::SMALL;
    use super::super::Template;

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
