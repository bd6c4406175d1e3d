//! The worker on the in-memory ports: every transition of DESIGN section 4 as the
//! worker drives it, with a scripted network. No emulator is started.

use super::{DeliveryWorker, Invocation, Ports};
use crosspost_core::clock::FixedClock;
use crosspost_core::delivery::memory::{MemoryAccounts, MemoryDeliveries, MemoryEvents};
use crosspost_core::delivery::rules::Next;
use crosspost_core::retry::RetryPolicy;
use crosspost_core::{
    AccountStatus, Clock, DeliveryKey, DeliveryMessage, DeliveryOp, DeliveryRecord, DeliveryStatus,
    Event, LinkedAccount, MediaItem, Network, OutgoingPart, Overflow, PostId, PostRecord,
    PublishError, Publisher, RateLimitScope, RemotePost, Secret, Upload, Window,
};
use crosspost_core::{Candidate, Lookup};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// A network that answers from a script and remembers what it was asked.
#[derive(Default)]
struct ScriptedNetwork {
    /// The answers to the next publish calls; an empty script publishes.
    publish: Mutex<VecDeque<Result<(), PublishError>>>,
    /// The answers to the next reconcile calls; an empty script finds nothing.
    reconcile: Mutex<VecDeque<Result<Vec<Candidate>, PublishError>>>,
    /// The answers to the next delete calls; an empty script deletes.
    delete: Mutex<VecDeque<Result<(), PublishError>>>,
    /// Every part sent: its text and the part it replied to.
    sent: Mutex<Vec<(String, Option<String>)>>,
    looked_up: Mutex<Vec<(Window, Option<String>)>>,
    deleted: Mutex<Vec<String>>,
    /// Like X: media uploaded ahead, this many per part; None: media go with the post.
    media_per_part: Option<usize>,
    /// Every upload: the media URL.
    uploaded: Mutex<Vec<String>>,
    /// The media ids each sent part attached.
    attached: Mutex<Vec<Vec<String>>>,
    /// The access token each publish call used.
    tokens_used: Mutex<Vec<String>>,
    /// Uploads are still being processed when made, and until this many asks of
    /// `media_processed` (the last one finds the media ready).
    processing_asks: Mutex<usize>,
    /// The media ids `media_processed` was asked about.
    processed_asks: Mutex<Vec<String>>,
}

impl ScriptedNetwork {
    /// The next publish call not yet scripted answers `answer`.
    fn then_publish(&self, answer: Result<(), PublishError>) {
        self.publish.lock().unwrap().push_back(answer);
    }

    /// The next lookup not yet scripted answers `answer`.
    fn then_reconcile(&self, answer: Result<Vec<Candidate>, PublishError>) {
        self.reconcile.lock().unwrap().push_back(answer);
    }

    /// The next delete call not yet scripted answers `answer`.
    fn then_delete(&self, answer: Result<(), PublishError>) {
        self.delete.lock().unwrap().push_back(answer);
    }
}

/// A post the network lists, made at `created`.
fn candidate(id: &str, created: OffsetDateTime) -> Candidate {
    Candidate {
        post: remote(id),
        created_unix: created.unix_timestamp(),
    }
}

fn remote(id: &str) -> RemotePost {
    RemotePost {
        id: id.into(),
        url: format!("https://x.com/i/status/{id}"),
        hold: None,
    }
}

impl Publisher for ScriptedNetwork {
    async fn media_parts(&self, media: &[MediaItem]) -> Result<Vec<Vec<usize>>, PublishError> {
        let per = self.media_per_part.unwrap_or(media.len().max(1));
        let all: Vec<usize> = (0..media.len()).collect();
        Ok(all.chunks(per).map(<[usize]>::to_vec).collect())
    }

    async fn upload_media(
        &self,
        _: &LinkedAccount,
        item: &MediaItem,
    ) -> Result<Option<Upload>, PublishError> {
        if self.media_per_part.is_none() {
            return Ok(None);
        }
        let mut uploaded = self.uploaded.lock().unwrap();
        uploaded.push(item.url.clone());
        let id = format!("m{}", uploaded.len());
        // Scripted: the network is still processing this upload for the next N asks.
        let processing = *self.processing_asks.lock().unwrap() > 0;
        Ok(Some(Upload { id, processing }))
    }

    async fn media_processed(&self, _: &LinkedAccount, media_id: &str) -> Result<(), PublishError> {
        self.processed_asks
            .lock()
            .unwrap()
            .push(media_id.to_owned());
        let mut left = self.processing_asks.lock().unwrap();
        *left = left.saturating_sub(1);
        if *left > 0 {
            return Err(PublishError::Retryable {
                after: None,
                detail: format!("still processing {media_id}"),
            });
        }
        Ok(())
    }

    async fn publish_part(
        &self,
        account: &LinkedAccount,
        part: OutgoingPart<'_>,
        reply_to: Option<&str>,
    ) -> Result<RemotePost, PublishError> {
        self.tokens_used
            .lock()
            .unwrap()
            .push(account.access_token.expose().to_owned());
        let answer = self.publish.lock().unwrap().pop_front().unwrap_or(Ok(()));
        answer?;
        self.attached.lock().unwrap().push(part.media_ids.to_vec());
        let mut sent = self.sent.lock().unwrap();
        sent.push((part.text.to_owned(), reply_to.map(str::to_owned)));
        Ok(remote(&format!("r{}", sent.len())))
    }

    async fn reconcile(
        &self,
        _: &LinkedAccount,
        lookup: Lookup<'_>,
    ) -> Result<Vec<Candidate>, PublishError> {
        let reply_to = lookup.reply_to.map(str::to_owned);
        self.looked_up
            .lock()
            .unwrap()
            .push((lookup.window, reply_to));
        self.reconcile
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(Vec::new()))
    }

    async fn delete_part(&self, _: &LinkedAccount, remote_id: &str) -> Result<(), PublishError> {
        self.delete.lock().unwrap().pop_front().unwrap_or(Ok(()))?;
        self.deleted.lock().unwrap().push(remote_id.to_owned());
        Ok(())
    }
}

