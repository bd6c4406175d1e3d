//! AccountsTable: the accounts each user has linked (DESIGN section 3).
//!
//! The token is stored as `access_token` for now; sealing it with KMS before it reaches
//! the table is the account-linking issue's work, and replaces this attribute.

use crate::attr::{s, Item, Reader};
use crate::StoreError;
use aws_sdk_dynamodb::Client;
use crosspost_core::{keys, AccountStatus, LinkedAccount, Network, Secret};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Clone, Debug)]
pub struct AccountsStore {
    client: Client,
    table: String,
}

impl AccountsStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        AccountsStore {
            client,
            table: table.into(),
        }
    }

    /// Writes (or replaces) a linked account.
    pub async fn put(
        &self,
        account: &LinkedAccount,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let item = Item::from([
            ("pk".to_owned(), s(keys::user_pk(&account.user_id))),
            (
                "sk".to_owned(),
                s(keys::account_sk(account.network, &account.account_id)),
            ),
            ("user_id".to_owned(), s(&account.user_id)),
            ("network".to_owned(), s(account.network.as_str())),
            ("account_id".to_owned(), s(&account.account_id)),
            ("display_name".to_owned(), s(&account.display_name)),
            ("status".to_owned(), s(account.status.as_str())),
            ("access_token".to_owned(), s(account.access_token.expose())),
            (
                "linked_at".to_owned(),
                s(now.format(&Rfc3339).unwrap_or_default()),
            ),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::backend("dynamodb", e.into_service_error()))?;
        Ok(())
    }

    pub async fn get(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Result<Option<LinkedAccount>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::user_pk(user_id)))
            .key("sk", s(keys::account_sk(network, account_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::backend("dynamodb", e.into_service_error()))?;
        out.item().map(read_account).transpose()
    }

    /// The user's accounts on one network, in any status.
    pub async fn list(
        &self,
        user_id: &str,
        network: Network,
    ) -> Result<Vec<LinkedAccount>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(keys::user_pk(user_id)))
                .expression_attribute_values(":prefix", s(keys::account_sk_prefix(network)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::backend("dynamodb", e.into_service_error()))?;
            for item in out.items() {
                found.push(read_account(item)?);
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(found)
    }
}

fn read_account(item: &Item) -> Result<LinkedAccount, StoreError> {
    let r = Reader::new(item);
    Ok(LinkedAccount {
        user_id: r.str("user_id")?,
        network: r.parsed("network")?,
        account_id: r.str("account_id")?,
        display_name: r.opt_str("display_name")?.unwrap_or_default(),
        status: r.parsed::<AccountStatus>("status")?,
        access_token: Secret::new(r.str("access_token")?),
    })
}
