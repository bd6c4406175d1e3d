//! Sealing against a real KMS emulator (moto): a sealed token opens only for its own
//! account, and never shows the token.
// Test helpers: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crosspost_aws::seal::Sealer;
use crosspost_core::Secret;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto() -> (Moto, String) {
    let tools = std::env::var_os("CROSSPOST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools"));
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(tools.join("venv/bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server from .tools (make tools installs it)");
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "moto did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (Moto(child), url)
}

#[tokio::test]
async fn a_sealed_token_opens_only_for_its_own_account() {
    let (_moto, url) = moto();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crosspost_aws::SdkHttpClient::new(
            crosspost_networks::tls_config(),
        ))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url(&url)
        .load()
        .await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms.create_key().send().await.unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    let sealer = Sealer::new(kms, key_id);

    let account = "USER#u1/ACCOUNT#x#42";
    let token = Secret::new("x-access-token-do-not-leak");
    let sealed = sealer.seal(account, &token).await.unwrap();
    assert!(sealed.starts_with("v1."), "{sealed}");
    assert!(!sealed.contains("do-not-leak"));
    assert_eq!(sealer.unseal(account, &sealed).await.unwrap(), token);
    // A second seal reuses the cached data key but a fresh nonce.
    let again = sealer.seal(account, &token).await.unwrap();
    assert_ne!(again, sealed);
    assert_eq!(again.split('.').nth(1), sealed.split('.').nth(1));
    assert_eq!(sealer.unseal(account, &again).await.unwrap(), token);

    // Another account's key does not open it, nor does an altered token.
    let err = sealer
        .unseal("USER#u2/ACCOUNT#x#43", &sealed)
        .await
        .unwrap_err()
        .to_string();
    assert!(!err.contains("do-not-leak"), "{err}");
    let mut parts: Vec<String> = sealed.split('.').map(str::to_owned).collect();
    let mut body = parts[3].clone().into_bytes();
    body[0] = if body[0] == b'A' { b'B' } else { b'A' };
    parts[3] = String::from_utf8(body).unwrap();
    assert!(sealer.unseal(account, &parts.join(".")).await.is_err());
    assert!(sealer.unseal(account, "v2.a.b.c").await.is_err());
    assert!(sealer.unseal(account, "garbage").await.is_err());
}
