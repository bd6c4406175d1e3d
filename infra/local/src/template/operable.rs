//! template.yaml is operable in AWS: every DLQ, work queue, function and API has its alarms,
//! every log group its retention, every stateful resource survives a stack delete, and
//! every SQS event source has a concurrency cap, and the dashboard shows every network,
//! queue and function as it shows X's. The lists come from the template itself, so a
//! network added without its alarms, log group, cap or dashboard rows fails here.

use serde_yaml::{Mapping, Value};
use std::collections::BTreeSet;

/// The logical id an intrinsic names: `!Ref X`, `!GetAtt X.Attr`, or their long forms.
fn target(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) => {
            let text = t.value.as_str()?;
            match t.tag.to_string().as_str() {
                "!Ref" => Some(text.to_owned()),
                "!GetAtt" => text.split('.').next().map(str::to_owned),
                _ => None,
            }
        }
        Value::Mapping(m) if m.len() == 1 => {
            let (k, inner) = m.iter().next()?;
            match k.as_str()? {
                "Ref" => inner.as_str().map(str::to_owned),
                "Fn::GetAtt" => match inner {
                    Value::Sequence(s) => s.first()?.as_str().map(str::to_owned),
                    Value::String(s) => s.split('.').next().map(str::to_owned),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

fn resources(doc: &Value) -> Vec<(String, &Value)> {
    doc["Resources"]
        .as_mapping()
        .map(Mapping::iter)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v)))
        .collect()
}

fn of_type<'a>(all: &[(String, &'a Value)], ty: &str) -> Vec<(String, &'a Value)> {
    all.iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(ty))
        .map(|(id, r)| (id.clone(), *r))
        .collect()
}

/// An alarm's (namespace, metric, resource it watches) when it notifies an SNS topic of
/// the template and fires above a threshold.
fn alarm_watch(alarm: &Value, topics: &BTreeSet<String>) -> Option<(String, String, String)> {
    let p = &alarm["Properties"];
    let notifies = p["AlarmActions"]
        .as_sequence()?
        .iter()
        .any(|a| target(a).is_some_and(|t| topics.contains(&t)));
    if !notifies || p["ComparisonOperator"].as_str() != Some("GreaterThanThreshold") {
        return None;
    }
    let dims = p["Dimensions"].as_sequence()?;
    let watched = dims.iter().find_map(|d| target(&d["Value"]))?;
    Some((
        p["Namespace"].as_str()?.to_owned(),
        p["MetricName"].as_str()?.to_owned(),
        watched,
    ))
}

/// The metrics the dashboard shows, as (namespace, metric, dimension, value) with the
/// value as written (`${XQueue.QueueName}`); None when the template has no dashboard or
/// its body is not JSON.
fn dashboard_metrics(all: &[(String, &Value)]) -> Option<BTreeSet<[String; 4]>> {
    let (_, dashboard) = of_type(all, "AWS::CloudWatch::Dashboard")
        .into_iter()
        .next()?;
    let body = &dashboard["Properties"]["DashboardBody"];
    let text = match body {
        Value::Tagged(t) if t.tag == "!Sub" => t.value.as_str()?,
        Value::Mapping(_) => body["Fn::Sub"].as_str()?,
        other => other.as_str()?,
    };
    let json: serde_json::Value = serde_json::from_str(text).ok()?;
    let widgets = json["widgets"].as_array()?;
    Some(
        widgets
            .iter()
            .filter_map(|w| w["properties"]["metrics"].as_array())
            .flatten()
            .filter_map(|m| {
                let field = |i: usize| m.get(i)?.as_str().map(str::to_owned);
                Some([field(0)?, field(1)?, field(2)?, field(3)?])
            })
            .collect(),
    )
}