type Worker =
    DeliveryWorker<ScriptedNetwork, MemoryDeliveries, MemoryAccounts, MemoryEvents, FixedClock>;

const ACCOUNT: &str = "42";
const USER: &str = "u1";

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn key() -> DeliveryKey {
    DeliveryKey {
        network: Network::X,
        account_id: ACCOUNT.into(),
    }
}

fn account(id: &str) -> LinkedAccount {
    LinkedAccount {
        user_id: USER.into(),
        network: Network::X,
        account_id: id.into(),
        display_name: "Lily".into(),
        status: AccountStatus::Active,
        access_token: Secret::new("token"),
        rate_limited_until: None,
        refresh_token: None,
        access_expires_at: None,
        token_version: 1,
    }
}

fn worker(network: ScriptedNetwork) -> Worker {
    let ports = Ports {
        deliveries: MemoryDeliveries::default(),
        accounts: MemoryAccounts::default(),
        events: Some(MemoryEvents::default()),
        clock: FixedClock::at(t0()),
    };
    ports.accounts.insert(account(ACCOUNT));
    let policy = RetryPolicy {
        base: Duration::from_secs(2),
        cap: Duration::from_secs(900),
        max_attempts: 3,
        max_age: Duration::from_secs(24 * 3600),
    };
    DeliveryWorker::new(Network::X, ports, network, None, policy).with_jitter(|| 1.0)
}

/// A post with `text` to the account, as intake stores it.
fn post(w: &Worker, n: u8, text: &str) -> PostId {
    post_with_media(w, n, text, Vec::new())
}

/// A post with `text` and `media` to the account, as intake stores it.
fn post_with_media(w: &Worker, n: u8, text: &str, media: Vec<MediaItem>) -> PostId {
    let post_id = PostId::parse(&format!("0190a0b0-0000-7000-8000-0000000000{n:02}")).unwrap();
    w.ports().deliveries.insert_post(
        PostRecord {
            post_id: post_id.clone(),
            user_id: USER.into(),
            source_id: format!("s{n}"),
            text: text.into(),
            media,
            link: None,
            overflow: Overflow::Thread,
            created_at: None,
            received_at: w.ports().clock.now(),
            mentions: Default::default(),
            texts: Vec::new(),
        },
        &[key()],
    );
    post_id
}

async fn work(w: &Worker, post_id: &PostId, op: DeliveryOp, request: &str) -> Next {
    let msg = DeliveryMessage {
        op,
        post_id: post_id.clone(),
        network: Network::X,
        account_id: ACCOUNT.into(),
    };
    let now = w.ports().clock.now();
    let inv = Invocation {
        request_id: request.into(),
        deadline_ms: crosspost_core::clock::unix_ms(now + time::Duration::seconds(60)),
    };
    let next = w.work(&msg, &inv, 1).await;
    w.flush_events().await;
    next
}

fn delivery(w: &Worker, post_id: &PostId) -> DeliveryRecord {
    w.ports().deliveries.delivery(post_id, &key()).unwrap()
}

fn event_kinds(w: &Worker) -> Vec<&'static str> {
    let events = w.ports().events.as_ref().unwrap().sent();
    events.iter().map(|e| e.event.kind()).collect()
}

fn advance(w: &Worker, secs: i64) {
    w.ports().clock.advance(time::Duration::seconds(secs));
}

/// A Chinese text long enough for three X parts.
fn three_part_text() -> String {
    ["第一部分。", "第二部分。", "第三部分。"]
        .iter()
        .map(|p| p.repeat(25))
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[tokio::test]
async fn a_post_is_published_recorded_and_announced() {
    let w = worker(ScriptedNetwork::default());
    let id = post(&w, 1, "早安，今天也要加油！");
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-1").await,
        Next::Done
    );
    let d = delivery(&w, &id);
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Published, 1));
    assert_eq!(d.parts.len(), 1);
    assert_eq!(d.remote_url.as_deref(), Some("https://x.com/i/status/r1"));
    let events = w.ports().events.as_ref().unwrap().sent();
    let Event::DeliveryPublished {
        remote_ids,
        source_id,
        ..
    } = &events[0].event
    else {
        panic!("{events:?}");
    };
    assert_eq!(
        (remote_ids.as_slice(), source_id.as_str()),
        (["r1".to_owned()].as_slice(), "s1")
    );
    // Another copy of the message changes nothing.
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-2").await,
        Next::Done
    );
    assert_eq!(w.publisher.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_delivery_written_without_its_content_reads_the_post() {
    // Items written before intake copied the content into them.
    let w = worker(ScriptedNetwork::default());
    w.ports().deliveries.claims_without_content();
    let id = post(&w, 1, "早安，今天也要加油！");
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-1").await,
        Next::Done
    );
    let d = delivery(&w, &id);
    assert_eq!((d.status, d.parts.len()), (DeliveryStatus::Published, 1));
    let sent = w.publisher.sent.lock().unwrap().clone();
    assert_eq!(sent[0].0, "早安，今天也要加油！");
    // And one whose post is gone ends so.
    let gone = post(&w, 2, "晚安");
    w.ports().deliveries.remove_post(&gone);
    work(&w, &gone, DeliveryOp::Publish, "req-2").await;
    let d = delivery(&w, &gone);
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.last_error.unwrap().kind.as_str(), "post_missing");
}

