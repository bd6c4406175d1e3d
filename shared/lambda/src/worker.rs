//! The work of one delivery message, shared by every `publish-<network>` function
//! (DESIGN sections 4 and 5): claim the delivery, wait out rate limits without calling
//! the network, reconcile when the last attempt's outcome is unknown, publish part by
//! part (each part's remote id recorded before the next is sent), and decide what
//! comes next: PUBLISHED, a retry at a set time, or an end with its reason.

use crate::metrics::{self, Metric};
use crate::tokens::FreshTokens;
use crate::{ConfigError, Env, RecordContext, RecordOutcome};
use crosspost_aws::{
    Claim, DeliveryError, DeliveryKey, DeliveryRecord, EventQueue, PostRecord, PostsStore,
    PublishedPart, StoreError, TokenVault, WorkQueue,
};
use crosspost_core::retry::RetryPolicy;
use crosspost_core::{
    AccountStatus, DeliveryMessage, DeliveryOp, DeliveryStatus, LinkedAccount, Network,
    OutgoingPart, PublishError, Publisher, RateLimitScope, Window,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::Instrument;

/// How soon a copy of a message whose delivery another invocation holds looks again.
const LEASED_RECHECK_MS: i64 = 5_000;

/// One worker: the stores, the queues and the network it publishes to.
pub struct DeliveryWorker<P> {
    pub network: Network,
    pub posts: PostsStore,
    /// AccountsTable, and the key that opens its tokens.
    pub accounts: TokenVault,
    pub publisher: P,
    /// The queue this worker consumes, to set when a message comes back.
    pub queue: Option<WorkQueue>,
    /// Outbound events for the source app, when configured.
    pub events: Option<EventQueue>,
    pub policy: RetryPolicy,
    /// Accounts this instance saw rate limited, so the records of one batch that run
    /// at the same time hold back at once (the table holds it for everyone else).
    held: Mutex<HashMap<String, i64>>,
    /// Keeps expiring access tokens fresh, for networks whose tokens expire (X).
    tokens: Option<Box<dyn FreshTokens>>,
}

/// The invocation the message arrived in: its request id owns the lease, which ends at
/// the invocation's deadline.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub deadline_ms: i64,
}

/// The retry settings from the environment: RETRY_BASE_SECONDS, RETRY_CAP_SECONDS,
/// MAX_ATTEMPTS, MAX_AGE_SECONDS (each optional).
pub fn retry_policy<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
) -> Result<RetryPolicy, ConfigError> {
    let mut policy = RetryPolicy::default();
    let number = |name: &'static str| -> Result<Option<u64>, ConfigError> {
        env.optional(name)
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| ConfigError::Invalid {
                    name,
                    reason: format!("`{v}` is not a whole number"),
                })
            })
            .transpose()
    };
    if let Some(v) = number("RETRY_BASE_SECONDS")? {
        policy.base = Duration::from_secs(v);
    }
    if let Some(v) = number("RETRY_CAP_SECONDS")? {
        policy.cap = Duration::from_secs(v);
    }
    if let Some(v) = number("MAX_ATTEMPTS")? {
        policy.max_attempts = v.clamp(1, 1000) as u32;
    }
    if let Some(v) = number("MAX_AGE_SECONDS")? {
        policy.max_age = Duration::from_secs(v);
    }
    Ok(policy)
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A random number in [0, 1) for the backoff's jitter.
fn unit_random() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// How a delivery's attempt ended, before it is written down.
enum Ending {
    /// Tried again after this long, in this status (RETRYING or UNCERTAIN).
    Retry {
        status: DeliveryStatus,
        wait: Duration,
        error: DeliveryError,
    },
    /// Ended for good in this status (FAILED or NEEDS_REAUTH).
    End {
        status: DeliveryStatus,
        error: DeliveryError,
    },
}

fn error(kind: &str, message: impl Into<String>) -> DeliveryError {
    DeliveryError {
        kind: kind.to_owned(),
        message: message.into(),
    }
}

