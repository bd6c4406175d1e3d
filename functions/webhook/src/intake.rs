//! `POST /v1/posts`: from a signed body to a recorded post and queued deliveries,
//! exactly once however often the same post arrives.

use crate::App;
use crosspost_aws::{
    DeliveryKey, IntakeRecord, NewPost, SourceGuard, StoreError, StoredAnswer, WebhookUse,
};
use crosspost_core::signing::body_digest;
use crosspost_core::{
    AccountStatus, DeliveryMessage, DeliveryOp, DeliveryStatus, FieldError, IncomingTarget,
    MediaHosts, PostId, ValidatedPost,
};
use crosspost_lambda::problem::problem;
pub use crosspost_lambda::problem::unavailable;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use std::time::Duration;
use time::OffsetDateTime;

/// How long the request that wrote a post may take to queue its messages before a
/// repeated request takes that job over.
const ENQUEUE_LEASE: time::Duration = time::Duration::seconds(30);
/// How often a request that lost a write race looks for the winner's record.
const RACE_READS: u32 = 20;

#[derive(Serialize)]
struct Accepted {
    post_id: PostId,
    status_url: String,
    deliveries: Vec<AcceptedDelivery>,
}

#[derive(Serialize)]
struct AcceptedDelivery {
    network: String,
    account_id: String,
    status: DeliveryStatus,
}

/// Why a request was not accepted, as the answer the source app sees.
pub enum Refusal {
    BadRequest(String),
    Unprocessable(Vec<FieldError>),
    Conflict(String),
    Unavailable(StoreError),
}

impl Refusal {
    pub fn into_response(self) -> Response<Body> {
        match self {
            Refusal::BadRequest(detail) => problem(StatusCode::BAD_REQUEST, &detail, &[]),
            Refusal::Unprocessable(errors) => {
                let detail = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.pointer, e.detail))
                    .collect::<Vec<_>>()
                    .join("; ");
                let errors: Vec<_> = errors
                    .into_iter()
                    .map(|e| crosspost_lambda::problem::FieldError {
                        pointer: e.pointer,
                        detail: e.detail,
                    })
                    .collect();
                problem(StatusCode::UNPROCESSABLE_ENTITY, &detail, &errors)
            }
            Refusal::Conflict(detail) => problem(StatusCode::CONFLICT, &detail, &[]),
            Refusal::Unavailable(e) => unavailable(&e),
        }
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Unavailable(e)
    }
}

