//! The work of one delivery message, shared by every `publish-<network>` function
//! (DESIGN sections 4 and 5). The worker is generic over core's ports (a
//! [`DeliveryStore`], an [`AccountStore`], an [`EventSink`], a [`Clock`]) and a
//! network's [`Publisher`]; the decisions are core's pure rules
//! ([`crosspost_core::delivery::rules`]). A publish is a short pipeline ([`publish`]):
//! claim → prepare (post, account, adapted parts, fresh token) → publish the parts
//! (reconciling first where the last outcome is unknown) → conclude (write, metric,
//! event). A delete ([`delete`]) claims, deletes every part, and concludes.

mod delete;
mod publish;
#[cfg(test)]
mod tests;

use crate::metrics::{self, Metric};
use crate::tokens::FreshTokens;
use crate::{ConfigError, Env, RecordContext, RecordOutcome};
use crosspost_aws::WorkQueue;
use crosspost_core::delivery::rules::{self, Ending, Next};
use crosspost_core::delivery::{Claim, Lease};
use crosspost_core::retry::RetryPolicy;
use crosspost_core::{
    clock, AccountStore, Clock, DeliveryMessage, DeliveryOp, DeliveryRecord, DeliveryStore, Event,
    EventSink, Network, PostRecord, Publisher, StoreError,
};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;
use tracing::Instrument;

/// The stores, event sink and clock a worker works through.
pub struct Ports<S, A, E, C> {
    /// PostsTable.
    pub deliveries: S,
    /// AccountsTable, and the key that opens its tokens.
    pub accounts: A,
    /// Outbound events for the source app, when configured.
    pub events: Option<E>,
    pub clock: C,
}

/// One worker: the ports, the network it publishes to, and its retry policy.
pub struct DeliveryWorker<P, S, A, E, C> {
    pub network: Network,
    ports: Ports<S, A, E, C>,
    publisher: P,
    /// The queue this worker consumes, to set when a message comes back.
    queue: Option<WorkQueue>,
    policy: RetryPolicy,
    /// A random number in [0, 1) for the backoff's jitter.
    jitter: fn() -> f64,
    /// Accounts this instance saw rate limited, so the records of one batch that run
    /// at the same time hold back at once (the table holds it for everyone else).
    held: Mutex<HashMap<String, i64>>,
    /// The network's app-wide limit as last read (when, what), so a batch reads the
    /// LIMITS item once per [`APP_LIMIT_CACHE`], not before every part: at scale that
    /// item is one key every worker of a network would read.
    app_limit: Mutex<Option<(OffsetDateTime, Option<i64>)>>,
    /// Events of this batch's records, sent together by [`DeliveryWorker::flush_events`].
    pending_events: Mutex<Vec<crosspost_core::Envelope>>,
    /// Keeps expiring access tokens fresh, for networks whose tokens expire (X).
    tokens: Option<Box<dyn FreshTokens>>,
}

/// How long an instance trusts the app-wide limit it read. A limit set by another
/// instance is seen this much later at most; one this instance meets is seen at once.
pub const APP_LIMIT_CACHE: time::Duration = time::Duration::seconds(5);

/// The invocation the message arrived in: its request id owns the lease, which ends at
/// the invocation's deadline.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    /// Unix milliseconds.
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

/// A random number in [0, 1) from the operating system, for the backoff's jitter.
pub fn os_random() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

