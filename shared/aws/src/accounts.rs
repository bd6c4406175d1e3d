//! AccountsTable: the accounts each user has linked (DESIGN sections 3 and 8).
//!
//! The table holds tokens only sealed (`sealed_access_token`, `sealed_refresh_token`):
//! [`AccountsStore`] reads and writes [`SealedAccount`]s and never sees a plaintext
//! token, so a function that only needs an account's status (the webhook) makes no KMS
//! call. [`TokenVault`] pairs the store with a [`Sealer`]: only code holding one opens
//! tokens or writes new ones.

use crate::attr::{n, query_prefix, s, ConditionalUpdate, Item, Reader};
use crate::seal::Sealer;
use crate::StoreError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use crosspost_core::clock::rfc3339;
use crosspost_core::{
    keys, AccountStatus, LinkedAccount, Network, SealedAccount, SealedToken, Secret,
};
use std::sync::Arc;
use time::OffsetDateTime;

/// The key of a linked account's item.
fn account_key(user_id: &str, network: Network, account_id: &str) -> Item {
    Item::from([
        ("pk".to_owned(), s(keys::user_pk(user_id))),
        ("sk".to_owned(), s(keys::account_sk(network, account_id))),
    ])
}

#[derive(Clone, Debug)]
pub struct AccountsStore {
    client: Client,
    table: String,
}

impl AccountsStore {
    /// An UpdateItem of one linked account, its table and key set.
    fn update_account(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(account_key(user_id, network, account_id)))
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        AccountsStore {
            client,
            table: table.into(),
        }
    }

    /// Writes (or replaces) a linked account, at token_version 1 for a new link (or
    /// the account's own version when it is later).
    pub async fn put(
        &self,
        account: &SealedAccount,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut item = account_key(&account.user_id, account.network, &account.account_id);
        item.extend([
            ("user_id".to_owned(), s(&account.user_id)),
            ("network".to_owned(), s(account.network.as_str())),
            ("account_id".to_owned(), s(&account.account_id)),
            ("display_name".to_owned(), s(&account.display_name)),
            ("status".to_owned(), s(account.status.as_str())),
            (
                "sealed_access_token".to_owned(),
                s(account.access_token.as_str()),
            ),
            ("linked_at".to_owned(), s(rfc3339(now))),
            ("token_version".to_owned(), n(account.token_version.max(1))),
        ]);
        if let Some(refresh) = &account.refresh_token {
            item.insert("sealed_refresh_token".to_owned(), s(refresh.as_str()));
        }
        if let Some(at) = account.access_expires_at {
            item.insert("access_expires_at".to_owned(), n(at));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| crate::backend("dynamodb", e.into_service_error()))?;
        Ok(())
    }

    pub async fn get(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Result<Option<SealedAccount>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(account_key(user_id, network, account_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| crate::backend("dynamodb", e.into_service_error()))?;
        out.item().map(read_account).transpose()
    }

    /// Every account the user has linked, on every network, in any status: one Query.
    pub async fn list_all(&self, user_id: &str) -> Result<Vec<SealedAccount>, StoreError> {
        query_prefix(
            &self.client,
            &self.table,
            keys::user_pk(user_id),
            keys::ACCOUNT_SK_PREFIX,
        )
        .await?
        .iter()
        .map(read_account)
        .collect()
    }

    /// The user's accounts on one network, in any status.
    pub async fn list(
        &self,
        user_id: &str,
        network: Network,
    ) -> Result<Vec<SealedAccount>, StoreError> {
        query_prefix(
            &self.client,
            &self.table,
            keys::user_pk(user_id),
            &keys::account_sk_prefix(network),
        )
        .await?
        .iter()
        .map(read_account)
        .collect()
    }
}

