//! Deliveries: one per post and linked account (DESIGN sections 3 and 4). This module
//! owns the delivery model ([`record`]), the closed set of reasons it fails for
//! ([`reason`]), the pure rules of its state machine ([`rules`]), the message that asks
//! a worker to work one, and in-memory implementations of the worker's ports
//! ([`memory`], for tests). The ports themselves are in [`crate::ports`].

#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod reason;
pub mod record;
pub mod rules;
#[cfg(test)]
mod tests_rules;

pub use reason::{FailureReason, UnknownReason};
pub use record::{
    Claim, Conclusion, DeliveryKey, DeliveryRecord, FirstPartLease, LastError, Lease, PostRecord,
    PublishedPart, Recorded, TakenFirstPart, UploadedMedia,
};
pub use rules::{Ending, Next};

/// The digest a first-part lease is keyed by: SHA-256 of the part's text, hex, first
/// 32 characters (128 bits).
pub fn first_part_digest(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

use crate::{Network, PostId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a delivery stands (DESIGN section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    Pending,
    Publishing,
    Retrying,
    Uncertain,
    Published,
    Failed,
    NeedsReauth,
    Deleting,
    Deleted,
}

impl DeliveryStatus {
    const NAMES: [(DeliveryStatus, &'static str); 9] = [
        (DeliveryStatus::Pending, "PENDING"),
        (DeliveryStatus::Publishing, "PUBLISHING"),
        (DeliveryStatus::Retrying, "RETRYING"),
        (DeliveryStatus::Uncertain, "UNCERTAIN"),
        (DeliveryStatus::Published, "PUBLISHED"),
        (DeliveryStatus::Failed, "FAILED"),
        (DeliveryStatus::NeedsReauth, "NEEDS_REAUTH"),
        (DeliveryStatus::Deleting, "DELETING"),
        (DeliveryStatus::Deleted, "DELETED"),
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(s, _)| *s == self)
            .map(|(_, n)| *n)
            .unwrap_or("UNKNOWN")
    }

    /// A terminal delivery is never worked again by a publish message.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Published
                | DeliveryStatus::Failed
                | DeliveryStatus::NeedsReauth
                | DeliveryStatus::Deleting
                | DeliveryStatus::Deleted
        )
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for DeliveryStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(st, _)| *st)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// What a queue message asks the worker to do with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryOp {
    Publish,
    Delete,
}

/// The body of a message on a network's queue. It carries only keys: the content lives
/// in DynamoDB, so retries, status queries and deletes all read one truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryMessage {
    pub op: DeliveryOp,
    pub post_id: PostId,
    pub network: Network,
    pub account_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for (s, n) in DeliveryStatus::NAMES {
            assert_eq!(s.as_str(), n);
            assert_eq!(n.parse::<DeliveryStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(n));
        }
        assert!("published".parse::<DeliveryStatus>().is_err());
    }

    #[test]
    fn message_wire_form_is_the_documented_one() {
        let msg: DeliveryMessage = serde_json::from_str(
            r#"{"op":"publish","post_id":"0190a0b0-0000-7000-8000-000000000000","network":"x","account_id":"42"}"#,
        )
        .unwrap();
        assert_eq!(msg.network, Network::X);
        assert_eq!(msg.op, DeliveryOp::Publish);
        assert!(serde_json::from_str::<DeliveryMessage>(
            r#"{"op":"publish","post_id":"p","network":"x","account_id":"42","extra":1}"#
        )
        .is_err());
    }
}
