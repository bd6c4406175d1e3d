//! `GET`, `DELETE` and `POST …/retry` of `/v1/posts/{id}`: what happened to a post, and
//! what the source app may ask to happen next.

use crate::intake::{publish_messages, unavailable};
use crate::App;
use crosspost_core::{DeliveryKey, DeliveryRecord, LastError, PostRecord};
use crosspost_core::{DeliveryMessage, DeliveryOp, DeliveryStatus, MediaItem, Overflow, PostId};
use crosspost_core::{IncomingTarget, Mentions};
use crosspost_lambda::problem::{json, problem};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Serialize)]
struct PostView {
    post_id: PostId,
    source_id: String,
    user_id: String,
    text: String,
    media: Vec<MediaItem>,
    link: Option<String>,
    overflow: Overflow,
    mentions: Mentions,
    /// The targets that carry their own text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    texts: Vec<IncomingTarget>,
    created_at: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    received_at: OffsetDateTime,
    deliveries: Vec<DeliveryView>,
}

#[derive(Serialize)]
struct DeliveryView {
    network: String,
    account_id: String,
    /// The delivery's own text, when its target gave one instead of the post's.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    status: DeliveryStatus,
    attempts: u32,
    parts: Vec<PartView>,
    remote_url: Option<String>,
    last_error: Option<LastError>,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

#[derive(Serialize)]
struct PartView {
    index: u32,
    remote_id: String,
    url: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    attempted_at: OffsetDateTime,
    /// The post's media this part carries (positions in `media`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    media: Vec<u32>,
}

#[derive(Serialize)]
struct DeliveryBrief {
    network: String,
    account_id: String,
    status: DeliveryStatus,
}

#[derive(Serialize)]
struct ChangeAnswer {
    post_id: PostId,
    deliveries: Vec<DeliveryBrief>,
}

fn view(post: PostRecord, deliveries: Vec<DeliveryRecord>) -> PostView {
    let deliveries: Vec<(DeliveryRecord, Option<String>)> = deliveries
        .into_iter()
        .map(|d| {
            let text = crosspost_core::post::own_text(&post.texts, d.network, &d.account_id)
                .map(str::to_owned);
            (d, text)
        })
        .collect();
    PostView {
        post_id: post.post_id,
        source_id: post.source_id,
        user_id: post.user_id,
        text: post.text,
        media: post.media,
        link: post.link,
        overflow: post.overflow,
        mentions: post.mentions,
        texts: post.texts,
        created_at: post.created_at,
        received_at: post.received_at,
        deliveries: deliveries
            .into_iter()
            .map(|(d, text)| DeliveryView {
                network: d.network.to_string(),
                account_id: d.account_id,
                text,
                status: d.status,
                attempts: d.attempts,
                parts: d
                    .parts
                    .into_iter()
                    .map(|p| PartView {
                        index: p.index,
                        remote_id: p.remote_id,
                        url: p.url,
                        attempted_at: p.attempted_at,
                        media: p.media,
                    })
                    .collect(),
                remote_url: d.remote_url,
                last_error: d.last_error,
                updated_at: d.updated_at,
            })
            .collect(),
    }
}

fn not_found(id: &str) -> Response<Body> {
    problem(StatusCode::NOT_FOUND, &format!("no post {id}"), &[])
}

fn brief(d: &DeliveryRecord, status: DeliveryStatus) -> DeliveryBrief {
    DeliveryBrief {
        network: d.network.to_string(),
        account_id: d.account_id.clone(),
        status,
    }
}

fn key_of(d: &DeliveryRecord) -> DeliveryKey {
    DeliveryKey {
        network: d.network,
        account_id: d.account_id.clone(),
    }
}

#[derive(Serialize)]
struct AccountView {
    network: String,
    account_id: String,
    display_name: String,
    status: String,
    rate_limited_until: Option<i64>,
}

#[derive(Serialize)]
struct AccountsAnswer {
    user_id: String,
    accounts: Vec<AccountView>,
}

impl App {
    /// The user's linked accounts and their status; never a token (the webhook cannot
    /// open them, and does not need to).
    pub async fn list_accounts(&self, user_id: &str) -> Response<Body> {
        let mut accounts = Vec::new();
        for network in crosspost_core::Network::ALL {
            match self.accounts.list(user_id, network).await {
                Ok(found) => accounts.extend(found.into_iter().map(|a| AccountView {
                    network: a.network.to_string(),
                    account_id: a.account_id,
                    display_name: a.display_name,
                    status: a.status.to_string(),
                    rate_limited_until: a.rate_limited_until,
                })),
                Err(e) => return unavailable(&e),
            }
        }
        json(
            StatusCode::OK,
            &AccountsAnswer {
                user_id: user_id.to_owned(),
                accounts,
            },
        )
    }

    /// The post and the deliveries, or a clear 404.
    async fn load(&self, id: &str) -> Result<(PostRecord, Vec<DeliveryRecord>), Response<Body>> {
        let Some(post_id) = PostId::parse(id) else {
            return Err(not_found(id));
        };
        let post = match self.posts.get_post(&post_id).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err(not_found(id)),
            Err(e) => return Err(unavailable(&e)),
        };
        match self.posts.deliveries(&post_id).await {
            Ok(d) => Ok((post, d)),
            Err(e) => Err(unavailable(&e)),
        }
    }