impl AccountsStore {
    /// Holds the account back until `until_unix`: its deliveries wait without calling
    /// the network. Only ever moves the time later.
    pub async fn set_rate_limited(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
        until_unix: i64,
    ) -> Result<(), StoreError> {
        let result = self.update_account(user_id, network, account_id)
            .update_expression("SET rate_limited_until = :until")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(rate_limited_until) OR rate_limited_until < :until)",
            )
            .expression_attribute_values(":until", n(until_unix))
            .send()
            .await;
        // A condition that did not hold means a later value is already there.
        result.held().map(|_| ())
    }

    /// The account's token was refused for good: it needs linking again.
    pub async fn mark_needs_reauth(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_account(user_id, network, account_id)
            .update_expression("SET #status = :reauth")
            .condition_expression("#status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":reauth", s(AccountStatus::NeedsReauth.as_str()))
            .expression_attribute_values(":active", s(AccountStatus::Active.as_str()))
            .send()
            .await;
        result.held()
    }

    /// Until when the whole app is held back on a network (Unix seconds), if it is.
    pub async fn network_limit(&self, network: Network) -> Result<Option<i64>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::network_pk(network)))
            .key("sk", s(keys::LIMITS_SK))
            .send()
            .await
            .map_err(|e| crate::backend("dynamodb", e.into_service_error()))?;
        match out.item() {
            Some(item) => Reader::new(item).opt_num("rate_limited_until"),
            None => Ok(None),
        }
    }

    /// The account and the network's app-wide limit ([`AccountsStore::network_limit`])
    /// in one BatchGetItem, read consistently. Keys the batch leaves unprocessed are
    /// asked for again.
    pub async fn get_with_network_limit(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Result<(Option<SealedAccount>, Option<i64>), StoreError> {
        let limits_key = Item::from([
            ("pk".to_owned(), s(keys::network_pk(network))),
            ("sk".to_owned(), s(keys::LIMITS_SK)),
        ]);
        let mut wanted = vec![account_key(user_id, network, account_id), limits_key];
        let (mut account, mut limit) = (None, None);
        // Unprocessed keys come back when the table is throttled; a few rounds at most.
        for _ in 0..4 {
            if wanted.is_empty() {
                break;
            }
            let keys_and_attributes = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut wanted)))
                .consistent_read(true)
                .build()
                .map_err(crate::backend_build)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys_and_attributes)
                .send()
                .await
                .map_err(|e| crate::backend("dynamodb", e.into_service_error()))?;
            for item in out
                .responses()
                .and_then(|r| r.get(&self.table))
                .into_iter()
                .flatten()
            {
                let r = Reader::new(item);
                if r.str("sk")? == keys::LIMITS_SK {
                    limit = r.opt_num("rate_limited_until")?;
                } else {
                    account = Some(read_account(item)?);
                }
            }
            if let Some(left) = out.unprocessed_keys().and_then(|u| u.get(&self.table)) {
                wanted = left.keys().to_vec();
            }
        }
        if !wanted.is_empty() {
            return Err(StoreError::Backend {
                service: "dynamodb",
                detail: "BatchGetItem left keys unprocessed".into(),
            });
        }
        Ok((account, limit))
    }

    /// Holds every account of the app back on a network until `until_unix`.
    pub async fn set_network_limit(
        &self,
        network: Network,
        until_unix: i64,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::network_pk(network)))
            .key("sk", s(keys::LIMITS_SK))
            .update_expression("SET rate_limited_until = :until")
            .condition_expression(
                "attribute_not_exists(rate_limited_until) OR rate_limited_until < :until",
            )
            .expression_attribute_values(":until", n(until_unix))
            .send()
            .await;
        // A condition that did not hold means a later value is already there.
        result.held().map(|_| ())
    }
}

/// A link started with `POST /v1/connect/{network}` and not yet completed: kept under
/// its state's digest for 10 minutes, taken (deleted) by the one callback that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLink {
    pub network: Network,
    pub user_id: String,
    /// Where the browser goes back to; checked against the allow-list before it was
    /// stored.
    pub return_url: String,
    /// The callback URL the network was given, sent again with the code.
    pub redirect_uri: String,
    /// The PKCE verifier (X), sealed to this pending link's key.
    pub verifier: Option<SealedToken>,
    /// Unix seconds after which the link can no longer be completed.
    pub expires_at: i64,
}