impl<P, S, A, E, C> DeliveryWorker<P, S, A, E, C>
where
    P: Publisher,
    S: DeliveryStore,
    A: AccountStore,
    E: EventSink,
    C: Clock,
{
    pub fn new(
        network: Network,
        ports: Ports<S, A, E, C>,
        publisher: P,
        queue: Option<WorkQueue>,
        policy: RetryPolicy,
    ) -> Self {
        DeliveryWorker {
            network,
            ports,
            publisher,
            queue,
            policy,
            jitter: os_random,
            held: Mutex::new(HashMap::new()),
            app_limit: Mutex::new(None),
            pending_events: Mutex::new(Vec::new()),
            tokens: None,
        }
    }

    /// Refreshes each account's access token before it is used, and once after the
    /// network refuses it.
    pub fn with_tokens(mut self, tokens: impl FreshTokens + 'static) -> Self {
        self.tokens = Some(Box::new(tokens));
        self
    }

    /// The stores, event sink and clock it works through.
    pub fn ports(&self) -> &Ports<S, A, E, C> {
        &self.ports
    }

    /// Draws the backoff's jitter from `jitter` instead of the operating system.
    pub fn with_jitter(mut self, jitter: fn() -> f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Works one message and sets when it comes back, for the batch driver.
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
        let next = self
            .work(&msg, inv, ctx.receive_count)
            .instrument(span.clone())
            .await;
        let _enter = span.enter();
        match next {
            Next::Done => RecordOutcome::Done,
            Next::RetryIn(wait) => {
                self.delay_message(ctx, wait).await;
                RecordOutcome::Retry
            }
        }
    }

    /// Works one message: what happens to it next. A store failure brings the message
    /// back after a backoff by its `receive_count`; a lost lease acknowledges it (the
    /// delivery is another invocation's now).
    pub async fn work(&self, msg: &DeliveryMessage, inv: &Invocation, receive_count: u32) -> Next {
        let result = match msg.op {
            DeliveryOp::Publish => self.publish(msg, inv).await,
            DeliveryOp::Delete => self.delete(msg, inv, receive_count).await,
        };
        match result {
            Ok(next) => next,
            Err(StoreError::Conflict(what)) => {
                tracing::warn!(%what, "lease lost; the delivery is another invocation's");
                Next::Done
            }
            Err(e) => {
                tracing::error!(error = %e, "delivery store failed; the message will come back");
                Next::RetryIn(self.policy.backoff(receive_count, (self.jitter)()))
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

    /// Claims the message's delivery for `op`: the lease and the delivery, or (not
    /// claimable) what happens to the message instead.
    async fn claim(
        &self,
        op: DeliveryOp,
        msg: &DeliveryMessage,
        inv: &Invocation,
    ) -> Result<Result<(Lease, DeliveryRecord, Option<Box<PostRecord>>), Next>, StoreError> {
        let key = crosspost_core::DeliveryKey {
            network: msg.network,
            account_id: msg.account_id.clone(),
        };
        let now = self.ports.clock.now();
        let lease_until = clock::from_unix_ms(inv.deadline_ms);
        let claim = self
            .ports
            .deliveries
            .claim(op, &msg.post_id, &key, &inv.request_id, lease_until, now)
            .await?;
        Ok(match claim {
            Claim::Claimed(lease, d, content) => Ok((lease, d, content)),
            Claim::NotClaimable(d) => {
                let next = rules::when_unclaimable(op, d.as_ref(), now);
                match &d {
                    None => tracing::error!("no such delivery; message dropped"),
                    Some(d) => {
                        tracing::info!(status = %d.status, ?next, "delivery not claimable now")
                    }
                }
                Err(next)
            }
        })
    }

    /// Writes the ending of a publish attempt that did not publish, with its metric and
    /// (when it ended for good) its event.
    async fn conclude_ending(
        &self,
        lease: &Lease,
        d: &DeliveryRecord,
        ending: Ending,
        post: Option<&PostRecord>,
    ) -> Result<Next, StoreError> {
        let now = self.ports.clock.now();
        self.ports
            .deliveries
            .conclude(lease, &ending.conclusion(now), now)
            .await?;
        match &ending {
            Ending::Retry { status, wait, .. } => {
                metrics::emit(Metric::Retried, self.network.as_str(), 1.0);
                tracing::info!(%status, wait_ms = wait.as_millis() as u64, "will try again");
            }
            Ending::End { status, error } => {
                metrics::emit(Metric::Failed, self.network.as_str(), 1.0);
                tracing::warn!(%status, kind = %error.kind, "delivery ended without publishing");
                let source_id = post.map(|p| p.source_id.as_str());
                self.event(Event::failed(d, source_id, *status, error))
                    .await;
            }
        }
        Ok(ending.next())
    }

    /// Keeps an outbound event for [`DeliveryWorker::flush_events`].
    async fn event(&self, event: Event) {
        if self.ports.events.is_none() {
            return;
        }
        let at = self.ports.clock.now();
        self.pending_events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(crate::events::stamp(event, at));
    }

    /// Queues the events the records worked so far made, in one SendMessageBatch per
    /// ten (the batch driver calls it once the batch's records are done). A failure is
    /// logged, never fails a delivery: the deliveries' records are written already.
    pub async fn flush_events(&self) {
        let events = std::mem::take(
            &mut *self
                .pending_events
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        let Some(sink) = self.ports.events.as_ref().filter(|_| !events.is_empty()) else {
            return;
        };
        if let Err(e) = sink.send_all(&events).await {
            tracing::error!(error = %e, events = events.len(), "could not queue the events");
        }
    }

    /// Until when (Unix seconds) the network holds this account (or the whole app)
    /// back, if it does.
    async fn held_until(
        &self,
        account: &crosspost_core::LinkedAccount,
    ) -> Result<Option<i64>, StoreError> {
        let now = self.ports.clock.now().unix_timestamp();
        let mut until = account.rate_limited_until.unwrap_or(0);
        if let Some(&seen) = self.held_lock().get(&account.account_id) {
            until = until.max(seen);
        }
        if let Some(app) = self.app_limit().await? {
            until = until.max(app);
        }
        Ok((until > now).then_some(until))
    }

    /// The network's app-wide limit (Unix seconds), read at most once per
    /// [`APP_LIMIT_CACHE`].
    async fn app_limit(&self) -> Result<Option<i64>, StoreError> {
        let now = self.ports.clock.now();
        let cached = *self
            .app_limit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((read_at, limit)) = cached.filter(|(at, _)| now - *at < APP_LIMIT_CACHE) {
            tracing::trace!(?read_at, "app-wide limit from this instance's cache");
            return Ok(limit);
        }
        let limit = self.ports.accounts.network_limit(self.network).await?;
        *self
            .app_limit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((now, limit));
        Ok(limit)
    }

    /// The delivery's account, opened, with the network's app-wide limit read with it
    /// when this instance's copy is stale ([`APP_LIMIT_CACHE`]): one BatchGetItem.
    /// Every record reads its account itself, so it sees what others did to it a
    /// moment ago (an unlink, a new link, a rate limit, a NEEDS_REAUTH); opening it
    /// costs no KMS call once the instance has its data key. Unusable accounts (gone,
    /// not ACTIVE) are the caller's ending.
    async fn account(
        &self,
        user_id: &str,
        account_id: &str,
    ) -> Result<Result<crosspost_core::LinkedAccount, Ending>, StoreError> {
        let now = self.ports.clock.now();
        let accounts = &self.ports.accounts;
        let limit_is_fresh = self
            .app_limit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some_and(|(at, _)| now - at < APP_LIMIT_CACHE);
        let sealed = if limit_is_fresh {
            accounts.get(user_id, self.network, account_id).await?
        } else {
            let (sealed, limit) = accounts
                .get_with_network_limit(user_id, self.network, account_id)
                .await?;
            *self
                .app_limit
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((now, limit));
            sealed
        };
        let sealed = match rules::usable_account(sealed) {
            Ok(sealed) => sealed,
            Err(ending) => return Ok(Err(ending)),
        };
        // Opened here, just before the network calls that need the token.
        Ok(Ok(accounts.open(&sealed).await?))
    }

    fn held_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes down that this account (or every account of the app) must not call the
    /// network before `until` (Unix seconds).
    async fn note_limit(
        &self,
        account: &crosspost_core::LinkedAccount,
        until: i64,
        scope: crosspost_core::RateLimitScope,
    ) -> Result<(), StoreError> {
        let accounts = &self.ports.accounts;
        match scope {
            crosspost_core::RateLimitScope::Account => {
                self.held_lock().insert(account.account_id.clone(), until);
                accounts
                    .set_rate_limited(&account.user_id, self.network, &account.account_id, until)
                    .await
            }
            crosspost_core::RateLimitScope::App => {
                let now = self.ports.clock.now();
                *self
                    .app_limit
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((now, Some(until)));
                accounts.set_network_limit(self.network, until).await
            }
        }
    }

    /// Waits without calling the network until `until_unix`, for `why` (a rate limit,
    /// or another post's first part with the same text): not an attempt.
    async fn hold(
        &self,
        lease: &Lease,
        d: &DeliveryRecord,
        until_unix: i64,
        why: &str,
    ) -> Result<Next, StoreError> {
        let now = self.ports.clock.now();
        let (conclusion, next) = rules::hold(d, until_unix, now);
        self.ports
            .deliveries
            .conclude(lease, &conclusion, now)
            .await?;
        tracing::info!(
            until_unix,
            ?next,
            why,
            "waiting without calling the network"
        );
        Ok(next)
    }
}
