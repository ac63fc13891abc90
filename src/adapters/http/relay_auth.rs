//! Who may call the Relay endpoint: checks a request's signature against the Relay's public key,
//! which comes from configuration or is fetched from `{RELAY_URL}/public-key` and cached.
//!
//! A fetched key is refreshed every `key_refresh`; when a signature fails, the key is fetched
//! again at most once a minute, so a Relay key rotation heals by itself without letting a stream
//! of bad signatures hammer the Relay.

use std::{
    sync::RwLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use ed25519_dalek::VerifyingKey;
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::{
    envelope::{Envelope, FieldDetail, Location},
    signature::{SIGNATURE_HEADER, SignatureHeaders, parse_public_key},
};

/// Re-fetch the key after a failed signature at most this often.
const FORCED_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

pub enum KeySource {
    /// Signature checks are switched off (`VALIDATE_SIGNATURES=false`).
    Disabled,
    /// Checks on but no key configured: every Relay request is refused.
    Unconfigured,
    Static(VerifyingKey),
    Remote(RemoteKey),
}

pub struct RelayAuth {
    source: KeySource,
    max_skew: Duration,
}

impl RelayAuth {
    pub fn new(source: KeySource, max_skew: Duration) -> Self {
        Self { source, max_skew }
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        match &self.source {
            KeySource::Disabled => "OFF (VALIDATE_SIGNATURES=false): Relay requests are NOT authenticated".into(),
            KeySource::Unconfigured => {
                "on, but no RELAY_PUBLIC_KEY or RELAY_URL is set: every Relay request is refused with 401".into()
            }
            KeySource::Static(_) => "on, key from RELAY_PUBLIC_KEY".into(),
            KeySource::Remote(r) => format!("on, key fetched from {}", r.url),
        }
    }

    pub fn is_disabled(&self) -> bool {
        matches!(self.source, KeySource::Disabled)
    }

    /// Fetches a remote key ahead of the first request; failure is only logged, the next request
    /// tries again.
    pub async fn warm_up(&self) {
        if let KeySource::Remote(remote) = &self.source {
            let _ = remote.current().await;
        }
    }

    /// `Ok` when the request may proceed; otherwise the 401 envelope.
    pub async fn verify(&self, timestamp: Option<&str>, signature: Option<&str>, body: &[u8]) -> Result<(), Envelope> {
        let remote = match &self.source {
            KeySource::Disabled => return Ok(()),
            KeySource::Unconfigured => {
                return Err(signature_field(
                    "this server has no Relay public key configured, so no request can be verified",
                ));
            }
            KeySource::Static(key) => {
                let headers = self.parse(timestamp, signature)?;
                return if headers.verify(key, body) { Ok(()) } else { Err(bad_signature()) };
            }
            KeySource::Remote(remote) => remote,
        };
        let headers = self.parse(timestamp, signature)?;
        let key = remote
            .current()
            .await
            .ok_or_else(|| signature_field("the Relay public key could not be fetched; try again later"))?;
        if headers.verify(&key, body) {
            return Ok(());
        }
        match remote.refetch_after_failure(&key).await {
            Some(new_key) if headers.verify(&new_key, body) => Ok(()),
            _ => Err(bad_signature()),
        }
    }

    fn parse<'a>(&self, timestamp: Option<&'a str>, signature: Option<&str>) -> Result<SignatureHeaders<'a>, Envelope> {
        SignatureHeaders::parse(timestamp, signature, unix_now(), self.max_skew).map_err(Envelope::fields)
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn signature_field(description: &str) -> Envelope {
    Envelope::fields(vec![FieldDetail::new(SIGNATURE_HEADER, Location::Header, description)])
}

fn bad_signature() -> Envelope {
    signature_field("the signature does not verify with the Relay public key")
}

struct Cached {
    key: VerifyingKey,
    fetched_at: Instant,
}

/// The Relay key served at `{RELAY_URL}/public-key`, cached.
pub struct RemoteKey {
    url: String,
    http: reqwest::Client,
    refresh: Duration,
    cached: RwLock<Option<Cached>>,
    /// Serialises fetches and remembers when the last failure-driven re-fetch happened.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl RemoteKey {
    pub fn new(base_url: &str, refresh: Duration, timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client for RELAY_URL: {e}"))?;
        Ok(Self {
            url: format!("{}/public-key", base_url.trim_end_matches('/')),
            http,
            refresh,
            cached: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(None),
        })
    }

    fn cached(&self) -> Option<(VerifyingKey, Instant)> {
        self.cached.read().expect("key cache poisoned").as_ref().map(|c| (c.key, c.fetched_at))
    }

    fn store(&self, key: VerifyingKey) {
        *self.cached.write().expect("key cache poisoned") = Some(Cached { key, fetched_at: Instant::now() });
    }

    /// The key to verify with: the cached one while fresh, else a new fetch; a stale key is still
    /// used when the Relay cannot be reached (better than refusing everything).
    async fn current(&self) -> Option<VerifyingKey> {
        if let Some((key, at)) = self.cached()
            && at.elapsed() < self.refresh
        {
            return Some(key);
        }
        let _guard = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some((key, at)) = self.cached()
            && at.elapsed() < self.refresh
        {
            return Some(key);
        }
        match self.fetch().await {
            Ok(key) => {
                self.store(key);
                Some(key)
            }
            Err(e) => {
                error!(url = %self.url, error = %e, "cannot fetch the Relay public key");
                self.cached().map(|(key, _)| key)
            }
        }
    }

    /// After a signature failed with `failed_key`: fetches again unless that was done within the
    /// last minute, and returns the key if it changed.
    async fn refetch_after_failure(&self, failed_key: &VerifyingKey) -> Option<VerifyingKey> {
        let mut last = self.fetching.lock().await;
        if let Some((key, _)) = self.cached()
            && key != *failed_key
        {
            return Some(key); // rotated by a concurrent request
        }
        if last.is_some_and(|at| at.elapsed() < FORCED_REFETCH_INTERVAL) {
            return None;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(key) if key != *failed_key => {
                info!(url = %self.url, "the Relay public key changed; using the new one");
                self.store(key);
                Some(key)
            }
            Ok(_) => None,
            Err(e) => {
                warn!(url = %self.url, error = %e, "cannot re-fetch the Relay public key");
                None
            }
        }
    }

    async fn fetch(&self) -> Result<VerifyingKey, String> {
        let response = self.http.get(&self.url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let text = response.text().await.map_err(|e| e.to_string())?;
        parse_public_key(&text)
    }
}
