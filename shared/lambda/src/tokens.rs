//! Keeping an account's access token fresh where the network's tokens expire (X): the
//! token is refreshed when it runs out within five minutes, or on demand after the
//! network refused it, by one worker at a time.
//!
//! X rotates refresh tokens, so two workers refreshing with the same refresh token
//! would have the second refused and the account flagged. Whoever takes the account's
//! refresh lease refreshes, writes the new tokens over the version it read (never over
//! newer ones) and frees the lease; the others wait until the version moves and use
//! the stored token. A lease whose holder died runs out, and one waiter takes over.

use crosspost_aws::{StoreError, TokenVault};
use crosspost_core::{AccountStatus, LinkedAccount, PublishError, RefreshedTokens, TokenRefresher};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use time::OffsetDateTime;

/// A token that runs out within this long is refreshed before use.
pub const REFRESH_MARGIN_SECS: i64 = 300;
/// How long a refresh may hold the account: longer than one token-endpoint call.
pub const REFRESH_LEASE: Duration = Duration::from_secs(30);
/// How often a waiting worker looks at the account.
const POLL: Duration = Duration::from_millis(200);

/// What the delivery worker asks before it uses an account's token.
pub trait FreshTokens: Send + Sync {
    /// The account with a token that works for a while: `account` itself when its token
    /// does, else refreshed (by this worker or another). `after_refusal`: the network
    /// just refused the account's token, so it is refreshed whatever its expiry says.
    /// `owner` names the caller (the request id) in the refresh lease.
    fn fresh<'a>(
        &'a self,
        account: &'a LinkedAccount,
        owner: &'a str,
        after_refusal: bool,
    ) -> Pin<Box<dyn Future<Output = Result<LinkedAccount, PublishError>> + Send + 'a>>;
}

