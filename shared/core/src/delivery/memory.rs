//! In-memory implementations of the worker's ports, with the same conditions as the
//! DynamoDB adapters in `shared/aws` (claims, leased writes), for unit tests of the
//! state machine and the worker. Built for tests and with the `memory` feature.

use super::UploadedMedia;
use super::{
    rules, Claim, Conclusion, DeliveryKey, DeliveryOp, DeliveryRecord, DeliveryStatus,
    FirstPartLease, Lease, PostRecord, PublishedPart, Recorded,
};
use crate::event::Envelope;
use crate::ports::{AccountStore, DeliveryStore, EventSink, StoreError};
use crate::{AccountStatus, LinkedAccount, Network, PostId, SealedAccount, SealedToken, Secret};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use time::OffsetDateTime;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes one of the failures a test asked for, if any is left.
fn injected(failures: &AtomicUsize) -> Result<(), StoreError> {
    let left = failures.load(Ordering::SeqCst);
    if left > 0
        && failures
            .compare_exchange(left, left - 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    {
        return Err(StoreError::Backend {
            service: "memory",
            detail: "injected failure".into(),
        });
    }
    Ok(())
}

/// Posts and deliveries, as PostsTable holds them.
#[derive(Default)]
pub struct MemoryDeliveries {
    posts: Mutex<HashMap<PostId, PostRecord>>,
    deliveries: Mutex<HashMap<(PostId, DeliveryKey), DeliveryRecord>>,
    /// Which delivery each remote post belongs to, by network and remote id.
    remote_owners: Mutex<HashMap<(Network, String), (PostId, String)>>,
    /// First-part leases by key: the holder's post and when the lease expires.
    first_parts: Mutex<HashMap<String, (PostId, OffsetDateTime)>>,
    failures: AtomicUsize,
    /// Calls of `take_first_part_lease`.
    first_part_takes: AtomicUsize,
    /// Claims hand out no content, as for items written before intake embedded it.
    without_content: std::sync::atomic::AtomicBool,
}

impl MemoryDeliveries {
    /// Stores `post` with one PENDING delivery per key, as intake does.
    pub fn insert_post(&self, post: PostRecord, keys: &[DeliveryKey]) {
        let mut deliveries = lock(&self.deliveries);
        for key in keys {
            deliveries.insert(
                (post.post_id.clone(), key.clone()),
                DeliveryRecord {
                    post_id: post.post_id.clone(),
                    user_id: post.user_id.clone(),
                    network: key.network,
                    account_id: key.account_id.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    lease_owner: None,
                    lease_until: None,
                    next_attempt_at: None,
                    parts: Vec::new(),
                    uploads: Vec::new(),
                    remote_url: None,
                    last_error: None,
                    created_at: post.received_at,
                    updated_at: post.received_at,
                    prev_status: None,
                    unconfirmed_since: None,
                    first_part_taken: None,
                },
            );
        }
        lock(&self.posts).insert(post.post_id.clone(), post);
    }

    /// From now on claims hand out no content, as for delivery items written before
    /// intake embedded it: the worker reads the post.
    pub fn claims_without_content(&self) {
        self.without_content.store(true, Ordering::SeqCst);
    }

    /// Takes the first-part lease for a delivery and names it in the delivery, as
    /// intake does in its transaction; false (nothing written) when another post holds
    /// it.
    pub fn take_first_part_at_intake(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        digest: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> bool {
        let pk = crate::keys::first_part_pk(key.network, &key.account_id, digest);
        let mut leases = lock(&self.first_parts);
        if leases.get(&pk).is_some_and(|(_, until)| *until > now) {
            return false;
        }
        leases.insert(pk, (post_id.clone(), expires_at));
        self.update(post_id, key, |d| {
            d.first_part_taken = Some(super::TakenFirstPart {
                digest: digest.to_owned(),
                expires_at,
            })
        });
        true
    }

    /// How many times a delivery took a first-part lease.
    pub fn first_part_takes(&self) -> usize {
        self.first_part_takes.load(Ordering::SeqCst)
    }

    pub fn remove_post(&self, post_id: &PostId) {
        lock(&self.posts).remove(post_id);
    }

    pub fn delivery(&self, post_id: &PostId, key: &DeliveryKey) -> Option<DeliveryRecord> {
        lock(&self.deliveries)
            .get(&(post_id.clone(), key.clone()))
            .cloned()
    }

    /// Changes a stored delivery as another writer would (a test's setup).
    pub fn update(
        &self,
        post_id: &PostId,
        key: &DeliveryKey,
        change: impl FnOnce(&mut DeliveryRecord),
    ) {
        if let Some(d) = lock(&self.deliveries).get_mut(&(post_id.clone(), key.clone())) {
            change(d);
        }
    }

    /// The next `n` calls fail as a store that is down would.
    pub fn fail_next(&self, n: usize) {
        self.failures.store(n, Ordering::SeqCst);
    }

    /// Applies `write` to the leased delivery if the lease still holds.
    fn leased(
        &self,
        lease: &Lease,
        now: OffsetDateTime,
        write: impl FnOnce(&mut DeliveryRecord),
    ) -> Result<(), StoreError> {
        injected(&self.failures)?;
        let mut deliveries = lock(&self.deliveries);
        let held = deliveries
            .get_mut(&(lease.post_id().clone(), lease.key().clone()))
            .filter(|d| {
                d.status == lease.held_status() && d.lease_owner.as_deref() == Some(lease.owner())
            });
        let Some(d) = held else {
            return Err(StoreError::Conflict("lease lost".into()));
        };
        write(d);
        d.updated_at = now;
        Ok(())
    }
}

fn free_lease(d: &mut DeliveryRecord) {
    d.lease_owner = None;
    d.lease_until = None;
}

impl DeliveryStore for MemoryDeliveries {
    async fn get_post(&self, post_id: &PostId) -> Result<Option<PostRecord>, StoreError> {
        injected(&self.failures)?;
        Ok(lock(&self.posts).get(post_id).cloned())
    }

    async fn claim(
        &self,
        op: DeliveryOp,
        post_id: &PostId,
        key: &DeliveryKey,
        owner: &str,
        lease_until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Claim, StoreError> {
        injected(&self.failures)?;
        let mut deliveries = lock(&self.deliveries);
        let Some(d) = deliveries.get_mut(&(post_id.clone(), key.clone())) else {
            return Ok(Claim::NotClaimable(None));
        };
        let lease_ran_out = d.lease_until.is_some_and(|u| u < now);
        let claimable = match op {
            DeliveryOp::Publish => {
                (matches!(
                    d.status,
                    DeliveryStatus::Pending | DeliveryStatus::Retrying | DeliveryStatus::Uncertain
                ) && d.next_attempt_at.is_none_or(|at| at <= now))
                    || (d.status == DeliveryStatus::Publishing && lease_ran_out)
            }
            DeliveryOp::Delete => {
                d.status == DeliveryStatus::Deleting && (d.lease_until.is_none() || lease_ran_out)
            }
        };
        if !claimable {
            return Ok(Claim::NotClaimable(Some(d.clone())));
        }
        if op == DeliveryOp::Publish {
            d.prev_status = Some(d.status);
            d.unconfirmed_since.get_or_insert(now);
            d.status = DeliveryStatus::Publishing;
            d.attempts += 1;
        }
        d.lease_owner = Some(owner.to_owned());
        d.lease_until = Some(lease_until);
        d.updated_at = now;
        let lease = Lease::granted(post_id.clone(), key.clone(), owner, op, lease_until);
        let content = match self.without_content.load(Ordering::SeqCst) {
            true => None,
            false => lock(&self.posts).get(post_id).cloned().map(Box::new),
        };
        Ok(Claim::Claimed(lease, d.clone(), content))
    }

    async fn take_first_part_lease(
        &self,
        lease: &Lease,
        digest: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<FirstPartLease, StoreError> {
        injected(&self.failures)?;
        self.first_part_takes.fetch_add(1, Ordering::SeqCst);
        let key = lease.key();
        let pk = crate::keys::first_part_pk(key.network, &key.account_id, digest);
        let mut leases = lock(&self.first_parts);
        if let Some((holder, until)) = leases.get(&pk) {
            let holder_delivery = lock(&self.deliveries)
                .get(&(holder.clone(), key.clone()))
                .cloned();
            if holder != lease.post_id()
                && *until > now
                && !rules::first_part_settled(holder_delivery.as_ref())
            {
                if !rules::first_part_only_reserved(holder_delivery.as_ref(), digest) {
                    return Ok(FirstPartLease::HeldBy(holder.clone()));
                }
                // Taken over from a holder that only reserved it: its mark goes too.
                if let Some(d) = lock(&self.deliveries).get_mut(&(holder.clone(), key.clone())) {
                    d.first_part_taken = None;
                }
            }
        }
        leases.insert(pk, (lease.post_id().clone(), expires_at));
        Ok(FirstPartLease::Taken)
    }

    async fn record_part(
        &self,
        lease: &Lease,
        part: &PublishedPart,
        now: OffsetDateTime,
    ) -> Result<Recorded, StoreError> {
        let key = (lease.key().network, part.remote_id.clone());
        let ours = (lease.post_id().clone(), lease.key().account_id.clone());
        // The remote post's owner and the part are written together, as one
        // transaction does in the table.
        let mut owners = lock(&self.remote_owners);
        if let Some((post_id, account_id)) = owners.get(&key).filter(|owner| **owner != ours) {
            return Ok(Recorded::OwnedElsewhere {
                post_id: post_id.clone(),
                account_id: account_id.clone(),
            });
        }
        self.leased(lease, now, |d| {
            d.parts.push(part.clone());
            d.unconfirmed_since = Some(now);
        })?;
        owners.insert(key, ours);
        Ok(Recorded::Ours)
    }

    async fn record_upload(
        &self,
        lease: &Lease,
        upload: &UploadedMedia,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.leased(lease, now, |d| d.uploads.push(upload.clone()))
    }

    async fn conclude(
        &self,
        lease: &Lease,
        conclusion: &Conclusion,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.leased(lease, now, |d| {
            free_lease(d);
            match conclusion {
                Conclusion::Published { remote_url } => {
                    d.status = DeliveryStatus::Published;
                    if remote_url.is_some() {
                        d.remote_url.clone_from(remote_url);
                    }
                    d.next_attempt_at = None;
                    d.last_error = None;
                    d.unconfirmed_since = None;
                }
                Conclusion::Deferred { status, until } => {
                    d.status = *status;
                    d.next_attempt_at = Some(*until);
                    d.attempts = d.attempts.saturating_sub(1);
                }
                Conclusion::Retry {
                    status,
                    error,
                    next_attempt_at,
                } => {
                    d.status = *status;
                    d.last_error = Some(error.clone());
                    d.next_attempt_at = Some(*next_attempt_at);
                }
                Conclusion::Ended { status, error } => {
                    d.status = *status;
                    d.last_error = Some(error.clone());
                    d.next_attempt_at = None;
                }
                Conclusion::Delete { status, error } => {
                    d.status = *status;
                    d.last_error.clone_from(error);
                }
            }
        })
    }
}

/// Linked accounts, as AccountsTable holds them. Tokens are "sealed" by wrapping them
/// as they are: nothing here is a secret.
#[derive(Default)]
pub struct MemoryAccounts {
    accounts: Mutex<HashMap<(String, Network, String), SealedAccount>>,
    network_limits: Mutex<HashMap<Network, i64>>,
    failures: AtomicUsize,
    /// Reads of an account ([`AccountStore::get`]) so far.
    reads: AtomicUsize,
}

impl MemoryAccounts {
    pub fn insert(&self, account: LinkedAccount) {
        let access = SealedToken::new(account.access_token.expose());
        let refresh = account
            .refresh_token
            .as_ref()
            .map(|t| SealedToken::new(t.expose()));
        let sealed = account.with_tokens(access, refresh);
        lock(&self.accounts).insert(
            (
                sealed.user_id.clone(),
                sealed.network,
                sealed.account_id.clone(),
            ),
            sealed,
        );
    }

    pub fn remove(&self, user_id: &str, network: Network, account_id: &str) {
        lock(&self.accounts).remove(&(user_id.to_owned(), network, account_id.to_owned()));
    }

    pub fn account(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Option<SealedAccount> {
        lock(&self.accounts)
            .get(&(user_id.to_owned(), network, account_id.to_owned()))
            .cloned()
    }

    /// The next `n` calls fail as a store that is down would.
    pub fn fail_next(&self, n: usize) {
        self.failures.store(n, Ordering::SeqCst);
    }

    /// How many times an account was read.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    fn change(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
        f: impl FnOnce(&mut SealedAccount) -> bool,
    ) -> bool {
        lock(&self.accounts)
            .get_mut(&(user_id.to_owned(), network, account_id.to_owned()))
            .is_some_and(f)
    }
}

impl AccountStore for MemoryAccounts {
    async fn get(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Result<Option<SealedAccount>, StoreError> {
        injected(&self.failures)?;
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self.account(user_id, network, account_id))
    }

    async fn open(&self, account: &SealedAccount) -> Result<LinkedAccount, StoreError> {
        injected(&self.failures)?;
        let access = Secret::new(account.access_token.as_str());
        let refresh = account
            .refresh_token
            .as_ref()
            .map(|t| Secret::new(t.as_str()));
        Ok(account.clone().with_tokens(access, refresh))
    }

    async fn mark_needs_reauth(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
    ) -> Result<bool, StoreError> {
        injected(&self.failures)?;
        Ok(self.change(user_id, network, account_id, |a| {
            let was_active = a.status == AccountStatus::Active;
            a.status = AccountStatus::NeedsReauth;
            was_active
        }))
    }

    async fn set_rate_limited(
        &self,
        user_id: &str,
        network: Network,
        account_id: &str,
        until_unix: i64,
    ) -> Result<(), StoreError> {
        injected(&self.failures)?;
        // Only ever moves the time later, as the table's condition does.
        self.change(user_id, network, account_id, |a| {
            a.rate_limited_until = a.rate_limited_until.max(Some(until_unix));
            true
        });
        Ok(())
    }

    async fn network_limit(&self, network: Network) -> Result<Option<i64>, StoreError> {
        injected(&self.failures)?;
        Ok(lock(&self.network_limits).get(&network).copied())
    }

    async fn set_network_limit(&self, network: Network, until_unix: i64) -> Result<(), StoreError> {
        injected(&self.failures)?;
        let mut limits = lock(&self.network_limits);
        let until = limits.entry(network).or_insert(until_unix);
        *until = (*until).max(until_unix);
        Ok(())
    }
}

/// Events as the source app would receive them, in order.
#[derive(Default)]
pub struct MemoryEvents {
    sent: Mutex<Vec<Envelope>>,
}

impl MemoryEvents {
    pub fn sent(&self) -> Vec<Envelope> {
        lock(&self.sent).clone()
    }
}

impl EventSink for MemoryEvents {
    async fn send_all(&self, events: &[Envelope]) -> Result<(), StoreError> {
        lock(&self.sent).extend_from_slice(events);
        Ok(())
    }
}
