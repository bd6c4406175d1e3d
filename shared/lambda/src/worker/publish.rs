//! A publish: claim → prepare → publish the parts → conclude.

use super::DeliveryWorker;
use crate::metrics::{self, Metric};
use crosspost_core::delivery::rules::{self, Effect, Ending, Next};
use crosspost_core::delivery::{
    first_part_digest, Conclusion, FirstPartLease, Lease, Recorded, UploadedMedia,
};
use crosspost_core::preview::{adapt, extend_for_media};
use crosspost_core::{
    AccountStore, Clock, DeliveryMessage, DeliveryOp, DeliveryRecord, DeliveryStore, Event,
    EventSink, FailureReason, LinkedAccount, OutgoingPart, PostId, PostRecord, PublishError,
    PublishedPart, Publisher, RemotePost,
};
use crosspost_core::{DeliveryStatus, StoreError};
use time::OffsetDateTime;

/// Everything the parts need: the post, its parts as the network takes them, and the
/// account with a token that works.
struct Prepared {
    post: PostRecord,
    parts: Vec<String>,
    /// The post's media each part carries (positions in `post.media`), part by part.
    media: Vec<Vec<usize>>,
    account: LinkedAccount,
    /// The token was refreshed after a refusal in this attempt (once at most).
    refreshed: bool,
    /// Who holds the lease, named in a token refresh's own lease.
    owner: String,
}

/// What a lookup of a part with an unknown outcome found.
enum Lookup {
    /// A post the earlier attempt made, now recorded as this part.
    Adopted(PublishedPart),
    /// None this delivery may adopt; `foreign`: a match that is another delivery's or
    /// older than the part's first send.
    NotFound { foreign: bool },
}

/// How publishing the parts went.
enum PartsOutcome {
    /// Every part is on the network and recorded; `concluded`: PUBLISHED written with
    /// the last part.
    Published { concluded: bool },
    /// A rate limit holds the account until this Unix second: not an attempt.
    Held(i64),
    /// Another post's delivery is sending the same first part to the same account,
    /// its outcome not yet settled: this one waits, not an attempt.
    Waiting(PostId),
    /// A call failed: the attempt ends so.
    Failed(Ending),
}

