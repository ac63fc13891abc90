//! `DedupStore` in process memory: a sharded hash map of claims with expiry and a size cap.
//!
//! Each claim is stored as a 128-bit keyed hash of `(client, id)` plus its end (milliseconds since
//! the store started: the lease's end while in flight, the window's once done, with the state in
//! the top bit) and claim token: 32 bytes of payload per entry whatever the id lengths, about 70
//! bytes of memory with the hash table's slack, so a million live claims take tens of megabytes.
//! Expired entries are swept out shard by shard as claims arrive, so memory follows the live set
//! rather than everything ever seen. Every transition happens under its shard's lock, so it is
//! atomic; waiters for an in-flight claim share a watcher (see `watch`) whose reads are lock
//! acquisitions, and the store's own `complete` and `release` wake them at once.
//!
//! The live set itself is capped (`DEDUP_MAX_ENTRIES`, split evenly over the shards), so a flood
//! of fresh ids cannot grow memory without bound. When a claim finds its shard full:
//! 1. the shard's expired entries are dropped first (that costs no exactness);
//! 2. if it is still full, the live claims closest to expiry, which with one window are the
//!    oldest, are evicted: an eighth of the shard at once, so the selection (linear in the shard)
//!    runs once per many claims. An evicted id could be delivered again if the Relay resent it,
//!    so evictions are counted and logged at `warn` (at most once a minute); raise the cap or use
//!    Redis when that log appears.

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use tokio::time::Instant;
use tracing::warn;
use xxhash_rust::xxh3::Xxh3;

use super::watch::{Seen, Watchers};
use crate::{
    domain::{ClientId, NotificationId},
    ports::{Claim, ClaimToken, Completed, DedupError, DedupStore, Waited},
};

/// The default cap on live claims: about 300 MB at the most, which a server with a 24 h window
/// reaches only at around 60 notifications a second, all day.
pub const DEFAULT_MAX_ENTRIES: usize = 5_000_000;
const SHARDS: usize = 64;
/// A shard sweeps its expired entries at most this often (milliseconds).
const SWEEP_EVERY_MS: u64 = 1000;
/// A full shard evicts this fraction of itself at once.
const EVICT_FRACTION: usize = 8;
/// Evictions are logged at most this often (milliseconds).
const EVICTION_WARN_EVERY_MS: u64 = 60_000;

/// The keys are already uniform hashes; hashing them again would be wasted work.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u128 keys are hashed")
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = (v >> 64) as u64;
    }
}

/// The top bit of an entry's end: set once the claim is done.
const DONE: u64 = 1 << 63;

#[derive(Clone, Copy)]
struct Entry {
    /// When the claim ends, in milliseconds since the store's `started` (8 bytes where an
    /// `Instant` takes 16), with [`DONE`] set once the claim is done.
    ends: u64,
    token: ClaimToken,
}

impl Entry {
    fn in_flight(ends_ms: u64, token: ClaimToken) -> Self {
        Self { ends: ends_ms.min(DONE - 1), token }
    }

    fn done(ends_ms: u64, token: ClaimToken) -> Self {
        Self { ends: ends_ms.min(DONE - 1) | DONE, token }
    }

    fn ends_ms(self) -> u64 {
        self.ends & !DONE
    }

    fn is_done(self) -> bool {
        self.ends & DONE != 0
    }

    fn is_live(self, now: u64) -> bool {
        self.ends_ms() > now
    }
}

struct Shard {
    claims: HashMap<u128, Entry, BuildHasherDefault<IdentityHasher>>,
    next_sweep_ms: u64,
}

impl Shard {
    fn sweep_if_due(&mut self, now: u64) {
        if now >= self.next_sweep_ms {
            self.sweep(now);
        }
    }

    fn sweep(&mut self, now: u64) {
        self.next_sweep_ms = now + SWEEP_EVERY_MS;
        self.claims.retain(|_, e| e.is_live(now));
        // Give memory back after a burst, but leave head room so the map does not resize to and
        // fro around a steady size.
        if self.claims.capacity() > 64 && self.claims.len() < self.claims.capacity() / 4 {
            self.claims.shrink_to(self.claims.len() * 2);
        }
    }