#[tokio::test]
async fn each_record_reads_its_account_so_an_unlink_a_moment_ago_is_seen() {
    let w = worker(ScriptedNetwork::default());
    let (a, b) = (post(&w, 41, "一"), post(&w, 42, "二"));
    work(&w, &a, DeliveryOp::Publish, "req-1").await;
    assert_eq!(delivery(&w, &a).status, DeliveryStatus::Published);
    // Unlinked a second later (a Facebook Page token cannot be withdrawn: only the
    // worker's own read stops the post), while the same invocation is at work.
    advance(&w, 1);
    w.ports().accounts.remove(USER, Network::X, ACCOUNT);
    work(&w, &b, DeliveryOp::Publish, "req-1").await;
    let d = delivery(&w, &b);
    assert_eq!(d.status, DeliveryStatus::Failed, "{d:?}");
    assert_eq!(d.last_error.unwrap().kind.as_str(), "account_unlinked");
    assert_eq!(w.publisher.sent.lock().unwrap().len(), 1, "b sent nothing");
    assert_eq!(w.ports().accounts.reads(), 2);
}

#[tokio::test]
async fn a_record_after_a_new_link_uses_the_new_token() {
    let w = worker(ScriptedNetwork::default());
    let (a, b) = (post(&w, 43, "一"), post(&w, 44, "二"));
    work(&w, &a, DeliveryOp::Publish, "req-1").await;
    advance(&w, 1);
    let mut relinked = account(ACCOUNT);
    relinked.access_token = Secret::new("token-after-relink");
    relinked.token_version = 2;
    w.ports().accounts.insert(relinked);
    work(&w, &b, DeliveryOp::Publish, "req-1").await;
    assert_eq!(delivery(&w, &b).status, DeliveryStatus::Published);
    let tokens = w.publisher.tokens_used.lock().unwrap().clone();
    assert_eq!(
        tokens.last().map(String::as_str),
        Some("token-after-relink")
    );
}

#[tokio::test]
async fn a_rate_limit_another_instance_set_holds_the_next_record() {
    use crosspost_core::AccountStore;
    let w = worker(ScriptedNetwork::default());
    let (a, b) = (post(&w, 45, "一"), post(&w, 46, "二"));
    work(&w, &a, DeliveryOp::Publish, "req-1").await;
    advance(&w, 1);
    let until = w.ports().clock.now().unix_timestamp() + 900;
    w.ports()
        .accounts
        .set_rate_limited(USER, Network::X, ACCOUNT, until)
        .await
        .unwrap();
    work(&w, &b, DeliveryOp::Publish, "req-1").await;
    assert_eq!(
        w.publisher.sent.lock().unwrap().len(),
        1,
        "b waits, no call"
    );
    assert_ne!(delivery(&w, &b).status, DeliveryStatus::Published);
}

#[tokio::test]
async fn an_account_flagged_needs_reauth_by_one_record_is_read_again_by_the_next() {
    let net = ScriptedNetwork::default();
    net.then_publish(Err(PublishError::AuthRevoked {
        detail: "401".into(),
    }));
    let w = worker(net);
    let (a, b) = (post(&w, 1, "一"), post(&w, 2, "二"));
    work(&w, &a, DeliveryOp::Publish, "req-1").await;
    assert_eq!(delivery(&w, &a).status, DeliveryStatus::NeedsReauth);
    work(&w, &b, DeliveryOp::Publish, "req-1").await;
    // The second record saw the flag, and did not call the network.
    assert_eq!(w.ports().accounts.reads(), 2);
    let d = delivery(&w, &b);
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert_eq!(d.last_error.unwrap().kind.as_str(), "account_needs_reauth");
    assert!(w.publisher.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_thread_replies_part_to_part_and_resumes_after_its_last_recorded_part() {
    let net = ScriptedNetwork::default();
    net.publish.lock().unwrap().extend([
        Ok(()),
        Err(PublishError::Retryable {
            after: None,
            detail: "503".into(),
        }),
    ]);
    let w = worker(net);
    let id = post(&w, 2, &three_part_text());
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-1").await,
        Next::RetryIn(Duration::from_secs(2))
    );
    let d = delivery(&w, &id);
    assert_eq!((d.status, d.parts.len()), (DeliveryStatus::Retrying, 1));

    advance(&w, 2);
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-2").await,
        Next::Done
    );
    let d = delivery(&w, &id);
    assert_eq!(
        (d.status, d.parts.len(), d.attempts),
        (DeliveryStatus::Published, 3, 2)
    );
    let sent = w.publisher.sent.lock().unwrap().clone();
    // Part 1 once; parts 2 and 3 each reply to the part before.
    assert_eq!(sent.len(), 3);
    assert!(sent[0].0.contains("第一部分") && sent[0].1.is_none());
    assert_eq!(sent[1].1.as_deref(), Some("r1"));
    assert_eq!(sent[2].1.as_deref(), Some("r2"));
}

#[tokio::test]
async fn an_unknown_outcome_is_looked_up_and_a_found_post_is_adopted_not_sent_again() {
    let net = ScriptedNetwork::default();
    net.then_publish(Err(PublishError::Uncertain {
        detail: "timed out".into(),
    }));
    net.then_reconcile(Ok(vec![candidate("already-there", t0())]));
    let w = worker(net);
    let id = post(&w, 3, "早安");
    assert!(matches!(
        work(&w, &id, DeliveryOp::Publish, "req-1").await,
        Next::RetryIn(_)
    ));
    assert_eq!(delivery(&w, &id).status, DeliveryStatus::Uncertain);

    advance(&w, 10);
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-2").await,
        Next::Done
    );
    let d = delivery(&w, &id);
    assert_eq!(d.status, DeliveryStatus::Published);
    assert_eq!(d.parts[0].remote_id, "already-there");
    assert!(w.publisher.sent.lock().unwrap().is_empty());
    // The lookup covered the first attempt.
    let windows = w.publisher.looked_up.lock().unwrap().clone();
    assert_eq!(
        windows[0].0.since_unix,
        t0().unix_timestamp() - crosspost_core::delivery::rules::DUPLICATE_LOOKBACK_SECS
    );
}