    pub async fn get_post(&self, id: &str) -> Response<Body> {
        match self.load(id).await {
            Ok((post, deliveries)) => json(StatusCode::OK, &view(post, deliveries)),
            Err(resp) => resp,
        }
    }

    /// Deletes the post wherever it was published: PUBLISHED deliveries become DELETING
    /// and get a delete message; ones not yet published are stopped (DELETED). A
    /// DELETING one gets a delete message again (an earlier request may have stopped
    /// before sending its messages, or its message reached the DLQ): it deletes now if
    /// no invocation holds the delete, and a message that finds the delete done is
    /// dropped, so the network is asked again but nothing is deleted twice. While a
    /// delivery is being published, or its outcome is unknown, the answer is 409.
    pub async fn delete_post(&self, id: &str, now: OffsetDateTime) -> Response<Body> {
        let (post, deliveries) = match self.load(id).await {
            Ok(v) => v,
            Err(resp) => return resp,
        };
        if deliveries.iter().any(|d| {
            matches!(
                d.status,
                DeliveryStatus::Publishing | DeliveryStatus::Uncertain
            )
        }) {
            let mut resp = problem(
                StatusCode::CONFLICT,
                "a delivery is being published or its outcome is being checked; delete again shortly",
                &[],
            );
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from_static("30"));
            return resp;
        }
        let mut answer = Vec::new();
        let mut messages = Vec::new();
        let delete_message = |d: &DeliveryRecord| DeliveryMessage {
            op: DeliveryOp::Delete,
            post_id: post.post_id.clone(),
            network: d.network,
            account_id: d.account_id.clone(),
        };
        for d in &deliveries {
            let key = key_of(d);
            let (from, to): (&[DeliveryStatus], _) = match d.status {
                DeliveryStatus::Published => {
                    (&[DeliveryStatus::Published], DeliveryStatus::Deleting)
                }
                DeliveryStatus::Deleting => {
                    messages.push(delete_message(d));
                    answer.push(brief(d, DeliveryStatus::Deleting));
                    continue;
                }
                DeliveryStatus::Pending | DeliveryStatus::Retrying => (
                    &[DeliveryStatus::Pending, DeliveryStatus::Retrying],
                    DeliveryStatus::Deleted,
                ),
                other => {
                    answer.push(brief(d, other));
                    continue;
                }
            };
            match self
                .posts
                .transition(&post.post_id, &key, from, to, false, now)
                .await
            {
                Ok(true) => {
                    if to == DeliveryStatus::Deleting {
                        messages.push(delete_message(d));
                    }
                    answer.push(brief(d, to));
                }
                // It moved meanwhile (a worker claimed it): the caller asks again.
                Ok(false) => {
                    return problem(
                        StatusCode::CONFLICT,
                        "a delivery changed while deleting; delete again",
                        &[],
                    )
                }
                Err(e) => return unavailable(&e),
            }
        }
        if let Err(e) = self.queues.enqueue(&messages).await {
            return unavailable(&e);
        }
        tracing::info!(post_id = %post.post_id, deletes = messages.len(), "delete requested");
        json(
            StatusCode::ACCEPTED,
            &ChangeAnswer {
                post_id: post.post_id,
                deliveries: answer,
            },
        )
    }

    /// Runs FAILED, NEEDS_REAUTH (once the account is linked again) and UNCERTAIN
    /// deliveries again; answers which. One whose outcome is unknown (UNCERTAIN, or
    /// ended so: [`DeliveryRecord::outcome_unknown`]) goes back UNCERTAIN and looks on
    /// the network before publishing; the others go back PENDING. A PENDING delivery
    /// gets its message again (an earlier retry may have stopped before sending it; a
    /// second message finds the delivery claimed or done and changes nothing).
    pub async fn retry_post(&self, id: &str, now: OffsetDateTime) -> Response<Body> {
        let (post, deliveries) = match self.load(id).await {
            Ok(v) => v,
            Err(resp) => return resp,
        };
        let mut retried = Vec::new();
        for d in &deliveries {
            let to = match d.status {
                DeliveryStatus::Failed | DeliveryStatus::NeedsReauth if d.outcome_unknown() => {
                    DeliveryStatus::Uncertain
                }
                DeliveryStatus::Failed | DeliveryStatus::NeedsReauth => DeliveryStatus::Pending,
                DeliveryStatus::Uncertain => DeliveryStatus::Uncertain,
                DeliveryStatus::Pending => {
                    retried.push((key_of(d), brief(d, DeliveryStatus::Pending)));
                    continue;
                }
                _ => continue,
            };
            match self
                .posts
                .transition(&post.post_id, &key_of(d), &[d.status], to, true, now)
                .await
            {
                Ok(true) => retried.push((key_of(d), brief(d, to))),
                Ok(false) => {}
                Err(e) => return unavailable(&e),
            }
        }
        let keys: Vec<DeliveryKey> = retried.iter().map(|(k, _)| k.clone()).collect();
        if let Err(e) = self
            .queues
            .enqueue(&publish_messages(&post.post_id, &keys))
            .await
        {
            return unavailable(&e);
        }
        json(
            StatusCode::ACCEPTED,
            &ChangeAnswer {
                post_id: post.post_id,
                deliveries: retried.into_iter().map(|(_, b)| b).collect(),
            },
        )
    }
}