    /// Frees at least one slot in a full shard: expired entries first, then the batch of live
    /// claims closest to expiry. Returns how many live claims were evicted.
    fn make_room(&mut self, now: u64, cap: usize) -> usize {
        self.sweep(now);
        if self.claims.len() < cap {
            return 0;
        }
        let batch = (cap / EVICT_FRACTION).clamp(1, self.claims.len());
        let mut by_expiry: Vec<(u64, u128)> = self.claims.iter().map(|(key, e)| (e.ends_ms(), *key)).collect();
        by_expiry.select_nth_unstable(batch - 1);
        for (_, key) in &by_expiry[..batch] {
            self.claims.remove(key);
        }
        batch
    }
}

/// The claims themselves, shared with the watchers that read them.
struct Claims {
    shards: Box<[Mutex<Shard>]>,
    started: Instant,
    max_entries: usize,
    per_shard_cap: usize,
    evicted: AtomicU64,
    next_warn_ms: AtomicU64,
}

impl Claims {
    fn now_ms(&self) -> u64 {
        millis(self.started.elapsed())
    }

    fn shard(&self, key: u128) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[key as usize % self.shards.len()].lock().expect("dedup shard poisoned")
    }

    fn peek(&self, key: u128) -> Seen {
        let now = self.now_ms();
        match self.shard(key).claims.get(&key) {
            Some(e) if e.is_live(now) && e.is_done() => Seen::Done,
            Some(e) if e.is_live(now) => {
                Seen::InFlight { holder: e.token.0, lease_left: Duration::from_millis(e.ends_ms() - now) }
            }
            _ => Seen::Free,
        }
    }

    fn note_evictions(&self, count: usize, now: u64) {
        let total = self.evicted.fetch_add(count as u64, Ordering::Relaxed) + count as u64;
        let due = self.next_warn_ms.load(Ordering::Relaxed);
        if now >= due
            && self
                .next_warn_ms
                .compare_exchange(due, now + EVICTION_WARN_EVERY_MS, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            warn!(
                evicted_total = total,
                max_entries = self.max_entries,
                "the in-memory dedup store is full: the claims closest to expiry were dropped, so a resent id among \
                 them could be delivered twice; raise DEDUP_MAX_ENTRIES or use Redis"
            );
        }
    }
}

/// Whole milliseconds, at least one: a lease or window under a millisecond still claims.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub struct MemoryDedupStore {
    claims: Arc<Claims>,
    /// Random per process, so nobody can pick ids that collide on purpose.
    seed: u64,
    watchers: Watchers<u128>,
}

impl Default for MemoryDedupStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryDedupStore {
    /// A store holding at most `DEFAULT_MAX_ENTRIES` live claims.
    pub fn new() -> Self {
        Self::with_max_entries(DEFAULT_MAX_ENTRIES)
    }

    /// A store holding at most `max_entries` live claims (at least one per shard).
    pub fn with_max_entries(max_entries: usize) -> Self {
        Self::build(SHARDS, max_entries)
    }

    fn build(shards: usize, max_entries: usize) -> Self {
        let shards = (0..shards)
            .map(|_| Mutex::new(Shard { claims: HashMap::default(), next_sweep_ms: SWEEP_EVERY_MS }))
            .collect::<Box<[_]>>();
        let per_shard_cap = (max_entries / shards.len()).max(1);
        let claims = Claims {
            started: Instant::now(),
            max_entries: per_shard_cap * shards.len(),
            per_shard_cap,
            shards,
            evicted: AtomicU64::new(0),
            next_warn_ms: AtomicU64::new(0),
        };
        Self { claims: Arc::new(claims), seed: fastrand::u64(..), watchers: Watchers::default() }
    }