impl<P: Publisher> DeliveryWorker<P> {
    pub fn new(
        network: Network,
        posts: PostsStore,
        accounts: TokenVault,
        publisher: P,
        queue: Option<WorkQueue>,
        events: Option<EventQueue>,
        policy: RetryPolicy,
    ) -> Self {
        DeliveryWorker {
            network,
            posts,
            accounts,
            publisher,
            queue,
            events,
            policy,
            held: Mutex::new(HashMap::new()),
            tokens: None,
        }
    }

    /// Refreshes each account's access token before it is used, and once after the
    /// network refuses it.
    pub fn with_tokens(mut self, tokens: impl FreshTokens + 'static) -> Self {
        self.tokens = Some(Box::new(tokens));
        self
    }

    /// After the network refused the token (401): the account with a refreshed token,
    /// once per attempt, where tokens can be refreshed. An Err is why not (a refresh
    /// token the network refused too is AuthRevoked).
    async fn refreshed_after_refusal(
        &self,
        account: &LinkedAccount,
        owner: &str,
        refreshed: &mut bool,
    ) -> Option<Result<LinkedAccount, PublishError>> {
        let tokens = self.tokens.as_ref().filter(|_| !*refreshed)?;
        *refreshed = true;
        tracing::info!("the network refused the token; refreshing it once");
        Some(tokens.fresh(account, owner, true).await)
    }

    /// Makes a network call; if the network refuses the token and a refresh is possible
    /// (once per attempt), refreshes it and makes the call once more with the new one.
    async fn call_refreshing<T>(
        &self,
        account: &mut LinkedAccount,
        owner: &str,
        refreshed: &mut bool,
        call: impl AsyncFn(&LinkedAccount) -> Result<T, PublishError>,
    ) -> Result<T, PublishError> {
        let result = call(account).await;
        if !matches!(result, Err(PublishError::AuthRevoked { .. })) {
            return result;
        }
        match self
            .refreshed_after_refusal(account, owner, refreshed)
            .await
        {
            None => result,
            Some(Err(e)) => Err(e),
            Some(Ok(fresh)) => {
                *account = fresh;
                call(account).await
            }
        }
    }

    pub async fn process(
        &self,
        msg: DeliveryMessage,
        ctx: &RecordContext,
        inv: &Invocation,
    ) -> RecordOutcome {
        let span = tracing::info_span!(
            "delivery",
            post_id = %msg.post_id,
            network = %msg.network,
            account_id = %msg.account_id,
            message_id = %ctx.message_id,
            receive_count = ctx.receive_count,
        );
        let result = async {
            let key = DeliveryKey {
                network: msg.network,
                account_id: msg.account_id.clone(),
            };
            match msg.op {
                DeliveryOp::Publish => self.publish(&msg, &key, inv).await,
                DeliveryOp::Delete => self.delete(&msg, &key, inv).await,
            }
        }
        .instrument(span.clone())
        .await;
        let _enter = span.enter();
        match result {
            Ok(Next::Done) => RecordOutcome::Done,
            Ok(Next::RetryIn(wait)) => {
                self.delay_message(ctx, wait).await;
                RecordOutcome::Retry
            }
            Err(StoreError::Conflict(what)) => {
                // Our lease ran out and another invocation holds the delivery now.
                tracing::warn!(%what, "lease lost; the delivery is another invocation's");
                RecordOutcome::Done
            }
            Err(e) => {
                tracing::error!(error = %e, "delivery store failed; the message will come back");
                self.delay_message(ctx, self.policy.backoff(ctx.receive_count, unit_random()))
                    .await;
                RecordOutcome::Retry
            }
        }
    }

    /// A message no worker can read comes back at once: it reaches the DLQ after the
    /// queue's maxReceiveCount receives in seconds, not hours.
    pub async fn release_malformed(&self, ctx: &RecordContext) {
        if let (Some(queue), Some(receipt)) = (&self.queue, &ctx.receipt_handle) {
            if let Err(e) = queue.make_visible(receipt).await {
                tracing::warn!(error = %e, "could not release the malformed message");
            }
        }
    }

