//! Standard Webhooks signatures: what the source app sends us and what we send back.
//!
//! The signed content is `{webhook-id}.{webhook-timestamp}.{body}`, the signature an
//! HMAC-SHA256 under the secret's key, sent as space-separated `v1,<base64>` entries.
//! Secrets are written `whsec_<base64 key>`; several may be valid at once (rotation):
//! a verifier accepts any, a sender signs with every one ([`sign_all`]).
//!
//! The rules are those of the `standardwebhooks` reference library, which an
//! interoperability test runs against ours (`functions/notify/tests/`): a secret's
//! base64 may leave out its `=` padding, signatures are standard padded base64.
//!
//! A signature over the body alone would authorise any route with that body, so only
//! the intake (`POST /v1/posts`, whose body is the whole request) takes plain Standard
//! Webhooks signatures. Every other signed route takes a *request signature*
//! ([`request_content`]): the same headers and HMAC, over
//! `{webhook-id}.{webhook-timestamp}.{METHOD} {path}[?{query}]\n{body}`, so it
//! authorises one method, path, query and body. The two never stand for each other: a
//! request's signed content starts, after the timestamp, with an upper-case method and a
//! space, which no JSON body does.

use crate::Secret;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as B64};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::digest::{CtOutput, Output};
use hmac::{KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

#[cfg(test)]
thread_local! {
    /// How many MACs this thread's test has computed.
    static MACS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Decodes a secret's key with or without `=` padding (the reference libraries pad it
/// themselves before decoding).
const SECRET_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How far a timestamp may be from now, either way.
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// A signing secret: the decoded key of a `whsec_…` string.
#[derive(Clone)]
pub struct SigningSecret {
    /// The HMAC keyed once at parse time; each use works on a clone.
    keyed: HmacSha256,
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret([REDACTED])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a signing secret must start with whsec_")]
    Prefix,
    #[error("a signing secret's key must be base64 of at least 24 bytes")]
    Key,
    #[error("no signing secret is configured")]
    None,
}

impl SigningSecret {
    pub fn parse(text: &Secret) -> Result<Self, SecretError> {
        let b64 = text
            .expose()
            .trim()
            .strip_prefix("whsec_")
            .ok_or(SecretError::Prefix)?;
        let key = SECRET_B64.decode(b64).map_err(|_| SecretError::Key)?;
        if key.len() < 24 {
            return Err(SecretError::Key);
        }
        let keyed = HmacSha256::new_from_slice(&key).map_err(|_| SecretError::Key)?;
        Ok(SigningSecret { keyed })
    }

    /// A whole list: `whsec_…` entries separated by white space or commas.
    pub fn parse_list(text: &Secret) -> Result<Vec<Self>, SecretError> {
        let list = text
            .expose()
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(|s| SigningSecret::parse(&Secret::new(s)))
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err(SecretError::None);
        }
        Ok(list)
    }

    /// Makes a new secret string from 32 random bytes the caller supplies.
    pub fn encode(key: &[u8; 32]) -> Secret {
        Secret::new(format!("whsec_{}", B64.encode(key)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        #[cfg(test)]
        MACS.with(|n| n.set(n.get() + 1));
        let mut mac = self.keyed.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` header value for this content (a [`Secret`]: it prints
    /// `[REDACTED]`).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> Secret {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        Secret::new(format!("v1,{}", B64.encode(tag)))
    }
}

/// The `webhook-signature` header value signed with every secret, space-separated, so
/// that a receiver holding any one of them (old or new, during a rotation) accepts it.
pub fn sign_all(secrets: &[SigningSecret], id: &str, timestamp: i64, body: &[u8]) -> Secret {
    let entries: Vec<Secret> = secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect();
    Secret::new(
        entries
            .iter()
            .map(|e| e.expose())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// What a request signature covers besides the body: `{METHOD} {target}\n{body}`,
/// where `target` is the request's path and, when it has one, `?` and its query,
/// exactly as sent (percent-encoding untouched).
pub fn request_content(method: &str, target: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(method.len() + target.len() + 2 + body.len());
    content.extend_from_slice(method.to_ascii_uppercase().as_bytes());
    content.push(b' ');
    content.extend_from_slice(target.as_bytes());
    content.push(b'\n');
    content.extend_from_slice(body);
    content
}

/// The `webhook-signature` of a request signature ([`request_content`]).
pub fn sign_request(
    secret: &SigningSecret,
    id: &str,
    timestamp: i64,
    method: &str,
    target: &str,
    body: &[u8],
) -> Secret {
    secret.sign(id, timestamp, &request_content(method, target, body))
}

/// Hex SHA-256 of a request body: what a webhook id is remembered with, so that the
/// same id with another body is told apart from a repeat.
pub fn body_digest(body: &[u8]) -> String {
    use sha2::Digest;
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why a request's signature was refused. Never shown to the caller (they get a bare
/// 401); logged to help an operator, without the signature itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp is not a number")]
    BadTimestamp,
    #[error("webhook-timestamp is {0} s away from now")]
    OutsideTolerance(i64),
    #[error("no v1 signature matches")]
    NoMatch,
}

/// The three Standard Webhooks headers of a request.
#[derive(Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl std::fmt::Debug for SignedHeaders<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedHeaders")
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .field("signature", &self.signature.map(|_| "[REDACTED]"))
            .finish()
    }
}

/// Checks a request: the timestamp within tolerance of `now`, and at least one `v1`
/// entry equal (in constant time) to the HMAC under one of the secrets.
pub fn verify(
    secrets: &[SigningSecret],
    headers: SignedHeaders<'_>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let id = headers
        .id
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::MissingHeader("webhook-id"))?;
    let ts_text = headers
        .timestamp
        .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
    let signature = headers
        .signature
        .ok_or(SignatureError::MissingHeader("webhook-signature"))?;
    let ts: i64 = ts_text
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    // Saturating: a timestamp near i64's ends is far outside, not an overflow.
    let skew = now_unix.saturating_sub(ts);
    if skew.unsigned_abs() > TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::OutsideTolerance(skew));
    }
    // Each secret's tag is computed once, however many entries the header has (anyone
    // can send thousands with a 1 MiB body), and compared in constant time
    // (`CtOutput`'s equality).
    let expected: Vec<CtOutput<HmacSha256>> = secrets
        .iter()
        .map(|s| s.mac(id, ts, body).finalize())
        .collect();
    for entry in signature.split(' ') {
        let Some(b64) = entry.strip_prefix("v1,") else {
            continue;
        };
        // An empty, undecodable or wrong-length signature matches nothing: the whole
        // tag is compared, never a prefix.
        let Some(given) = B64
            .decode(b64)
            .ok()
            .and_then(|bytes| Output::<HmacSha256>::try_from(bytes.as_slice()).ok())
        else {
            continue;
        };
        let given = CtOutput::<HmacSha256>::new(given);
        if expected.contains(&given) {
            return Ok(());
        }
    }
    Err(SignatureError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> SigningSecret {
        SigningSecret::parse(&SigningSecret::encode(&[byte; 32])).unwrap()
    }

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    const NOW: i64 = 1_790_000_000;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The example from the Standard Webhooks specification's reference libraries.
        let s =
            SigningSecret::parse(&Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).unwrap();
        let sig = s
            .sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#,
            )
            .expose()
            .to_owned();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_valid_signature_passes_and_any_change_fails() {
        let s = secret(7);
        let sig = s.sign("msg_1", NOW, b"{\"a\":1}").expose().to_owned();
        let ts = NOW.to_string();
        assert_eq!(
            verify(
                std::slice::from_ref(&s),
                headers("msg_1", &ts, &sig),
                b"{\"a\":1}",
                NOW
            ),
            Ok(())
        );
        // Tampered body, other id, wrong secret.
        assert_eq!(
            verify(
                std::slice::from_ref(&s),
                headers("msg_1", &ts, &sig),
                b"{\"a\":2}",
                NOW
            ),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(
                std::slice::from_ref(&s),
                headers("msg_2", &ts, &sig),
                b"{\"a\":1}",
                NOW
            ),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(&[secret(8)], headers("msg_1", &ts, &sig), b"{\"a\":1}", NOW),
            Err(SignatureError::NoMatch)
        );
    }

    /// Anyone can send a `webhook-signature` of thousands of entries with a 1 MiB body;
    /// each entry used to cost an HMAC of the whole body before the 401. Each secret's
    /// MAC is computed once per request, however many entries there are.
    #[test]
    fn many_signature_entries_cost_one_mac_per_secret() {
        let secrets = [secret(7), secret(8)];
        let ts = NOW.to_string();
        let good = secrets[1].sign("m", NOW, b"x").expose().to_owned();
        let mut header = vec!["v1,AAAA"; 2000].join(" ");
        MACS.with(|n| n.set(0));
        assert_eq!(
            verify(&secrets, headers("m", &ts, &header), b"x", NOW),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(MACS.with(|n| n.get()), 2);
        header.push(' ');
        header.push_str(&good);
        MACS.with(|n| n.set(0));
        assert_eq!(
            verify(&secrets, headers("m", &ts, &header), b"x", NOW),
            Ok(())
        );
        assert_eq!(MACS.with(|n| n.get()), 2);
    }

    #[test]
    fn empty_truncated_and_unknown_version_signatures_fail() {
        let s = secret(7);
        let ts = NOW.to_string();
        let good = s.sign("m", NOW, b"x").expose().to_owned();
        let truncated = &good[..good.len() - 8];
        let v2 = good.replacen("v1,", "v2,", 1);
        for bad in ["", "v1,", "v1", truncated, v2.as_str(), "v1,!!!!"] {
            assert_eq!(
                verify(std::slice::from_ref(&s), headers("m", &ts, bad), b"x", NOW),
                Err(SignatureError::NoMatch),
                "{bad:?} must fail"
            );
        }
        // A valid entry among others passes.
        let several = format!("v1,AAAA {good}");
        assert_eq!(verify(&[s], headers("m", &ts, &several), b"x", NOW), Ok(()));
    }

    #[test]
    fn timestamps_outside_five_minutes_fail_both_ways() {
        let s = secret(1);
        for (offset, ok) in [(-360, false), (360, false), (-299, true), (299, true)] {
            let ts = NOW + offset;
            let sig = s.sign("m", ts, b"x").expose().to_owned();
            let r = verify(
                std::slice::from_ref(&s),
                headers("m", &ts.to_string(), &sig),
                b"x",
                NOW,
            );
            assert_eq!(r.is_ok(), ok, "offset {offset}");
        }
        // At i64's ends: outside, never an overflow (a panic in a debug build, and in a
        // release build a wrapped skew whose absolute value is negative).
        for ts in [i64::MIN, i64::MAX, NOW.wrapping_add(i64::MIN)] {
            let sig = s.sign("m", ts, b"x").expose().to_owned();
            let r = verify(
                std::slice::from_ref(&s),
                headers("m", &ts.to_string(), &sig),
                b"x",
                NOW,
            );
            assert!(
                matches!(r, Err(SignatureError::OutsideTolerance(_))),
                "{ts}: {r:?}"
            );
        }
        let sig = s.sign("m", NOW, b"x").expose().to_owned();
        assert_eq!(
            verify(&[s], headers("m", "soon", &sig), b"x", NOW),
            Err(SignatureError::BadTimestamp)
        );
    }

    #[test]
    fn rotation_accepts_either_secret_and_missing_headers_fail() {
        let (old, new) = (secret(1), secret(2));
        let both = vec![old.clone(), new.clone()];
        let ts = NOW.to_string();
        for s in [&old, &new] {
            let sig = s.sign("m", NOW, b"x").expose().to_owned();
            assert!(verify(&both, headers("m", &ts, &sig), b"x", NOW).is_ok());
        }
        let sig = old.sign("m", NOW, b"x").expose().to_owned();
        let missing = SignedHeaders {
            id: None,
            timestamp: Some(&ts),
            signature: Some(&sig),
        };
        assert_eq!(
            verify(&both, missing, b"x", NOW),
            Err(SignatureError::MissingHeader("webhook-id"))
        );
    }

    #[test]
    fn a_secret_without_its_base64_padding_is_the_same_secret() {
        let padded = SigningSecret::encode(&[5; 32]);
        assert!(padded.expose().ends_with('='));
        let unpadded = Secret::new(padded.expose().trim_end_matches('='));
        let (a, b) = (
            SigningSecret::parse(&padded).unwrap(),
            SigningSecret::parse(&unpadded).unwrap(),
        );
        assert_eq!(
            a.sign("m", NOW, b"x").expose(),
            b.sign("m", NOW, b"x").expose()
        );
        assert_eq!(
            SigningSecret::parse(&Secret::new("whsec_not base64!")).unwrap_err(),
            SecretError::Key
        );
    }

    #[test]
    fn sign_all_sends_one_entry_per_secret_and_either_receiver_accepts() {
        let (old, new) = (secret(1), secret(2));
        let header = sign_all(&[old.clone(), new.clone()], "m", NOW, b"x");
        let entries: Vec<&str> = header.expose().split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], old.sign("m", NOW, b"x").expose());
        assert_eq!(entries[1], new.sign("m", NOW, b"x").expose());
        let ts = NOW.to_string();
        for receiver in [old, new] {
            let h = headers("m", &ts, header.expose());
            assert_eq!(verify(&[receiver], h, b"x", NOW), Ok(()));
        }
        let h = headers("m", &ts, header.expose());
        assert_eq!(
            verify(&[secret(3)], h, b"x", NOW),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn secret_lists_parse_and_bad_ones_are_refused() {
        let a = SigningSecret::encode(&[1; 32]);
        let b = SigningSecret::encode(&[2; 32]);
        let list = Secret::new(format!("{} , {}", a.expose(), b.expose()));
        assert_eq!(SigningSecret::parse_list(&list).unwrap().len(), 2);
        assert_eq!(
            SigningSecret::parse_list(&Secret::new("secret")).unwrap_err(),
            SecretError::Prefix
        );
        assert_eq!(
            SigningSecret::parse_list(&Secret::new("whsec_c2hvcnQ=")).unwrap_err(),
            SecretError::Key
        );
        assert_eq!(
            SigningSecret::parse_list(&Secret::new(" ")).unwrap_err(),
            SecretError::None
        );
        assert_eq!(format!("{:?}", secret(1)), "SigningSecret([REDACTED])");
    }

    #[test]
    fn a_request_signature_authorises_one_method_target_and_body() {
        let s = secret(4);
        let ts = NOW.to_string();
        let content = |m, t, b: &[u8]| request_content(m, t, b);
        let sig = sign_request(&s, "m", NOW, "GET", "/v1/users/u1/accounts", b"")
            .expose()
            .to_owned();
        let ok = |m, t, b: &[u8]| {
            verify(
                std::slice::from_ref(&s),
                headers("m", &ts, &sig),
                &content(m, t, b),
                NOW,
            )
            .is_ok()
        };
        assert!(ok("GET", "/v1/users/u1/accounts", b""));
        assert!(!ok(
            "DELETE",
            "/v1/posts/0190a0b0-0000-7000-8000-000000000000",
            b""
        ));
        assert!(!ok("POST", "/v1/posts/p/retry", b""));
        assert!(!ok("GET", "/v1/users/u2/accounts", b""));
        assert!(!ok("GET", "/v1/users/u1/accounts?x=1", b""));
        assert!(!ok("GET", "/v1/users/u1/accounts", b"{}"));
        // A plain Standard Webhooks signature of the same body is not a request signature.
        let plain = s.sign("m", NOW, b"").expose().to_owned();
        assert_eq!(
            verify(
                std::slice::from_ref(&s),
                headers("m", &ts, &plain),
                &content("GET", "/v1/users/u1/accounts", b""),
                NOW
            ),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            content("post", "/v1/connect/x?a=%20", b"{}"),
            b"POST /v1/connect/x?a=%20\n{}".to_vec()
        );
    }

    #[test]
    fn body_digests_are_hex_sha256() {
        assert_eq!(
            body_digest(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(
            body_digest(b"{\"text\":\"one\"}"),
            body_digest(b"{\"text\":\"two\"}")
        );
    }

    #[test]
    fn signatures_never_print() {
        let sig = secret(8).sign("m", NOW, b"x");
        assert_eq!(format!("{sig:?} {sig}"), "[REDACTED] [REDACTED]");
        let h = headers("m", "1", sig.expose());
        assert!(!format!("{h:?}").contains(sig.expose()), "{h:?}");
    }
}
