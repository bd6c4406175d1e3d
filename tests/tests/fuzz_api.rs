//! An outside fuzzer of our API: Schemathesis (PyPI, pinned in the Makefile's
//! `PY_TOOLS`, run from the tools venv) generates requests from
//! `functions/openapi.yaml` and sends them to the local stack's HTTP API, with the
//! AWS side on the real emulators.
//!
//! Two bounded runs (a fixed seed, a few examples per operation):
//! - signed, as the source app signs (`tests/fuzz/signing.py`): no answer may be a
//!   server error, and every status, content type and body must be one the
//!   description documents for the operation;
//! - unsigned: every operation that requires a signature must answer 401.
//!
//! Any failure fails the test with Schemathesis's report (signatures cut out).
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crosspost_cli::Sandbox;
use crosspost_tests::sandbox;
use serde_json::{json, Value};

/// The seed both runs use, so that a failure can be replayed.
const SEED: &str = "14";
/// Examples per operation and generation phase.
const MAX_EXAMPLES: &str = "40";
/// The checks of the signed run (Schemathesis's names).
const SIGNED_CHECKS: &[&str] = &[
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
];

/// Findings the signed run accepts, each saying why: a failure of the same check on
/// the same operation, with the same status and only these errors in the answer (each
/// `[pointer pattern, text of its detail]`), this detail, or this text in the request,
/// passes; any other failure still fails (see `tests/fuzz/signing.py`).
fn known_findings() -> Value {
    // By design, and beyond what any description can say: a callback's `state` must be
    // one Crosspost handed out, `return_url` must be on the deployment's allow-list,
    // and a target must be an account the user has linked (the fuzzer's users have
    // none).
    let by_design = "by design: values only the running deployment knows";
    let post_errors = json!([
        ["/targets/*/network", "account linked"],
        ["/targets/*/account_id", "linked"],
        ["/user_id", "no active linked account"],
        ["/targets/*", "listed twice"],
    ]);
    // Beyond what JSON Schema can say: a target is its network and account, so two
    // targets differing only in their own `text` are one target listed twice (422, as
    // the description says), while `uniqueItems` compares whole items.
    let unique_by_key =
        "by design: a target is unique by (network, account_id), which no schema keyword says";
    let preview_errors = json!([["/targets/*", "listed twice"]]);
    json!([
        {"method": "POST", "path": "/v1/posts", "check": "positive_data_acceptance",
         "status": 422, "errors": post_errors, "why": [by_design, unique_by_key]},
        {"method": "POST", "path": "/v1/preview", "check": "positive_data_acceptance",
         "status": 422, "errors": preview_errors, "why": unique_by_key},
        {"method": "GET", "path": "/v1/oauth/{network}/callback",
         "check": "positive_data_acceptance", "status": 400,
         "detail": "unknown or was used already", "why": by_design},
        {"method": "POST", "path": "/v1/connect/{network}",
         "check": "positive_data_acceptance", "status": 422,
         "errors": [["/return_url", "allow-list"]], "why": by_design},
        {"method": "POST", "path": "/v1/connect/bluesky",
         "check": "positive_data_acceptance", "status": 422,
         "errors": [["/service", "is not one this deployment links on"]],
         "why": by_design},
        // By design: the fuzzer's deployment has no Bluesky service to check the
        // credentials on (BlueskyServices names a closed local port), so a link answers
        // 503 as it does when a real service is down.
        {"method": "POST", "path": "/v1/connect/bluesky", "check": "not_a_server_error",
         "status": 503, "detail": "the Bluesky service could not be reached",
         "why": by_design},
    ])
}

/// The checks to run: a check with known findings as its `_except_known` wrapper.
fn checks(names: &[&str], known: &Value) -> String {
    let with_known: Vec<&str> = known
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["check"].as_str())
        .collect();
    names
        .iter()
        .map(|name| {
            if with_known.contains(name) {
                format!("{name}_except_known")
            } else {
                (*name).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn tools() -> PathBuf {
    let tools = std::env::var_os("CROSSPOST_TOOLS")
        .map(PathBuf::from)
        .expect(
            "CROSSPOST_TOOLS names the tools folder (run `make test`, which installs Schemathesis)",
        );
    let cli = tools.join("venv/bin/schemathesis");
    assert!(
        cli.exists(),
        "{} is missing: run `make tools` (Schemathesis is pinned in the Makefile's PY_TOOLS)",
        cli.display()
    );
    tools
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Schemathesis's output with every signature value (`v1,<base64>`) cut out.
fn redacted(output: &str) -> String {
    let mut out = String::with_capacity(output.len());
    let mut rest = output;
    while let Some(at) = rest.find("v1,") {
        out.push_str(&rest[..at + 3]);
        rest = &rest[at + 3..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c)))
            .unwrap_or(rest.len());
        if end > 0 {
            out.push_str("[REDACTED]");
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Runs Schemathesis against the sandbox's API; returns whether it passed and its report.
async fn schemathesis(
    tools: &Path,
    sb: &Sandbox,
    secret: Option<&str>,
    names: &[&str],
    known: &Value,
) -> (bool, String) {
    let repo = repo();
    let mut command = tokio::process::Command::new(tools.join("venv/bin/schemathesis"));
    command
        .arg("run")
        .arg(repo.join("functions/openapi.yaml"))
        .args(["--url", sb.stack.api_url()])
        .args(["--checks", &checks(names, known)])
        .args(["--seed", SEED, "--max-examples", MAX_EXAMPLES])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--workers", "1", "--request-timeout", "20"])
        .args(["--generation-database", "none", "--no-color"])
        // The signature headers are the hooks file's to set (or leave out), never
        // generated: a generated one would be a request no source app sends.
        .args(["--generation-with-security-parameters", "false"])
        .env("SCHEMATHESIS_HOOKS", repo.join("tests/fuzz/signing.py"))
        .env("CROSSPOST_FUZZ_EXPECTED", known.to_string())
        .env_remove("CROSSPOST_FUZZ_SECRET")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(secret) = secret {
        command.env("CROSSPOST_FUZZ_SECRET", secret);
    }
    let output = command.output().await.expect("schemathesis runs");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), redacted(&report))
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing_new_signed_or_unsigned() {
    let tools = tools();
    let sb = sandbox().await;
    let secret = sb.signing[0].expose().to_owned();

    let known = known_findings();
    let (signed_ok, signed) = schemathesis(&tools, &sb, Some(&secret), SIGNED_CHECKS, &known).await;
    let (unsigned_ok, unsigned) = schemathesis(
        &tools,
        &sb,
        None,
        &["not_a_server_error", "signed_routes_refuse_unsigned"],
        &json!([]),
    )
    .await;
    sb.stop().await;

    eprintln!("signed run:\n{signed}\nunsigned run:\n{unsigned}");
    assert!(signed_ok, "signed run failed:\n{signed}");
    assert!(unsigned_ok, "unsigned run failed:\n{unsigned}");
}
