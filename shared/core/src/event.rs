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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{FailureReason, PublishedPart};
    use crate::{Overflow, SealedToken};
    use serde_json::{json, Value};

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn delivery() -> DeliveryRecord {
        DeliveryRecord {
            post_id: PostId::parse("0190a0b0-0000-7000-8000-000000000001").unwrap(),
            user_id: "u1".into(),
            network: Network::X,
            account_id: "42".into(),
            status: DeliveryStatus::Publishing,
            attempts: 1,
            lease_owner: None,
            lease_until: None,
            next_attempt_at: None,
            parts: vec![PublishedPart {
                index: 0,
                remote_id: "1001".into(),
                url: Some("https://x.com/i/status/1001".into()),
                attempted_at: at(),
                media: Vec::new(),
            }],
            uploads: Vec::new(),
            remote_url: None,
            last_error: None,
            created_at: at(),
            updated_at: at(),
            prev_status: None,
            unconfirmed_since: None,
            first_part_taken: None,
        }
    }

    fn post() -> PostRecord {
        PostRecord {
            post_id: delivery().post_id,
            user_id: "u1".into(),
            source_id: "moment-7".into(),
            text: "早安".into(),
            media: Vec::new(),
            link: None,
            overflow: Overflow::Thread,
            created_at: None,
            received_at: at(),
            mentions: Default::default(),
            texts: Vec::new(),
        }
    }

    fn every_event() -> Vec<Envelope> {
        let error = LastError::new(FailureReason::AccountUnlinked, "the account is not linked");
        let account = LinkedAccount {
            user_id: "u1".into(),
            network: Network::X,
            account_id: "42".into(),
            display_name: "Lily".into(),
            status: crate::AccountStatus::NeedsReauth,
            access_token: SealedToken::new("sealed"),
            rate_limited_until: None,
            refresh_token: None,
            access_expires_at: None,
            token_version: 1,
        };
        [
            Event::published(&post(), &delivery()),
            Event::failed(
                &delivery(),
                Some("moment-7"),
                DeliveryStatus::Failed,
                &error,
            ),
            Event::failed(&delivery(), None, DeliveryStatus::NeedsReauth, &error),
            Event::needs_reauth(&account),
        ]
        .into_iter()
        .map(|e| Envelope::new(e, "evt_0190a0b000007000800000000000abcd", at()))
        .collect()
    }

    #[test]
    fn the_wire_form_is_the_documented_one() {
        let events = every_event();
        assert_eq!(
            serde_json::to_value(&events[0]).unwrap(),
            json!({
                "type": "delivery.published",
                "id": "evt_0190a0b000007000800000000000abcd",
                "timestamp": "2027-01-15T08:00:00Z",
                "data": {
                    "post_id": "0190a0b0-0000-7000-8000-000000000001",
                    "source_id": "moment-7",
                    "user_id": "u1",
                    "network": "x",
                    "account_id": "42",
                    "status": "PUBLISHED",
                    "remote_ids": ["1001"],
                    "remote_url": "https://x.com/i/status/1001",
                }
            })
        );
        assert_eq!(
            serde_json::to_value(&events[2]).unwrap()["data"],
            json!({
                "post_id": "0190a0b0-0000-7000-8000-000000000001",
                "source_id": null,
                "user_id": "u1",
                "network": "x",
                "account_id": "42",
                "status": "NEEDS_REAUTH",
                "error": {"kind": "account_unlinked", "message": "the account is not linked"},
            })
        );
        for e in &events {
            let text = serde_json::to_string(e).unwrap();
            assert_eq!(&serde_json::from_str::<Envelope>(&text).unwrap(), e);
        }
    }

    /// Every event's data has exactly the properties `functions/openapi.yaml` documents
    /// for its type (all required ones, no others), and every failure reason is listed.
    #[test]
    fn every_event_matches_its_openapi_webhook_schema() {
        let spec: Value =
            serde_yaml::from_str(include_str!("../../../functions/openapi.yaml")).unwrap();
        let schemas = &spec["components"]["schemas"];
        for e in every_event() {
            let wire = serde_json::to_value(&e).unwrap();
            let kind = e.event.kind();
            let op = &spec["webhooks"][kind]["post"];
            let reference = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap_or_else(|| panic!("no webhook documented for {kind}"));
            let schema = &schemas[reference.rsplit('/').next().unwrap()];
            let envelope_required: Vec<&str> = schemas["EventEnvelope"]["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            for key in envelope_required {
                assert!(wire.get(key).is_some(), "{kind}: `{key}` missing");
            }
            let data_schema = &schema["allOf"][1]["properties"]["data"];
            let documented: std::collections::BTreeSet<&str> = data_schema["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let required: std::collections::BTreeSet<&str> = data_schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let sent: std::collections::BTreeSet<&str> = wire["data"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(sent, documented, "{kind}: properties");
            assert_eq!(sent, required, "{kind}: required");
        }
        let kinds: Vec<String> = schemas["LastError"]["properties"]["kind"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        for kind in &kinds {
            assert!(
                kind.parse::<FailureReason>().is_ok(),
                "{kind} documented, never written"
            );
        }
        assert_eq!(kinds.len(), 20, "every FailureReason is documented");
    }
}
