//! DynamoDB keys of every item, in one place (DESIGN section 3).
//!
//! A key joins ids with `#` (and a seal key joins two keys with `/`), so every id that
//! can hold any character (user ids, source post ids, account ids) is written through
//! [`component`]: `%`, `#` and `/` become `%25`, `%23` and `%2F`. Two different ids
//! never make one key (user `u1` posting `K#z` and user `u1#K` posting `z` used to),
//! and an id without those three characters keeps the key it always had.
//!
//! DynamoDB takes a partition key of at most [`MAX_PARTITION_KEY_BYTES`] and a sort key
//! of at most [`MAX_SORT_KEY_BYTES`] (UTF-8 bytes; "Service, account, and table quotas
//! in Amazon DynamoDB", attributes). A key that would be longer is written with each
//! id as [`digest_component`] instead: `%H` and the hex SHA-256 of the id, a form
//! [`component`] never writes, so it is the key of no other id. Every key that fits
//! keeps its plain form.

use crate::{Network, PostId};
use std::borrow::Cow;

/// An id as it is written inside a key: `%`, `#` and `/` percent-encoded.
pub fn component(id: &str) -> Cow<'_, str> {
    if !id.contains(['%', '#', '/']) {
        return Cow::Borrowed(id);
    }
    let mut out = String::with_capacity(id.len() + 6);
    for c in id.chars() {
        match c {
            '%' => out.push_str("%25"),
            '#' => out.push_str("%23"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// DynamoDB's largest partition key value, in bytes.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;
/// DynamoDB's largest sort key value, in bytes.
pub const MAX_SORT_KEY_BYTES: usize = 1024;

/// An id inside a key that would be too long written plainly: `%H` and the hex SHA-256
/// of the id (66 bytes). `%` is always encoded by [`component`], so no plain id is
/// written with `%H`.
pub fn digest_component(id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    let mut out = String::with_capacity(66);
    out.push_str("%H");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `plain` when it is at most `limit` bytes, otherwise the key with digests.
fn fitted(limit: usize, plain: String, digested: impl FnOnce() -> String) -> String {
    if plain.len() <= limit {
        plain
    } else {
        digested()
    }
}

pub const POST_SK: &str = "POST";

pub fn post_pk(post_id: &PostId) -> String {
    format!("POST#{post_id}")
}

pub fn delivery_sk(network: Network, account_id: &str) -> String {
    fitted(
        MAX_SORT_KEY_BYTES,
        format!("DELIVERY#{network}#{}", component(account_id)),
        || format!("DELIVERY#{network}#{}", digest_component(account_id)),
    )
}

pub const DELIVERY_SK_PREFIX: &str = "DELIVERY#";

pub fn user_pk(user_id: &str) -> String {
    fitted(
        MAX_PARTITION_KEY_BYTES,
        format!("USER#{}", component(user_id)),
        || format!("USER#{}", digest_component(user_id)),
    )
}

pub fn account_sk(network: Network, account_id: &str) -> String {
    fitted(
        MAX_SORT_KEY_BYTES,
        format!("ACCOUNT#{network}#{}", component(account_id)),
        || format!("ACCOUNT#{network}#{}", digest_component(account_id)),
    )
}

/// What a linked account's sealed tokens are bound to (the AES-GCM associated data and
/// the KMS encryption context): its item's `pk/sk`, so a sealed token copied onto
/// another account does not open.
pub fn account_seal_key(user_id: &str, network: Network, account_id: &str) -> String {
    format!("{}/{}", user_pk(user_id), account_sk(network, account_id))
}

/// What every delivery of one linked account carries, to be found by (PostsTable's
/// `AccountDeliveries` index): the account's own key.
pub fn delivery_account_ref(user_id: &str, network: Network, account_id: &str) -> String {
    fitted(
        MAX_PARTITION_KEY_BYTES,
        account_seal_key(user_id, network, account_id),
        || {
            format!(
                "USER#{}/ACCOUNT#{network}#{}",
                digest_component(user_id),
                digest_component(account_id)
            )
        },
    )
}

/// What every linked account's sort key starts with.
pub const ACCOUNT_SK_PREFIX: &str = "ACCOUNT#";

pub fn account_sk_prefix(network: Network) -> String {
    format!("ACCOUNT#{network}#")
}

pub fn source_pk(user_id: &str, source_id: &str) -> String {
    fitted(
        MAX_PARTITION_KEY_BYTES,
        format!("SOURCE#{}#{}", component(user_id), component(source_id)),
        || {
            format!(
                "SOURCE#{}#{}",
                digest_component(user_id),
                digest_component(source_id)
            )
        },
    )
}

pub const SOURCE_SK: &str = "SOURCE";

pub fn webhook_pk(webhook_id: &str) -> String {
    fitted(
        MAX_PARTITION_KEY_BYTES,
        format!("WEBHOOK#{}", component(webhook_id)),
        || format!("WEBHOOK#{}", digest_component(webhook_id)),
    )
}

pub const WEBHOOK_SK: &str = "WEBHOOK";

/// The item holding a network's app-wide rate limit, in AccountsTable.
pub fn network_pk(network: Network) -> String {
    format!("NETWORK#{network}")
}

pub const LIMITS_SK: &str = "LIMITS";

/// PostsTable: who recorded a remote post (one delivery per remote post).
pub fn remote_pk(network: Network, remote_id: &str) -> String {
    fitted(
        MAX_PARTITION_KEY_BYTES,
        format!("REMOTE#{}#{remote_id}", network.as_str()),
        || {
            format!(
                "REMOTE#{}#{}",
                network.as_str(),
                digest_component(remote_id)
            )
        },
    )
}

pub const REMOTE_SK: &str = "REMOTE";

/// PostsTable: which delivery may send a first part with this text (its
/// [`crate::delivery::first_part_digest`]) to this remote account: one at a time.
pub fn first_part_pk(network: Network, account_id: &str, digest: &str) -> String {
    format!(
        "FIRST_PART#{}#{}#{digest}",
        network.as_str(),
        component(account_id)
    )
}

pub const FIRST_PART_SK: &str = "FIRST_PART";

/// A pending link, in AccountsTable: keyed by its state's digest
/// ([`crate::linking::state_digest`]).
pub fn oauth_pk(state_digest: &str) -> String {
    format!("OAUTH#{state_digest}")
}

pub const OAUTH_SK: &str = "OAUTH";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_holding_delimiters_never_share_a_key() {
        assert_ne!(source_pk("u1", "K#z"), source_pk("u1#K", "z"));
        assert_eq!(source_pk("u1", "K#z"), "SOURCE#u1#K%23z");
        assert_eq!(source_pk("u1#K", "z"), "SOURCE#u1%23K#z");
        assert_ne!(source_pk("u1", "K%23z"), source_pk("u1", "K#z"));
        assert_ne!(
            account_seal_key("a/USER#b", Network::X, "1"),
            account_seal_key("a", Network::X, "1/USER#b")
        );
        assert_ne!(
            delivery_sk(Network::X, "1#2"),
            delivery_sk(Network::X, "1%232")
        );
        assert_ne!(user_pk("u#1"), user_pk("u%231"));
    }

    /// DynamoDB refuses a partition key over 2048 bytes and a sort key over 1024
    /// (indexes too); an id at the longest intake takes (256 characters, each of 4 bytes
    /// or `%`) used to make keys over that, and the write failed as "storage is
    /// unavailable". The same for a webhook id or a path's user id, which have no limit.
    #[test]
    fn the_longest_ids_make_keys_dynamodb_takes_and_still_do_not_collide() {
        let emoji = "😀".repeat(256);
        let percent = "%".repeat(256);
        let huge = "u".repeat(10_000);
        for (user, id) in [(&emoji, &emoji), (&percent, &percent), (&huge, &huge)] {
            for pk in [
                source_pk(user, id),
                user_pk(user),
                webhook_pk(id),
                delivery_account_ref(user, Network::Facebook, id),
                remote_pk(Network::Facebook, id),
            ] {
                assert!(pk.len() <= 2048, "{} bytes: {pk}", pk.len());
            }
            for sk in [
                account_sk(Network::Facebook, id),
                delivery_sk(Network::Facebook, id),
            ] {
                assert!(sk.len() <= 1024, "{} bytes: {sk}", sk.len());
            }
        }
        assert_ne!(source_pk(&emoji, &emoji), source_pk(&emoji, &percent));
        assert_ne!(
            source_pk(&emoji, &emoji),
            source_pk(&emoji, &format!("{emoji}x"))
        );
        // The shortened form is never the key of another id.
        let long = source_pk(&emoji, &emoji);
        let (user_part, id_part) = long["SOURCE#".len()..].split_once('#').unwrap();
        assert_ne!(source_pk(user_part, id_part), long);
        assert!(account_sk_prefix(Network::X).len() < account_sk(Network::X, &huge).len());
        assert!(account_sk(Network::X, &huge).starts_with(&account_sk_prefix(Network::X)));
    }

    #[test]
    fn plain_ids_keep_the_keys_they_always_had() {
        assert_eq!(source_pk("u1", "src-1"), "SOURCE#u1#src-1");
        assert_eq!(
            account_sk(Network::Facebook, "1048"),
            "ACCOUNT#facebook#1048"
        );
        assert_eq!(
            account_seal_key("u1", Network::X, "42"),
            "USER#u1/ACCOUNT#x#42"
        );
        assert_eq!(webhook_pk("msg_1"), "WEBHOOK#msg_1");
    }
}
