//! A read-through memory of clients for the SQLite store, exact for a store that only this process
//! writes (the embedded default: one server per database file).
//!
//! Why it exists: sqlx runs every SQLite statement on a worker thread of its own, so each lookup
//! costs two thread hand-offs; on the send path that was over a third of the server's CPU, more
//! than the Ed25519 verification. The answer for a registered client rarely changes, so it is kept.
//!
//! Why it is exact: every write through the store moves a global generation on, and an entry is
//! only used while its generation is the current one. A lookup notes the generation before it
//! reads the database, and stores what it read under that generation, so a value read before a
//! concurrent write commits can never be served after that write returns. A write whose outcome
//! is unknown (it failed or timed out, and its COMMIT may still land) switches the cache off until
//! the writer connection has been handed back, which orders that COMMIT before the cache returns.
//!
//! Not for the Postgres store: several servers write one database there, and none of them sees the
//! others' writes.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::{
        Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use crate::domain::{Client, ClientId};

const SHARDS: usize = 16;
/// At most this many clients are kept (a few hundred bytes each); past it a shard starts over.
const MAX_ENTRIES: usize = 65_536;

struct Entry {
    generation: u64,
    client: Client,
}

pub struct ClientCache {
    shards: Box<[Mutex<HashMap<ClientId, Entry>>]>,
    hasher: RandomState,
    generation: AtomicU64,
    /// Writes whose outcome is not known yet; while any are pending the cache is bypassed.
    unsettled: AtomicUsize,
}

/// The generation a lookup started under, to store what it reads with.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl Default for ClientCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientCache {
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            generation: AtomicU64::new(0),
            unsettled: AtomicUsize::new(0),
        }
    }

    fn shard(&self, id: &ClientId) -> std::sync::MutexGuard<'_, HashMap<ClientId, Entry>> {
        let index = self.hasher.hash_one(id) as usize % SHARDS;
        self.shards[index].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached client, or a ticket to store the database's answer with.
    pub fn get(&self, id: &ClientId) -> Result<Client, Ticket> {
        // Acquire pairs with the Release of `invalidate`: a lookup that sees the new generation
        // also sees everything the write did before it.
        let generation = self.generation.load(Ordering::Acquire);
        if self.unsettled.load(Ordering::Acquire) == 0
            && let Some(entry) = self.shard(id).get(id)
            && entry.generation == generation
        {
            return Ok(entry.client.clone());
        }
        Err(Ticket(generation))
    }

    /// Keeps a client read from the database after `get` returned `ticket`.
    pub fn put(&self, ticket: Ticket, client: &Client) {
        if self.unsettled.load(Ordering::Acquire) > 0 || self.generation.load(Ordering::Acquire) != ticket.0 {
            return; // A write came in between; the next lookup reads again.
        }
        let mut shard = self.shard(&client.id);
        if shard.len() >= MAX_ENTRIES / SHARDS && !shard.contains_key(&client.id) {
            shard.clear();
        }
        shard.insert(client.id.clone(), Entry { generation: ticket.0, client: client.clone() });
    }

    /// After a write committed: everything cached before it is stale.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Before a write whose outcome may stay unknown for a while: bypass the cache until
    /// `settled` is called.
    pub fn unsettle(&self) {
        self.unsettled.fetch_add(1, Ordering::AcqRel);
        self.invalidate();
    }

    /// The unknown write has certainly finished (committed or rolled back).
    pub fn settled(&self) {
        self.invalidate();
        self.unsettled.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DeviceToken, PushType};

    fn client(id: &str, token: &str) -> Client {
        Client {
            id: ClientId::parse(id).unwrap(),
            push_type: PushType::Fcm,
            token: DeviceToken::parse(PushType::Fcm, token).unwrap(),
            always_raw: false,
        }
    }

    #[test]
    fn serves_what_was_read_until_a_write() {
        let cache = ClientCache::new();
        let c = client("a", "t1");
        let ticket = cache.get(&c.id).unwrap_err();
        cache.put(ticket, &c);
        assert_eq!(cache.get(&c.id).unwrap(), c);
        cache.invalidate();
        assert!(cache.get(&c.id).is_err());
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = ClientCache::new();
        let old = client("a", "t1");
        // The lookup starts, the database answers with the old row, a write commits and
        // invalidates, and only then does the lookup try to keep its answer.
        let ticket = cache.get(&old.id).unwrap_err();
        cache.invalidate();
        cache.put(ticket, &old);
        assert!(cache.get(&old.id).is_err());
    }

    #[test]
    fn an_unsettled_write_bypasses_the_cache() {
        let cache = ClientCache::new();
        let c = client("a", "t1");
        cache.put(cache.get(&c.id).unwrap_err(), &c);
        cache.unsettle();
        assert!(cache.get(&c.id).is_err());
        cache.put(cache.get(&c.id).unwrap_err(), &c);
        cache.settled();
        assert!(cache.get(&c.id).is_err(), "entries from before settling are not trusted");
        cache.put(cache.get(&c.id).unwrap_err(), &c);
        assert_eq!(cache.get(&c.id).unwrap(), c);
    }

    #[test]
    fn memory_is_bounded() {
        let cache = ClientCache::new();
        for i in 0..(MAX_ENTRIES * 2) {
            let c = client(&format!("c{i}"), "t");
            cache.put(cache.get(&c.id).unwrap_err(), &c);
        }
        let total: usize = cache.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(total <= MAX_ENTRIES, "{total}");
    }
}
