//! The events the source app receives (through the events queue and `notify`, signed
//! with Standard Webhooks): one tagged enum, built here and nowhere else. The wire
//! form is documented in the README ("Events") and in `functions/openapi.yaml`
//! (`webhooks`).

use crate::delivery::{DeliveryRecord, DeliveryStatus, LastError, PostRecord};
use crate::{LinkedAccount, Network, PostId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What happened, as `{"type": …, "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    /// Every part of a delivery is on the network.
    #[serde(rename = "delivery.published")]
    DeliveryPublished {
        post_id: PostId,
        source_id: String,
        user_id: String,
        network: Network,
        account_id: String,
        /// Always PUBLISHED.
        status: DeliveryStatus,
        /// Every part's id on the network, first part first.
        remote_ids: Vec<String>,
        /// The first part's URL.
        remote_url: Option<String>,
    },
    /// A delivery ended without publishing (FAILED or NEEDS_REAUTH).
    #[serde(rename = "delivery.failed")]
    DeliveryFailed {
        post_id: PostId,
        /// None when the post itself is gone.
        source_id: Option<String>,
        user_id: String,
        network: Network,
        account_id: String,
        status: DeliveryStatus,
        error: LastError,
    },
    /// The network refused the account's tokens: the person must link it again.
    #[serde(rename = "account.needs_reauth")]
    AccountNeedsReauth {
        user_id: String,
        network: Network,
        account_id: String,
    },
}

impl Event {
    /// A delivery of `post` published as `delivery.parts` (recorded, in order).
    pub fn published(post: &PostRecord, delivery: &DeliveryRecord) -> Self {
        Event::DeliveryPublished {
            post_id: delivery.post_id.clone(),
            source_id: post.source_id.clone(),
            user_id: delivery.user_id.clone(),
            network: delivery.network,
            account_id: delivery.account_id.clone(),
            status: DeliveryStatus::Published,
            remote_ids: delivery.parts.iter().map(|p| p.remote_id.clone()).collect(),
            remote_url: delivery.parts.first().and_then(|p| p.url.clone()),
        }
    }

    /// A delivery ended in `status` with `error`; `source_id` when its post is known.
    pub fn failed(
        delivery: &DeliveryRecord,
        source_id: Option<&str>,
        status: DeliveryStatus,
        error: &LastError,
    ) -> Self {
        Event::DeliveryFailed {
            post_id: delivery.post_id.clone(),
            source_id: source_id.map(str::to_owned),
            user_id: delivery.user_id.clone(),
            network: delivery.network,
            account_id: delivery.account_id.clone(),
            status,
            error: error.clone(),
        }
    }

    pub fn needs_reauth<T>(account: &LinkedAccount<T>) -> Self {
        Event::AccountNeedsReauth {
            user_id: account.user_id.clone(),
            network: account.network,
            account_id: account.account_id.clone(),
        }
    }

    /// The wire name of the event's type.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::DeliveryPublished { .. } => "delivery.published",
            Event::DeliveryFailed { .. } => "delivery.failed",
            Event::AccountNeedsReauth { .. } => "account.needs_reauth",
        }
    }
}

/// An event as sent: `{"type", "data", "id", "timestamp"}`. The id is new for every
/// event (`evt_…`); `notify` sends it as the `webhook-id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: String,
    /// RFC 3339, when the event was made.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    #[serde(flatten)]
    pub event: Event,
}

impl Envelope {
    /// `event` with its id and time (passed in: core reads no clock or randomness).
    pub fn new(event: Event, id: impl Into<String>, at: OffsetDateTime) -> Self {
        Envelope {
            id: id.into(),
            timestamp: at,
            event,
        }
    }
}
