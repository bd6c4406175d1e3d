//! Metrics as CloudWatch embedded metric format (EMF) lines on stdout: CloudWatch turns
//! each line into data points, with no API call from the function.

use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

pub const NAMESPACE: &str = "Crosspost";

/// What a metric counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Published,
    Failed,
    Retried,
    RateLimited,
    Reconciled,
    PublishLatencyMs,
}

impl Metric {
    fn name(self) -> &'static str {
        match self {
            Metric::Published => "Published",
            Metric::Failed => "Failed",
            Metric::Retried => "Retried",
            Metric::RateLimited => "RateLimited",
            Metric::Reconciled => "Reconciled",
            Metric::PublishLatencyMs => "PublishLatencyMs",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Metric::PublishLatencyMs => "Milliseconds",
            _ => "Count",
        }
    }
}

/// The EMF document of one data point, with the Network dimension.
pub fn line(metric: Metric, network: &str, value: f64) -> String {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    json!({
        "_aws": {
            "Timestamp": ts,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Network"]],
                "Metrics": [{"Name": metric.name(), "Unit": metric.unit()}]
            }]
        },
        "Network": network,
        metric.name(): value,
    })
    .to_string()
}

/// Writes one data point.
pub fn emit(metric: Metric, network: &str, value: f64) {
    println!("{}", line(metric, network, value));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_a_valid_emf_document() {
        let v: serde_json::Value =
            serde_json::from_str(&line(Metric::PublishLatencyMs, "x", 812.0)).unwrap();
        let def = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(def["Namespace"], "Crosspost");
        assert_eq!(def["Dimensions"], json!([["Network"]]));
        assert_eq!(
            def["Metrics"][0],
            json!({"Name": "PublishLatencyMs", "Unit": "Milliseconds"})
        );
        assert_eq!(v["Network"], "x");
        assert_eq!(v["PublishLatencyMs"], 812.0);
        assert!(v["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    }
}