#[tokio::test]
async fn a_failed_lookup_keeps_the_delivery_uncertain_and_sends_nothing() {
    let net = ScriptedNetwork::default();
    net.then_publish(Err(PublishError::Uncertain {
        detail: "reset".into(),
    }));
    net.then_reconcile(Err(PublishError::Retryable {
        after: None,
        detail: "503".into(),
    }));
    let w = worker(net);
    let id = post(&w, 4, "早安");
    work(&w, &id, DeliveryOp::Publish, "req-1").await;
    advance(&w, 10);
    assert!(matches!(
        work(&w, &id, DeliveryOp::Publish, "req-2").await,
        Next::RetryIn(_)
    ));
    assert_eq!(delivery(&w, &id).status, DeliveryStatus::Uncertain);
    assert!(w.publisher.sent.lock().unwrap().is_empty());
    // Nothing found the third time: it is sent.
    advance(&w, 10);
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-3").await,
        Next::Done
    );
    assert_eq!(w.publisher.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_rate_limit_holds_the_account_and_its_other_deliveries_wait_without_calling() {
    let reset = t0().unix_timestamp() + 600;
    let net = ScriptedNetwork::default();
    net.then_publish(Err(PublishError::RateLimited {
        until_unix: Some(reset),
        scope: RateLimitScope::Account,
        detail: "429".into(),
    }));
    let w = worker(net);
    let first = post(&w, 5, "一");
    let second = post(&w, 6, "二");
    assert_eq!(
        work(&w, &first, DeliveryOp::Publish, "req-1").await,
        Next::RetryIn(Duration::from_secs(600))
    );
    let account = w
        .ports()
        .accounts
        .account(USER, Network::X, ACCOUNT)
        .unwrap();
    assert_eq!(account.rate_limited_until, Some(reset));
    assert_eq!(
        delivery(&w, &first).last_error.unwrap().kind,
        "rate_limited"
    );

    // The second waits until the reset without an attempt and without a call.
    assert_eq!(
        work(&w, &second, DeliveryOp::Publish, "req-2").await,
        Next::RetryIn(Duration::from_secs(600))
    );
    let d = delivery(&w, &second);
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Retrying, 0));
    assert_eq!(d.next_attempt_at.unwrap().unix_timestamp(), reset);
    assert!(w.publisher.sent.lock().unwrap().is_empty());

    advance(&w, 600);
    assert_eq!(
        work(&w, &second, DeliveryOp::Publish, "req-3").await,
        Next::Done
    );
    assert_eq!(delivery(&w, &second).status, DeliveryStatus::Published);
}

