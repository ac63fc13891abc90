//! `RelayKey` fetched from `{RELAY_URL}/public-key` and cached.
//!
//! Requests never wait behind a refresh while a key is cached: a due refresh starts in the
//! background and the cached key keeps answering. At most one fetch is in flight at a time; a
//! failed one keeps the cached key and backs off (1 s, doubling, at most a minute), so a Relay
//! outage costs it a request a minute, not one per Relay request. After a failed signature the key
//! is fetched again at most once a minute, whatever that fetch answers, so a rotation heals by
//! itself while a stream of junk signatures cannot drive traffic to the Relay.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use tokio::{
    sync::OwnedMutexGuard,
    task::JoinHandle,
    time::{Instant, timeout},
};
use tracing::{error, info};

use super::{
    fetch::{HttpKeySource, KeySource},
    schedule::{Schedule, ScheduleConfig},
};
use crate::{
    adapters::egress::Egress,
    domain::RelayPublicKey,
    ports::{RelayKey, RelayKeyError},
};

/// Re-fetch after a failed signature at most this often.
const FORCED_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Where and how often to fetch the Relay key.
#[derive(Debug, Clone)]
pub struct FetchedKeyConfig {
    /// The Relay's base URL; the key is served at `{url}/public-key`.
    pub url: String,
    /// How often a fetched key is refreshed.
    pub refresh: Duration,
    /// Bound on one fetch: connecting, the answer and its body.
    pub timeout: Duration,
    /// How the fetch leaves the machine.
    pub egress: Egress,
}

pub struct FetchedKey {
    shared: Arc<Shared>,
}

struct Shared {
    /// The key's address, for the log.
    url: String,
    source: Box<dyn KeySource>,
    timeout: Duration,
    state: Mutex<State>,
    /// Held for the whole of a fetch, so at most one is in flight.
    slot: Arc<tokio::sync::Mutex<()>>,
}

struct State {
    key: Option<RelayPublicKey>,
    schedule: Schedule,
    /// Fetches that have ended, successful or not: tells a waiter whether one ended meanwhile.
    completed: u64,
}

impl FetchedKey {
    pub fn new(config: &FetchedKeyConfig) -> Result<Self, String> {
        let url = format!("{}/public-key", config.url.trim_end_matches('/'));
        let source = HttpKeySource::new(url.clone(), config.timeout, &config.egress)?;
        Ok(Self::with_source(url, Box::new(source), config.refresh, config.timeout))
    }

    fn with_source(url: String, source: Box<dyn KeySource>, refresh: Duration, timeout: Duration) -> Self {
        let schedule = Schedule::new(ScheduleConfig {
            refresh,
            backoff_first: BACKOFF_FIRST,
            backoff_max: BACKOFF_MAX,
            forced_interval: FORCED_REFETCH_INTERVAL,
        });
        let state = Mutex::new(State { key: None, schedule, completed: 0 });
        Self { shared: Arc::new(Shared { url, source, timeout, state, slot: Arc::default() }) }
    }

    /// The address the key is fetched from.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// No key to serve: this caller has to wait for a fetch. It queues behind a fetch in flight
    /// rather than starting another; once that ends, its key (or its back-off) answers.
    async fn first_key(&self) -> Result<RelayPublicKey, RelayKeyError> {
        let backing_off = || RelayKeyError::Unavailable("the last fetch failed; retrying later".into());
        if !self.shared.state().schedule.fetch_due(Instant::now()) {
            return Err(backing_off());
        }
        let slot = self.shared.slot.clone().lock_owned().await;
        {
            let state = self.shared.state();
            if let Some(key) = state.key {
                return Ok(key);
            }
            if !state.schedule.fetch_due(Instant::now()) {
                return Err(backing_off());
            }
        }
        joined(self.shared.clone().spawn_fetch(slot)).await
    }
}

#[async_trait]
impl RelayKey for FetchedKey {
    async fn current(&self) -> Result<RelayPublicKey, RelayKeyError> {
        let (key, due) = {
            let state = self.shared.state();
            (state.key, state.schedule.fetch_due(Instant::now()))
        };
        match key {
            Some(key) => {
                if due {
                    self.shared.clone().refresh_in_background();
                }
                Ok(key)
            }
            None => self.first_key().await,
        }
    }