impl<P, S, A, E, C> DeliveryWorker<P, S, A, E, C>
where
    P: Publisher,
    S: DeliveryStore,
    A: AccountStore,
    E: EventSink,
    C: Clock,
{
    pub(super) async fn publish(
        &self,
        msg: &DeliveryMessage,
        inv: &super::Invocation,
    ) -> Result<Next, StoreError> {
        let (lease, mut delivery, content) = match self.claim(DeliveryOp::Publish, msg, inv).await?
        {
            Ok(claimed) => claimed,
            Err(next) => return Ok(next),
        };
        tracing::info!(
            attempt = delivery.attempts,
            reconcile = delivery.needs_reconcile(),
            "delivery claimed"
        );
        let mut prepared = match self.prepare(&lease, &delivery, content).await? {
            Ok(prepared) => prepared,
            Err((ending, post)) => {
                return self
                    .conclude_ending(&lease, &delivery, ending, post.as_ref())
                    .await
            }
        };
        match self
            .publish_parts(&lease, &mut delivery, &mut prepared)
            .await?
        {
            PartsOutcome::Published { concluded } => {
                self.conclude_published(&lease, &delivery, &prepared.post, concluded)
                    .await
            }
            PartsOutcome::Held(until) => self.hold(&lease, &delivery, until, "rate limited").await,
            PartsOutcome::Waiting(holder) => {
                tracing::info!(%holder, "the same text is being sent to this account by another post; waiting for its outcome");
                let until = self.ports.clock.now().unix_timestamp() + rules::FIRST_PART_WAIT_SECS;
                self.hold(&lease, &delivery, until, "first part held by another post")
                    .await
            }
            PartsOutcome::Failed(ending) => {
                self.conclude_ending(&lease, &delivery, ending, Some(&prepared.post))
                    .await
            }
        }
    }

    /// The post, its parts and the account with a fresh token; or the ending when the
    /// delivery cannot be published (expired, post gone, account unusable, text too
    /// long, token refused), with the post when it was read. `content`: the post as
    /// the claimed item carries it; the post is read only when it carries none (an
    /// item written before intake embedded it, or a post too large to copy).
    async fn prepare(
        &self,
        lease: &Lease,
        d: &DeliveryRecord,
        content: Option<Box<PostRecord>>,
    ) -> Result<Result<Prepared, (Ending, Option<PostRecord>)>, StoreError> {
        if let Some(ending) = rules::expiry(d, &self.policy, self.ports.clock.now()) {
            return Ok(Err((ending, None)));
        }
        let post = match content {
            Some(post) => Some(*post),
            None => self.ports.deliveries.get_post(lease.post_id()).await?,
        };
        let Some(post) = post else {
            let ending = Ending::failed(FailureReason::PostMissing, "the post is gone");
            return Ok(Err((ending, None)));
        };
        let account = match self.account(&post.user_id, &d.account_id).await? {
            Ok(account) => account,
            Err(ending) => return Ok(Err((ending, Some(post)))),
        };
        let parts = match adapt(
            self.network,
            post.text_for(self.network, &d.account_id),
            post.link.as_deref(),
            !post.media.is_empty(),
            post.overflow,
            post.mentions,
        ) {
            Ok(parts) => parts,
            Err(too_long) => {
                let ending = Ending::failed(FailureReason::ContentTooLong, too_long.to_string());
                return Ok(Err((ending, Some(post))));
            }
        };
        let mut account = account;
        if let Some(tokens) = &self.tokens {
            match tokens.fresh(&account, lease.owner(), false).await {
                Ok(fresh) => account = fresh,
                Err(e) => {
                    let ending = self.after_failure(d, &account, e, false).await?;
                    return Ok(Err((ending, Some(post))));
                }
            }
        }
        // Which part carries which media, from the files' bytes: read each time, so a
        // resumed thread places them as the first attempt did (and skips any already
        // recorded with an earlier part, see `part_media`).
        let media = match self.publisher.media_parts(&post.media).await {
            Ok(media) => media,
            Err(e) => {
                let ending = self.after_failure(d, &account, e, false).await?;
                return Ok(Err((ending, Some(post))));
            }
        };
        let parts = extend_for_media(parts, media.len())
            .into_iter()
            .map(|p| p.text)
            .collect();
        Ok(Ok(Prepared {
            post,
            parts,
            media,
            account,
            refreshed: false,
            owner: lease.owner().to_owned(),
        }))
    }

    /// Publishes the parts not yet recorded, in order, each recorded before the next
    /// is sent; the first looked up on the network first when the last attempt's
    /// outcome is unknown. `d.parts` grows as parts are recorded.
    async fn publish_parts(
        &self,
        lease: &Lease,
        d: &mut DeliveryRecord,
        prepared: &mut Prepared,
    ) -> Result<PartsOutcome, StoreError> {
        let mut reconcile = d.needs_reconcile();
        let mut concluded = false;
        while d.parts.len() < prepared.parts.len() {
            if let Some(until) = self.held_until(&prepared.account).await? {
                return Ok(PartsOutcome::Held(until));
            }
            let index = d.parts.len();
            let attempted_at = self.ports.clock.now();
            // An earlier request for this part got no answer: look for what it made
            // before sending again.
            let unanswered = std::mem::take(&mut reconcile);
            let mut foreign_match = false;
            if unanswered {
                match self
                    .reconcile_part(lease, d, prepared, index, attempted_at)
                    .await?
                {
                    Ok(Lookup::Adopted(part)) => {
                        d.parts.push(part);
                        continue;
                    }
                    Ok(Lookup::NotFound { foreign }) => foreign_match = foreign,
                    // Whether the earlier attempt published is still unknown, so the
                    // next attempt must look again.
                    Err(e) => {
                        let ending = self.after_failure(d, &prepared.account, e, true).await?;
                        return Ok(PartsOutcome::Failed(ending.still_uncertain()));
                    }
                }
            }
            // One delivery at a time sends a given first part to an account, so a
            // lookup can never adopt another post's delivery's post. Intake takes the
            // lease with the delivery's item where it can.
            let digest = (index == 0).then(|| first_part_digest(&prepared.parts[0]));
            let expires_at = rules::first_part_lease_expires_at(d.created_at, self.policy.max_age);
            if let Some(digest) =
                digest.filter(|digest| !rules::holds_first_part_since_intake(d, digest, expires_at))
            {
                let taken = self
                    .ports
                    .deliveries
                    .take_first_part_lease(lease, &digest, expires_at, attempted_at)
                    .await?;
                if let FirstPartLease::HeldBy(holder) = taken {
                    return Ok(PartsOutcome::Waiting(holder));
                }
            }
            // The part's media go up first, each recorded as it is, so a later attempt
            // attaches them instead of uploading them again.
            let media_ids = match self.upload_part_media(lease, d, prepared, index).await? {
                Ok(ids) => ids,
                Err(e) => {
                    let ending = self.after_failure(d, &prepared.account, e, false).await?;
                    return Ok(PartsOutcome::Failed(ending));
                }
            };
            let remote = match self.send_part(d, prepared, index, &media_ids).await {
                Ok(remote) => remote,
                Err(e) => {
                    // A duplicate refusal is ours to look into only if our own
                    // unanswered request could have made the post it duplicates, and
                    // the lookup found nobody else's post that explains it.
                    let explained = unanswered && !foreign_match;
                    let ending = self
                        .after_failure(d, &prepared.account, e, explained)
                        .await?;
                    return Ok(PartsOutcome::Failed(ending));
                }
            };
            let hold = remote.hold;
            let part = PublishedPart {
                index: index as u32,
                remote_id: remote.id,
                url: Some(remote.url),
                attempted_at,
                media: media_positions(d, prepared, index),
            };
            // The last part's record concludes the delivery in the same write.
            let last = index + 1 == prepared.parts.len();
            let deliveries = &self.ports.deliveries;
            let now = self.ports.clock.now();
            let recorded = if last {
                let first_url = match index {
                    0 => part.url.clone(),
                    _ => d.parts.first().and_then(|p| p.url.clone()),
                };
                deliveries
                    .record_last_part(lease, &part, first_url.as_deref(), now)
                    .await?
            } else {
                deliveries.record_part(lease, &part, now).await?
            };
            concluded = last;
            if let Recorded::OwnedElsewhere { post_id, .. } = recorded {
                // The network gave a post it had just made for us an id another
                // delivery holds: the table, not the network, is wrong.
                return Err(StoreError::Corrupt {
                    key: format!("remote post {}", part.remote_id),
                    detail: format!("new, yet recorded by post {post_id}"),
                });
            }
            // Published, but the network is near a limit: later calls wait, as after a 429.
            if let Some((until, scope)) = hold {
                tracing::info!(
                    until_unix = until,
                    ?scope,
                    "network usage high; later calls wait"
                );
                let noted = self.note_limit(&prepared.account, until, scope).await;
                match noted {
                    // PUBLISHED is written: its event must still go out. This
                    // instance holds the limit already; others meet it themselves.
                    Err(e) if concluded => {
                        tracing::warn!(error = %e, "could not write down the limit");
                    }
                    other => other?,
                }
            }
            tracing::info!(part = index, of = prepared.parts.len(), remote_id = %part.remote_id, "part published");
            d.parts.push(part);
        }
        Ok(PartsOutcome::Published { concluded })
    }

    /// Looks on the network for part `index` made by an earlier attempt whose outcome
    /// is unknown, and records the first match this delivery may adopt: made after the
    /// part was first sent, and recorded by no other delivery. The outer Result is the
    /// store's; the inner one the network's.
    async fn reconcile_part(
        &self,
        lease: &Lease,
        d: &DeliveryRecord,
        prepared: &mut Prepared,
        index: usize,
        attempted_at: OffsetDateTime,
    ) -> Result<Result<Lookup, PublishError>, StoreError> {
        let window = rules::reconcile_window(d, self.ports.clock.now());
        let text = prepared.parts[index].clone();
        let reply_to = d.parts.last().map(|p| p.remote_id.clone());
        let media_count = part_media(d, prepared, index).len();
        let found = self
            .call_refreshing(prepared, async |p, a| {
                let lookup = crosspost_core::Lookup {
                    text: &text,
                    reply_to: reply_to.as_deref(),
                    media_count,
                    window,
                };
                p.reconcile(a, lookup).await
            })
            .await;
        let candidates = match found {
            Ok(candidates) => candidates,
            Err(e) => return Ok(Err(e)),
        };
        let matched = candidates.len();
        let adoptable = rules::adoptable(candidates, d.unconfirmed_since);
        let mut foreign = adoptable.len() < matched;
        for candidate in adoptable {
            let part = PublishedPart {
                index: index as u32,
                remote_id: candidate.post.id,
                url: Some(candidate.post.url),
                attempted_at,
                media: media_positions(d, prepared, index),
            };
            match self
                .ports
                .deliveries
                .record_part(lease, &part, self.ports.clock.now())
                .await?
            {
                Recorded::Ours => {
                    tracing::info!(part = index, remote_id = %part.remote_id, "reconciled: the earlier attempt had published");
                    metrics::emit(Metric::Reconciled, self.network.as_str(), 1.0);
                    return Ok(Ok(Lookup::Adopted(part)));
                }
                Recorded::OwnedElsewhere { post_id, .. } => {
                    tracing::info!(remote_id = %part.remote_id, owner = %post_id, "a matching post is another delivery's");
                    foreign = true;
                }
            }
        }
        Ok(Ok(Lookup::NotFound { foreign }))
    }

    /// Sends part `index`, as a reply to the part before it, named by its
    /// idempotency key `<post id>.<index>`.
    async fn send_part(
        &self,
        d: &DeliveryRecord,
        prepared: &mut Prepared,
        index: usize,
        media_ids: &[String],
    ) -> Result<RemotePost, PublishError> {
        let reply_to = d.parts.last().map(|p| p.remote_id.clone());
        let text = prepared.parts[index].clone();
        let media: Vec<_> = part_media(d, prepared, index)
            .into_iter()
            .filter_map(|i| prepared.post.media.get(i).cloned())
            .collect();
        let link = prepared.post.link.clone();
        let mentions = prepared.post.mentions;
        let key = format!("{}.{index}", d.post_id);
        self.call_refreshing(prepared, async |p, a| {
            let part = OutgoingPart {
                index,
                text: &text,
                media: &media,
                media_ids,
                link: link.as_deref(),
                key: &key,
                mentions,
            };
            p.publish_part(a, part, reply_to.as_deref()).await
        })
        .await
    }

    /// Uploads the media of part `index` ahead of it, where the network takes uploads
    /// ahead ([`Publisher::upload_media`]): each recorded on the delivery as soon as
    /// it is up, and one recorded by an earlier attempt (within
    /// [`UploadedMedia::USABLE_FOR`]) reused instead of uploaded again. An upload the
    /// network was still processing when its wait ran out (a long video) is recorded
    /// as such and the attempt ends `Retryable`; the next one asks whether it is ready
    /// ([`Publisher::media_processed`]), so each attempt waits on the same upload
    /// instead of starting over. The ids in the part's order, or none when the network
    /// takes media with the post. The outer Result is the store's; the inner one the
    /// network's.
    async fn upload_part_media(
        &self,
        lease: &Lease,
        d: &mut DeliveryRecord,
        prepared: &mut Prepared,
        index: usize,
    ) -> Result<Result<Vec<String>, PublishError>, StoreError> {
        let mut ids = Vec::new();
        for i in part_media(d, prepared, index) {
            let now = self.ports.clock.now();
            let earlier =
                d.uploads.iter().rev().find(|u| {
                    u.index as usize == i && now - u.uploaded_at < UploadedMedia::USABLE_FOR
                });
            if let Some(earlier) = earlier {
                let (id, processing) = (earlier.remote_id.clone(), earlier.processing);
                tracing::info!(media = i, media_id = %id, processing, "media uploaded by an earlier attempt");
                if processing {
                    let ready = self
                        .call_refreshing(prepared, async |p, a| p.media_processed(a, &id).await)
                        .await;
                    if let Err(e) = ready {
                        return Ok(Err(e));
                    }
                }
                ids.push(id);
                continue;
            }
            let Some(item) = prepared.post.media.get(i).cloned() else {
                continue;
            };
            let uploaded = self
                .call_refreshing(prepared, async |p, a| p.upload_media(a, &item).await)
                .await;
            let uploaded = match uploaded {
                Ok(Some(uploaded)) => uploaded,
                // The network takes media with the post.
                Ok(None) => return Ok(Ok(Vec::new())),
                Err(e) => return Ok(Err(e)),
            };
            let upload = UploadedMedia {
                index: i as u32,
                remote_id: uploaded.id,
                uploaded_at: self.ports.clock.now(),
                processing: uploaded.processing,
            };
            self.ports
                .deliveries
                .record_upload(lease, &upload, upload.uploaded_at)
                .await?;
            ids.push(upload.remote_id.clone());
            let still_processing = upload.processing.then(|| upload.remote_id.clone());
            d.uploads.push(upload);
            if let Some(id) = still_processing {
                return Ok(Err(PublishError::Retryable {
                    after: None,
                    detail: format!("the network is still processing media {id}"),
                }));
            }
        }
        Ok(Ok(ids))
    }

    /// Makes a network call; if the network refuses the token and a refresh is possible
    /// (once per attempt), refreshes it and makes the call once more with the new one.
    async fn call_refreshing<T>(
        &self,
        prepared: &mut Prepared,
        call: impl AsyncFn(&P, &LinkedAccount) -> Result<T, PublishError>,
    ) -> Result<T, PublishError> {
        let result = call(&self.publisher, &prepared.account).await;
        if !matches!(result, Err(PublishError::AuthRevoked { .. })) {
            return result;
        }
        let Some(tokens) = self.tokens.as_ref().filter(|_| !prepared.refreshed) else {
            return result;
        };
        prepared.refreshed = true;
        tracing::info!("the network refused the token; refreshing it once");
        prepared.account = tokens
            .fresh(&prepared.account, &prepared.owner, true)
            .await?;
        call(&self.publisher, &prepared.account).await
    }

    /// What a failed call means for this delivery, with the account-wide effects (rate
    /// limits, a refused token) written down first.
    async fn after_failure(
        &self,
        d: &DeliveryRecord,
        account: &LinkedAccount,
        err: PublishError,
        unanswered: bool,
    ) -> Result<Ending, StoreError> {
        tracing::warn!(kind = err.kind(), error = %err, "network call failed");
        let verdict = rules::after_failure(
            &err,
            d.attempts,
            unanswered,
            &self.policy,
            (self.jitter)(),
            self.ports.clock.now(),
        );
        match verdict.effect {
            None => {}
            Some(Effect::Hold { until_unix, scope }) => {
                self.note_limit(account, until_unix, scope).await?;
                metrics::emit(Metric::RateLimited, self.network.as_str(), 1.0);
            }
            Some(Effect::NeedsReauth) => {
                let accounts = &self.ports.accounts;
                let (user, id) = (&account.user_id, &account.account_id);
                if accounts.mark_needs_reauth(user, self.network, id).await? {
                    self.event(Event::needs_reauth(account)).await;
                } else if accounts.get(user, self.network, id).await?.is_none() {
                    // Unlinked while this delivery was under way (its tokens revoked).
                    return Ok(Ending::failed(
                        FailureReason::AccountUnlinked,
                        "the account was unlinked while the post was being published",
                    ));
                }
            }
        }
        Ok(verdict.ending)
    }

    /// Every part is out: PUBLISHED (unless the last part's record wrote it,
    /// `concluded`), its metrics and its event.
    async fn conclude_published(
        &self,
        lease: &Lease,
        d: &DeliveryRecord,
        post: &PostRecord,
        concluded: bool,
    ) -> Result<Next, StoreError> {
        let now = self.ports.clock.now();
        if !concluded {
            let remote_url = d.parts.first().and_then(|p| p.url.clone());
            self.ports
                .deliveries
                .conclude(lease, &Conclusion::Published { remote_url }, now)
                .await?;
        }
        metrics::emit(Metric::Published, self.network.as_str(), 1.0);
        let latency = (now - post.received_at).whole_milliseconds();
        metrics::emit(
            Metric::PublishLatencyMs,
            self.network.as_str(),
            latency as f64,
        );
        tracing::info!(parts = d.parts.len(), "published");
        let mut published = d.clone();
        published.status = DeliveryStatus::Published;
        self.event(Event::published(post, &published)).await;
        Ok(Next::Done)
    }
}

/// The media part `index` carries: those the plan places there, but none an earlier
/// part of this delivery was recorded with (a thread never sends a file twice, even if
/// the plan has changed since).
fn part_media(d: &DeliveryRecord, prepared: &Prepared, index: usize) -> Vec<usize> {
    let sent: Vec<u32> = d
        .parts
        .iter()
        .flat_map(|p| p.media.iter().copied())
        .collect();
    prepared
        .media
        .get(index)
        .map(|m| {
            m.iter()
                .copied()
                .filter(|i| !sent.contains(&(*i as u32)))
                .collect()
        })
        .unwrap_or_default()
}

/// [`part_media`] as recorded with the part.
fn media_positions(d: &DeliveryRecord, prepared: &Prepared, index: usize) -> Vec<u32> {
    part_media(d, prepared, index)
        .into_iter()
        .map(|i| i as u32)
        .collect()
}
