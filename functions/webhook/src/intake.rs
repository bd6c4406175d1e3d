//! `POST /v1/posts`: from a request body to a recorded post and queued deliveries.

use crosspost_aws::{AccountsStore, DeliveryKey, DeliveryQueues, NewPost, PostsStore, StoreError};
use crosspost_core::{
    AccountStatus, DeliveryMessage, DeliveryOp, DeliveryStatus, IncomingPost, IncomingTarget,
    PostId,
};
use crosspost_lambda::problem::{json, problem, FieldError};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use time::OffsetDateTime;

pub struct Intake {
    pub posts: PostsStore,
    pub accounts: AccountsStore,
    pub queues: DeliveryQueues,
}

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
enum Refusal {
    BadRequest(FieldError),
    Unprocessable(FieldError),
    Unavailable(StoreError),
}

impl Refusal {
    fn into_response(self) -> Response<Body> {
        match self {
            Refusal::BadRequest(e) => problem(StatusCode::BAD_REQUEST, &e.detail.clone(), &[e]),
            Refusal::Unprocessable(e) => {
                problem(StatusCode::UNPROCESSABLE_ENTITY, &e.detail.clone(), &[e])
            }
            Refusal::Unavailable(e) => {
                tracing::error!(error = %e, "storage failed");
                let mut resp = problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage is unavailable; send the post again",
                    &[],
                );
                resp.headers_mut()
                    .insert("retry-after", lambda_http::http::HeaderValue::from_static("5"));
                resp
            }
        }
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Unavailable(e)
    }
}

impl Intake {
    pub async fn route(&self, req: Request) -> Response<Body> {
        let path = req.uri().path().trim_end_matches('/');
        match (req.method(), path) {
            (&Method::POST, "/v1/posts") => match self.create_post(req.body()).await {
                Ok(resp) => resp,
                Err(refusal) => refusal.into_response(),
            },
            _ => problem(StatusCode::NOT_FOUND, "no such route", &[]),
        }
    }

    async fn create_post(&self, body: &Body) -> Result<Response<Body>, Refusal> {
        let bytes: &[u8] = match body {
            Body::Empty => &[],
            Body::Text(t) => t.as_bytes(),
            Body::Binary(b) => b,
            _ => &[],
        };
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            Refusal::BadRequest(FieldError {
                pointer: String::new(),
                detail: format!("the body is not JSON: {e}"),
            })
        })?;
        let incoming = IncomingPost::from_json(&value).map_err(|e| {
            Refusal::BadRequest(FieldError {
                pointer: e.pointer,
                detail: e.detail,
            })
        })?;
        let deliveries = self.resolve_targets(&incoming).await?;

        let now = OffsetDateTime::now_utc();
        let post_id = PostId::from_uuid(uuid::Uuid::now_v7());
        let post = NewPost {
            post_id: post_id.clone(),
            user_id: incoming.user_id.clone(),
            source_id: incoming.source_id.clone(),
            text: incoming.text.clone(),
            received_at: now,
        };
        self.posts.create_post(&post, &deliveries).await?;
        let messages: Vec<DeliveryMessage> = deliveries
            .iter()
            .map(|d| DeliveryMessage {
                op: DeliveryOp::Publish,
                post_id: post_id.clone(),
                network: d.network,
                account_id: d.account_id.clone(),
            })
            .collect();
        self.queues.enqueue(&messages).await?;
        tracing::info!(%post_id, deliveries = deliveries.len(), "post accepted");

        Ok(json(
            StatusCode::ACCEPTED,
            &Accepted {
                status_url: format!("/v1/posts/{post_id}"),
                post_id,
                deliveries: deliveries
                    .into_iter()
                    .map(|d| AcceptedDelivery {
                        network: d.network.to_string(),
                        account_id: d.account_id,
                        status: DeliveryStatus::Pending,
                    })
                    .collect(),
            },
        ))
    }

    /// One delivery per target: a named account must be linked and active; a target
    /// without an account means every active account of the user on that network.
    async fn resolve_targets(&self, post: &IncomingPost) -> Result<Vec<DeliveryKey>, Refusal> {
        let mut keys: Vec<DeliveryKey> = Vec::new();
        for (i, IncomingTarget { network, account_id }) in post.targets.iter().enumerate() {
            let unprocessable = |pointer: String, detail: String| {
                Refusal::Unprocessable(FieldError { pointer, detail })
            };
            match account_id {
                Some(id) => match self.accounts.get(&post.user_id, *network, id).await? {
                    Some(a) if a.status == AccountStatus::Active => keys.push(DeliveryKey {
                        network: *network,
                        account_id: id.clone(),
                    }),
                    Some(a) => {
                        return Err(unprocessable(
                            format!("/targets/{i}/account_id"),
                            format!("{network} account {id} is {}; link it again", a.status),
                        ))
                    }
                    None => {
                        return Err(unprocessable(
                            format!("/targets/{i}/account_id"),
                            format!("{network} account {id} is not linked for this user"),
                        ))
                    }
                },
                None => {
                    let active: Vec<_> = self
                        .accounts
                        .list(&post.user_id, *network)
                        .await?
                        .into_iter()
                        .filter(|a| a.status == AccountStatus::Active)
                        .collect();
                    if active.is_empty() {
                        return Err(unprocessable(
                            format!("/targets/{i}/network"),
                            format!("the user has no active {network} account linked"),
                        ));
                    }
                    keys.extend(active.into_iter().map(|a| DeliveryKey {
                        network: *network,
                        account_id: a.account_id,
                    }));
                }
            }
        }
        // A network named both with and without an account must not deliver twice.
        let mut unique: Vec<DeliveryKey> = Vec::with_capacity(keys.len());
        for k in keys {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        Ok(unique)
    }
}
