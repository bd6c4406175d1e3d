//! Mention facets under the `keep` mentions policy: the `@handle`s of a part (found as
//! Bluesky's app finds them, [`handle_mentions`]) are resolved to DIDs with
//! `com.atproto.identity.resolveHandle` on the account's own PDS, and each handle that
//! resolves becomes an `app.bsky.richtext.facet#mention`. A handle that does not
//! resolve, or whose lookup fails or takes too long, stays plain text: a lookup never
//! fails the delivery. At most [`MAX_LOOKUPS`] handles are looked up per post (one
//! Bluesky record), all at once, each for at most [`LOOKUP_TIMEOUT`].

use super::error::XrpcError;
use super::send;
use crosspost_core::text::bluesky::{handle_mentions, rich_text, Facet, Feature};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;

/// The most distinct handles looked up for one post; later ones stay plain text.
pub const MAX_LOOKUPS: usize = 8;

/// How long one lookup may take (the lookups run at once, so this bounds them all).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Deserialize)]
struct Resolved {
    did: String,
}

/// The DID `handle` names, as the PDS at `service` resolves it; None when it does not
/// resolve or the lookup fails (logged, never an error).
async fn resolve(http: &reqwest::Client, service: &str, handle: &str) -> Option<String> {
    let request = http
        .get(format!("{service}/xrpc/com.atproto.identity.resolveHandle"))
        .query(&[("handle", handle)])
        .timeout(LOOKUP_TIMEOUT);
    match send(request).await {
        Ok((status, _, body)) if status.is_success() => {
            match serde_json::from_str::<Resolved>(&body) {
                Ok(r) if r.did.starts_with("did:") => Some(r.did),
                _ => {
                    tracing::info!(handle, "unexpected resolveHandle answer; kept as text");
                    None
                }
            }
        }
        Ok((status, _, body)) => {
            let e = XrpcError::parse(&body);
            tracing::debug!(handle, status = status.as_u16(), error = %e.error, "handle not resolved; kept as text");
            None
        }
        Err(e) => {
            tracing::info!(
                handle,
                kind = e.kind(),
                "handle lookup failed; kept as text"
            );
            None
        }
    }
}

/// The mention facets of `text` (a part as the publisher gets it), at byte ranges of
/// the text Bluesky shows (links shortened, see `rich_text`): one for each `@handle`
/// the PDS at `service` resolves.
pub(crate) async fn mention_facets(
    http: &reqwest::Client,
    service: &str,
    text: &str,
) -> Vec<Facet> {
    let mut rt = rich_text(text);
    let found = handle_mentions(&rt);
    let mut handles: Vec<&str> = Vec::new();
    for m in &found {
        if !handles.contains(&m.handle.as_str()) {
            handles.push(&m.handle);
        }
    }
    if handles.len() > MAX_LOOKUPS {
        tracing::info!(
            handles = handles.len(),
            "more handles than are looked up; the rest stay text"
        );
        handles.truncate(MAX_LOOKUPS);
    }
    let dids = futures::future::join_all(handles.iter().map(|h| resolve(http, service, h))).await;
    let known: HashMap<&str, String> = handles
        .into_iter()
        .zip(dids)
        .filter_map(|(h, did)| did.map(|d| (h, d)))
        .collect();
    rt.add_mentions(&found, |h| known.get(h).map(String::as_str));
    rt.facets
        .into_iter()
        .filter(|f| matches!(f.feature, Feature::Mention(_)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A PDS stand-in that knows `lily.test`, answers 500 for `broken.test`, never
    /// answers for `slow.test` and 400 for any other handle; it records the handles
    /// asked for.
    async fn resolver() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = conn.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).to_string();
                    let handle = head
                        .split("handle=")
                        .nth(1)
                        .and_then(|r| r.split([' ', '&']).next())
                        .unwrap_or_default()
                        .to_string();
                    seen.lock().unwrap().push(handle.clone());
                    let (status, body) = match handle.as_str() {
                        "lily.test" => ("200 OK", r#"{"did":"did:plc:lily"}"#),
                        "broken.test" => ("500 Internal Server Error", "{}"),
                        "slow.test" => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                        _ => (
                            "400 Bad Request",
                            r#"{"error":"InvalidRequest","message":"Unable to resolve handle"}"#,
                        ),
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                });
            }
        });
        (url, asked)
    }

    #[tokio::test]
    async fn only_a_resolved_handle_becomes_a_mention_and_failed_lookups_stay_text() {
        let (url, asked) = resolver().await;
        let http = reqwest::Client::new();
        let text = "告诉 @Lily.test 和 @nobody.test @broken.test @slow.test @小明 一声";
        let facets = mention_facets(&http, &url, text).await;
        assert_eq!(facets.len(), 1, "{facets:?}");
        assert_eq!(facets[0].feature, Feature::Mention("did:plc:lily".into()));
        let shown = rich_text(text).text;
        assert_eq!(&shown.as_bytes()[facets[0].range.clone()], b"@Lily.test");
        let mut asked = asked.lock().unwrap().clone();
        asked.sort();
        assert_eq!(
            asked,
            ["broken.test", "lily.test", "nobody.test", "slow.test"]
        );
    }

    #[tokio::test]
    async fn at_most_eight_handles_are_looked_up_per_post() {
        let (url, asked) = resolver().await;
        let http = reqwest::Client::new();
        let names: Vec<String> = (0..12).map(|i| format!("@friend{i}.test")).collect();
        // Each handle twice: looked up once.
        let text = format!("{} {} @lily.test", names.join(" "), names.join(" "));
        let facets = mention_facets(&http, &url, &text).await;
        assert!(
            facets.is_empty(),
            "lily.test is the ninth handle: {facets:?}"
        );
        assert_eq!(asked.lock().unwrap().len(), MAX_LOOKUPS);
    }
}
