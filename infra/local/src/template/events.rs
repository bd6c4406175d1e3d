//! A function's event sources: `HttpApi` events (the routes the local HTTP API serves)
//! and `SQS` events (the queues the local pollers read).

use super::intrinsics::Expr;
use super::props::{
    check_keys, key_str, literal, mapping, optional_int, optional_literal, required,
    required_literal,
};
use anyhow::{anyhow, bail, Result};
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;

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

/// A function's `Events`, split into its HTTP routes and its SQS event sources.
pub(super) fn parse_events(
    events: Option<&Value>,
    resource_types: &BTreeMap<String, String>,
) -> Result<(Vec<RouteSpec>, Vec<SqsEventSpec>)> {
    let mut routes = Vec::new();
    let mut sqs_events = Vec::new();
    let Some(events) = events else {
        return Ok((routes, sqs_events));
    };
    for (k, v) in mapping(events, "Events")? {
        let name = key_str(k)?;
        let ev = mapping(v, name)?;
        let ty = ev.get("Type").and_then(Value::as_str).unwrap_or_default();
        let empty = Value::Mapping(Default::default());
        let p = mapping(ev.get("Properties").unwrap_or(&empty), name)?;
        let what = format!("event {name} ({ty})");
        match ty {
            "HttpApi" => routes.push(parse_route(name, &what, p)?),
            "SQS" => sqs_events.push(parse_sqs_event(name, &what, p, resource_types)?),
            other => bail!("{what}: event type `{other}` is not run by the local stack"),
        }
    }
    Ok((routes, sqs_events))
}

fn parse_route(name: &str, what: &str, p: &Mapping) -> Result<RouteSpec> {
    // Auth is not emulated: the functions check signatures themselves.
    check_keys(
        p,
        what,
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
    let path = required_literal(p, "Path", what)?;
    let method = required_literal(p, "Method", what)?;
    Ok(RouteSpec {
        event_name: name.to_string(),
        method: method.to_uppercase(),
        path,
    })
}

fn parse_sqs_event(
    name: &str,
    what: &str,
    p: &Mapping,
    resource_types: &BTreeMap<String, String>,
) -> Result<SqsEventSpec> {
    check_keys(
        p,
        what,
        &["Queue", "BatchSize", "FunctionResponseTypes", "Enabled"],
        // Batching window and scaling only change timing, not behaviour.
        &["MaximumBatchingWindowInSeconds", "ScalingConfig"],
    )?;
    let queue = match Expr::parse(required(p, "Queue", what)?)? {
        Expr::GetAtt(q, attr) if attr == "Arn" => q,
        other => bail!("{what}: Queue must be `!GetAtt <Queue>.Arn`, found {other:?}"),
    };
    if resource_types.get(&queue).map(String::as_str) != Some("AWS::SQS::Queue") {
        bail!("{what}: {queue} is not an AWS::SQS::Queue of the template");
    }
    let batch_size = optional_int(p, "BatchSize")?.unwrap_or(10).max(1) as usize;
    let mut report = false;
    if let Some(v) = p.get("FunctionResponseTypes") {
        for t in v
            .as_sequence()
            .ok_or_else(|| anyhow!("FunctionResponseTypes must be a list"))?
        {
            match t.as_str() {
                Some("ReportBatchItemFailures") => report = true,
                other => bail!("{what}: unknown FunctionResponseTypes entry {other:?}"),
            }
        }
    }
    let enabled = optional_literal(p, "Enabled")?.is_none_or(|e| e == "true");
    Ok(SqsEventSpec {
        event_name: name.to_string(),
        queue,
        batch_size,
        report_batch_item_failures: report,
        enabled,
    })
}
