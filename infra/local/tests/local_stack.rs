//! Starts the real emulators from the real template.yaml (and from a small inline
//! template for KMS and Secrets Manager), with the `echo-lambda` example standing in for
//! every function binary.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// Checks that processes died, through libc.
#![allow(unsafe_code)]

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

/// A directory (one per test) whose `names` are all the echo lambda.
fn bin_dir(test: &str, names: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "crosspost-local-test-{}-{test}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let echo = echo_lambda();
    for name in names {
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
    let bins = bin_dir(
        "template",
        &[
            "webhook",
            "connect",
            "publish-x",
            "publish-facebook",
            "publish-bluesky",
            "notify",
        ],
    );
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
        secret_values: BTreeMap::new(),
        max_instances: 4,
        poller_concurrency: 2,
        template_patches: Vec::new(),
        count_aws_calls: false,
        bluesky_pds: false,
    };
    let stack = LocalStack::start(opts).await.expect("local stack starts");
    let started_pids: Vec<(String, u32)> = stack.child_pids();
    assert_eq!(
        started_pids.len(),
        2 + stack.functions().len(),
        "the two emulators and one instance of each function run: {started_pids:?}"
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
    // PostsTable's index of deliveries by account, as the template declares it.
    let posts = ddb
        .describe_table()
        .table_name("PostsTable")
        .send()
        .await
        .unwrap();
    let indexes: Vec<_> = posts
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .map(|ix| {
            (
                ix.index_name().unwrap_or_default().to_owned(),
                ix.key_schema()[0].attribute_name().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        indexes,
        [("AccountDeliveries".to_owned(), "account_ref".to_owned())]
    );

    // Queues, dead-letter queues first, with their attributes and redrive.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let order: Vec<String> = stack.queues().into_iter().map(|(id, _)| id).collect();
    let pos = |id: &str| order.iter().position(|q| q == id).unwrap();
    assert!(pos("XDeadLetterQueue") < pos("XQueue"), "{order:?}");
    assert!(
        pos("FacebookDeadLetterQueue") < pos("FacebookQueue"),
        "{order:?}"
    );
    assert!(
        pos("BlueskyDeadLetterQueue") < pos("BlueskyQueue"),
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
        "50"
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
    let secret_arn = stack.secret_arn("WebhookSigningSecret").unwrap();
    assert!(
        secret_arn.starts_with("arn:aws:secretsmanager:us-east-1:"),
        "{secret_arn}"
    );
    assert_eq!(env["WEBHOOK_SECRETS_ID"], secret_arn);
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
    assert_eq!(out["event"], json!({"n": 1}));
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
    assert_eq!(out["event"], json!({"n": 2}));

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

/// Shared with the template parsing tests (`src/template/fixtures.rs`).
const SECURITY_TEMPLATE: &str = include_str!("fixtures/security.yaml");

async fn secret_string(client: &aws_sdk_secretsmanager::Client, id: &str) -> String {
    client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_string()
}

/// The function's environment, as the echo lambda reports it for an HTTP API event.
async fn function_env(stack: &LocalStack, function: &str) -> Value {
    let out = stack
        .invoke(function, json!({"requestContext": {}}))
        .await
        .unwrap();
    let body: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    body["env"].clone()
}

#[tokio::test]
async fn creates_kms_keys_and_secrets() {
    let bins = bin_dir("security", &["echo"]);
    let template = bins.join("template.yaml");
    std::fs::write(&template, SECURITY_TEMPLATE).unwrap();
    let root = repo_root();
    let mut opts = StackOptions {
        template,
        bin_dir: bins.clone(),
        tools_dir: root.join(".tools"),
        parameter_overrides: BTreeMap::new(),
        env_overrides: BTreeMap::new(),
        echo_logs: false,
        secret_values: BTreeMap::from([("Nope".to_string(), "x".to_string())]),
        max_instances: 4,
        poller_concurrency: 2,
        template_patches: Vec::new(),
        count_aws_calls: false,
        bluesky_pds: false,
    };
    let err = LocalStack::start(opts.clone()).await.err().unwrap();
    assert!(format!("{err:#}").contains("Nope"), "{err:#}");
    let err = LocalStack::start(StackOptions {
        secret_values: BTreeMap::new(),
        ..opts.clone()
    })
    .await
    .err()
    .unwrap();
    assert!(format!("{err:#}").contains("GivenSecret"), "{err:#}");
    opts.secret_values = BTreeMap::from([
        ("FixedSecret".to_string(), "fixed-secret-given".to_string()),
        ("GivenSecret".to_string(), "given-secret".to_string()),
    ]);
    let stack = LocalStack::start(opts).await.expect("local stack starts");
    let sdk = stack.sdk_config();
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);

    // Secrets exist in moto, named by logical id, with their values.
    let signing_arn = stack.secret_arn("SigningSecret").unwrap().to_string();
    let described = sm
        .describe_secret()
        .secret_id(&signing_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(described.name(), Some("SigningSecret"));
    let signing = secret_string(&sm, &signing_arn).await;
    assert_eq!(signing.len(), 24, "{signing}");
    assert!(
        signing.chars().all(|c| c.is_ascii_alphanumeric()),
        "{signing}"
    );
    let db: Value = serde_json::from_str(&secret_string(&sm, "DbSecret").await).unwrap();
    assert_eq!(db["username"], "crosspost");
    assert_eq!(db["password"].as_str().unwrap().len(), 32);
    // The caller's value wins over the template's SecretString, and fills a secret the
    // template gives no value.
    let fixed_arn = stack.secret_arn("FixedSecret").unwrap().to_string();
    assert_eq!(secret_string(&sm, &fixed_arn).await, "fixed-secret-given");
    let given_arn = stack.secret_arn("GivenSecret").unwrap().to_string();
    assert_eq!(secret_string(&sm, &given_arn).await, "given-secret");

    // The function's environment holds the ARNs and key ids.
    let env = function_env(&stack, "Echo").await;
    assert_eq!(env["SECRET_ID"], signing_arn.as_str());
    assert_eq!(env["SECRET_ID_ATT"], signing_arn.as_str());
    assert_eq!(env["FIXED_SECRET_ID"], fixed_arn.as_str());
    assert_eq!(env["GIVEN_SECRET_ID"], given_arn.as_str());
    let key_id = env["KEY_ID"].as_str().unwrap().to_string();
    assert_eq!(Some(key_id.as_str()), stack.kms_key_id("TokenKey"));
    assert_eq!(env["KEY_ARN"].as_str(), stack.kms_key_arn("TokenKey"));
    assert!(
        env["KEY_ARN"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":key/{key_id}")),
        "{env}"
    );
    assert_eq!(env["KEY_ALIAS"], "alias/crosspost-tokens");
    assert_eq!(env["KEY_ARN_SUB"], env["KEY_ARN"]);

    // The key works: an Encrypt/Decrypt round trip, by key id and by alias.
    for key in [key_id.as_str(), "alias/crosspost-tokens"] {
        let sealed = kms
            .encrypt()
            .key_id(key)
            .plaintext(aws_sdk_kms::primitives::Blob::new(b"token".to_vec()))
            .encryption_context("account", "acct-1")
            .send()
            .await
            .unwrap();
        assert!(sealed.key_id().unwrap().ends_with(&key_id), "{sealed:?}");
        let opened = kms
            .decrypt()
            .ciphertext_blob(sealed.ciphertext_blob().unwrap().clone())
            .encryption_context("account", "acct-1")
            .send()
            .await
            .unwrap();
        assert_eq!(opened.plaintext().unwrap().as_ref(), b"token");
    }

    // A new secret value is stored; the function gets a fresh process on restart.
    stack
        .put_secret_value("SigningSecret", "whsec_bmV3")
        .await
        .unwrap();
    assert_eq!(secret_string(&sm, &signing_arn).await, "whsec_bmV3");
    assert!(stack.put_secret_value("Nope", "x").await.is_err());
    let pid_of_echo = |stack: &LocalStack| {
        stack
            .child_pids()
            .into_iter()
            .find(|(name, _)| name == "Echo")
            .map(|(_, pid)| pid)
    };
    let before = pid_of_echo(&stack).unwrap();
    stack.restart_function("Echo").await.unwrap();
    let after = pid_of_echo(&stack).unwrap();
    assert_ne!(before, after);
    assert!(stack.restart_function("Nope").await.is_err());
    stack.restart_functions().await.unwrap();
    assert_ne!(pid_of_echo(&stack).unwrap(), after);
    assert_eq!(
        function_env(&stack, "Echo").await["KEY_ID"],
        key_id.as_str()
    );

    stack.stop().await;
    let _ = std::fs::remove_dir_all(bins);
}

const SCALING_TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Timeout: 30
      Events:
        Hello:
          Type: HttpApi
          Properties: { Path: /hello, Method: post }
  Capped:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Timeout: 30
      ReservedConcurrentExecutions: 2
      Events:
        Capped:
          Type: HttpApi
          Properties: { Path: /capped, Method: post }
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Timeout: 30
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
"#;

/// `n` concurrent POSTs of `{"sleep_ms": ms}`: the answering pids and the wall time.
async fn concurrent_posts(url: &str, n: usize, ms: u64) -> (Vec<u32>, Duration) {
    let http = reqwest::Client::new();
    let t0 = Instant::now();
    let answers = futures::future::join_all((0..n).map(|_| {
        let req = http.post(url).body(json!({"sleep_ms": ms}).to_string());
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let body: Value = resp.json().await.unwrap();
            body["pid"].as_u64().unwrap() as u32
        }
    }))
    .await;
    (answers, t0.elapsed())
}

fn distinct(pids: &[u32]) -> std::collections::BTreeSet<u32> {
    pids.iter().copied().collect()
}

/// Index of the first log line starting with `prefix` and ending with `id`.
fn log_index(stack: &LocalStack, function: &str, prefix: &str, id: &str) -> Option<usize> {
    stack
        .function_logs(function)
        .iter()
        .position(|l| l.starts_with(prefix) && l.ends_with(&format!(" {id}")))
}

/// The pid in a `BEGIN <pid> <ids>` line.
fn begin_pid(stack: &LocalStack, function: &str, id: &str) -> u32 {
    let logs = stack.function_logs(function);
    let line = &logs[log_index(stack, function, "BEGIN ", id).unwrap()];
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn scales_out_like_lambda() {
    let bins = bin_dir("scaling", &["echo"]);
    let template = bins.join("template.yaml");
    std::fs::write(&template, SCALING_TEMPLATE).unwrap();
    let root = repo_root();
    let opts = StackOptions {
        template,
        bin_dir: bins.clone(),
        tools_dir: root.join(".tools"),
        parameter_overrides: BTreeMap::new(),
        env_overrides: BTreeMap::new(),
        echo_logs: false,
        secret_values: BTreeMap::new(),
        max_instances: 3,
        poller_concurrency: 2,
        template_patches: Vec::new(),
        count_aws_calls: false,
        bluesky_pds: false,
    };
    let stack = LocalStack::start(opts).await.expect("local stack starts");
    let started = stack.child_pids();
    assert_eq!(
        started.len(),
        5,
        "emulators and one instance per function: {started:?}"
    );
    let count = |stack: &LocalStack, name: &str| {
        stack.child_pids().iter().filter(|(n, _)| n == name).count()
    };

    // 8 concurrent requests sleeping 500 ms run in several processes, at most 3.
    let (pids, elapsed) = concurrent_posts(&format!("{}/hello", stack.api_url()), 8, 500).await;
    let api_pids = distinct(&pids);
    assert!(
        (2..=3).contains(&api_pids.len()),
        "max_instances 3: pids {api_pids:?}"
    );
    // Serialised they would take 4 s at least.
    assert!(elapsed < Duration::from_millis(8 * 500), "{elapsed:?}");
    assert!(count(&stack, "Api") <= 3);

    // ReservedConcurrentExecutions: 2 caps the instances below max_instances.
    let (pids, _) = concurrent_posts(&format!("{}/capped", stack.api_url()), 6, 500).await;
    let capped_pids = distinct(&pids);
    assert_eq!(
        capped_pids.len(),
        2,
        "reserved concurrency 2: {capped_pids:?}"
    );
    assert_eq!(count(&stack, "Capped"), 2);

    // Two pollers: a second batch starts while the first is still running, in another
    // instance.
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk_config());
    let url = stack.queue_url("Jobs").unwrap().to_string();
    let send = |body: Value| {
        let sqs = sqs.clone();
        let url = url.clone();
        async move {
            sqs.send_message()
                .queue_url(url)
                .message_body(body.to_string())
                .send()
                .await
                .unwrap()
                .message_id()
                .unwrap()
                .to_string()
        }
    };
    let slow = send(json!({"sleep_ms": 8_000})).await;
    eventually("the first batch runs", Duration::from_secs(30), || async {
        log_index(&stack, "Worker", "BEGIN ", &slow).is_some()
    })
    .await;
    let quick = send(json!({"sleep_ms": 100})).await;
    eventually("the second batch ends", Duration::from_secs(30), || async {
        log_index(&stack, "Worker", "END ", &quick).is_some()
    })
    .await;
    assert!(
        log_index(&stack, "Worker", "END ", &slow).is_none(),
        "the second batch waited for the first: {:#?}",
        stack.function_logs("Worker")
    );
    assert_ne!(
        begin_pid(&stack, "Worker", &slow),
        begin_pid(&stack, "Worker", &quick)
    );
    eventually(
        "both messages are processed and deleted",
        Duration::from_secs(30),
        || async { queue_counts(&sqs, &url).await == (0, 0) },
    )
    .await;
    assert!(log_index(&stack, "Worker", "END ", &slow).is_some());

    // After stop, no instance of any function is left.
    let mut pids = stack.child_pids();
    pids.extend(started);
    pids.extend(api_pids.iter().map(|p| ("Api".to_string(), *p)));
    pids.extend(capped_pids.iter().map(|p| ("Capped".to_string(), *p)));
    stack.stop().await;
    for (name, pid) in pids {
        // SAFETY: signal 0 only checks whether the pid exists.
        let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
        assert!(!alive, "{name} (pid {pid}) is still running after stop()");
    }
    let _ = std::fs::remove_dir_all(bins);
}

/// The local ports in LISTEN state in /proc/net/tcp{,6} bound to `port`, as the kernel
/// prints the address (`0100007F` is 127.0.0.1, `...01000000` is ::1).
fn listening_addresses(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // local_address is ADDR:PORT in hex; state 0A is LISTEN.
            if let (Some(local), Some("0A")) = (cols.get(1), cols.get(3).copied()) {
                if let Some((addr, p)) = local.split_once(':') {
                    if u16::from_str_radix(p, 16).ok() == Some(port) {
                        found.push(addr.to_string());
                    }
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn runs_the_bluesky_pds_on_loopback_with_accounts() {
    let bins = bin_dir("pds", &["echo"]);
    let template = bins.join("template.yaml");
    std::fs::write(&template, SECURITY_TEMPLATE).unwrap();
    let root = repo_root();
    let tools_dir = std::env::var_os("CROSSPOST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".tools"));
    let opts = StackOptions {
        template,
        bin_dir: bins.clone(),
        tools_dir,
        parameter_overrides: BTreeMap::new(),
        env_overrides: BTreeMap::new(),
        echo_logs: false,
        // The fixture leaves this secret's value to the deployment.
        secret_values: BTreeMap::from([("GivenSecret".to_string(), "given-secret".to_string())]),
        max_instances: 1,
        poller_concurrency: 1,
        template_patches: Vec::new(),
        count_aws_calls: false,
        bluesky_pds: true,
    };
    let stack = LocalStack::start(opts).await.expect("local stack starts");
    let pds = stack.pds().expect("the PDS runs").clone();
    let http = reqwest::Client::new();

    // It answers describeServer, with the `.test` handles of a localhost PDS.
    let described: Value = http
        .get(format!(
            "{}/xrpc/com.atproto.server.describeServer",
            pds.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(described["availableUserDomains"], json!([".test"]));
    assert_eq!(described["inviteCodeRequired"], json!(false));

    // It listens on loopback only.
    let port: u16 = pds.url().rsplit(':').next().unwrap().parse().unwrap();
    let addresses = listening_addresses(port);
    assert!(!addresses.is_empty(), "nothing listens on port {port}");
    for a in &addresses {
        assert!(
            a == "0100007F" || a == "00000000000000000000000001000000",
            "port {port} is bound to {a}, not loopback"
        );
    }

    // An account made through the PDS's API signs in with its app password, and the
    // session names it.
    let alice = pds.create_account("alice").await.unwrap();
    assert_eq!(alice.handle, "alice.test");
    assert!(alice.did.starts_with("did:plc:"), "{}", alice.did);
    let session: Value = http
        .post(format!(
            "{}/xrpc/com.atproto.server.createSession",
            pds.url()
        ))
        .json(&json!({ "identifier": alice.handle, "password": alice.app_password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["did"], json!(alice.did));
    assert!(session["accessJwt"].as_str().is_some(), "{session}");

    // It stops with the stack.
    let pds_pids: Vec<(String, u32)> = stack
        .child_pids()
        .into_iter()
        .filter(|(name, _)| name == "bluesky-pds")
        .collect();
    assert_eq!(pds_pids.len(), 1, "{:?}", stack.child_pids());
    stack.stop().await;
    for (name, pid) in pds_pids {
        // SAFETY: signal 0 only checks whether the pid exists.
        let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
        assert!(!alive, "{name} (pid {pid}) is still running after stop()");
    }
    assert!(
        http.get(format!("{}/xrpc/_health", pds.url()))
            .send()
            .await
            .is_err(),
        "the PDS still answers after stop()"
    );
    let _ = std::fs::remove_dir_all(bins);
}
