//! A stand-in for the real functions in the local stack's own test: echoes what it gets.
//!
//! - Every event is printed as one `ECHO <json>` line on stdout.
//! - An HTTP API event is answered 200 with `{"event", "env", "request_id"}` as JSON.
//! - An SQS event is answered with batchItemFailures for records whose body is
//!   `{"fail":true}`.
//! - Anything else is returned as `{"event": ...}`, after sleeping `sleep_ms` if given;
//!   `{"error": "text"}` makes the handler fail with that text.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Map, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, ctx) = event.into_parts();
    println!("ECHO {payload}");
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let failures: Vec<Value> = records
            .iter()
            .filter(|r| {
                r.get("body")
                    .and_then(Value::as_str)
                    .and_then(|b| serde_json::from_str::<Value>(b).ok())
                    .is_some_and(|b| b == json!({"fail": true}))
            })
            .map(|r| json!({"itemIdentifier": r["messageId"]}))
            .collect();
        return Ok(json!({"batchItemFailures": failures}));
    }
    if payload.get("requestContext").is_some() {
        let env: Map<String, Value> = std::env::vars()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let body = json!({"event": payload, "env": env, "request_id": ctx.request_id});
        return Ok(json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json", "x-echo": "1"},
            "body": body.to_string(),
        }));
    }
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(text) = payload.get("error").and_then(Value::as_str) {
        return Err(text.into());
    }
    Ok(json!({"event": payload}))
}
