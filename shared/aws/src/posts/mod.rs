//! PostsTable: posts and their deliveries (DESIGN section 3). [`intake`] writes a
//! post with its deliveries; [`lifecycle`] moves deliveries through their states
//! (and implements the worker's [`crosspost_core::DeliveryStore`] port); [`codec`]
//! turns items into domain values and back.

mod codec;
mod intake;
mod lifecycle;

pub use intake::{IntakeRecord, NewPost, SourceGuard, StoredAnswer, WebhookUse};

use crate::attr::{query_prefix, s, Item};
use crate::StoreError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::Client;
use codec::{delivery_key_attrs, read_delivery, read_post};
use crosspost_core::{keys, DeliveryKey, DeliveryRecord, PostId, PostRecord};

#[derive(Clone, Debug)]
pub struct PostsStore {
    client: Client,
    table: String,
}

/// How long a webhook id is remembered (the replay window).
const WEBHOOK_ID_MEMORY: time::Duration = time::Duration::hours(24);

/// The index of deliveries by linked account, and the attribute it is keyed on.
pub const ACCOUNT_DELIVERIES_INDEX: &str = "AccountDeliveries";
const ACCOUNT_REF: &str = "account_ref";

impl PostsStore {
    /// An UpdateItem of one delivery, its table and key set.
    fn update_delivery(&self, post_id: &PostId, key: &DeliveryKey) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key_attrs(post_id, key)))
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        PostsStore {
            client,
            table: table.into(),
        }
    }

    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| crate::backend("dynamodb", e.into_service_error()))?;
        Ok(out.item)
    }

    pub async fn get_post(&self, post_id: &PostId) -> Result<Option<PostRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::post_pk(post_id)))
            .key("sk", s(keys::POST_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| crate::backend("dynamodb", e.into_service_error()))?;
        out.item().map(read_post).transpose()
    }

    pub async fn get_delivery(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key_attrs(post_id, key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| crate::backend("dynamodb", e.into_service_error()))?;
        out.item().map(read_delivery).transpose()
    }

    /// Every delivery of a post, ordered by network and account.
    pub async fn deliveries(&self, post_id: &PostId) -> Result<Vec<DeliveryRecord>, StoreError> {
        query_prefix(
            &self.client,
            &self.table,
            keys::post_pk(post_id),
            keys::DELIVERY_SK_PREFIX,
        )
        .await?
        .iter()
        .map(read_delivery)
        .collect()
    }
}