    /// Sets when the message comes back; without it, it would return only after the
    /// queue's visibility timeout.
    async fn delay_message(&self, ctx: &RecordContext, wait: Duration) {
        if let (Some(queue), Some(receipt)) = (&self.queue, &ctx.receipt_handle) {
            // Round up: a message due in 0.4 s must not come back before it is due.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Err(e) = queue.delay(receipt, secs.max(1)).await {
                tracing::warn!(error = %e, "could not set when the message comes back");
            }
        }
    }

    async fn publish(
        &self,
        msg: &DeliveryMessage,
        key: &DeliveryKey,
        inv: &Invocation,
    ) -> Result<Next, StoreError> {
        let now = OffsetDateTime::now_utc();
        let delivery = match self
            .posts
            .claim(&msg.post_id, key, &inv.request_id, inv.deadline_ms, now)
            .await?
        {
            Claim::Claimed(d) => d,
            Claim::NotClaimable(Some(d)) if d.status.is_terminal() => {
                tracing::info!(status = %d.status, "delivery already ended; message acknowledged");
                return Ok(Next::Done);
            }
            Claim::NotClaimable(Some(d)) => {
                // Not due yet: come back when it is. Leased by a live invocation: look
                // again soon, when that invocation has most likely finished.
                let due = if d.status == DeliveryStatus::Publishing {
                    d.lease_until_ms
                        .unwrap_or(0)
                        .min(unix_ms(now) + LEASED_RECHECK_MS)
                } else {
                    d.next_attempt_ms.unwrap_or(0)
                };
                let wait = Duration::from_millis((due - unix_ms(now)).max(1000) as u64);
                tracing::info!(status = %d.status, wait_s = wait.as_secs(), "delivery busy or not due; message kept");
                return Ok(Next::RetryIn(wait));
            }
            Claim::NotClaimable(None) => {
                tracing::error!("no such delivery; message dropped");
                return Ok(Next::Done);
            }
        };
        tracing::info!(
            attempt = delivery.attempts,
            reconcile = delivery.needs_reconcile(),
            "delivery claimed"
        );
        let owner = &inv.request_id;

        if let Some(ending) = self.expired(&delivery, now) {
            return self.finish(&delivery, key, owner, ending, None).await;
        }
        let Some(post) = self.posts.get_post(&msg.post_id).await? else {
            let end = Ending::End {
                status: DeliveryStatus::Failed,
                error: error("post_missing", "the post is gone"),
            };
            return self.finish(&delivery, key, owner, end, None).await;
        };
        let account = match self
            .accounts
            .store()
            .get(&post.user_id, msg.network, &msg.account_id)
            .await?
        {
            Some(a) if a.status == AccountStatus::Active => a,
            Some(_) => {
                let end = Ending::End {
                    status: DeliveryStatus::Failed,
                    error: error(
                        "account_needs_reauth",
                        "the account must be linked again; retry the post after that",
                    ),
                };
                return self.finish(&delivery, key, owner, end, Some(&post)).await;
            }
            None => {
                let end = Ending::End {
                    status: DeliveryStatus::Failed,
                    error: error("account_unlinked", "the account is not linked"),
                };
                return self.finish(&delivery, key, owner, end, Some(&post)).await;
            }
        };

        let parts = match crosspost_core::preview::adapt(
            msg.network,
            &post.text,
            post.link.as_deref(),
            post.overflow,
        ) {
            Ok(parts) => parts,
            Err(too_long) => {
                let end = Ending::End {
                    status: DeliveryStatus::Failed,
                    error: error(
                        crosspost_core::text::ContentTooLong::REASON,
                        too_long.to_string(),
                    ),
                };
                return self.finish(&delivery, key, owner, end, Some(&post)).await;
            }
        };

        // Opened here, just before the network calls that need the token.
        let mut account = self.accounts.open(&account).await?;
        if let Some(tokens) = &self.tokens {
            match tokens.fresh(&account, &inv.request_id, false).await {
                Ok(fresh) => account = fresh,
                Err(e) => {
                    let ending = self.classify(&delivery, &account, e).await?;
                    return self
                        .finish(&delivery, key, owner, ending, Some(&post))
                        .await;
                }
            }
        }
        let mut refreshed = false;
        let mut confirmed: Vec<PublishedPart> = delivery.parts.clone();
        let mut reconcile = delivery.needs_reconcile();
        while confirmed.len() < parts.len() {
            if let Some(until) = self.held_until(&account).await? {
                return self.hold(&delivery, key, owner, until).await;
            }
            let index = confirmed.len();
            let text = &parts[index].text;
            let attempted_at = rfc3339(OffsetDateTime::now_utc());
            let found = if reconcile {
                reconcile = false;
                // Every attempt since the last confirmed part may have published
                // this one: look from the first of them until now.
                let window = Window {
                    since_unix: delivery
                        .unconfirmed_since_ms
                        .map(|ms| ms / 1000)
                        .unwrap_or_else(|| now.unix_timestamp() - 24 * 3600),
                    until_unix: OffsetDateTime::now_utc().unix_timestamp(),
                };
                let result = self
                    .call_refreshing(&mut account, &inv.request_id, &mut refreshed, async |a| {
                        self.publisher.reconcile(a, text, window).await
                    })
                    .await;
                match result {
                    Ok(Some(remote)) => {
                        tracing::info!(part = index, remote_id = %remote.id, "reconciled: the earlier attempt had published");
                        metrics::emit(Metric::Reconciled, self.network.as_str(), 1.0);
                        Some(remote)
                    }
                    Ok(None) => None,
                    Err(e) => {
                        // The lookup failed: whether the earlier attempt published is
                        // still unknown, so the next attempt must look again.
                        let ending = match self.classify(&delivery, &account, e).await? {
                            Ending::Retry { wait, error, .. } => Ending::Retry {
                                status: DeliveryStatus::Uncertain,
                                wait,
                                error,
                            },
                            end => end,
                        };
                        return self
                            .finish(&delivery, key, owner, ending, Some(&post))
                            .await;
                    }
                }
            } else {
                None
            };
            let remote = match found {
                Some(remote) => remote,
                None => {
                    let reply_to = confirmed.last().map(|p| p.remote_id.as_str());
                    let part = OutgoingPart {
                        index,
                        text,
                        media: if index == 0 { &post.media } else { &[] },
                        link: post.link.as_deref(),
                    };
                    let result = self
                        .call_refreshing(&mut account, &inv.request_id, &mut refreshed, async |a| {
                            self.publisher.publish_part(a, part, reply_to).await
                        })
                        .await;
                    match result {
                        Ok(remote) => remote,
                        Err(e) => {
                            let ending = self.classify(&delivery, &account, e).await?;
                            return self
                                .finish(&delivery, key, owner, ending, Some(&post))
                                .await;
                        }
                    }
                }
            };
            let hold = remote.hold;
            let part = PublishedPart {
                index: index as u32,
                remote_id: remote.id,
                url: Some(remote.url),
                attempted_at,
            };
            self.posts
                .record_part(&msg.post_id, key, owner, &part, OffsetDateTime::now_utc())
                .await?;
            // Published, but the network is near a limit: later calls wait, as after a 429.
            if let Some((until, scope)) = hold {
                tracing::info!(
                    until_unix = until,
                    ?scope,
                    "network usage high; later calls wait"
                );
                self.note_limit(&account, until, scope).await?;
            }
            tracing::info!(part = index, of = parts.len(), remote_id = %part.remote_id, "part published");
            confirmed.push(part);
        }

        let remote_url = confirmed.first().and_then(|p| p.url.clone());
        self.posts
            .mark_published(
                &msg.post_id,
                key,
                owner,
                remote_url.as_deref(),
                OffsetDateTime::now_utc(),
            )
            .await?;
        metrics::emit(Metric::Published, self.network.as_str(), 1.0);
        if let Ok(received) = OffsetDateTime::parse(&post.received_at, &Rfc3339) {
            let latency = (OffsetDateTime::now_utc() - received).whole_milliseconds();
            metrics::emit(
                Metric::PublishLatencyMs,
                self.network.as_str(),
                latency as f64,
            );
        }
        tracing::info!(parts = confirmed.len(), "published");
        self.event(
            "delivery.published",
            json!({
                "post_id": msg.post_id,
                "source_id": post.source_id,
                "user_id": post.user_id,
                "network": msg.network,
                "account_id": msg.account_id,
                "status": DeliveryStatus::Published,
                "remote_ids": confirmed.iter().map(|p| p.remote_id.clone()).collect::<Vec<_>>(),
                "remote_url": remote_url,
            }),
        )
        .await;
        Ok(Next::Done)
    }

    /// Past MAX_AGE, or out of attempts: the delivery ends, its last error kept.
    fn expired(&self, d: &DeliveryRecord, now: OffsetDateTime) -> Option<Ending> {
        let last = d.last_error.clone();
        if let Ok(created) = OffsetDateTime::parse(&d.created_at, &Rfc3339) {
            if now - created > self.policy.max_age {
                return Some(Ending::End {
                    status: DeliveryStatus::Failed,
                    error: error(
                        "expired",
                        match last {
                            Some(e) => format!(
                                "not published within {} s; last error: {}",
                                self.policy.max_age.as_secs(),
                                e.message
                            ),
                            None => {
                                format!("not published within {} s", self.policy.max_age.as_secs())
                            }
                        },
                    ),
                });
            }
        }
        if d.attempts > self.policy.max_attempts {
            return Some(Ending::End {
                status: DeliveryStatus::Failed,
                error: last.unwrap_or_else(|| error("too_many_attempts", "no attempt succeeded")),
            });
        }
        None
    }

    /// Until when the network holds this account (or the whole app) back, if it does.
    async fn held_until(&self, account: &LinkedAccount) -> Result<Option<i64>, StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let mut until = account.rate_limited_until.unwrap_or(0);
        if let Some(&seen) = self.held_lock().get(&account.account_id) {
            until = until.max(seen);
        }
        if let Some(app) = self.accounts.store().network_limit(self.network).await? {
            until = until.max(app);
        }
        Ok((until > now).then_some(until))
    }

    fn held_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes down that this account (or every account of the app) must not call the
    /// network before `until` (unix seconds).
    async fn note_limit(
        &self,
        account: &LinkedAccount,
        until: i64,
        scope: RateLimitScope,
    ) -> Result<(), StoreError> {
        match scope {
            RateLimitScope::Account => {
                self.held_lock().insert(account.account_id.clone(), until);
                self.accounts
                    .store()
                    .set_rate_limited(&account.user_id, self.network, &account.account_id, until)
                    .await
            }
            RateLimitScope::App => {
                self.accounts
                    .store()
                    .set_network_limit(self.network, until)
                    .await
            }
        }
    }

    /// Waits out a rate limit without calling the network: not an attempt.
    async fn hold(
        &self,
        d: &DeliveryRecord,
        key: &DeliveryKey,
        owner: &str,
        until_unix: i64,
    ) -> Result<Next, StoreError> {
        let back = if d.needs_reconcile() {
            DeliveryStatus::Uncertain
        } else {
            DeliveryStatus::Retrying
        };
        let now = OffsetDateTime::now_utc();
        self.posts
            .defer(&d.post_id, key, owner, back, until_unix * 1000, now)
            .await?;
        let wait = Duration::from_secs((until_unix - now.unix_timestamp()).max(1) as u64);
        tracing::info!(
            until_unix,
            wait_s = wait.as_secs(),
            "account rate limited; waiting without calling the network"
        );
        Ok(Next::RetryIn(
            wait.min(crosspost_core::retry::MAX_VISIBILITY),
        ))
    }

    /// What a failed call means for this delivery, with the account-wide effects
    /// (rate limits, revoked tokens) written down first.
    async fn classify(
        &self,
        d: &DeliveryRecord,
        account: &LinkedAccount,
        err: PublishError,
    ) -> Result<Ending, StoreError> {
        tracing::warn!(kind = err.kind(), error = %err, "network call failed");
        let e = error(err.kind(), err.to_string());
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let retry = |status, network_says: Option<Duration>| {
            let wait = self
                .policy
                .next_wait(d.attempts, unit_random(), network_says);
            if d.attempts >= self.policy.max_attempts {
                Ending::End {
                    status: DeliveryStatus::Failed,
                    error: e.clone(),
                }
            } else {
                Ending::Retry {
                    status,
                    wait,
                    error: e.clone(),
                }
            }
        };
        Ok(match err {
            PublishError::Permanent { .. } => Ending::End {
                status: DeliveryStatus::Failed,
                error: e,
            },
            PublishError::AuthRevoked { .. } => {
                let store = self.accounts.store();
                let (user, account_id) = (&account.user_id, &account.account_id);
                if store
                    .mark_needs_reauth(user, self.network, account_id)
                    .await?
                {
                    self.event(
                        "account.needs_reauth",
                        json!({
                            "user_id": account.user_id,
                            "network": self.network,
                            "account_id": account.account_id,
                        }),
                    )
                    .await;
                } else if store.get(user, self.network, account_id).await?.is_none() {
                    // Unlinked while this delivery was under way (its tokens revoked).
                    return Ok(Ending::End {
                        status: DeliveryStatus::Failed,
                        error: error(
                            "account_unlinked",
                            "the account was unlinked while the post was being published",
                        ),
                    });
                }
                Ending::End {
                    status: DeliveryStatus::NeedsReauth,
                    error: e,
                }
            }
            PublishError::RateLimited {
                until_unix, scope, ..
            } => {
                let until = until_unix
                    .unwrap_or(now + self.policy.cap.as_secs() as i64)
                    .max(now + 1);
                self.note_limit(account, until, scope).await?;
                metrics::emit(Metric::RateLimited, self.network.as_str(), 1.0);
                let wait = Duration::from_secs((until - now) as u64);
                retry(DeliveryStatus::Retrying, Some(wait))
            }
            PublishError::Retryable { after, .. } => retry(DeliveryStatus::Retrying, after),
            PublishError::MediaUnavailable { .. } => retry(DeliveryStatus::Retrying, None),
            PublishError::Uncertain { .. } => retry(DeliveryStatus::Uncertain, None),
        })
    }

    /// Writes the ending down, with its metric and event.
    async fn finish(
        &self,
        d: &DeliveryRecord,
        key: &DeliveryKey,
        owner: &str,
        ending: Ending,
        post: Option<&PostRecord>,
    ) -> Result<Next, StoreError> {
        let now = OffsetDateTime::now_utc();
        match ending {
            Ending::Retry {
                status,
                wait,
                error,
            } => {
                let next = unix_ms(now) + wait.as_millis() as i64;
                self.posts
                    .record_failure(&d.post_id, key, owner, status, &error, Some(next), now)
                    .await?;
                metrics::emit(Metric::Retried, self.network.as_str(), 1.0);
                tracing::info!(%status, wait_ms = wait.as_millis() as u64, "will try again");
                Ok(Next::RetryIn(wait))
            }
            Ending::End { status, error } => {
                self.posts
                    .record_failure(&d.post_id, key, owner, status, &error, None, now)
                    .await?;
                metrics::emit(Metric::Failed, self.network.as_str(), 1.0);
                tracing::warn!(%status, kind = %error.kind, "delivery ended without publishing");
                self.event(
                    "delivery.failed",
                    json!({
                        "post_id": d.post_id,
                        "source_id": post.map(|p| p.source_id.clone()),
                        "user_id": d.user_id,
                        "network": d.network,
                        "account_id": d.account_id,
                        "status": status,
                        "error": {"kind": error.kind, "message": error.message},
                    }),
                )
                .await;
                Ok(Next::Done)
            }
        }
    }

    /// Queues an outbound event; a failure is logged, never fails the delivery.
    async fn event(&self, kind: &str, data: serde_json::Value) {
        let Some(events) = &self.events else {
            return;
        };
        let event = crate::events::envelope(kind, data);
        if let Err(e) = events.send(&event).await {
            tracing::error!(error = %e, event = kind, "could not queue the event");
        }
    }

    /// Deletes every published part, newest first, and marks the delivery DELETED.
    async fn delete(
        &self,
        msg: &DeliveryMessage,
        key: &DeliveryKey,
        inv: &Invocation,
    ) -> Result<Next, StoreError> {
        let now = OffsetDateTime::now_utc();
        let delivery = match self
            .posts
            .claim_delete(&msg.post_id, key, &inv.request_id, inv.deadline_ms, now)
            .await?
        {
            Claim::Claimed(d) => d,
            Claim::NotClaimable(Some(d)) if d.status == DeliveryStatus::Deleting => {
                let wait = Duration::from_millis(
                    (d.lease_until_ms.unwrap_or(0) - unix_ms(now)).max(1000) as u64,
                );
                tracing::info!("delete leased elsewhere; message kept");
                return Ok(Next::RetryIn(wait));
            }
            Claim::NotClaimable(d) => {
                tracing::info!(status = ?d.map(|d| d.status), "nothing to delete; message acknowledged");
                return Ok(Next::Done);
            }
        };
        let finish = |status, error: Option<DeliveryError>| async move {
            self.posts
                .finish_delete(
                    &msg.post_id,
                    key,
                    &inv.request_id,
                    status,
                    error.as_ref(),
                    OffsetDateTime::now_utc(),
                )
                .await
        };
        let account = self
            .accounts
            .store()
            .get(&delivery.user_id, msg.network, &msg.account_id)
            .await?;
        let Some(account) = account.filter(|a| a.status == AccountStatus::Active) else {
            finish(
                DeliveryStatus::Published,
                Some(error(
                    "account_needs_reauth",
                    "the account must be linked again before the post can be deleted",
                )),
            )
            .await?;
            return Ok(Next::Done);
        };
        let account = self.accounts.open(&account).await?;
        // A token that could not be refreshed fails the first delete as the network would.
        let (account, mut refresh_failed) = match &self.tokens {
            Some(tokens) => match tokens.fresh(&account, &inv.request_id, false).await {
                Ok(fresh) => (fresh, None),
                Err(e) => (account, Some(e)),
            },
            None => (account, None),
        };
        for part in delivery.parts.iter().rev() {
            let result = match refresh_failed.take() {
                Some(e) => Err(e),
                None => self.publisher.delete_part(&account, &part.remote_id).await,
            };
            if let Err(err) = result {
                tracing::warn!(kind = err.kind(), error = %err, remote_id = %part.remote_id, "delete failed");
                let e = error(&format!("delete_{}", err.kind()), err.to_string());
                return Ok(match err {
                    PublishError::Permanent { .. } | PublishError::AuthRevoked { .. } => {
                        finish(DeliveryStatus::Published, Some(e)).await?;
                        Next::Done
                    }
                    other => {
                        finish(DeliveryStatus::Deleting, Some(e)).await?;
                        let after = match other {
                            PublishError::RateLimited {
                                until_unix: Some(u),
                                ..
                            } => {
                                Some(Duration::from_secs((u - now.unix_timestamp()).max(1) as u64))
                            }
                            PublishError::Retryable { after, .. } => after,
                            _ => None,
                        };
                        Next::RetryIn(
                            self.policy
                                .next_wait(1, unit_random(), after)
                                .max(Duration::from_secs(1)),
                        )
                    }
                });
            }
        }
        finish(DeliveryStatus::Deleted, None).await?;
        tracing::info!(parts = delivery.parts.len(), "deleted");
        Ok(Next::Done)
    }
}

/// What happens to the message.
enum Next {
    Done,
    RetryIn(Duration),
}