/// The account store as token refresh needs it, tokens opened (AccountsTable through
/// its [`TokenVault`], which seals what it writes, or a memory store in tests).
pub trait TokenStore: Send + Sync {
    fn get(
        &self,
        account: &LinkedAccount,
    ) -> impl Future<Output = Result<Option<LinkedAccount>, StoreError>> + Send;
    fn take_refresh_lease(
        &self,
        account: &LinkedAccount,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn store_refreshed(
        &self,
        account: &LinkedAccount,
        tokens: &RefreshedTokens,
        access_expires_at: Option<i64>,
        expected_version: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn release_refresh_lease(
        &self,
        account: &LinkedAccount,
        owner: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl TokenStore for TokenVault {
    async fn get(&self, a: &LinkedAccount) -> Result<Option<LinkedAccount>, StoreError> {
        TokenVault::get(self, &a.user_id, a.network, &a.account_id).await
    }

    async fn take_refresh_lease(
        &self,
        a: &LinkedAccount,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.store()
            .take_refresh_lease(
                &a.user_id,
                a.network,
                &a.account_id,
                owner,
                now_ms,
                until_ms,
            )
            .await
    }

    async fn store_refreshed(
        &self,
        a: &LinkedAccount,
        tokens: &RefreshedTokens,
        access_expires_at: Option<i64>,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        TokenVault::store_refreshed(
            self,
            a,
            &tokens.access_token,
            tokens.refresh_token.as_ref(),
            access_expires_at,
            expected_version,
        )
        .await
    }

    async fn release_refresh_lease(
        &self,
        a: &LinkedAccount,
        owner: &str,
    ) -> Result<(), StoreError> {
        self.store()
            .release_refresh_lease(&a.user_id, a.network, &a.account_id, owner)
            .await
    }
}

/// The refresher of a network whose tokens do not expire: there is none.
pub enum NoRefresh {}

impl TokenRefresher for NoRefresh {
    async fn refresh(&self, _: &crosspost_core::Secret) -> Result<RefreshedTokens, PublishError> {
        match *self {}
    }
}

/// Refreshes through `refresher`, coordinated through `store`.
pub struct TokenKeeper<S, R> {
    pub store: S,
    pub refresher: R,
    pub lease: Duration,
    pub poll: Duration,
}

impl<S: TokenStore, R: TokenRefresher> TokenKeeper<S, R> {
    pub fn new(store: S, refresher: R) -> Self {
        TokenKeeper {
            store,
            refresher,
            lease: REFRESH_LEASE,
            poll: POLL,
        }
    }

    /// See [`FreshTokens::fresh`].
    pub async fn fresh(
        &self,
        account: &LinkedAccount,
        owner: &str,
        after_refusal: bool,
    ) -> Result<LinkedAccount, PublishError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if !after_refusal && !account.token_expires_within(now, REFRESH_MARGIN_SECS) {
            return Ok(account.clone());
        }
        if account.refresh_token.is_none() {
            return Err(PublishError::AuthRevoked {
                detail: format!(
                    "{} refused the token and the account has no refresh token",
                    account.network
                ),
            });
        }
        // Records of one batch share the request id: each call is its own owner.
        let owner = format!("{owner}/{}", uuid::Uuid::now_v7().simple());
        let used = account.token_version;
        // Bounded: past two leases, a holder that never finished would have lost its
        // lease and we would have taken it.
        let give_up = tokio::time::Instant::now() + self.lease * 2 + self.poll * 5;
        let mut next_take = tokio::time::Instant::now();
        loop {
            let current = self
                .store
                .get(account)
                .await
                .map_err(store_failed)?
                .ok_or_else(|| PublishError::AuthRevoked {
                    detail: "the account was unlinked".into(),
                })?;
            if current.status != AccountStatus::Active {
                return Err(PublishError::AuthRevoked {
                    detail: format!("the account is {}", current.status),
                });
            }
            if current.token_version != used {
                // Someone refreshed since we read the account: theirs is the token.
                return Ok(current);
            }
            let now = tokio::time::Instant::now();
            if now >= give_up {
                return Err(PublishError::Retryable {
                    after: None,
                    detail: "another worker's token refresh did not finish".into(),
                });
            }
            if now >= next_take {
                next_take = now + self.poll * 5;
                let now_ms = unix_ms();
                let until_ms = now_ms + self.lease.as_millis() as i64;
                if self
                    .store
                    .take_refresh_lease(&current, &owner, now_ms, until_ms)
                    .await
                    .map_err(store_failed)?
                {
                    return self.refresh_holding_lease(&current, &owner).await;
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// The lease is ours and the stored tokens are those we were handed.
    async fn refresh_holding_lease(
        &self,
        account: &LinkedAccount,
        owner: &str,
    ) -> Result<LinkedAccount, PublishError> {
        // Re-read under the lease: a refresh may have landed between our read and the
        // lease, and its refresh token is the only one that works now.
        let current = match self.store.get(account).await {
            Ok(Some(current)) => current,
            Ok(None) => {
                return Err(PublishError::AuthRevoked {
                    detail: "the account was unlinked".into(),
                })
            }
            Err(e) => {
                self.release(account, owner).await;
                return Err(store_failed(e));
            }
        };
        if current.token_version != account.token_version {
            self.release(&current, owner).await;
            return Ok(current);
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            self.release(&current, owner).await;
            return Err(PublishError::AuthRevoked {
                detail: "the account has no refresh token".into(),
            });
        };
        tracing::info!(
            token_version = current.token_version,
            "refreshing the access token"
        );
        let tokens = match self.refresher.refresh(&refresh_token).await {
            Ok(tokens) => tokens,
            Err(e @ PublishError::AuthRevoked { .. }) => {
                // The lease is kept until it runs out: the worker flags the account
                // next, and nobody tries the dead refresh token again meanwhile.
                tracing::warn!(error = %e, "the refresh token was refused");
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(kind = e.kind(), error = %e, "token refresh failed");
                self.release(&current, owner).await;
                return Err(e);
            }
        };
        let expires_at = tokens
            .expires_in_secs
            .map(|s| OffsetDateTime::now_utc().unix_timestamp() + s as i64);
        let mut attempt = 0;
        let stored = loop {
            attempt += 1;
            match self
                .store
                .store_refreshed(&current, &tokens, expires_at, current.token_version)
                .await
            {
                Ok(stored) => break stored,
                // The old refresh token is dead now: losing the new one would cost the
                // person a new link. Try a few times before giving up.
                Err(e) if attempt < 4 => {
                    tracing::warn!(error = %e, attempt, "could not store refreshed tokens; trying again");
                    tokio::time::sleep(self.poll * attempt).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "refreshed tokens were not stored");
                    self.release(&current, owner).await;
                    return Err(store_failed(e));
                }
            }
        };
        if !stored {
            // Only a holder whose lease ran out can get here; the newer tokens win.
            tracing::warn!("tokens were replaced during our refresh; using the stored ones");
            return match self.store.get(&current).await.map_err(store_failed)? {
                Some(newer) => Ok(newer),
                None => Err(PublishError::AuthRevoked {
                    detail: "the account was unlinked".into(),
                }),
            };
        }
        tracing::info!(
            token_version = current.token_version + 1,
            "access token refreshed"
        );
        Ok(LinkedAccount {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token.or(current.refresh_token.clone()),
            access_expires_at: expires_at,
            token_version: current.token_version + 1,
            ..current
        })
    }

    async fn release(&self, account: &LinkedAccount, owner: &str) {
        if let Err(e) = self.store.release_refresh_lease(account, owner).await {
            // It runs out by itself.
            tracing::warn!(error = %e, "could not release the refresh lease");
        }
    }
}

impl<S: TokenStore, R: TokenRefresher> FreshTokens for TokenKeeper<S, R> {
    fn fresh<'a>(
        &'a self,
        account: &'a LinkedAccount,
        owner: &'a str,
        after_refusal: bool,
    ) -> Pin<Box<dyn Future<Output = Result<LinkedAccount, PublishError>> + Send + 'a>> {
        Box::pin(TokenKeeper::fresh(self, account, owner, after_refusal))
    }
}

fn store_failed(e: StoreError) -> PublishError {
    PublishError::Retryable {
        after: None,
        detail: format!("account store: {e}"),
    }
}

fn unix_ms() -> i64 {
    crosspost_core::clock::unix_ms(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crosspost_core::{Network, Secret};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// One account and its lease, in memory, with the table's conditions.
    #[derive(Default)]
    struct Memory {
        account: Mutex<Option<LinkedAccount>>,
        lease: Mutex<Option<(String, i64)>>,
    }

    impl TokenStore for Arc<Memory> {
        async fn get(&self, _: &LinkedAccount) -> Result<Option<LinkedAccount>, StoreError> {
            Ok(self.account.lock().unwrap().clone())
        }
        async fn take_refresh_lease(
            &self,
            _: &LinkedAccount,
            owner: &str,
            now_ms: i64,
            until_ms: i64,
        ) -> Result<bool, StoreError> {
            let mut lease = self.lease.lock().unwrap();
            let active = self
                .account
                .lock()
                .unwrap()
                .as_ref()
                .is_some_and(|a| a.status == AccountStatus::Active);
            if active && lease.as_ref().is_none_or(|(_, until)| *until < now_ms) {
                *lease = Some((owner.to_owned(), until_ms));
                return Ok(true);
            }
            Ok(false)
        }
        async fn store_refreshed(
            &self,
            _: &LinkedAccount,
            tokens: &RefreshedTokens,
            expires_at: Option<i64>,
            expected: u64,
        ) -> Result<bool, StoreError> {
            let mut account = self.account.lock().unwrap();
            let a = account.as_mut().unwrap();
            if a.token_version != expected {
                return Ok(false);
            }
            a.access_token = tokens.access_token.clone();
            if let Some(r) = &tokens.refresh_token {
                a.refresh_token = Some(r.clone());
            }
            a.access_expires_at = expires_at;
            a.token_version += 1;
            *self.lease.lock().unwrap() = None;
            Ok(true)
        }
        async fn release_refresh_lease(
            &self,
            _: &LinkedAccount,
            owner: &str,
        ) -> Result<(), StoreError> {
            let mut lease = self.lease.lock().unwrap();
            if lease.as_ref().is_some_and(|(o, _)| o == owner) {
                *lease = None;
            }
            Ok(())
        }
    }

    /// A token endpoint that rotates, counts its calls and answers after a while.
    struct Endpoint {
        calls: AtomicUsize,
        current: Mutex<String>,
        answer: Mutex<Option<PublishError>>,
    }

    impl TokenRefresher for Endpoint {
        async fn refresh(&self, refresh: &Secret) -> Result<RefreshedTokens, PublishError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Some(e) = self.answer.lock().unwrap().clone() {
                return Err(e);
            }
            let mut current = self.current.lock().unwrap();
            if refresh.expose() != *current {
                return Err(PublishError::AuthRevoked {
                    detail: "invalid_grant".into(),
                });
            }
            *current = format!("refresh-{n}");
            Ok(RefreshedTokens {
                access_token: Secret::new(format!("access-{n}")),
                refresh_token: Some(Secret::new(current.clone())),
                expires_in_secs: Some(7200),
            })
        }
    }

    fn setup(expires_in: i64) -> (Arc<TokenKeeper<Arc<Memory>, Endpoint>>, LinkedAccount) {
        let account = LinkedAccount {
            user_id: "u".into(),
            network: Network::X,
            account_id: "42".into(),
            display_name: String::new(),
            status: AccountStatus::Active,
            access_token: Secret::new("access-0"),
            rate_limited_until: None,
            refresh_token: Some(Secret::new("refresh-0")),
            access_expires_at: Some(OffsetDateTime::now_utc().unix_timestamp() + expires_in),
            token_version: 1,
        };
        let store = Arc::new(Memory::default());
        *store.account.lock().unwrap() = Some(account.clone());
        let endpoint = Endpoint {
            calls: AtomicUsize::new(0),
            current: Mutex::new("refresh-0".into()),
            answer: Mutex::new(None),
        };
        let mut keeper = TokenKeeper::new(store, endpoint);
        keeper.lease = Duration::from_millis(600);
        keeper.poll = Duration::from_millis(20);
        (Arc::new(keeper), account)
    }

    fn calls(k: &TokenKeeper<Arc<Memory>, Endpoint>) -> usize {
        k.refresher.calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_token_with_time_left_is_used_as_it_is() {
        let (k, account) = setup(3600);
        assert_eq!(k.fresh(&account, "req", false).await.unwrap(), account);
        assert_eq!(calls(&k), 0);
    }

    #[tokio::test]
    async fn a_token_expiring_soon_is_refreshed_and_stored_one_version_up() {
        let (k, account) = setup(120);
        let fresh = k.fresh(&account, "req", false).await.unwrap();
        assert_eq!(fresh.access_token.expose(), "access-1");
        assert_eq!(fresh.token_version, 2);
        let stored = k.store.account.lock().unwrap().clone().unwrap();
        assert_eq!(stored, fresh);
        assert_eq!(stored.refresh_token.unwrap().expose(), "refresh-1");
        assert!(k.store.lease.lock().unwrap().is_none(), "lease released");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn ten_workers_at_once_make_one_refresh_and_all_use_its_token() {
        let (k, account) = setup(60);
        let mut tasks = Vec::new();
        for i in 0..10 {
            let (k, account) = (k.clone(), account.clone());
            tasks.push(tokio::spawn(async move {
                k.fresh(&account, &format!("req-{i}"), false).await
            }));
        }
        for t in tasks {
            let fresh = t.await.unwrap().unwrap();
            assert_eq!(fresh.access_token.expose(), "access-1");
            assert_eq!(fresh.token_version, 2);
        }
        assert_eq!(calls(&k), 1);
    }

    #[tokio::test]
    async fn after_a_refusal_a_token_someone_already_refreshed_is_not_refreshed_again() {
        let (k, stale) = setup(3600);
        let first = k.fresh(&stale, "a", true).await.unwrap();
        // A second worker, refused with the token it read before the refresh.
        let second = k.fresh(&stale, "b", true).await.unwrap();
        assert_eq!(second.access_token, first.access_token);
        assert_eq!(calls(&k), 1);
    }

    #[tokio::test]
    async fn a_lease_left_by_a_dead_worker_runs_out_and_a_waiter_takes_over() {
        let (k, account) = setup(60);
        let until = unix_ms() + 300;
        *k.store.lease.lock().unwrap() = Some(("crashed".into(), until));
        let fresh = k.fresh(&account, "req", false).await.unwrap();
        assert_eq!(fresh.token_version, 2);
        assert!(unix_ms() >= until);
        assert_eq!(calls(&k), 1);
    }

    #[tokio::test]
    async fn a_refused_refresh_token_is_auth_revoked_and_nobody_retries_it() {
        let (k, account) = setup(60);
        *k.refresher.current.lock().unwrap() = "rotated-elsewhere".into();
        let e = k.fresh(&account, "a", false).await.unwrap_err();
        assert_eq!(e.kind(), "auth_revoked");
        assert!(k.store.lease.lock().unwrap().is_some(), "lease kept");
        // The worker flags the account; a waiter then gives up without a call.
        k.store.account.lock().unwrap().as_mut().unwrap().status = AccountStatus::NeedsReauth;
        let e = k.fresh(&account, "b", false).await.unwrap_err();
        assert_eq!(e.kind(), "auth_revoked");
        assert_eq!(calls(&k), 1);
    }

    #[tokio::test]
    async fn an_unavailable_endpoint_is_retryable_and_frees_the_lease() {
        let (k, account) = setup(60);
        *k.refresher.answer.lock().unwrap() = Some(PublishError::Retryable {
            after: None,
            detail: "503".into(),
        });
        let e = k.fresh(&account, "a", false).await.unwrap_err();
        assert_eq!(e.kind(), "retryable");
        assert!(k.store.lease.lock().unwrap().is_none());
        *k.refresher.answer.lock().unwrap() = None;
        assert_eq!(
            k.fresh(&account, "a", false).await.unwrap().token_version,
            2
        );
    }

    #[tokio::test]
    async fn an_account_without_a_refresh_token_refused_by_the_network_is_revoked() {
        let (k, mut account) = setup(3600);
        account.refresh_token = None;
        let e = k.fresh(&account, "a", true).await.unwrap_err();
        assert_eq!(e.kind(), "auth_revoked");
        assert_eq!(calls(&k), 0);
    }
}