/// Linking: pending links, writing a linked account, unlinking.
impl AccountsStore {
    /// Stores a pending link under `state_digest` (written once: a digest seen before
    /// is a conflict).
    pub async fn put_pending_link(
        &self,
        state_digest: &str,
        link: &PendingLink,
    ) -> Result<(), StoreError> {
        let mut item = Item::from([
            ("pk".to_owned(), s(keys::oauth_pk(state_digest))),
            ("sk".to_owned(), s(keys::OAUTH_SK)),
            ("network".to_owned(), s(link.network.as_str())),
            ("user_id".to_owned(), s(&link.user_id)),
            ("return_url".to_owned(), s(&link.return_url)),
            ("redirect_uri".to_owned(), s(&link.redirect_uri)),
            ("expires_at".to_owned(), n(link.expires_at)),
        ]);
        if let Some(v) = &link.verifier {
            item.insert("sealed_verifier".to_owned(), s(v.as_str()));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    StoreError::Conflict("the state is already in use".into())
                } else {
                    crate::backend("dynamodb", e)
                }
            })?;
        Ok(())
    }

    /// Takes the pending link stored under `state_digest` and returns what it held. Of
    /// two callbacks with the same state only one gets it; None for a state never
    /// stored, used already, or removed by the table's TTL. An expired link that TTL has
    /// not removed yet is returned: its `expires_at` tells.
    ///
    /// Taken by marking it with a token of this call (a conditional UpdateItem), then
    /// deleted: when DynamoDB applies the mark but its answer is lost and the SDK sends
    /// the request again, the retry is refused, and the mark, read back, shows the link
    /// is this call's. (A delete with `ALL_OLD` would answer the retry with nothing, and
    /// the person linking would be told the link was used already.) A delete that fails
    /// leaves the marked item to TTL; no later callback can take it.
    pub async fn take_pending_link(
        &self,
        state_digest: &str,
    ) -> Result<Option<PendingLink>, StoreError> {
        let pk = keys::oauth_pk(state_digest);
        let taker = uuid::Uuid::now_v7().to_string();
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(keys::OAUTH_SK))
            .update_expression("SET taken_by = :taker")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(taken_by)")
            .expression_attribute_values(":taker", s(&taker))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let item = match marked {
            Ok(out) => out.attributes().cloned(),
            Err(e) => {
                let e = e.into_service_error();
                if !e.is_conditional_check_failed_exception() {
                    return Err(crate::backend("dynamodb", e));
                }
                // Gone, taken by another callback, or taken by this call's own first
                // request whose answer was lost.
                let read = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", s(&pk))
                    .key("sk", s(keys::OAUTH_SK))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(|e| crate::backend("dynamodb", e.into_service_error()))?;
                read.item()
                    .filter(
                        |i| matches!(i.get("taken_by"), Some(AttributeValue::S(t)) if *t == taker),
                    )
                    .cloned()
            }
        };
        let Some(item) = item.filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(keys::OAUTH_SK))
            .condition_expression("taken_by = :taker")
            .expression_attribute_values(":taker", s(&taker))
            .send()
            .await;
        if let Err(e) = deleted {
            tracing::warn!(error = %e.into_service_error(), "a taken pending link was not deleted; TTL removes it");
        }
        let r = Reader::new(&item);
        Ok(Some(PendingLink {
            network: r.parsed("network")?,
            user_id: r.str("user_id")?,
            return_url: r.str("return_url")?,
            redirect_uri: r.str("redirect_uri")?,
            verifier: r.opt_str("sealed_verifier")?.map(SealedToken::new),
            expires_at: r.opt_num("expires_at")?.unwrap_or(0),
        }))
    }

    /// Links an account, or links it again: ACTIVE with the new tokens (a NEEDS_REAUTH
    /// account is usable again), `token_version` one up so a refresh of the old tokens
    /// still under way cannot write over the new ones. A rate-limit hold stays.
    pub async fn link(
        &self,
        account: &SealedAccount,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut set = vec![
            "user_id = :user",
            "network = :network",
            "account_id = :account",
            "display_name = :name",
            "#status = :active",
            "sealed_access_token = :access",
            "linked_at = :now",
            "token_version = if_not_exists(token_version, :zero) + :one",
        ];
        let mut remove = vec!["refresh_lease_owner", "refresh_lease_until"];
        let mut update = self
            .update_account(&account.user_id, account.network, &account.account_id)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":user", s(&account.user_id))
            .expression_attribute_values(":network", s(account.network.as_str()))
            .expression_attribute_values(":account", s(&account.account_id))
            .expression_attribute_values(":name", s(&account.display_name))
            .expression_attribute_values(":active", s(AccountStatus::Active.as_str()))
            .expression_attribute_values(":access", s(account.access_token.as_str()))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1));
        match &account.refresh_token {
            Some(refresh) => {
                set.push("sealed_refresh_token = :refresh");
                update = update.expression_attribute_values(":refresh", s(refresh.as_str()));
            }
            None => remove.push("sealed_refresh_token"),
        }
        match account.access_expires_at {
            Some(at) => {
                set.push("access_expires_at = :expires");
                update = update.expression_attribute_values(":expires", n(at));
            }
            None => remove.push("access_expires_at"),
        }
        update
            .update_expression(format!(
                "SET {} REMOVE {}",
                set.join(", "),
                remove.join(", ")
            ))
            .send()
            .await
            .map_err(|e| crate::backend("dynamodb", e.into_service_error()))?;
        Ok(())
    }

    /// Removes a linked account; false when there was none.
    pub async fn delete(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(account_key(user_id, network, account_id)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| crate::backend("dynamodb", e.into_service_error()))?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }
}

