//! Linked accounts: a user's account on one network, with its token.

use crate::{keys, Network, SealedToken, Secret};
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
/// is the Page id. `T` is how the tokens are held: opened ([`Secret`], the default, what
/// a publisher uses) or sealed ([`SealedAccount`], what AccountsTable holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedAccount<T = Secret> {
    pub user_id: String,
    pub network: Network,
    pub account_id: String,
    pub display_name: String,
    pub status: AccountStatus,
    pub access_token: T,
    /// Unix seconds until which the network told us to leave this account alone.
    pub rate_limited_until: Option<i64>,
    /// Exchanged for a new access token when it runs out (X); None where tokens do not
    /// expire (Facebook Page tokens).
    pub refresh_token: Option<T>,
    /// When the access token stops working (Unix seconds); None when it does not expire.
    pub access_expires_at: Option<i64>,
    /// Goes up by one each time the tokens are replaced: a refreshed token is written only
    /// over the version it was refreshed from.
    pub token_version: u64,
}

/// A linked account as stored: its tokens sealed.
pub type SealedAccount = LinkedAccount<SealedToken>;

impl<T> LinkedAccount<T> {
    /// What the account's tokens are sealed to (see [`keys::account_seal_key`]).
    pub fn seal_key(&self) -> String {
        keys::account_seal_key(&self.user_id, self.network, &self.account_id)
    }

    /// The same account holding `access_token` and `refresh_token` instead.
    pub fn with_tokens<U>(self, access_token: U, refresh_token: Option<U>) -> LinkedAccount<U> {
        LinkedAccount {
            user_id: self.user_id,
            network: self.network,
            account_id: self.account_id,
            display_name: self.display_name,
            status: self.status,
            access_token,
            rate_limited_until: self.rate_limited_until,
            refresh_token,
            access_expires_at: self.access_expires_at,
            token_version: self.token_version,
        }
    }

    /// Whether the access token runs out within `margin_secs` of `now_unix` and can be
    /// refreshed.
    pub fn token_expires_within(&self, now_unix: i64, margin_secs: i64) -> bool {
        self.refresh_token.is_some()
            && self
                .access_expires_at
                .is_some_and(|at| at.saturating_sub(now_unix) <= margin_secs)
    }
}

/// What a network's token endpoint gave for a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshedTokens {
    pub access_token: Secret,
    /// The refresh token to use next time; None when the network kept the old one.
    pub refresh_token: Option<Secret>,
    /// Seconds the new access token lives, when the network said.
    pub expires_in_secs: Option<u64>,
}

/// A network's token endpoint, as the worker sees it.
pub trait TokenRefresher: Send + Sync {
    /// Exchanges a refresh token for new tokens. A refresh token the network no longer
    /// accepts is [`crate::PublishError::AuthRevoked`]; a failure of the endpoint itself is
    /// never that.
    fn refresh(
        &self,
        refresh_token: &Secret,
    ) -> impl std::future::Future<Output = Result<RefreshedTokens, crate::PublishError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(refresh: bool, expires: Option<i64>) -> LinkedAccount {
        LinkedAccount {
            user_id: "u".into(),
            network: Network::X,
            account_id: "1".into(),
            display_name: String::new(),
            status: AccountStatus::Active,
            access_token: Secret::new("a"),
            rate_limited_until: None,
            refresh_token: refresh.then(|| Secret::new("r")),
            access_expires_at: expires,
            token_version: 1,
        }
    }

    #[test]
    fn a_token_is_due_for_refresh_only_when_it_expires_soon_and_can_be_refreshed() {
        let now = 1_000_000;
        assert!(account(true, Some(now + 120)).token_expires_within(now, 300));
        assert!(account(true, Some(now - 5)).token_expires_within(now, 300));
        assert!(!account(true, Some(now + 3600)).token_expires_within(now, 300));
        assert!(!account(true, None).token_expires_within(now, 300));
        assert!(!account(false, Some(now + 120)).token_expires_within(now, 300));
    }

    #[test]
    fn tokens_are_sealed_to_the_accounts_own_key() {
        let a = account(true, None);
        assert_eq!(a.seal_key(), "USER#u/ACCOUNT#x#1");
        let sealed = a.with_tokens(SealedToken::new("v1.k.n.c"), None);
        assert_eq!(sealed.seal_key(), "USER#u/ACCOUNT#x#1");
        assert!(!format!("{sealed:?}").contains("v1.k.n.c"));
    }
}