fn stored(answer: &StoredAnswer, status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(Body::Text(answer.body.clone()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        lambda_http::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Parses a JSON body, or says why it is not JSON.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| Refusal::BadRequest(format!("the body is not JSON: {e}")))
}

impl App {
    pub async fn create_post(
        &self,
        webhook_id: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Response<Body> {
        // The webhook id and the source id are checked by the transaction's conditions;
        // they are read only when it fails, or when the request is refused: a replayed
        // webhook id gets the first answer again (the same id with another body is a
        // conflict, not a repeat), whatever the body says now.
        let request_hash = body_digest(body);
        match self.accept(webhook_id, &request_hash, body, now).await {
            Ok(resp) => resp,
            Err(refusal @ Refusal::Unavailable(_)) => refusal.into_response(),
            Err(refusal) => match self.posts.webhook_use(webhook_id, now).await {
                Ok(Some(used)) => repeated_webhook_id(webhook_id, used, &request_hash),
                Ok(None) => refusal.into_response(),
                Err(e) => unavailable(&e),
            },
        }
    }

    async fn accept(
        &self,
        webhook_id: &str,
        request_hash: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Refusal> {
        let value = parse_json(body)?;
        let post =
            ValidatedPost::parse(&value, self.media_hosts).map_err(Refusal::Unprocessable)?;
        if self.media_hosts == MediaHosts::PublicOnly {
            let errors = crate::media_hosts::refused_media_hosts(&self.fetcher, &post.media).await;
            if !errors.is_empty() {
                return Err(Refusal::Unprocessable(errors));
            }
        }
        let hash = post.content_hash();
        let deliveries = match self.resolve_targets(&post).await {
            Ok(deliveries) => deliveries,
            // The same source post accepted before gets its first answer, even when its
            // accounts have changed since.
            Err(refusal @ Refusal::Unprocessable(_)) => {
                return match self
                    .posts
                    .source_guard(&post.user_id, &post.source_id)
                    .await?
                {
                    Some(guard) => self.repeated(&post, &guard, now).await,
                    None => Err(refusal),
                };
            }
            Err(refusal) => return Err(refusal),
        };

        let post_id = PostId::from_uuid(uuid::Uuid::now_v7());
        let accepted = Accepted {
            status_url: format!("/v1/posts/{post_id}"),
            post_id: post_id.clone(),
            deliveries: deliveries
                .iter()
                .map(|d| AcceptedDelivery {
                    network: d.network.to_string(),
                    account_id: d.account_id.clone(),
                    status: DeliveryStatus::Pending,
                })
                .collect(),
        };
        let answer = StoredAnswer {
            post_id: post_id.clone(),
            status: 202,
            body: serde_json::to_string(&accepted).unwrap_or_default(),
        };
        let intake = IntakeRecord {
            body_hash: hash.clone(),
            answer: answer.clone(),
            webhook_id: Some(webhook_id.to_owned()).filter(|w| !w.is_empty()),
            request_hash: Some(request_hash.to_owned()),
            enqueue_lease_until: now + ENQUEUE_LEASE,
        };
        let record = NewPost {
            post_id: post_id.clone(),
            content: post.clone(),
            received_at: now,
        };
        match self.posts.create_post(&record, &deliveries, &intake).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return self.lost_race(webhook_id, request_hash, &post, now).await
            }
            Err(e) => return Err(e.into()),
        }
        let messages = publish_messages(&post_id, &deliveries);
        if let Err(e) = self.queues.enqueue(&messages).await {
            // The post is recorded; a repeated request re-queues what is still PENDING.
            tracing::error!(%post_id, error = %e, "queueing failed after the post was recorded");
            return Err(Refusal::Unavailable(e));
        }
        // Not marked enqueued (one write fewer per post): a repeat of this post more
        // than ENQUEUE_LEASE later queues its still-PENDING deliveries again, which a
        // claim makes harmless.
        tracing::info!(%post_id, deliveries = deliveries.len(), "post accepted");
        Ok(stored(&answer, StatusCode::ACCEPTED))
    }

    /// A request that lost the race to write the same post: the winner's record decides.
    async fn lost_race(
        &self,
        webhook_id: &str,
        request_hash: &str,
        post: &ValidatedPost,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Refusal> {
        for _ in 0..RACE_READS {
            // A replayed webhook id first: it answers as the first request did.
            if let Some(used) = self.posts.webhook_use(webhook_id, now).await? {
                return Ok(repeated_webhook_id(webhook_id, used, request_hash));
            }
            if let Some(guard) = self
                .posts
                .source_guard(&post.user_id, &post.source_id)
                .await?
            {
                return self.repeated(post, &guard, now).await;
            }
            // The winner's transaction may not be visible yet.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Refusal::Unavailable(StoreError::Conflict(
            "a concurrent request for the same post did not finish".into(),
        )))
    }

    /// The same source post again: same content → the first answer (and the messages
    /// queued if the first request could not); other content → 409.
    async fn repeated(
        &self,
        post: &ValidatedPost,
        guard: &SourceGuard,
        now: OffsetDateTime,
    ) -> Result<Response<Body>, Refusal> {
        if !post.has_content_hash(&guard.body_hash) {
            return Err(Refusal::Conflict(format!(
                "source post {} was already accepted with other content",
                post.source_id
            )));
        }
        if !guard.enqueued
            && self
                .posts
                .take_enqueue_lease(&post.user_id, &post.source_id, now + ENQUEUE_LEASE, now)
                .await?
        {
            let post_id = &guard.answer.post_id;
            let pending: Vec<DeliveryKey> = self
                .posts
                .deliveries(post_id)
                .await?
                .into_iter()
                .filter(|d| d.status == DeliveryStatus::Pending)
                .map(|d| DeliveryKey {
                    network: d.network,
                    account_id: d.account_id,
                })
                .collect();
            self.queues
                .enqueue(&publish_messages(post_id, &pending))
                .await?;
            self.posts
                .mark_enqueued(&post.user_id, &post.source_id)
                .await?;
            tracing::info!(%post_id, requeued = pending.len(), "deliveries queued again by a repeated request");
        }
        Ok(stored(&guard.answer, StatusCode::OK))
    }

    /// One delivery per target: a named account must be linked and active; a target
    /// without an account, or no targets at all, means every active account.
    async fn resolve_targets(&self, post: &ValidatedPost) -> Result<Vec<DeliveryKey>, Refusal> {
        let mut keys: Vec<DeliveryKey> = Vec::new();
        let mut errors = Vec::new();
        let add = |keys: &mut Vec<DeliveryKey>, k: DeliveryKey| {
            if !keys.contains(&k) {
                keys.push(k);
            }
        };
        let targets: Vec<IncomingTarget> = match &post.targets {
            Some(t) => t.clone(),
            None => crosspost_core::Network::ALL
                .into_iter()
                .map(|network| IncomingTarget {
                    network,
                    account_id: None,
                    text: None,
                })
                .collect(),
        };
        // Every account of the user in one read, whatever the targets.
        let linked = self.accounts.list_all(&post.user_id).await?;
        for (
            i,
            IncomingTarget {
                network,
                account_id,
                ..
            },
        ) in targets.iter().enumerate()
        {
            match account_id {
                Some(id) => match linked
                    .iter()
                    .find(|a| a.network == *network && a.account_id == *id)
                {
                    Some(a) if a.status == AccountStatus::Active => add(
                        &mut keys,
                        DeliveryKey {
                            network: *network,
                            account_id: id.clone(),
                        },
                    ),
                    Some(a) => errors.push(FieldError {
                        pointer: format!("/targets/{i}/account_id"),
                        detail: format!("{network} account {id} is {}; link it again", a.status),
                    }),
                    None => errors.push(FieldError {
                        pointer: format!("/targets/{i}/account_id"),
                        detail: format!("{network} account {id} is not linked for this user"),
                    }),
                },
                None => {
                    let active: Vec<_> = linked
                        .iter()
                        .filter(|a| a.network == *network && a.status == AccountStatus::Active)
                        .collect();
                    // Without explicit targets, a network the user has not linked is
                    // simply not a target.
                    if active.is_empty() && post.targets.is_some() {
                        errors.push(FieldError {
                            pointer: format!("/targets/{i}/network"),
                            detail: format!("the user has no active {network} account linked"),
                        });
                    }
                    for a in active {
                        add(
                            &mut keys,
                            DeliveryKey {
                                network: *network,
                                account_id: a.account_id.clone(),
                            },
                        );
                    }
                }
            }
        }
        let max = crosspost_core::post::MAX_DELIVERIES;
        if keys.len() > max {
            errors.push(FieldError {
                pointer: "/targets".into(),
                detail: format!(
                    "this post would go to {} accounts; a post goes to at most {max} (name them in `targets`, and send the rest as another post)",
                    keys.len()
                ),
            });
        }
        if post.targets.is_none() && keys.is_empty() && errors.is_empty() {
            errors.push(FieldError {
                pointer: "/user_id".into(),
                detail: format!("user {} has no active linked account", post.user_id),
            });
        }
        if errors.is_empty() {
            Ok(keys)
        } else {
            Err(Refusal::Unprocessable(errors))
        }
    }
}

/// A webhook id seen before: the first answer when it brought this same body, 409
/// when it brought another body or signed another route.
fn repeated_webhook_id(webhook_id: &str, used: WebhookUse, request_hash: &str) -> Response<Body> {
    match used.answer {
        Some(first)
            if used
                .request_hash
                .as_deref()
                .is_none_or(|h| h == request_hash) =>
        {
            stored(&first, status_of(first.status))
        }
        Some(_) => Refusal::Conflict(format!(
            "webhook-id {webhook_id} was already used for another body"
        ))
        .into_response(),
        None => Refusal::Conflict(format!(
            "webhook-id {webhook_id} was already used for another request"
        ))
        .into_response(),
    }
}

fn status_of(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}

pub fn publish_messages(post_id: &PostId, deliveries: &[DeliveryKey]) -> Vec<DeliveryMessage> {
    deliveries
        .iter()
        .map(|d| DeliveryMessage {
            op: DeliveryOp::Publish,
            post_id: post_id.clone(),
            network: d.network,
            account_id: d.account_id.clone(),
        })
        .collect()
}
