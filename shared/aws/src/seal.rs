//! Sealing tokens before they reach DynamoDB: KMS envelope encryption. Each account's
//! token is encrypted with AES-256-GCM under a data key from KMS GenerateDataKey; the
//! account's key is both the GCM associated data and the KMS encryption context, so a
//! sealed token copied onto another account does not open. Data keys are cached per
//! cold start for a bounded time, by account (sealing) and by encrypted key (opening).
//!
//! Sealed form: `v1.<encrypted data key>.<nonce>.<ciphertext>`, base64url without
//! padding.

use crate::StoreError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use crosspost_core::Secret;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a data key is reused.
const DATA_KEY_TTL: Duration = Duration::from_secs(5 * 60);
const CONTEXT_KEY: &str = "account";

/// A data key: its plaintext and its KMS-encrypted form.
#[derive(Clone)]
struct DataKey {
    plaintext: Vec<u8>,
    encrypted: Vec<u8>,
}

/// Data keys kept for [`DATA_KEY_TTL`] from when they were made; a stale one is never
/// given out, and stale ones are dropped whenever a key is kept.
struct KeyCache<K> {
    keys: Mutex<HashMap<K, (DataKey, Instant)>>,
}

impl<K: std::hash::Hash + Eq> KeyCache<K> {
    fn new() -> Self {
        KeyCache {
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn fresh<Q>(&self, key: &Q) -> Option<DataKey>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        lock(&self.keys)
            .get(key)
            .filter(|(_, made)| made.elapsed() < DATA_KEY_TTL)
            .map(|(k, _)| k.clone())
    }

    fn keep(&self, key: K, data_key: DataKey) {
        let mut keys = lock(&self.keys);
        keys.retain(|_, (_, made)| made.elapsed() < DATA_KEY_TTL);
        keys.insert(key, (data_key, Instant::now()));
    }
}

pub struct Sealer {
    kms: aws_sdk_kms::Client,
    key_id: String,
    /// The key each account's new tokens are sealed with.
    by_account: KeyCache<String>,
    /// Keys opened, by their encrypted form.
    by_encrypted: KeyCache<Vec<u8>>,
    /// Held while a key missing from [`Sealer::by_encrypted`] is opened: the records
    /// of a batch that miss at once make one Decrypt, not one each.
    opening: tokio::sync::Mutex<()>,
}

fn broken(detail: impl Into<String>) -> StoreError {
    StoreError::Backend {
        service: "kms",
        detail: detail.into(),
    }
}

impl Sealer {
    pub fn new(kms: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Sealer {
            kms,
            key_id: key_id.into(),
            by_account: KeyCache::new(),
            by_encrypted: KeyCache::new(),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    /// Seals `token` for the account whose key is `account_key`.
    pub async fn seal(&self, account_key: &str, token: &Secret) -> Result<String, StoreError> {
        let DataKey {
            plaintext,
            encrypted,
        } = self.data_key_for(account_key).await?;
        let cipher =
            Aes256Gcm::new_from_slice(&plaintext).map_err(|_| broken("bad data key length"))?;
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| broken(format!("no randomness: {e}")))?;
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: token.expose().as_bytes(),
                    aad: account_key.as_bytes(),
                },
            )
            .map_err(|_| broken("encryption failed"))?;
        Ok(format!(
            "v1.{}.{}.{}",
            B64.encode(&encrypted),
            B64.encode(nonce),
            B64.encode(sealed)
        ))
    }

    /// Opens a sealed token of the account whose key is `account_key`; a token sealed
    /// for another account, or altered, does not open.
    pub async fn unseal(&self, account_key: &str, sealed: &str) -> Result<Secret, StoreError> {
        let parts: Vec<&str> = sealed.split('.').collect();
        let [version, key, nonce, body] = parts.as_slice() else {
            return Err(broken("a sealed token has four parts"));
        };
        if *version != "v1" {
            return Err(broken(format!("unknown sealed-token version {version}")));
        }
        let decode = |p: &str| {
            B64.decode(p)
                .map_err(|_| broken("a sealed token is not base64url"))
        };
        let (encrypted, nonce, body) = (decode(key)?, decode(nonce)?, decode(body)?);
        if nonce.len() != 12 {
            return Err(broken("a sealed token's nonce must be 12 bytes"));
        }
        let plaintext = self.open_data_key(account_key, &encrypted).await?;
        let cipher =
            Aes256Gcm::new_from_slice(&plaintext).map_err(|_| broken("bad data key length"))?;
        let opened = cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &body,
                    aad: account_key.as_bytes(),
                },
            )
            .map_err(|_| broken("the sealed token does not open for this account"))?;
        String::from_utf8(opened)
            .map(Secret::new)
            .map_err(|_| broken("the sealed token is not text"))
    }

    async fn data_key_for(&self, account_key: &str) -> Result<DataKey, StoreError> {
        if let Some(k) = self.by_account.fresh(account_key) {
            return Ok(k);
        }
        let out = self
            .kms
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, account_key)
            .send()
            .await
            .map_err(|e| crate::backend("kms", e.into_service_error()))?;
        let key = DataKey {
            plaintext: out
                .plaintext
                .ok_or_else(|| broken("no plaintext data key"))?
                .into_inner(),
            encrypted: out
                .ciphertext_blob
                .ok_or_else(|| broken("no encrypted data key"))?
                .into_inner(),
        };
        self.by_account.keep(account_key.to_owned(), key.clone());
        Ok(key)
    }

    async fn open_data_key(
        &self,
        account_key: &str,
        encrypted: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        if let Some(k) = self.by_encrypted.fresh(encrypted) {
            return Ok(k.plaintext);
        }
        let _opening = self.opening.lock().await;
        // Opened by another record while this one waited.
        if let Some(k) = self.by_encrypted.fresh(encrypted) {
            return Ok(k.plaintext);
        }
        let out = self
            .kms
            .decrypt()
            .ciphertext_blob(Blob::new(encrypted.to_vec()))
            .encryption_context(CONTEXT_KEY, account_key)
            .send()
            .await
            .map_err(|e| crate::backend("kms", e.into_service_error()))?;
        let plaintext = out
            .plaintext
            .ok_or_else(|| broken("no plaintext data key"))?
            .into_inner();
        self.by_encrypted.keep(
            encrypted.to_vec(),
            DataKey {
                plaintext: plaintext.clone(),
                encrypted: encrypted.to_vec(),
            },
        );
        Ok(plaintext)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