/// What the dashboard lacks: for every network (a `Publish{Network}Function`), queue
/// and function, each row X's has (its network, `XQueue` or `XDeadLetterQueue`,
/// `PublishXFunction`), one line each.
fn dashboard_gaps(all: &[(String, &Value)], dlqs: &BTreeSet<String>) -> Vec<String> {
    let Some(shown) = dashboard_metrics(all) else {
        return vec!["the template has no AWS::CloudWatch::Dashboard with a JSON body".into()];
    };
    let mut out = Vec::new();
    let mut like = |dimension: &str, reference: &str, value: &str, what: &str| {
        for [ns, metric, dim, v] in &shown {
            if dim == dimension && v == reference {
                let row = [ns.clone(), metric.clone(), dim.clone(), value.to_owned()];
                if !shown.contains(&row) {
                    out.push(format!(
                        "the dashboard has no {ns} {metric} row for {what} (X's has one)"
                    ));
                }
            }
        }
    };
    let functions = of_type(all, "AWS::Serverless::Function");
    for (id, _) in &functions {
        if let Some(network) = id
            .strip_prefix("Publish")
            .and_then(|r| r.strip_suffix("Function"))
            .filter(|n| !n.is_empty())
        {
            let network = network.to_lowercase();
            like("Network", "x", &network, &format!("network {network}"));
        }
        like(
            "FunctionName",
            "${PublishXFunction}",
            &format!("${{{id}}}"),
            &format!("function {id}"),
        );
    }
    for (id, _) in of_type(all, "AWS::SQS::Queue") {
        let reference = if dlqs.contains(&id) {
            "${XDeadLetterQueue.QueueName}"
        } else {
            "${XQueue.QueueName}"
        };
        like(
            "QueueName",
            reference,
            &format!("${{{id}.QueueName}}"),
            &format!("queue {id}"),
        );
    }
    out
}

