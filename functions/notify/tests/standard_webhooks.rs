//! Interoperability with the Standard Webhooks reference library (`standardwebhooks` on
//! PyPI, pinned in the Makefile's PY_TOOLS): it must verify what notify sends (one
//! `v1,` entry per active events secret) and sign what our verifier accepts.
//!
//! Finds the library's Python through CROSSPOST_TOOLS (the Makefile exports it:
//! `<tools>/venv/bin/python`) and fails, saying so, when it is not there.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crosspost_core::signing::{self, SignedHeaders, SigningSecret};
use crosspost_core::Secret;
use serde_json::{json, Value};

/// Runs the library: `{"op": "sign"|"verify", …}` on stdin, one JSON answer on stdout.
const LIBRARY: &str = r#"
import json, sys
from datetime import datetime, timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
req = json.load(sys.stdin)
wh = Webhook(req["secret"])
if req["op"] == "sign":
    ts = datetime.fromtimestamp(req["timestamp"], tz=timezone.utc)
    print(json.dumps({"signature": wh.sign(req["id"], ts, req["body"])}))
else:
    try:
        wh.verify(req["body"], req["headers"], json_parse=False)
        print(json.dumps({"verified": True}))
    except WebhookVerificationError as e:
        print(json.dumps({"verified": False, "why": str(e)}))
"#;

fn python() -> PathBuf {
    let tools = std::env::var_os("CROSSPOST_TOOLS").unwrap_or_else(|| {
        panic!(
            "CROSSPOST_TOOLS is not set: run this test through `make test` (or `make e2e`), \
             or set it to the tools folder whose venv has the standardwebhooks package"
        )
    });
    let python = PathBuf::from(tools).join("venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make tools` to install the tools venv",
        python.display()
    );
    python
}

fn library(request: Value) -> Value {
    let mut child = Command::new(python())
        .args(["-c", LIBRARY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the tools venv's python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("writing the request");
    let out = child.wait_with_output().expect("running the library");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the standardwebhooks library failed (is it installed? `make tools` pins it): {stderr}"
    );
    serde_json::from_slice(&out.stdout).expect("the library's JSON answer")
}

fn library_signs(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let answer = library(json!({
        "op": "sign", "secret": secret, "id": id, "timestamp": timestamp, "body": body,
    }));
    answer["signature"].as_str().expect("signature").to_string()
}

fn library_verifies(secret: &str, id: &str, timestamp: i64, signature: &str, body: &str) -> bool {
    let answer = library(json!({
        "op": "verify", "secret": secret, "body": body,
        "headers": {
            "webhook-id": id,
            "webhook-timestamp": timestamp.to_string(),
            "webhook-signature": signature,
        },
    }));
    answer["verified"].as_bool().expect("verified")
}

fn parse(secret: &str) -> SigningSecret {
    SigningSecret::parse(&Secret::new(secret)).expect("a usable secret")
}

fn we_verify(secrets: &[SigningSecret], id: &str, ts: i64, signature: &str, body: &str) -> bool {
    let headers = SignedHeaders {
        id: Some(id),
        timestamp: Some(&ts.to_string()),
        signature: Some(signature),
    };
    signing::verify(secrets, headers, body.as_bytes(), ts).is_ok()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

const OLD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// 32 bytes whose base64 ends in `=`, written without it.
const NEW_UNPADDED: &str = "whsec_3q2+796tvu/erb7v3q2+796tvu/erb7v3q2+796tvu8";

#[test]
fn the_reference_vector_matches_the_library() {
    let (id, ts, body) = (
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        r#"{"test": 2432232314}"#,
    );
    let theirs = library_signs(OLD, id, ts, body);
    assert_eq!(theirs, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_eq!(parse(OLD).sign(id, ts, body.as_bytes()).expose(), theirs);
}

#[test]
fn an_unpadded_secret_means_the_same_key_to_both() {
    let (id, ts, body) = ("msg_unpadded", now(), r#"{"type":"delivery.published"}"#);
    let theirs = library_signs(NEW_UNPADDED, id, ts, body);
    assert!(we_verify(&[parse(NEW_UNPADDED)], id, ts, &theirs, body));
    let padded = format!("{NEW_UNPADDED}=");
    assert_eq!(
        parse(&padded).sign(id, ts, body.as_bytes()).expose(),
        theirs
    );
}

#[test]
fn during_a_rotation_what_notify_sends_verifies_under_either_secret() {
    let (id, ts, body) = ("evt_rotation", now(), r#"{"id":"evt_rotation","type":"x"}"#);
    // What notify sends with the events secret "old new".
    let list = SigningSecret::parse_list(&Secret::new(format!("{OLD} {NEW_UNPADDED}"))).unwrap();
    let header = signing::sign_all(&list, id, ts, body.as_bytes());
    assert_eq!(header.expose().split(' ').count(), 2);
    assert!(library_verifies(OLD, id, ts, header.expose(), body));
    assert!(library_verifies(
        NEW_UNPADDED,
        id,
        ts,
        header.expose(),
        body
    ));
    // A receiver with another secret refuses it; so does one given a changed body.
    let other = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert!(!library_verifies(other, id, ts, header.expose(), body));
    assert!(!library_verifies(
        OLD,
        id,
        ts,
        header.expose(),
        r#"{"id":"evt_rotation"}"#
    ));
}

#[test]
fn during_a_rotation_we_accept_what_the_library_signs_with_either_secret() {
    let (id, ts, body) = ("msg_rotation", now(), r#"{"text":"你好"}"#);
    let ours = [parse(OLD), parse(NEW_UNPADDED)];
    let by_old = library_signs(OLD, id, ts, body);
    let by_new = library_signs(NEW_UNPADDED, id, ts, body);
    assert!(we_verify(&ours, id, ts, &by_old, body));
    assert!(we_verify(&ours, id, ts, &by_new, body));
    // A sender already on the new secret, sending both entries, reaches a receiver
    // that only has the new one.
    assert!(we_verify(
        &ours[1..],
        id,
        ts,
        &format!("{by_old} {by_new}"),
        body
    ));
    // And a signature under another secret is refused.
    assert!(!we_verify(&ours[..1], id, ts, &by_new, body));
}
