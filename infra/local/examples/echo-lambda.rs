//! A stand-in for the real functions in the local stack's own test: echoes what it gets.
//!
//! - Every event is printed as one `ECHO <json>` line on stdout.
//! - An HTTP API event is answered 200 with `{"event", "env", "request_id", "pid"}` as
//!   JSON, after sleeping `sleep_ms` if the request body is `{"sleep_ms": N}`.
//! - An SQS event is answered with batchItemFailures for records whose body is
//!   `{"fail":true}`. Records whose body is `{"sleep_ms": N}` make it sleep (the largest
//!   N); it prints `BEGIN <pid> <message ids>` before and `END <pid> <message ids>` after.
//! - Anything else is returned as `{"event": ..., "pid": ...}`, after sleeping `sleep_ms`
//!   if given; `{"error": "text"}` makes the handler fail with that text.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Map, Value};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}

fn sleep_ms(v: &Value) -> Option<u64> {
    v.get("sleep_ms").and_then(Value::as_u64)
}

/// A body string holding JSON, parsed (null otherwise).
fn json_body(v: &Value) -> Value {
    v.get("body")
        .and_then(Value::as_str)
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .unwrap_or(Value::Null)
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, ctx) = event.into_parts();
    let pid = std::process::id();
    println!("ECHO {payload}");
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let ids: Vec<&str> = records
            .iter()
            .filter_map(|r| r.get("messageId").and_then(Value::as_str))
            .collect();
        let ids = ids.join(",");
        println!("BEGIN {pid} {ids}");
        if let Some(ms) = records.iter().filter_map(|r| sleep_ms(&json_body(r))).max() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let failures: Vec<Value> = records
            .iter()
            .filter(|r| json_body(r) == json!({"fail": true}))
            .map(|r| json!({"itemIdentifier": r["messageId"]}))
            .collect();
        println!("END {pid} {ids}");
        return Ok(json!({"batchItemFailures": failures}));
    }
    if payload.get("requestContext").is_some() {
        if let Some(ms) = sleep_ms(&json_body(&payload)) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let env: Map<String, Value> = std::env::vars()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let body = json!({"event": payload, "env": env, "request_id": ctx.request_id, "pid": pid});
        return Ok(json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json", "x-echo": "1"},
            "body": body.to_string(),
        }));
    }
    if let Some(ms) = sleep_ms(&payload) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(text) = payload.get("error").and_then(Value::as_str) {
        return Err(text.into());
    }
    Ok(json!({"event": payload, "pid": pid}))
}
