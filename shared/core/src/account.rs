//! Linked accounts: a user's account on one network, with its token.

use crate::{Network, Secret};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    NeedsReauth,
    Revoked,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "ACTIVE",
            AccountStatus::NeedsReauth => "NEEDS_REAUTH",
            AccountStatus::Revoked => "REVOKED",
        }
    }
}

impl fmt::Display for AccountStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccountStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            AccountStatus::Active,
            AccountStatus::NeedsReauth,
            AccountStatus::Revoked,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
        .ok_or_else(|| format!("unknown account status `{s}`"))
    }
}

/// A user's account on a network. For X the account id is the user id; for Facebook it
/// is the Page id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount {
    pub user_id: String,
    pub network: Network,
    pub account_id: String,
    pub display_name: String,
    pub status: AccountStatus,
    pub access_token: Secret,
    /// Unix seconds until which the network told us to leave this account alone.
    pub rate_limited_until: Option<i64>,
}
