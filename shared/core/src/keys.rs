//! DynamoDB keys of every item, in one place (DESIGN section 3).
//!
//! A key joins ids with `#` (and a seal key joins two keys with `/`), so every id that
//! can hold any character (user ids, source post ids, account ids) is written through
//! [`component`]: `%`, `#` and `/` become `%25`, `%23` and `%2F`. Two different ids
//! never make one key (user `u1` posting `K#z` and user `u1#K` posting `z` used to),
//! and an id without those three characters keeps the key it always had.

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

pub const POST_SK: &str = "POST";

pub fn post_pk(post_id: &PostId) -> String {
    format!("POST#{post_id}")
}

pub fn delivery_sk(network: Network, account_id: &str) -> String {
    format!("DELIVERY#{network}#{}", component(account_id))
}

pub const DELIVERY_SK_PREFIX: &str = "DELIVERY#";

pub fn user_pk(user_id: &str) -> String {
    format!("USER#{}", component(user_id))
}

pub fn account_sk(network: Network, account_id: &str) -> String {
    format!("ACCOUNT#{network}#{}", component(account_id))
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
    account_seal_key(user_id, network, account_id)
}

pub fn account_sk_prefix(network: Network) -> String {
    format!("ACCOUNT#{network}#")
}

pub fn source_pk(user_id: &str, source_id: &str) -> String {
    format!("SOURCE#{}#{}", component(user_id), component(source_id))
}

pub const SOURCE_SK: &str = "SOURCE";

pub fn webhook_pk(webhook_id: &str) -> String {
    format!("WEBHOOK#{}", component(webhook_id))
}

pub const WEBHOOK_SK: &str = "WEBHOOK";

/// The item holding a network's app-wide rate limit, in AccountsTable.
pub fn network_pk(network: Network) -> String {
    format!("NETWORK#{network}")
}

pub const LIMITS_SK: &str = "LIMITS";

/// PostsTable: who recorded a remote post (one delivery per remote post).
pub fn remote_pk(network: Network, remote_id: &str) -> String {
    format!("REMOTE#{}#{remote_id}", network.as_str())
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