    /// Live and expired-but-not-yet-swept entries, for tests and memory measurements.
    pub fn len(&self) -> usize {
        self.claims.shards.iter().map(|s| s.lock().expect("dedup shard poisoned").claims.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live claims evicted so far because the store was full.
    pub fn evictions(&self) -> u64 {
        self.claims.evicted.load(Ordering::Relaxed)
    }

    fn key(&self, client: &ClientId, id: &NotificationId) -> u128 {
        let mut h = Xxh3::with_seed(self.seed);
        h.update(client.project().storage_key().as_bytes());
        h.update(&[0xFE]); // the project; 0xFE is never UTF-8
        h.update(client.as_str().as_bytes());
        // 0xFF never occurs in UTF-8, so the boundary between the two strings is unambiguous.
        h.update(&[0xFF]);
        h.update(id.as_str().as_bytes());
        h.digest128()
    }
}

#[async_trait]
impl DedupStore for MemoryDedupStore {
    async fn try_claim(&self, client: &ClientId, id: &NotificationId, lease: Duration) -> Result<Claim, DedupError> {
        let key = self.key(client, id);
        let claims = &self.claims;
        let now = claims.now_ms();
        let fresh = Entry::in_flight(now.saturating_add(millis(lease).max(1)), ClaimToken::random());
        let mut shard = claims.shard(key);
        shard.sweep_if_due(now);
        if let Some(held) = shard.claims.get_mut(&key) {
            if held.is_live(now) {
                return Ok(if held.is_done() {
                    Claim::Done
                } else {
                    Claim::InFlight { lease_left: Duration::from_millis(held.ends_ms() - now) }
                });
            }
            // An ended claim's slot is reused: no growth.
            *held = fresh;
            return Ok(Claim::Claimed(fresh.token));
        }
        let evicted =
            if shard.claims.len() >= claims.per_shard_cap { shard.make_room(now, claims.per_shard_cap) } else { 0 };
        // Inserted under the same lock as the lookup above: the claim stays atomic.
        shard.claims.insert(key, fresh);
        drop(shard);
        if evicted > 0 {
            claims.note_evictions(evicted, now);
        }
        Ok(Claim::Claimed(fresh.token))
    }

    async fn complete(
        &self,
        client: &ClientId,
        id: &NotificationId,
        token: ClaimToken,
        window: Duration,
    ) -> Result<Completed, DedupError> {
        let key = self.key(client, id);
        let now = self.claims.now_ms();
        {
            let mut shard = self.claims.shard(key);
            match shard.claims.get_mut(&key) {
                Some(held) if held.token == token && held.is_live(now) => {
                    *held = Entry::done(now.saturating_add(millis(window).max(1)), token);
                }
                _ => return Ok(Completed::NotHeld),
            }
        }
        self.watchers.settled(&key, Waited::Done);
        Ok(Completed::Done)
    }

    async fn release(&self, client: &ClientId, id: &NotificationId, token: ClaimToken) -> Result<(), DedupError> {
        let key = self.key(client, id);
        let released = {
            let mut shard = self.claims.shard(key);
            let ours = shard.claims.get(&key).is_some_and(|e| e.token == token && !e.is_done());
            ours && shard.claims.remove(&key).is_some()
        };
        if released {
            self.watchers.settled(&key, Waited::Released);
        }
        Ok(())
    }

    async fn wait(&self, client: &ClientId, id: &NotificationId, patience: Duration) -> Result<Waited, DedupError> {
        let key = self.key(client, id);
        let claims = self.claims.clone();
        self.watchers.wait(key, patience, move || std::future::ready(Ok(claims.peek(key)))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(c: &str, n: &str) -> (ClientId, NotificationId) {
        (ClientId::parse(c).unwrap(), NotificationId::parse(n).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_reclaimed_not_just_ignored() {
        let store = MemoryDedupStore::new();
        for i in 0..1000 {
            let (c, n) = ids("c", &i.to_string());
            store.try_claim(&c, &n, Duration::from_secs(10)).await.unwrap();
        }
        assert_eq!(store.len(), 1000);
        tokio::time::advance(Duration::from_secs(11)).await;
        // 2000 new claims touch each of the 64 shards (missing one has odds below 1e-12), and
        // a shard sweeps its expired entries on its first touch after the sweep interval.
        for i in 0..2000 {
            let (c, n) = ids("other", &i.to_string());
            store.try_claim(&c, &n, Duration::from_secs(10)).await.unwrap();
        }
        assert_eq!(store.len(), 2000, "the 1000 expired claims are gone from memory");
        let (c, n) = ids("c", "1");
        assert!(matches!(store.try_claim(&c, &n, Duration::from_secs(10)).await.unwrap(), Claim::Claimed(_)));
    }

    async fn claim(store: &MemoryDedupStore, n: &str, ttl_secs: u64) -> Claim {
        let (c, n) = ids("c", n);
        store.try_claim(&c, &n, Duration::from_secs(ttl_secs)).await.unwrap()
    }

    fn is_new(claim: Claim) -> bool {
        matches!(claim, Claim::Claimed(_))
    }

    #[tokio::test(start_paused = true)]
    async fn the_cap_bounds_the_live_set() {
        let store = MemoryDedupStore::with_max_entries(SHARDS * 16);
        for i in 0..20_000 {
            assert!(is_new(claim(&store, &i.to_string(), 3600).await));
            assert!(store.len() <= SHARDS * 16);
        }
        assert!(store.evictions() >= 20_000 - (SHARDS * 16) as u64);
        // The newest claims are still exact.
        assert!(!is_new(claim(&store, "19999", 3600).await));
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_make_room_before_any_live_claim_is_evicted() {
        let store = MemoryDedupStore::build(1, 8);
        for i in 0..4 {
            claim(&store, &format!("old{i}"), 10).await;
        }
        // At 9.5 s: a regular sweep runs (nothing has expired yet) and the next is due at 10.5 s.
        tokio::time::advance(Duration::from_millis(9_500)).await;
        for i in 0..4 {
            claim(&store, &format!("live{i}"), 100).await;
        }
        // At 10.2 s the old claims have expired but no regular sweep is due: only the full shard
        // makes the store look at them.
        tokio::time::advance(Duration::from_millis(700)).await;
        assert_eq!(store.len(), 8);
        assert!(is_new(claim(&store, "new", 100).await));
        assert_eq!(store.evictions(), 0);
        assert_eq!(store.len(), 5, "the four expired claims were dropped");
        for i in 0..4 {
            assert!(!is_new(claim(&store, &format!("live{i}"), 100).await), "live{i} is still held");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_shard_evicts_the_claims_closest_to_expiry_in_a_batch() {
        let store = MemoryDedupStore::build(1, 64);
        // Claim k expires after 1000 + k seconds: claims 0..8 are the closest to expiry.
        for k in 0..64u64 {
            claim(&store, &k.to_string(), 1000 + k).await;
        }
        assert!(is_new(claim(&store, "one more", 5000).await));
        assert_eq!(store.evictions(), 8, "an eighth of the shard at once");
        assert_eq!(store.len(), 64 - 8 + 1);
        // The survivors are exactly the later-expiring claims (checked before any new claim
        // could trigger another eviction), and the newcomer.
        for k in 8..64u64 {
            assert!(!is_new(claim(&store, &k.to_string(), 1).await), "{k} survived");
        }
        assert!(!is_new(claim(&store, "one more", 1).await));
        // The evicted ones can be claimed again (that is the price of the cap).
        assert!(is_new(claim(&store, "0", 1000).await));
    }

    #[tokio::test(start_paused = true)]
    async fn releasing_an_evicted_claim_is_harmless() {
        let store = MemoryDedupStore::build(1, 1);
        let (c, first) = ids("c", "first");
        let Claim::Claimed(token) = store.try_claim(&c, &first, Duration::from_secs(60)).await.unwrap() else {
            panic!("first claim is new")
        };
        assert!(is_new(claim(&store, "second", 60).await));
        assert_eq!(store.evictions(), 1);
        store.release(&c, &first, token).await.unwrap();
        assert!(!is_new(claim(&store, "second", 60).await), "the release did not touch the other claim");
    }

    #[test]
    fn an_entry_stays_sixteen_bytes_with_its_state() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
        let done = Entry::done(u64::MAX, ClaimToken(1));
        assert!(done.is_done() && done.is_live(DONE - 2));
        let in_flight = Entry::in_flight(5, ClaimToken(1));
        assert!(!in_flight.is_done() && in_flight.is_live(4) && !in_flight.is_live(5));
    }

    #[tokio::test]
    async fn the_separator_keeps_pairs_apart() {
        let store = MemoryDedupStore::new();
        let (c1, n1) = ids("ab", "c");
        let (c2, n2) = ids("a", "bc");
        assert!(matches!(store.try_claim(&c1, &n1, Duration::from_secs(9)).await.unwrap(), Claim::Claimed(_)));
        assert!(matches!(store.try_claim(&c2, &n2, Duration::from_secs(9)).await.unwrap(), Claim::Claimed(_)));
    }
}