/// Refreshing an account's tokens (X): one worker at a time holds the account's refresh
/// lease, and new tokens are written only over the version they were refreshed from.
impl AccountsStore {
    /// Takes the account's refresh lease for `owner` until `until_ms` (Unix ms), when no
    /// one holds it or its holder's time ran out at `now_ms`, and the account is active.
    /// False when someone else holds it.
    pub async fn take_refresh_lease(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .update_account(user_id, network, account_id)
            .update_expression("SET refresh_lease_owner = :owner, refresh_lease_until = :until")
            .condition_expression(
                "attribute_exists(pk) AND #status = :active \
                 AND (attribute_not_exists(refresh_lease_until) OR refresh_lease_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":active", s(AccountStatus::Active.as_str()))
            .send()
            .await;
        result.held()
    }

    /// Writes refreshed tokens over `expected_version` (and no other), moves the version
    /// up by one and frees the refresh lease. False when the tokens were replaced since.
    /// A `None` refresh token keeps the stored one; a `None` expiry means it never ends.
    pub async fn store_refreshed<T>(
        &self,
        account: &LinkedAccount<T>,
        access_token: &SealedToken,
        refresh_token: Option<&SealedToken>,
        access_expires_at: Option<i64>,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let mut set = vec!["sealed_access_token = :access", "token_version = :next"];
        let mut remove = vec!["refresh_lease_owner", "refresh_lease_until"];
        let mut update = self
            .update_account(&account.user_id, account.network, &account.account_id)
            .expression_attribute_values(":access", s(access_token.as_str()))
            .expression_attribute_values(":next", n(expected_version + 1));
        if let Some(refresh) = refresh_token {
            set.push("sealed_refresh_token = :refresh");
            update = update.expression_attribute_values(":refresh", s(refresh.as_str()));
        }
        match access_expires_at {
            Some(at) => {
                set.push("access_expires_at = :expires");
                update = update.expression_attribute_values(":expires", n(at));
            }
            None => remove.push("access_expires_at"),
        }
        // Items linked before token_version existed hold none: that is version 0.
        update = if expected_version == 0 {
            update.condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(token_version)",
            )
        } else {
            update
                .condition_expression("token_version = :expected")
                .expression_attribute_values(":expected", n(expected_version))
        };
        let result = update
            .update_expression(format!(
                "SET {} REMOVE {}",
                set.join(", "),
                remove.join(", ")
            ))
            .send()
            .await;
        result.held()
    }

    /// Frees the refresh lease, if `owner` still holds it.
    pub async fn release_refresh_lease(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
        owner: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .update_account(user_id, network, account_id)
            .update_expression("REMOVE refresh_lease_owner, refresh_lease_until")
            .condition_expression("refresh_lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        // A condition that did not hold means a later value is already there.
        result.held().map(|_| ())
    }
}

/// AccountsTable with the key that seals its tokens: what links accounts and what
/// publishes with their tokens. One per cold start (the sealer caches data keys).
#[derive(Clone)]
pub struct TokenVault {
    store: AccountsStore,
    sealer: Arc<Sealer>,
}

impl TokenVault {
    pub fn new(store: AccountsStore, sealer: Sealer) -> Self {
        TokenVault {
            store,
            sealer: Arc::new(sealer),
        }
    }

    /// The table itself, for everything that does not touch a token.
    pub fn store(&self) -> &AccountsStore {
        &self.store
    }

    /// The account with its tokens sealed to it.
    pub async fn seal(&self, account: &LinkedAccount) -> Result<SealedAccount, StoreError> {
        let key = account.seal_key();
        let access = self.seal_token(&key, &account.access_token).await?;
        let refresh = match &account.refresh_token {
            Some(r) => Some(self.seal_token(&key, r).await?),
            None => None,
        };
        Ok(account.clone().with_tokens(access, refresh))
    }