/// What keeps the template from being operable, one line each; empty when nothing does.
pub(super) fn problems(doc: &Value) -> Vec<String> {
    let all = resources(doc);
    let mut out = Vec::new();
    let topics: BTreeSet<String> = of_type(&all, "AWS::SNS::Topic")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let alarms: BTreeSet<(String, String, String)> = of_type(&all, "AWS::CloudWatch::Alarm")
        .iter()
        .filter_map(|(_, a)| alarm_watch(a, &topics))
        .collect();
    let mut need_alarm = |ns: &str, metric: &str, id: &str, what: &str| {
        if !alarms.contains(&(ns.to_owned(), metric.to_owned(), id.to_owned())) {
            out.push(format!(
                "{id} ({what}) has no alarm on {ns} {metric} notifying an SNS topic"
            ));
        }
    };

    let queues = of_type(&all, "AWS::SQS::Queue");
    let dlqs: BTreeSet<String> = queues
        .iter()
        .filter_map(|(_, q)| target(&q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]))
        .collect();
    for (id, _) in &queues {
        if dlqs.contains(id) {
            need_alarm("AWS/SQS", "ApproximateNumberOfMessagesVisible", id, "a DLQ");
        } else {
            need_alarm(
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                id,
                "a work queue",
            );
        }
    }
    let functions = of_type(&all, "AWS::Serverless::Function");
    for (id, _) in &functions {
        need_alarm("AWS/Lambda", "Errors", id, "a function");
        need_alarm("AWS/Lambda", "Throttles", id, "a function");
    }
    // The API's 5xx rate: metric math over its 5xx count.
    let math_alarms: Vec<&Value> = of_type(&all, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| {
            a["Properties"]["AlarmActions"]
                .as_sequence()
                .is_some_and(|s| {
                    s.iter()
                        .any(|t| target(t).is_some_and(|t| topics.contains(&t)))
                })
        })
        .map(|(_, a)| a)
        .collect();
    for (id, _) in of_type(&all, "AWS::Serverless::HttpApi") {
        let watched = math_alarms.iter().any(|a| {
            a["Properties"]["Metrics"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|m| {
                    let metric = &m["MetricStat"]["Metric"];
                    metric["MetricName"].as_str() == Some("5xx")
                        && metric["Dimensions"]
                            .as_sequence()
                            .into_iter()
                            .flatten()
                            .any(|d| target(&d["Value"]).as_deref() == Some(id.as_str()))
                })
        });
        if !watched {
            out.push(format!(
                "{id} (an API) has no alarm on its 5xx rate notifying an SNS topic"
            ));
        }
    }

    // Retention: every log group keeps LogRetentionDays (default 30); every function and
    // the API write to a declared log group.
    if doc["Parameters"]["LogRetentionDays"]["Default"].as_u64() != Some(30) {
        out.push("parameter LogRetentionDays has no Default of 30".to_owned());
    }
    let log_groups: BTreeSet<String> = of_type(&all, "AWS::Logs::LogGroup")
        .into_iter()
        .map(|(id, g)| {
            if target(&g["Properties"]["RetentionInDays"]).as_deref() != Some("LogRetentionDays") {
                out.push(format!("log group {id} is not kept LogRetentionDays"));
            }
            id
        })
        .collect();
    for (id, f) in &functions {
        let group = target(&f["Properties"]["LoggingConfig"]["LogGroup"]);
        if !group.is_some_and(|g| log_groups.contains(&g)) {
            out.push(format!(
                "{id} does not write to a log group of the template (LoggingConfig.LogGroup)"
            ));
        }
    }
    for (id, api) in of_type(&all, "AWS::Serverless::HttpApi") {
        let dest = target(&api["Properties"]["AccessLogSettings"]["DestinationArn"]);
        if !dest.is_some_and(|g| log_groups.contains(&g)) {
            out.push(format!(
                "{id} has no access logs in a log group of the template"
            ));
        }
    }

    // Safe deletes: the data, the secrets and the key outlive the stack.
    for ty in [
        "AWS::DynamoDB::Table",
        "AWS::SecretsManager::Secret",
        "AWS::KMS::Key",
    ] {
        for (id, r) in of_type(&all, ty) {
            for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
                if r[policy].as_str() != Some("Retain") {
                    out.push(format!("{id} ({ty}) has no {policy}: Retain"));
                }
            }
        }
    }

    out.extend(dashboard_gaps(&all, &dlqs));

    // Every SQS event source is capped.
    for (id, f) in &functions {
        let events = f["Properties"]["Events"].as_mapping();
        for (name, ev) in events.into_iter().flatten() {
            if ev["Type"].as_str() == Some("SQS")
                && ev["Properties"]["ScalingConfig"]["MaximumConcurrency"].is_null()
            {
                out.push(format!(
                    "{id}: SQS event {} has no ScalingConfig.MaximumConcurrency",
                    name.as_str().unwrap_or_default()
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Value {
        serde_yaml::from_str(include_str!("../../../../template.yaml")).unwrap()
    }

    #[test]
    fn the_template_has_every_alarm_retention_retain_and_cap() {
        let doc = template();
        let problems = problems(&doc);
        assert!(problems.is_empty(), "{problems:#?}");
        // Not vacuous: the template has DLQs, functions and SQS event sources to check.
        let all = resources(&doc);
        assert!(of_type(&all, "AWS::SQS::Queue").len() >= 2);
        assert!(!of_type(&all, "AWS::Serverless::Function").is_empty());
        // And the local stack still reads it.
        super::super::Template::parse(include_str!("../../../../template.yaml")).unwrap();
    }

    /// A network added by copying X's queue, DLQ and worker, without alarms or log group.
    fn with_new_network(doc: &mut Value) {
        let res = doc["Resources"].as_mapping_mut().unwrap();
        let text = serde_yaml::to_string(&Value::Mapping(
            [
                ("MastodonQueue", "XQueue"),
                ("MastodonDeadLetterQueue", "XDeadLetterQueue"),
                ("PublishMastodonFunction", "PublishXFunction"),
            ]
            .into_iter()
            .map(|(new, old)| (Value::from(new), res[old].clone()))
            .collect(),
        ))
        .unwrap()
        .replace("XDeadLetterQueue", "MastodonDeadLetterQueue")
        .replace("XQueue", "MastodonQueue")
        .replace("PublishXLogs", "PublishMastodonLogs");
        let copied: Mapping = serde_yaml::from_str(&text).unwrap();
        res.extend(copied);
    }

    #[test]
    fn a_network_added_without_its_alarms_and_log_group_is_named() {
        let mut doc = template();
        with_new_network(&mut doc);
        let problems = problems(&doc);
        let expected = [
            "MastodonDeadLetterQueue (a DLQ) has no alarm on AWS/SQS ApproximateNumberOfMessagesVisible",
            "MastodonQueue (a work queue) has no alarm on AWS/SQS ApproximateAgeOfOldestMessage",
            "PublishMastodonFunction (a function) has no alarm on AWS/Lambda Errors",
            "PublishMastodonFunction (a function) has no alarm on AWS/Lambda Throttles",
            "PublishMastodonFunction does not write to a log group of the template",
            "the dashboard has no Crosspost Published row for network mastodon",
            "the dashboard has no Crosspost Failed row for network mastodon",
            "the dashboard has no Crosspost Retried row for network mastodon",
            "the dashboard has no Crosspost RateLimited row for network mastodon",
            "the dashboard has no Crosspost Reconciled row for network mastodon",
            "the dashboard has no Crosspost PublishLatencyMs row for network mastodon",
            "the dashboard has no AWS/Lambda Errors row for function PublishMastodonFunction",
            "the dashboard has no AWS/Lambda Throttles row for function PublishMastodonFunction",
            "the dashboard has no AWS/Lambda Duration row for function PublishMastodonFunction",
            "the dashboard has no AWS/SQS ApproximateNumberOfMessagesVisible row for queue MastodonQueue",
            "the dashboard has no AWS/SQS ApproximateAgeOfOldestMessage row for queue MastodonQueue",
            "the dashboard has no AWS/SQS ApproximateNumberOfMessagesVisible row for queue MastodonDeadLetterQueue",
        ];
        for e in expected {
            assert!(
                problems.iter().any(|p| p.starts_with(e)),
                "{e} not in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    }

    #[test]
    fn the_dashboard_shows_bluesky_as_it_shows_x_and_a_missing_row_is_named() {
        let doc = template();
        let all = resources(&doc);
        let shown = dashboard_metrics(&all).unwrap();
        for row in [
            ["Crosspost", "Published", "Network", "bluesky"],
            ["Crosspost", "Failed", "Network", "bluesky"],
            ["Crosspost", "PublishLatencyMs", "Network", "bluesky"],
            [
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                "QueueName",
                "${BlueskyQueue.QueueName}",
            ],
            [
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "QueueName",
                "${BlueskyDeadLetterQueue.QueueName}",
            ],
            [
                "AWS/Lambda",
                "Errors",
                "FunctionName",
                "${PublishBlueskyFunction}",
            ],
        ] {
            assert!(shown.contains(&row.map(str::to_owned)), "{row:?}");
        }
        // Without Bluesky's failed deliveries and its DLQ, the dashboard says so.
        let mut doc = template();
        let body = &mut doc["Resources"]["Dashboard"]["Properties"]["DashboardBody"];
        let Value::Tagged(tagged) = body else {
            panic!("the dashboard body is a !Sub")
        };
        let mut json: serde_json::Value =
            serde_json::from_str(tagged.value.as_str().unwrap()).unwrap();
        for w in json["widgets"].as_array_mut().unwrap() {
            if let Some(metrics) = w["properties"]["metrics"].as_array_mut() {
                metrics.retain(|m| {
                    !(m[1] == "Failed" && m[3] == "bluesky")
                        && m[3] != "${BlueskyDeadLetterQueue.QueueName}"
                });
            }
        }
        tagged.value = Value::from(json.to_string());
        assert_eq!(
            problems(&doc),
            [
                "the dashboard has no Crosspost Failed row for network bluesky (X's has one)",
                "the dashboard has no AWS/SQS ApproximateNumberOfMessagesVisible row for queue BlueskyDeadLetterQueue (X's has one)",
            ]
        );
    }

    #[test]
    fn a_missing_retain_retention_or_cap_is_named() {
        let mut doc = template();
        let res = &mut doc["Resources"];
        res["PostsTable"]
            .as_mapping_mut()
            .unwrap()
            .remove("DeletionPolicy");
        res["WebhookSigningSecret"]["UpdateReplacePolicy"] = Value::from("Delete");
        res["WebhookLogs"]["Properties"]
            .as_mapping_mut()
            .unwrap()
            .remove("RetentionInDays");
        res["NotifyFunction"]["Properties"]["Events"]["Events"]["Properties"]
            .as_mapping_mut()
            .unwrap()
            .remove("ScalingConfig");
        res["XDeadLetterQueueAlarm"]["Properties"]["AlarmActions"] = Value::Sequence(vec![]);
        res["ApiServerErrorsAlarm"]["Properties"]["AlarmActions"] = Value::Sequence(vec![]);
        let problems = problems(&doc);
        assert_eq!(
            problems,
            [
                "XDeadLetterQueue (a DLQ) has no alarm on AWS/SQS ApproximateNumberOfMessagesVisible notifying an SNS topic",
                "HttpApi (an API) has no alarm on its 5xx rate notifying an SNS topic",
                "log group WebhookLogs is not kept LogRetentionDays",
                "PostsTable (AWS::DynamoDB::Table) has no DeletionPolicy: Retain",
                "WebhookSigningSecret (AWS::SecretsManager::Secret) has no UpdateReplacePolicy: Retain",
                "NotifyFunction: SQS event Events has no ScalingConfig.MaximumConcurrency",
            ],
        );
    }
}