    async fn newer_than(&self, failed: &RelayPublicKey) -> Option<RelayPublicKey> {
        let seen = {
            let mut state = self.shared.state();
            if let Some(key) = state.key
                && key != *failed
            {
                return Some(key); // already rotated by another fetch
            }
            if !state.schedule.claim_forced(Instant::now()) {
                return None;
            }
            state.completed
        };
        let slot = self.shared.slot.clone().lock_owned().await;
        {
            // A fetch that ended while this one waited answers for it: no second fetch.
            let state = self.shared.state();
            if state.completed != seen {
                return state.key.filter(|key| key != failed);
            }
        }
        match joined(self.shared.clone().spawn_fetch(slot)).await {
            Ok(key) if key != *failed => Some(key),
            _ => None,
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state whole, so a panic elsewhere cannot have broken it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a refresh unless one is in flight or none is due; the caller does not wait.
    fn refresh_in_background(self: Arc<Self>) {
        let Ok(slot) = self.slot.clone().try_lock_owned() else {
            return; // one is in flight already
        };
        // A fetch may have ended between the caller's look and taking the slot.
        if self.state().schedule.fetch_due(Instant::now()) {
            drop(self.spawn_fetch(slot));
        }
    }

    /// Runs one fetch in its own task, holding the slot. A task, so that a caller that gives up
    /// (its request timed out, its client hung up) cannot cancel the fetch halfway and leave the
    /// schedule without its outcome.
    fn spawn_fetch(self: Arc<Self>, slot: OwnedMutexGuard<()>) -> JoinHandle<Result<RelayPublicKey, RelayKeyError>> {
        tokio::spawn(async move {
            let result = self.fetch_and_record().await;
            drop(slot);
            result
        })
    }

    async fn fetch_and_record(&self) -> Result<RelayPublicKey, RelayKeyError> {
        let result = match timeout(self.timeout, self.source.fetch()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        };
        let mut state = self.state();
        state.completed += 1;
        match result {
            Ok(key) => {
                if state.key.is_some_and(|old| old != key) {
                    info!(url = %self.url, "the Relay public key changed; using the new one");
                }
                state.key = Some(key);
                state.schedule.succeeded(Instant::now());
                Ok(key)
            }
            Err(e) => {
                let retry_in = state.schedule.failed(Instant::now());
                let cached = state.key.is_some();
                drop(state);
                error!(
                    url = %self.url,
                    error = %e,
                    retry_in_secs = retry_in.as_secs(),
                    keeps_cached_key = cached,
                    "cannot fetch the Relay public key"
                );
                Err(RelayKeyError::Unavailable(e))
            }
        }
    }
}

async fn joined(task: JoinHandle<Result<RelayPublicKey, RelayKeyError>>) -> Result<RelayPublicKey, RelayKeyError> {
    task.await.unwrap_or_else(|e| Err(RelayKeyError::Unavailable(format!("the key fetch stopped: {e}"))))
}

#[cfg(test)]
mod tests {
    //! On a paused clock: time moves only when every task waits on a timer, so "answered without
    //! waiting" is checked as "no time passed", with no timing that could flake.

    use std::sync::atomic::{AtomicUsize, Ordering};

    use ed25519_dalek::SigningKey;

    use super::*;

    const REFRESH: Duration = Duration::from_secs(3600);
    const TIMEOUT: Duration = Duration::from_secs(5);

    #[derive(Clone, Copy)]
    enum Answer {
        Key(u8),
        Fail,
        Hang,
    }

    #[derive(Clone)]
    struct FakeSource {
        answer: Arc<Mutex<Answer>>,
        calls: Arc<AtomicUsize>,
    }

    impl FakeSource {
        fn set(&self, answer: Answer) {
            *self.answer.lock().unwrap() = answer;
        }
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl KeySource for FakeSource {
        async fn fetch(&self) -> Result<RelayPublicKey, String> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let answer = *self.answer.lock().unwrap();
            match answer {
                Answer::Key(seed) => Ok(key(seed)),
                Answer::Fail => Err("HTTP 500".into()),
                Answer::Hang => std::future::pending().await,
            }
        }
    }

    fn key(seed: u8) -> RelayPublicKey {
        RelayPublicKey::from(SigningKey::from_bytes(&[seed; 32]).verifying_key())
    }

    fn fetched(answer: Answer) -> (FetchedKey, FakeSource) {
        let source = FakeSource { answer: Arc::new(Mutex::new(answer)), calls: Arc::default() };
        (FetchedKey::with_source("test".into(), Box::new(source.clone()), REFRESH, TIMEOUT), source)
    }

    /// Lets spawned fetches run up to their next wait.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_key_answers_at_once_while_one_refresh_runs() {
        let (fk, source) = fetched(Answer::Key(1));
        assert_eq!(fk.current().await, Ok(key(1)));
        source.set(Answer::Hang);
        tokio::time::advance(REFRESH).await;
        let start = Instant::now();
        for _ in 0..50 {
            assert_eq!(fk.current().await, Ok(key(1)));
            settle().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "no caller waited for the hanging refresh");
        assert_eq!(source.calls(), 2, "one refresh in flight, not one per call");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_refresh_keeps_the_key_and_backs_off() {
        let (fk, source) = fetched(Answer::Key(1));
        fk.current().await.unwrap();
        source.set(Answer::Fail);
        tokio::time::advance(REFRESH).await;
        let mut calls = Vec::new();
        // Calls every 500 ms for 8 s: fetches at 0, 1, 3 and 7 s (waits of 1, 2 and 4 s).
        for _ in 0..16 {
            assert_eq!(fk.current().await, Ok(key(1)));
            settle().await;
            calls.push(source.calls() - 1);
            tokio::time::advance(Duration::from_millis(500)).await;
        }
        assert_eq!(calls, [1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4]);
        source.set(Answer::Key(2));
        tokio::time::advance(Duration::from_secs(8)).await;
        fk.current().await.unwrap();
        settle().await;
        assert_eq!(fk.current().await, Ok(key(2)), "a later success brings the new key");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_refresh_ends_at_the_timeout_and_is_retried_later() {
        let (fk, source) = fetched(Answer::Key(1));
        fk.current().await.unwrap();
        source.set(Answer::Hang);
        tokio::time::advance(REFRESH).await;
        fk.current().await.unwrap();
        settle().await;
        tokio::time::advance(TIMEOUT).await;
        settle().await;
        assert_eq!(fk.current().await, Ok(key(1)));
        settle().await;
        assert_eq!(source.calls(), 2, "backing off after the timeout");
        tokio::time::advance(BACKOFF_FIRST).await;
        fk.current().await.unwrap();
        settle().await;
        assert_eq!(source.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rotated_key_is_found_after_a_failed_signature() {
        let (fk, source) = fetched(Answer::Key(1));
        fk.current().await.unwrap();
        source.set(Answer::Key(2));
        assert_eq!(fk.newer_than(&key(1)).await, Some(key(2)));
        assert_eq!(fk.current().await, Ok(key(2)));
        assert_eq!(fk.newer_than(&key(1)).await, Some(key(2)), "already rotated: no fetch");
        assert_eq!(source.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn re_fetches_after_failed_signatures_are_once_a_minute_whatever_the_answer() {
        let (fk, source) = fetched(Answer::Key(1));
        fk.current().await.unwrap();
        for (answer, fetches) in [(Answer::Key(1), 2), (Answer::Fail, 3), (Answer::Hang, 4)] {
            source.set(answer);
            let start = Instant::now();
            for _ in 0..20 {
                assert_eq!(fk.newer_than(&key(1)).await, None);
            }
            assert!(start.elapsed() <= TIMEOUT, "a hanging re-fetch is bounded by the timeout");
            assert_eq!(source.calls(), fetches);
            tokio::time::advance(FORCED_REFETCH_INTERVAL).await;
        }
        assert_eq!(fk.current().await, Ok(key(1)), "the cached key survives failed re-fetches");
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_key_callers_share_one_fetch_then_back_off() {
        let (fk, source) = fetched(Answer::Hang);
        let fk = Arc::new(fk);
        let start = Instant::now();
        let mut callers = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let fk = fk.clone();
            callers.spawn(async move { fk.current().await });
        }
        while let Some(answer) = callers.join_next().await {
            assert!(matches!(answer.unwrap(), Err(RelayKeyError::Unavailable(_))));
        }
        assert_eq!(start.elapsed(), TIMEOUT, "all ended with the one fetch's timeout");
        assert_eq!(source.calls(), 1);
        source.set(Answer::Key(1));
        assert!(fk.current().await.is_err(), "backing off: answered without a fetch");
        assert_eq!(source.calls(), 1);
        tokio::time::advance(BACKOFF_FIRST).await;
        assert_eq!(fk.current().await, Ok(key(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_gives_up_does_not_cancel_the_fetch() {
        let (fk, source) = fetched(Answer::Hang);
        let gave_up = timeout(Duration::from_secs(1), fk.current()).await;
        assert!(gave_up.is_err());
        source.set(Answer::Key(1));
        // The abandoned fetch still runs to its timeout and records the failure (a back-off).
        tokio::time::advance(TIMEOUT).await;
        settle().await;
        assert!(fk.current().await.is_err());
        assert_eq!(source.calls(), 1);
    }
}
