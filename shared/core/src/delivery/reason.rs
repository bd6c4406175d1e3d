//! Why a delivery's last attempt did not publish: a closed set, stored as
//! `last_error.kind` and sent in `delivery.failed` events.

use crate::PublishError;
use std::fmt;
use std::str::FromStr;

/// The kind of a delivery's last error. The first six are the classes of a failed
/// network call ([`PublishError`]); the `Delete…` ones are the same classes for a failed
/// delete; the rest are the worker's own reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    Retryable,
    RateLimited,
    AuthRevoked,
    Permanent,
    Uncertain,
    MediaUnavailable,
    DeleteRetryable,
    DeleteRateLimited,
    DeleteAuthRevoked,
    DeletePermanent,
    DeleteUncertain,
    DeleteMediaUnavailable,
    /// The post the delivery belongs to is gone from PostsTable.
    PostMissing,
    /// The account must be linked again (its tokens were refused before).
    AccountNeedsReauth,
    /// The account was unlinked before or while the post was published.
    AccountUnlinked,
    /// Not published within the maximum age.
    Expired,
    /// Every attempt was used and none published (and no error was kept).
    TooManyAttempts,
    /// The text does not fit the network and the overflow policy is `reject`.
    ContentTooLong,
    /// The network refused the post as a duplicate of one the account already has,
    /// and no unanswered request of this delivery made that one.
    DuplicateContent,
    /// A thread reply's parent stayed deleted or invisible through every retry.
    ReplyParentUnavailable,
}

impl FailureReason {
    const NAMES: [(FailureReason, &'static str); 20] = [
        (FailureReason::Retryable, "retryable"),
        (FailureReason::RateLimited, "rate_limited"),
        (FailureReason::AuthRevoked, "auth_revoked"),
        (FailureReason::Permanent, "permanent"),
        (FailureReason::Uncertain, "uncertain"),
        (FailureReason::MediaUnavailable, "media_unavailable"),
        (FailureReason::DeleteRetryable, "delete_retryable"),
        (FailureReason::DeleteRateLimited, "delete_rate_limited"),
        (FailureReason::DeleteAuthRevoked, "delete_auth_revoked"),
        (FailureReason::DeletePermanent, "delete_permanent"),
        (FailureReason::DeleteUncertain, "delete_uncertain"),
        (
            FailureReason::DeleteMediaUnavailable,
            "delete_media_unavailable",
        ),
        (FailureReason::PostMissing, "post_missing"),
        (FailureReason::AccountNeedsReauth, "account_needs_reauth"),
        (FailureReason::AccountUnlinked, "account_unlinked"),
        (FailureReason::Expired, "expired"),
        (FailureReason::TooManyAttempts, "too_many_attempts"),
        (FailureReason::ContentTooLong, "content_too_long"),
        (FailureReason::DuplicateContent, "duplicate_content"),
        (
            FailureReason::ReplyParentUnavailable,
            "reply_parent_unavailable",
        ),
    ];

    /// The wire name (`last_error.kind`).
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(r, _)| *r == self)
            .map(|(_, n)| *n)
            .unwrap_or("unknown")
    }

    /// The reason a failed publish call gives.
    pub fn of(err: &PublishError) -> Self {
        match err {
            PublishError::Retryable { .. } => FailureReason::Retryable,
            PublishError::RateLimited { .. } => FailureReason::RateLimited,
            PublishError::AuthRevoked { .. } => FailureReason::AuthRevoked,
            PublishError::Permanent { .. } => FailureReason::Permanent,
            PublishError::Uncertain { .. } => FailureReason::Uncertain,
            PublishError::MediaUnavailable { .. } => FailureReason::MediaUnavailable,
            PublishError::Duplicate { .. } => FailureReason::DuplicateContent,
            PublishError::ParentNotVisible { .. } => FailureReason::ReplyParentUnavailable,
        }
    }

    /// The reason a failed delete call gives.
    pub fn of_delete(err: &PublishError) -> Self {
        match err {
            PublishError::Retryable { .. } => FailureReason::DeleteRetryable,
            PublishError::RateLimited { .. } => FailureReason::DeleteRateLimited,
            PublishError::AuthRevoked { .. } => FailureReason::DeleteAuthRevoked,
            PublishError::Permanent { .. } => FailureReason::DeletePermanent,
            PublishError::Uncertain { .. } => FailureReason::DeleteUncertain,
            PublishError::MediaUnavailable { .. } => FailureReason::DeleteMediaUnavailable,
            // A delete creates nothing: these answers mean the network refused it.
            PublishError::Duplicate { .. } | PublishError::ParentNotVisible { .. } => {
                FailureReason::DeletePermanent
            }
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored kind this code does not write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown failure reason `{0}`")]
pub struct UnknownReason(pub String);

impl FromStr for FailureReason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(r, _)| *r)
            .ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

impl serde::Serialize for FailureReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for FailureReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// So a reason compares with its wire name: `assert_eq!(error.kind, "expired")`.
impl PartialEq<&str> for FailureReason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for (r, n) in FailureReason::NAMES {
            assert_eq!(r.as_str(), n);
            assert_eq!(n.parse::<FailureReason>(), Ok(r));
            assert!(seen.insert(n), "{n} twice");
        }
        assert!("Expired".parse::<FailureReason>().is_err());
    }

    #[test]
    fn every_publish_class_has_its_publish_and_delete_reason() {
        let err = PublishError::Permanent {
            reason: "no".into(),
        };
        assert_eq!(FailureReason::of(&err).as_str(), err.kind());
        assert_eq!(
            FailureReason::of_delete(&err).as_str(),
            format!("delete_{}", err.kind())
        );
    }
}
