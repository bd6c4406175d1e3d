//! DynamoDB keys of every item, in one place (DESIGN section 3).

use crate::{Network, PostId};

pub const POST_SK: &str = "POST";

pub fn post_pk(post_id: &PostId) -> String {
    format!("POST#{post_id}")
}

pub fn delivery_sk(network: Network, account_id: &str) -> String {
    format!("DELIVERY#{network}#{account_id}")
}

pub const DELIVERY_SK_PREFIX: &str = "DELIVERY#";

pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub fn account_sk(network: Network, account_id: &str) -> String {
    format!("ACCOUNT#{network}#{account_id}")
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
    format!("SOURCE#{user_id}#{source_id}")
}

pub const SOURCE_SK: &str = "SOURCE";

pub fn webhook_pk(webhook_id: &str) -> String {
    format!("WEBHOOK#{webhook_id}")
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

/// A pending link, in AccountsTable: keyed by its state's digest
/// ([`crate::linking::state_digest`]).
pub fn oauth_pk(state_digest: &str) -> String {
    format!("OAUTH#{state_digest}")
}

pub const OAUTH_SK: &str = "OAUTH";
