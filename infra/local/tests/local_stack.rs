//! Starts the real emulators from the real template.yaml, with the `echo-lambda` example
//! standing in for every function binary.

use aws_sdk_sqs::types::QueueAttributeName;
use crosspost_local::{InvokeError, LocalStack, StackOptions};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `cargo test` builds the examples next to the test binary's directory.
fn echo_lambda() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let debug = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile> directory");
    let bin = debug.join("examples").join("echo-lambda");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo test -p crosspost-local` (which builds the examples)",
        bin.display()
    );
    bin
}

/// A directory whose webhook, publish-x and publish-facebook are the echo lambda.
fn bin_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crosspost-local-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let echo = echo_lambda();
    for name in ["webhook", "publish-x", "publish-facebook"] {
        std::os::unix::fs::symlink(&echo, dir.join(name)).unwrap();
    }
    dir
}

async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn echoed_sqs_events(stack: &LocalStack, function: &str) -> Vec<Value> {
    stack
        .function_logs(function)
        .iter()
        .filter_map(|l| l.strip_prefix("ECHO "))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("Records").is_some())
        .collect()
}

async fn queue_counts(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes().unwrap();
    let get = |k: QueueAttributeName| attrs.get(&k).map(|v| v.parse().unwrap()).unwrap_or(0);
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

#[tokio::test]
async fn runs_the_template_on_local_emulators() {
    // A local run must never see the caller's AWS settings.
    std::env::set_var("AWS_PROFILE", "must-not-leak");
    let bins = bin_dir();
    let root = repo_root();
    let opts = StackOptions {
        template: root.join("template.yaml"),
        bin_dir: bins.clone(),
        tools_dir: root.join(".tools"),
        parameter_overrides: BTreeMap::from([(
            "XApiBaseUrl".to_string(),
            "http://127.0.0.1:9".to_string(),
        )]),
        env_overrides: BTreeMap::from([("ECHO_EXTRA".to_string(), "yes".to_string())]),
        echo_logs: false,
    };
    let stack = LocalStack::start(opts).await.expect("local stack starts");
    let started_pids: Vec<(String, u32)> = stack.child_pids();
    assert_eq!(
        started_pids.len(),
        5,
        "emulators and three functions run: {started_pids:?}"
    );

    // Tables, as the template describes them.
    let sdk = stack.sdk_config();
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    for table in ["PostsTable", "AccountsTable"] {
        assert_eq!(stack.table_name(table), Some(table));
        let d = ddb.describe_table().table_name(table).send().await.unwrap();
        let keys: Vec<_> = d
            .table()
            .unwrap()
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_string(),
                    k.key_type().as_str().to_string(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [("pk".into(), "HASH".into()), ("sk".into(), "RANGE".into())]
        );
        let ttl = ddb
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .unwrap();
        let ttl = ttl.time_to_live_description().unwrap();
        assert_eq!(ttl.attribute_name(), Some("expires_at"));
    }

    // Queues, dead-letter queues first, with their attributes and redrive.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let order: Vec<String> = stack.queues().into_iter().map(|(id, _)| id).collect();
    let pos = |id: &str| order.iter().position(|q| q == id).unwrap();
    assert!(pos("XDeadLetterQueue") < pos("XQueue"), "{order:?}");
    assert!(
        pos("FacebookDeadLetterQueue") < pos("FacebookQueue"),
        "{order:?}"
    );
    let x_url = stack.queue_url("XQueue").unwrap().to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&x_url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "360");
    assert_eq!(attrs[&QueueAttributeName::MessageRetentionPeriod], "172800");
    let redrive: Value = serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert!(
        redrive["deadLetterTargetArn"]
            .as_str()
            .unwrap()
            .ends_with(":XDeadLetterQueue"),
        "{redrive}"
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "5"
    );

    // The HTTP API delivers a payload 2.0 event and maps the response back.
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/v1/posts?dry=1", stack.api_url()))
        .header("x-test", "yes")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-echo"], "1");
    let echoed: Value = resp.json().await.unwrap();
    let event = &echoed["event"];
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "POST /v1/posts");
    assert_eq!(event["rawPath"], "/v1/posts");
    assert_eq!(event["queryStringParameters"], json!({"dry": "1"}));
    assert_eq!(event["headers"]["x-test"], "yes");
    assert_eq!(event["body"], r#"{"hello":"world"}"#);
    assert_eq!(event["requestContext"]["http"]["method"], "POST");
    assert_eq!(event["requestContext"]["stage"], "$default");
    let env = &echoed["env"];
    assert_eq!(env["POSTS_TABLE"], "PostsTable");
    assert_eq!(env["ACCOUNTS_TABLE"], "AccountsTable");
    assert_eq!(env["X_QUEUE_URL"], x_url.as_str());
    assert_eq!(env["RUST_LOG"], "info");
    assert_eq!(env["ECHO_EXTRA"], "yes");
    assert_eq!(env["AWS_ENDPOINT_URL_DYNAMODB"], stack.dynamodb_endpoint());
    assert_eq!(env["AWS_ENDPOINT_URL"], stack.moto_endpoint());
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "WebhookFunction");
    assert!(
        env.get("AWS_PROFILE").is_none(),
        "parent AWS_* leaked: {env}"
    );

    let missing = http
        .get(format!("{}/nope", stack.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );

    // A killed function is started again for the next invocation.
    stack.kill_function("WebhookFunction").await;
    let again = http
        .post(format!("{}/v1/posts", stack.api_url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);

    // Direct invocations: a function error, and a crash mid-invocation followed by a
    // fresh instance.
    let out = stack
        .invoke("PublishFacebookFunction", json!({"n": 1}))
        .await
        .unwrap();
    assert_eq!(out, json!({"event": {"n": 1}}));
    let err = stack
        .invoke("PublishFacebookFunction", json!({"error": "boom"}))
        .await
        .unwrap_err();
    assert!(
        matches!(err.downcast_ref(), Some(InvokeError::Function { message, .. }) if message == "boom"),
        "{err:#}"
    );
    let (crashed, ()) = tokio::join!(
        stack.invoke("PublishFacebookFunction", json!({"sleep_ms": 20_000})),
        async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            stack.kill_function("PublishFacebookFunction").await;
        }
    );
    let err = crashed.unwrap_err();
    assert!(
        matches!(err.downcast_ref(), Some(InvokeError::Crashed { .. })),
        "{err:#}"
    );
    let out = stack
        .invoke("PublishFacebookFunction", json!({"n": 2}))
        .await
        .unwrap();
    assert_eq!(out, json!({"event": {"n": 2}}));

    // A processed message reaches publish-x as an SqsEvent and is deleted.
    sqs.send_message()
        .queue_url(&x_url)
        .message_body(r#"{"ok":1}"#)
        .send()
        .await
        .unwrap();
    eventually(
        "publish-x receives the message",
        Duration::from_secs(30),
        || async {
            echoed_sqs_events(&stack, "PublishXFunction")
                .iter()
                .any(|e| e["Records"][0]["body"] == r#"{"ok":1}"#)
        },
    )
    .await;
    let events = echoed_sqs_events(&stack, "PublishXFunction");
    let rec = &events[0]["Records"][0];
    assert_eq!(rec["eventSource"], "aws:sqs");
    assert!(
        rec["eventSourceARN"].as_str().unwrap().ends_with(":XQueue"),
        "{rec}"
    );
    assert_eq!(rec["awsRegion"], "us-east-1");
    assert_eq!(rec["attributes"]["ApproximateReceiveCount"], "1");
    assert!(rec["receiptHandle"].is_string() && rec["md5OfBody"].is_string());
    eventually(
        "the processed message is deleted",
        Duration::from_secs(30),
        || async { queue_counts(&sqs, &x_url).await == (0, 0) },
    )
    .await;

    // A message reported as failed stays in the queue (invisible until its timeout).
    sqs.send_message()
        .queue_url(&x_url)
        .message_body(r#"{"fail":true}"#)
        .send()
        .await
        .unwrap();
    eventually(
        "publish-x receives the failing message",
        Duration::from_secs(30),
        || async {
            echoed_sqs_events(&stack, "PublishXFunction")
                .iter()
                .any(|e| e["Records"][0]["body"] == r#"{"fail":true}"#)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        queue_counts(&sqs, &x_url).await,
        (0, 1),
        "the failed message is kept"
    );

    // After stop, no child is left (including the functions' replaced instances).
    let mut pids = stack.child_pids();
    pids.extend(started_pids);
    stack.stop().await;
    for (name, pid) in pids {
        // SAFETY: signal 0 only checks whether the pid exists.
        let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
        assert!(!alive, "{name} (pid {pid}) is still running after stop()");
    }
    let _ = std::fs::remove_dir_all(bins);
}