    /// The account with its tokens opened, for the moment they are used.
    pub async fn open(&self, account: &SealedAccount) -> Result<LinkedAccount, StoreError> {
        let key = account.seal_key();
        let access = self
            .sealer
            .unseal(&key, account.access_token.as_str())
            .await?;
        let refresh = match &account.refresh_token {
            Some(r) => Some(self.sealer.unseal(&key, r.as_str()).await?),
            None => None,
        };
        Ok(account.clone().with_tokens(access, refresh))
    }

    /// Links (or links again) an account: its tokens are sealed before the write.
    pub async fn put(
        &self,
        account: &LinkedAccount,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let sealed = self.seal(account).await?;
        self.store.put(&sealed, now).await
    }

    /// [`AccountsStore::link`], sealing the tokens first.
    pub async fn link(
        &self,
        account: &LinkedAccount,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let sealed = self.seal(account).await?;
        self.store.link(&sealed, now).await
    }

    /// Seals a secret that belongs to no account (a pending link's PKCE verifier) to
    /// `key`; only [`TokenVault::open_secret`] with the same key opens it.
    pub async fn seal_secret(&self, key: &str, secret: &Secret) -> Result<SealedToken, StoreError> {
        self.seal_token(key, secret).await
    }

    pub async fn open_secret(&self, key: &str, sealed: &SealedToken) -> Result<Secret, StoreError> {
        self.sealer.unseal(key, sealed.as_str()).await
    }

    /// The account with its tokens opened.
    pub async fn get(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Result<Option<LinkedAccount>, StoreError> {
        match self.store.get(user_id, network, account_id).await? {
            Some(sealed) => Ok(Some(self.open(&sealed).await?)),
            None => Ok(None),
        }
    }

    /// [`AccountsStore::store_refreshed`], sealing the new tokens first.
    pub async fn store_refreshed<T>(
        &self,
        account: &LinkedAccount<T>,
        access_token: &Secret,
        refresh_token: Option<&Secret>,
        access_expires_at: Option<i64>,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let key = account.seal_key();
        let access = self.seal_token(&key, access_token).await?;
        let refresh = match refresh_token {
            Some(r) => Some(self.seal_token(&key, r).await?),
            None => None,
        };
        self.store
            .store_refreshed(
                account,
                &access,
                refresh.as_ref(),
                access_expires_at,
                expected_version,
            )
            .await
    }

    async fn seal_token(&self, key: &str, token: &Secret) -> Result<SealedToken, StoreError> {
        self.sealer.seal(key, token).await.map(SealedToken::new)
    }
}

fn read_account(item: &Item) -> Result<SealedAccount, StoreError> {
    let r = Reader::new(item);
    Ok(LinkedAccount {
        user_id: r.str("user_id")?,
        network: r.parsed("network")?,
        account_id: r.str("account_id")?,
        display_name: r.opt_str("display_name")?.unwrap_or_default(),
        status: r.parsed::<AccountStatus>("status")?,
        access_token: SealedToken::new(r.str("sealed_access_token")?),
        rate_limited_until: r.opt_num("rate_limited_until")?,
        refresh_token: r.opt_str("sealed_refresh_token")?.map(SealedToken::new),
        access_expires_at: r.opt_num("access_expires_at")?,
        token_version: r.opt_num("token_version")?.unwrap_or(0),
    })
}

/// The worker's view of AccountsTable: sealed accounts, opened with the token key just
/// before a network call, and the account-wide effects of a network's answer.
impl crosspost_core::AccountStore for TokenVault {
    async fn get(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Result<Option<SealedAccount>, StoreError> {
        self.store().get(user_id, network, account_id).await
    }

    async fn get_with_network_limit(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Result<(Option<SealedAccount>, Option<i64>), StoreError> {
        self.store()
            .get_with_network_limit(user_id, network, account_id)
            .await
    }

    async fn open(&self, account: &SealedAccount) -> Result<LinkedAccount, StoreError> {
        TokenVault::open(self, account).await
    }

    async fn mark_needs_reauth(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Result<bool, StoreError> {
        self.store()
            .mark_needs_reauth(user_id, network, account_id)
            .await
    }

    async fn set_rate_limited(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
        until_unix: i64,
    ) -> Result<(), StoreError> {
        self.store()
            .set_rate_limited(user_id, network, account_id, until_unix)
            .await
    }

    async fn network_limit(&self, network: Network) -> Result<Option<i64>, StoreError> {
        self.store().network_limit(network).await
    }

    async fn set_network_limit(&self, network: Network, until_unix: i64) -> Result<(), StoreError> {
        self.store().set_network_limit(network, until_unix).await
    }
}