#[tokio::test]
async fn an_app_wide_limit_holds_every_account() {
    let net = ScriptedNetwork::default();
    net.then_publish(Err(PublishError::RateLimited {
        until_unix: Some(t0().unix_timestamp() + 60),
        scope: RateLimitScope::App,
        detail: "app 429".into(),
    }));
    let w = worker(net);
    let first = post(&w, 7, "一");
    work(&w, &first, DeliveryOp::Publish, "req-1").await;
    assert_eq!(
        crosspost_core::AccountStore::network_limit(&w.ports().accounts, Network::X)
            .await
            .unwrap(),
        Some(t0().unix_timestamp() + 60)
    );
    let second = post(&w, 8, "二");
    assert_eq!(
        work(&w, &second, DeliveryOp::Publish, "req-2").await,
        Next::RetryIn(Duration::from_secs(60))
    );
    assert!(w.publisher.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_app_wide_limit_another_instance_set_is_seen_within_the_cache_time() {
    let w = worker(ScriptedNetwork::default());
    let first = post(&w, 9, "一");
    work(&w, &first, DeliveryOp::Publish, "req-1").await;
    // Another instance meets the app's cap: this one read the limit a moment ago.
    let until = t0().unix_timestamp() + 600;
    crosspost_core::AccountStore::set_network_limit(&w.ports().accounts, Network::X, until)
        .await
        .unwrap();
    let second = post(&w, 10, "二");
    work(&w, &second, DeliveryOp::Publish, "req-2").await;
    assert_eq!(delivery(&w, &second).status, DeliveryStatus::Published);
    // Once the cached read is APP_LIMIT_CACHE old, the limit holds this instance too.
    advance(&w, super::APP_LIMIT_CACHE.whole_seconds());
    let third = post(&w, 11, "三");
    assert!(matches!(
        work(&w, &third, DeliveryOp::Publish, "req-3").await,
        Next::RetryIn(_)
    ));
    assert_eq!(w.publisher.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_refused_token_flags_the_account_and_ends_needs_reauth_with_two_events() {
    let net = ScriptedNetwork::default();
    net.then_publish(Err(PublishError::AuthRevoked {
        detail: "401".into(),
    }));
    let w = worker(net);
    let id = post(&w, 9, "早安");
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-1").await,
        Next::Done
    );
    assert_eq!(delivery(&w, &id).status, DeliveryStatus::NeedsReauth);
    let account = w
        .ports()
        .accounts
        .account(USER, Network::X, ACCOUNT)
        .unwrap();
    assert_eq!(account.status, AccountStatus::NeedsReauth);
    assert_eq!(event_kinds(&w), ["account.needs_reauth", "delivery.failed"]);
    // The next post to that account fails at once, without a call.
    let next = post(&w, 10, "晚安");
    assert_eq!(
        work(&w, &next, DeliveryOp::Publish, "req-2").await,
        Next::Done
    );
    assert_eq!(
        delivery(&w, &next).last_error.unwrap().kind,
        "account_needs_reauth"
    );
}

#[tokio::test]
async fn an_account_unlinked_before_or_during_the_attempt_fails_account_unlinked() {
    let w = worker(ScriptedNetwork::default());
    let id = post(&w, 11, "早安");
    w.ports().accounts.remove(USER, Network::X, ACCOUNT);
    work(&w, &id, DeliveryOp::Publish, "req-1").await;
    let d = delivery(&w, &id);
    assert_eq!(
        (d.status, d.last_error.unwrap().kind),
        (DeliveryStatus::Failed, "account_unlinked".parse().unwrap())
    );
    assert!(w.publisher.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn expiry_post_loss_and_a_permanent_refusal_end_the_delivery_failed() {
    let net = ScriptedNetwork::default();
    net.then_publish(Err(PublishError::Permanent {
        reason: "not allowed".into(),
    }));
    let w = worker(net);
    let refused = post(&w, 12, "早安");
    work(&w, &refused, DeliveryOp::Publish, "req-1").await;
    assert_eq!(delivery(&w, &refused).last_error.unwrap().kind, "permanent");

    let gone = post(&w, 13, "早安");
    w.ports().deliveries.remove_post(&gone);
    work(&w, &gone, DeliveryOp::Publish, "req-2").await;
    assert_eq!(delivery(&w, &gone).last_error.unwrap().kind, "post_missing");

    let old = post(&w, 14, "早安");
    advance(&w, 24 * 3600 + 1);
    work(&w, &old, DeliveryOp::Publish, "req-3").await;
    assert_eq!(delivery(&w, &old).last_error.unwrap().kind, "expired");
    assert_eq!(w.publisher.sent.lock().unwrap().len(), 0);
    assert_eq!(event_kinds(&w), ["delivery.failed"; 3]);
}

#[tokio::test]
async fn the_last_attempt_ends_failed_with_the_network_error() {
    let net = ScriptedNetwork::default();
    let busy = || {
        Err(PublishError::Retryable {
            after: None,
            detail: "503".into(),
        })
    };
    net.publish.lock().unwrap().extend([busy(), busy(), busy()]);
    let w = worker(net);
    let id = post(&w, 15, "早安");
    for (n, request) in ["req-1", "req-2", "req-3"].into_iter().enumerate() {
        let next = work(&w, &id, DeliveryOp::Publish, request).await;
        assert_eq!(next == Next::Done, n == 2, "attempt {n}: {next:?}");
        advance(&w, 900);
    }
    let d = delivery(&w, &id);
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Failed, 3));
    assert_eq!(d.last_error.unwrap().kind, "retryable");
}

#[tokio::test]
async fn a_delivery_leased_by_a_live_invocation_is_left_alone() {
    let w = worker(ScriptedNetwork::default());
    let id = post(&w, 16, "早安");
    w.ports().deliveries.update(&id, &key(), |d| {
        d.status = DeliveryStatus::Publishing;
        d.lease_owner = Some("other".into());
        d.lease_until = Some(t0() + time::Duration::seconds(30));
    });
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-1").await,
        Next::RetryIn(Duration::from_secs(5))
    );
    assert!(w.publisher.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_store_that_is_down_brings_the_message_back_later() {
    let w = worker(ScriptedNetwork::default());
    let id = post(&w, 17, "早安");
    w.ports().deliveries.fail_next(1);
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-1").await,
        Next::RetryIn(Duration::from_secs(2))
    );
    assert_eq!(delivery(&w, &id).status, DeliveryStatus::Pending);
}

#[tokio::test]
async fn text_too_long_under_reject_fails_without_a_call() {
    let w = worker(ScriptedNetwork::default());
    let id = PostId::parse("0190a0b0-0000-7000-8000-000000000099").unwrap();
    w.ports().deliveries.insert_post(
        PostRecord {
            post_id: id.clone(),
            user_id: USER.into(),
            source_id: "long".into(),
            text: three_part_text(),
            media: Vec::new(),
            link: None,
            overflow: Overflow::Reject,
            created_at: None,
            received_at: t0(),
            mentions: Default::default(),
            texts: Vec::new(),
        },
        &[key()],
    );
    work(&w, &id, DeliveryOp::Publish, "req-1").await;
    assert_eq!(
        delivery(&w, &id).last_error.unwrap().kind,
        "content_too_long"
    );
    assert!(w.publisher.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_delete_removes_every_part_newest_first_or_says_why_not() {
    let w = worker(ScriptedNetwork::default());
    let id = post(&w, 18, &three_part_text());
    work(&w, &id, DeliveryOp::Publish, "req-1").await;
    let mark_deleting = |w: &Worker| {
        w.ports()
            .deliveries
            .update(&id, &key(), |d| d.status = DeliveryStatus::Deleting)
    };

    // A temporary failure keeps it DELETING; a refusal leaves it PUBLISHED.
    mark_deleting(&w);
    w.publisher.then_delete(Err(PublishError::Retryable {
        after: None,
        detail: "503".into(),
    }));
    assert!(matches!(
        work(&w, &id, DeliveryOp::Delete, "del-1").await,
        Next::RetryIn(_)
    ));
    assert_eq!(delivery(&w, &id).status, DeliveryStatus::Deleting);
    w.publisher.then_delete(Err(PublishError::Permanent {
        reason: "no".into(),
    }));
    assert_eq!(work(&w, &id, DeliveryOp::Delete, "del-2").await, Next::Done);
    let d = delivery(&w, &id);
    assert_eq!(
        (d.status, d.last_error.unwrap().kind),
        (
            DeliveryStatus::Published,
            "delete_permanent".parse().unwrap()
        )
    );

    mark_deleting(&w);
    assert_eq!(work(&w, &id, DeliveryOp::Delete, "del-3").await, Next::Done);
    let d = delivery(&w, &id);
    assert_eq!((d.status, d.last_error), (DeliveryStatus::Deleted, None));
    assert_eq!(*w.publisher.deleted.lock().unwrap(), ["r3", "r2", "r1"]);

    // A delete message for a delivery that is not DELETING is acknowledged.
    assert_eq!(work(&w, &id, DeliveryOp::Delete, "del-4").await, Next::Done);
}

#[tokio::test]
async fn a_delete_for_an_unlinked_account_keeps_the_post_published() {
    let w = worker(ScriptedNetwork::default());
    let id = post(&w, 19, "早安");
    work(&w, &id, DeliveryOp::Publish, "req-1").await;
    w.ports()
        .deliveries
        .update(&id, &key(), |d| d.status = DeliveryStatus::Deleting);
    w.ports().accounts.remove(USER, Network::X, ACCOUNT);
    assert_eq!(work(&w, &id, DeliveryOp::Delete, "del-1").await, Next::Done);
    let d = delivery(&w, &id);
    assert_eq!(
        (d.status, d.last_error.unwrap().kind),
        (
            DeliveryStatus::Published,
            "account_needs_reauth".parse().unwrap()
        )
    );
    assert!(w.publisher.deleted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_same_text_twice_fails_the_second_as_a_duplicate_and_never_takes_the_first_post() {
    let w = worker(ScriptedNetwork::default());
    let first = post(&w, 20, "早安，今天也要加油！");
    work(&w, &first, DeliveryOp::Publish, "req-1").await;
    assert_eq!(delivery(&w, &first).parts[0].remote_id, "r1");

    advance(&w, 5);
    let second = post(&w, 21, "早安，今天也要加油！");
    w.publisher.then_publish(Err(PublishError::Duplicate {
        detail: "X answered 403: You are not allowed to create a Tweet with duplicate content."
            .into(),
    }));
    assert_eq!(
        work(&w, &second, DeliveryOp::Publish, "req-2").await,
        Next::Done
    );
    let d = delivery(&w, &second);
    assert_eq!(d.status, DeliveryStatus::Failed);
    let error = d.last_error.unwrap();
    assert_eq!(error.kind, "duplicate_content");
    assert!(
        error.message.contains("duplicate content"),
        "{}",
        error.message
    );
    assert!(d.parts.is_empty());
    assert_eq!(event_kinds(&w), ["delivery.published", "delivery.failed"]);
}

#[tokio::test]
async fn a_lookup_never_adopts_another_deliverys_post_or_one_older_than_the_first_send() {
    let w = worker(ScriptedNetwork::default());
    let first = post(&w, 22, "早安");
    work(&w, &first, DeliveryOp::Publish, "req-1").await;

    advance(&w, 30);
    let second = post(&w, 23, "早安");
    let sent = w.ports().clock.now();
    w.publisher.then_publish(Err(PublishError::Uncertain {
        detail: "timed out".into(),
    }));
    work(&w, &second, DeliveryOp::Publish, "req-2").await;
    assert_eq!(delivery(&w, &second).status, DeliveryStatus::Uncertain);

    // The lookup lists the first delivery's post (as if made after our send) and an
    // older post of the account: neither is ours. The send then meets the duplicate
    // refusal, which those posts explain: FAILED, not retried.
    w.publisher.then_reconcile(Ok(vec![
        candidate("r1", sent + time::Duration::seconds(1)),
        candidate("older", sent - time::Duration::seconds(120)),
    ]));
    w.publisher.then_publish(Err(PublishError::Duplicate {
        detail: "duplicate content".into(),
    }));
    advance(&w, 10);
    assert_eq!(
        work(&w, &second, DeliveryOp::Publish, "req-3").await,
        Next::Done
    );
    let d = delivery(&w, &second);
    assert_eq!(
        (d.status, d.last_error.unwrap().kind),
        (DeliveryStatus::Failed, "duplicate_content".parse().unwrap())
    );
    assert!(d.parts.is_empty());
    assert_eq!(delivery(&w, &first).parts[0].remote_id, "r1");
}

/// Takes the first-part lease of `post_id`'s delivery of `text` as intake does.
fn lease_at_intake(w: &Worker, post_id: &PostId, text: &str) -> bool {
    let now = w.ports().clock.now();
    let expires_at = crosspost_core::delivery::rules::first_part_lease_expires_at(
        now,
        Duration::from_secs(24 * 3600),
    );
    let digest = crosspost_core::delivery::first_part_digest(text);
    w.ports()
        .deliveries
        .take_first_part_at_intake(post_id, &key(), &digest, expires_at, now)
}

#[tokio::test]
async fn a_first_part_leased_at_intake_is_sent_without_taking_the_lease_again() {
    let net = ScriptedNetwork::default();
    net.then_publish(Err(PublishError::Retryable {
        after: None,
        detail: "503".into(),
    }));
    let w = worker(net);
    let first = post(&w, 30, "早安");
    assert!(lease_at_intake(&w, &first, "早安"));
    // A second post with the same text finds the lease held at its intake.
    let second = post(&w, 31, "早安");
    assert!(!lease_at_intake(&w, &second, "早安"));
    work(&w, &first, DeliveryOp::Publish, "req-1").await;
    assert_eq!(delivery(&w, &first).status, DeliveryStatus::Retrying);
    assert_eq!(w.ports().deliveries.first_part_takes(), 0);
    // The second, which intake could not lease for, takes it and waits: the first's
    // first part is unsettled.
    work(&w, &second, DeliveryOp::Publish, "req-2").await;
    assert_eq!(w.ports().deliveries.first_part_takes(), 1);
    let waiting = delivery(&w, &second);
    assert_eq!(
        (waiting.status, waiting.attempts),
        (DeliveryStatus::Retrying, 0)
    );
    // The first's next attempt still holds it from intake.
    advance(&w, 2);
    work(&w, &first, DeliveryOp::Publish, "req-3").await;
    assert_eq!(delivery(&w, &first).status, DeliveryStatus::Published);
    assert_eq!(w.ports().deliveries.first_part_takes(), 1);
    assert_eq!(w.publisher.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_lease_only_reserved_by_a_post_never_claimed_is_taken_over() {
    // The first post's message was never queued: it reserved the lease at intake and
    // sent nothing. The second, with the same text, does not wait for it.
    let w = worker(ScriptedNetwork::default());
    let first = post(&w, 33, "早安");
    assert!(lease_at_intake(&w, &first, "早安"));
    let second = post(&w, 34, "早安");
    assert!(!lease_at_intake(&w, &second, "早安"));
    work(&w, &second, DeliveryOp::Publish, "req-1").await;
    assert_eq!(delivery(&w, &second).status, DeliveryStatus::Published);
    assert_eq!(
        delivery(&w, &first).first_part_taken,
        None,
        "its mark dropped"
    );
    // The first, queued at last, takes the lease like any delivery (its holder's
    // first part is recorded now) instead of sending on a lease it no longer holds.
    work(&w, &first, DeliveryOp::Publish, "req-2").await;
    assert_eq!(w.ports().deliveries.first_part_takes(), 2);
    assert_eq!(delivery(&w, &first).status, DeliveryStatus::Published);
}

#[tokio::test]
async fn a_lease_taken_at_intake_for_another_text_is_taken_when_publishing() {
    // Intake's digest and the worker's differ (the rules changed in between): the
    // worker takes the lease for the text it sends.
    let w = worker(ScriptedNetwork::default());
    let id = post(&w, 32, "早安");
    assert!(lease_at_intake(&w, &id, "another text"));
    work(&w, &id, DeliveryOp::Publish, "req-1").await;
    assert_eq!(w.ports().deliveries.first_part_takes(), 1);
    assert_eq!(delivery(&w, &id).status, DeliveryStatus::Published);
}

#[tokio::test]
async fn a_same_text_post_waits_while_another_posts_first_part_is_unsettled() {
    let w = worker(ScriptedNetwork::default());
    let first = post(&w, 24, "早安，今天也要加油！");
    let first_sent = w.ports().clock.now();
    w.publisher.then_publish(Err(PublishError::Uncertain {
        detail: "connection reset".into(),
    }));
    work(&w, &first, DeliveryOp::Publish, "req-1").await;
    assert_eq!(delivery(&w, &first).status, DeliveryStatus::Uncertain);

    // The same greeting again, while the first's outcome is unknown: it waits, without
    // an attempt and without calling the network. Another text to the account goes out.
    advance(&w, 2);
    let second = post(&w, 25, "早安，今天也要加油！");
    let other = post(&w, 26, "晚安");
    work(&w, &second, DeliveryOp::Publish, "req-2").await;
    let waiting = delivery(&w, &second);
    assert_eq!(
        (waiting.status, waiting.attempts, waiting.parts.len()),
        (DeliveryStatus::Retrying, 0, 0)
    );
    assert_eq!(
        waiting.next_attempt_at,
        Some(w.ports().clock.now() + time::Duration::seconds(15))
    );
    work(&w, &other, DeliveryOp::Publish, "req-3").await;
    assert_eq!(delivery(&w, &other).status, DeliveryStatus::Published);
    assert_eq!(
        w.publisher.sent.lock().unwrap().len(),
        1,
        "only 晚安 was sent"
    );

    // The first finds its post and adopts it; the second, sent then, meets X's
    // duplicate refusal and fails so, never holding the first one's post.
    w.publisher
        .then_reconcile(Ok(vec![candidate("r9", first_sent)]));
    advance(&w, 15);
    work(&w, &first, DeliveryOp::Publish, "req-4").await;
    assert_eq!(delivery(&w, &first).parts[0].remote_id, "r9");
    assert_eq!(delivery(&w, &first).status, DeliveryStatus::Published);
    w.publisher.then_publish(Err(PublishError::Duplicate {
        detail: "duplicate content".into(),
    }));
    work(&w, &second, DeliveryOp::Publish, "req-5").await;
    let d = delivery(&w, &second);
    assert_eq!(
        (d.status, d.attempts, d.last_error.unwrap().kind),
        (
            DeliveryStatus::Failed,
            1,
            "duplicate_content".parse().unwrap()
        )
    );
    assert!(d.parts.is_empty());
}

#[tokio::test]
async fn a_duplicate_after_our_own_unanswered_request_is_looked_for_again() {
    let net = ScriptedNetwork::default();
    net.publish.lock().unwrap().extend([
        Err(PublishError::Uncertain {
            detail: "reset after send".into(),
        }),
        Err(PublishError::Duplicate {
            detail: "duplicate content".into(),
        }),
    ]);
    let w = worker(net);
    let id = post(&w, 24, "早安");
    work(&w, &id, DeliveryOp::Publish, "req-1").await;
    advance(&w, 10);
    // The lookup finds nothing yet (the network shows its posts a little late), and
    // the send meets the duplicate our own first request made: look again later.
    assert!(matches!(
        work(&w, &id, DeliveryOp::Publish, "req-2").await,
        Next::RetryIn(_)
    ));
    assert_eq!(delivery(&w, &id).status, DeliveryStatus::Uncertain);
    // Now the network shows it: adopted, not sent again.
    let made = t0() + time::Duration::seconds(1);
    w.publisher
        .then_reconcile(Ok(vec![candidate("made-by-us", made)]));
    advance(&w, 900);
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-3").await,
        Next::Done
    );
    let d = delivery(&w, &id);
    assert_eq!(
        (d.status, d.parts[0].remote_id.as_str()),
        (DeliveryStatus::Published, "made-by-us")
    );
    assert!(w.publisher.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_reply_whose_parent_is_not_visible_yet_is_retried_and_published() {
    let net = ScriptedNetwork::default();
    net.publish.lock().unwrap().extend([
        Ok(()),
        Err(PublishError::ParentNotVisible {
            detail: "X answered 400: the Tweet you are replying to has been deleted or is not visible to you.".into(),
        }),
    ]);
    let w = worker(net);
    let id = post(&w, 25, &three_part_text());
    assert!(matches!(
        work(&w, &id, DeliveryOp::Publish, "req-1").await,
        Next::RetryIn(_)
    ));
    let d = delivery(&w, &id);
    assert_eq!((d.status, d.parts.len()), (DeliveryStatus::Retrying, 1));
    assert_eq!(d.last_error.unwrap().kind, "reply_parent_unavailable");
    advance(&w, 900);
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-2").await,
        Next::Done
    );
    let sent = w.publisher.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[1].1.as_deref(), Some("r1"));
}

#[tokio::test]
async fn a_duplicate_of_an_older_post_seen_by_the_lookup_fails_at_once() {
    let net = ScriptedNetwork::default();
    net.publish.lock().unwrap().extend([
        Err(PublishError::Uncertain {
            detail: "reset after send".into(),
        }),
        Err(PublishError::Duplicate {
            detail: "(#506) Duplicate status message".into(),
        }),
    ]);
    let w = worker(net);
    let id = post(&w, 26, "早安");
    work(&w, &id, DeliveryOp::Publish, "req-1").await;
    // The lookup reads back past the first send and sees an older post of that text:
    // the refusal is about that post, not ours.
    let older = t0() - time::Duration::seconds(600);
    w.publisher
        .then_reconcile(Ok(vec![candidate("older", older)]));
    advance(&w, 10);
    assert_eq!(
        work(&w, &id, DeliveryOp::Publish, "req-2").await,
        Next::Done
    );
    let d = delivery(&w, &id);
    assert_eq!(
        (d.status, d.last_error.unwrap().kind),
        (DeliveryStatus::Failed, "duplicate_content".parse().unwrap())
    );
}

#[tokio::test]
async fn nine_photos_go_four_per_part_and_a_retried_part_attaches_its_earlier_uploads() {
    let network = ScriptedNetwork {
        media_per_part: Some(4),
        ..ScriptedNetwork::default()
    };
    // Parts 1 and 2 publish; part 3's post fails after its photo went up.
    network.publish.lock().unwrap().extend([
        Ok(()),
        Ok(()),
        Err(PublishError::Retryable {
            after: None,
            detail: "503".into(),
        }),
    ]);
    let w = worker(network);
    let media: Vec<MediaItem> = (1..=9)
        .map(|n| MediaItem {
            url: format!("https://cdn.example.com/{n}.jpg"),
            alt: Some(format!("照片 {n}")),
            content_type: None,
        })
        .collect();
    let id = post_with_media(&w, 77, "九张照片", media);
    work(&w, &id, DeliveryOp::Publish, "req-1").await;
    let d = delivery(&w, &id);
    assert_eq!(d.status, DeliveryStatus::Retrying);
    assert_eq!(d.parts.len(), 2);
    assert_eq!(d.uploads.len(), 9, "part 3's photo is recorded as uploaded");
    advance(&w, 3600);
    work(&w, &id, DeliveryOp::Publish, "req-2").await;
    let d = delivery(&w, &id);
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    let media: Vec<Vec<u32>> = d.parts.iter().map(|p| p.media.clone()).collect();
    assert_eq!(media, [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8]]);
    let network = &w.publisher;
    assert_eq!(
        network.uploaded.lock().unwrap().len(),
        9,
        "none uploaded twice"
    );
    let ids = |r: std::ops::RangeInclusive<usize>| -> Vec<String> {
        r.map(|n| format!("m{n}")).collect()
    };
    assert_eq!(
        *network.attached.lock().unwrap(),
        [ids(1..=4), ids(5..=8), ids(9..=9)]
    );
    let sent: Vec<String> = network
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.0.clone())
        .collect();
    assert_eq!(
        sent,
        ["九张照片", "", ""],
        "parts 2 and 3 carry only photos"
    );
}

#[tokio::test]
async fn a_video_still_processing_is_asked_about_again_not_uploaded_again() {
    // The network is still processing the video when its wait runs out, and on the
    // next attempt; it is ready on the one after.
    let network = ScriptedNetwork {
        media_per_part: Some(1),
        processing_asks: Mutex::new(2),
        ..ScriptedNetwork::default()
    };
    let w = worker(network);
    let video = MediaItem {
        url: "https://cdn.example.com/long.mp4".into(),
        alt: None,
        content_type: None,
    };
    let id = post_with_media(&w, 78, "一段长视频", vec![video]);
    for (attempt, owner) in ["req-1", "req-2"].into_iter().enumerate() {
        work(&w, &id, DeliveryOp::Publish, owner).await;
        let d = delivery(&w, &id);
        assert_eq!(
            d.status,
            DeliveryStatus::Retrying,
            "attempt {}",
            attempt + 1
        );
        assert_eq!(d.last_error.unwrap().kind, "retryable");
        assert_eq!(d.uploads.len(), 1);
        assert!(d.uploads[0].processing);
        advance(&w, 3600);
    }
    work(&w, &id, DeliveryOp::Publish, "req-3").await;
    let d = delivery(&w, &id);
    assert_eq!(d.status, DeliveryStatus::Published, "{d:?}");
    let network = &w.publisher;
    assert_eq!(network.uploaded.lock().unwrap().len(), 1, "uploaded once");
    assert_eq!(*network.processed_asks.lock().unwrap(), ["m1", "m1"]);
    assert_eq!(*network.attached.lock().unwrap(), [vec!["m1".to_string()]]);
    assert_eq!(
        network.sent.lock().unwrap().len(),
        1,
        "sent once, when ready"
    );
}
