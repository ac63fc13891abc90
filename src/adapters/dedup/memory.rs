//! `DedupStore` in process memory: a sharded hash map of claims with expiry.
//!
//! Each claim is stored as a 128-bit keyed hash of `(client, id)` plus its deadline and claim
//! token, 32 bytes of payload per entry whatever the id lengths, so a million live claims fit in
//! tens of megabytes. Expired entries are swept out shard by shard as claims arrive, so memory
//! follows the live set rather than everything ever seen.

use std::{
    collections::HashMap,
    hash::{BuildHasherDefault, Hasher},
    sync::Mutex,
    time::Duration,
};

use async_trait::async_trait;
use tokio::time::Instant;
use xxhash_rust::xxh3::Xxh3;

use crate::{
    domain::{ClientId, NotificationId},
    ports::{Claim, ClaimToken, DedupError, DedupStore},
};

const SHARDS: usize = 64;
/// A shard sweeps its expired entries at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

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

#[derive(Clone, Copy)]
struct Entry {
    expires_at: Instant,
    token: ClaimToken,
}

struct Shard {
    claims: HashMap<u128, Entry, BuildHasherDefault<IdentityHasher>>,
    next_sweep: Instant,
}

impl Shard {
    fn sweep_if_due(&mut self, now: Instant) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = now + SWEEP_EVERY;
        self.claims.retain(|_, e| e.expires_at > now);
        // Give memory back after a burst, but leave head room so the map does not resize to and
        // fro around a steady size.
        if self.claims.capacity() > 64 && self.claims.len() < self.claims.capacity() / 4 {
            self.claims.shrink_to(self.claims.len() * 2);
        }
    }
}

pub struct MemoryDedupStore {
    shards: Box<[Mutex<Shard>]>,
    /// Random per process, so nobody can pick ids that collide on purpose.
    seed: u64,
}

impl Default for MemoryDedupStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryDedupStore {
    pub fn new() -> Self {
        let now = Instant::now();
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(Shard { claims: HashMap::default(), next_sweep: now + SWEEP_EVERY }))
            .collect();
        Self { shards, seed: fastrand::u64(..) }
    }

    /// Live and expired-but-not-yet-swept entries, for tests and memory measurements.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().expect("dedup shard poisoned").claims.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn key(&self, client: &ClientId, id: &NotificationId) -> u128 {
        let mut h = Xxh3::with_seed(self.seed);
        h.update(client.as_str().as_bytes());
        // 0xFF never occurs in UTF-8, so the boundary between the two strings is unambiguous.
        h.update(&[0xFF]);
        h.update(id.as_str().as_bytes());
        h.digest128()
    }

    fn shard(&self, key: u128) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[key as usize % SHARDS].lock().expect("dedup shard poisoned")
    }
}

#[async_trait]
impl DedupStore for MemoryDedupStore {
    async fn try_claim(&self, client: &ClientId, id: &NotificationId, ttl: Duration) -> Result<Claim, DedupError> {
        let key = self.key(client, id);
        let now = Instant::now();
        let mut shard = self.shard(key);
        shard.sweep_if_due(now);
        let fresh = Entry { expires_at: now + ttl, token: ClaimToken::random() };
        match shard.claims.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut held) => {
                if held.get().expires_at > now {
                    return Ok(Claim::Duplicate);
                }
                held.insert(fresh);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(fresh);
            }
        }
        Ok(Claim::New(fresh.token))
    }

    async fn release(&self, client: &ClientId, id: &NotificationId, token: ClaimToken) -> Result<(), DedupError> {
        let key = self.key(client, id);
        let mut shard = self.shard(key);
        if shard.claims.get(&key).is_some_and(|e| e.token == token) {
            shard.claims.remove(&key);
        }
        Ok(())
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
        assert!(matches!(store.try_claim(&c, &n, Duration::from_secs(10)).await.unwrap(), Claim::New(_)));
    }

    #[tokio::test]
    async fn the_separator_keeps_pairs_apart() {
        let store = MemoryDedupStore::new();
        let (c1, n1) = ids("ab", "c");
        let (c2, n2) = ids("a", "bc");
        assert!(matches!(store.try_claim(&c1, &n1, Duration::from_secs(9)).await.unwrap(), Claim::New(_)));
        assert!(matches!(store.try_claim(&c2, &n2, Duration::from_secs(9)).await.unwrap(), Claim::New(_)));
    }
}
