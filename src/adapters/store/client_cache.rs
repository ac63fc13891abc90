//! A read-through memory of clients for the SQLite store, exact for a store that only this process
//! writes (the embedded default: one server per database file), invalidated per client.
//!
//! Why it exists: sqlx runs every SQLite statement on a worker thread of its own, so each lookup
//! costs two thread hand-offs; on the send path that was over a third of the server's CPU, more
//! than the Ed25519 verification. The answer for a registered client rarely changes, so it is kept.
//!
//! Why per client: wallets re-register on every app launch, so writes never stop. A write used to
//! empty the whole cache; now it touches only the keys it can change: the client id it writes or
//! deletes and, for a registration, the token it stores (whoever held that token before loses its
//! row, and its cached entry names that token, so it is found without knowing who it was).
//!
//! How it stays exact. Keys are hashed onto a fixed array of stripes (bounded memory whatever the
//! number of clients; two keys sharing a stripe only cost each other a re-read, never a stale
//! answer). Each stripe has
//! - `writing`: how many writes touching it are in flight. While it is not zero, lookups of the
//!   stripe's clients go to the database and nothing read is kept, so once a write has committed
//!   nobody is served what was there before, even if the write's caller has gone or timed out;
//! - `stamp`: the value of a global clock when the last write touching it finished.
//!
//! A lookup that misses takes a `Ticket` (the clock) before it reads the database, and keeps what it
//! read under that ticket. An entry is served only while neither of its stripes is being written
//! and neither has been stamped after its ticket. A value read before a write committed was read
//! under a ticket older than the write's finishing stamp, so it is never served after that write
//! returns (the stamp is set before the write returns). The clock is touched by writes and by
//! lookups that miss; a hit reads only its own shard and two stripes.
//!
//! A write's marks must be handed back (`written`) once its outcome is known, committed or not. The
//! SQLite store runs each write to completion in a task of its own for that reason; if a write is
//! lost anyway (its task panicked), its stripes stay in `writing` for good: slower, never stale.
//!
//! Not for the Postgres store: several servers write one database there, and none of them sees the
//! others' writes.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU32, AtomicU64, Ordering::SeqCst},
    },
};

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::domain::{Client, ClientId, DeviceToken};

const SHARDS: usize = 64;
/// At most this many clients are kept (a few hundred bytes each).
const MAX_ENTRIES: usize = 65_536;
const PER_SHARD: usize = MAX_ENTRIES / SHARDS;
/// A full shard drops its stale entries and, if that is not enough, this fraction of the rest.
const EVICT_FRACTION: usize = 8;
/// 32,768 stripes of 16 bytes: 512 KiB. A write touches at most two; with the cache full, each
/// write costs other clients a few re-reads at most.
const STRIPES: usize = 1 << 15;

/// Orderings: every atomic here is `SeqCst`. The argument above needs one order over the clock,
/// the stamps and the `writing` counts; on x86 a `SeqCst` load is a plain load, and the stores are
/// locked instructions whatever the ordering, so nothing is saved by weakening them.
#[derive(Default)]
#[repr(align(16))]
struct Stripe {
    writing: AtomicU32,
    stamp: AtomicU64,
}

struct Entry {
    ticket: u64,
    /// The stripes of the client id and of its token, so checks need no hashing.
    stripes: [u32; 2],
    client: Arc<Client>,
}

pub struct ClientCache {
    shards: Box<[Mutex<HashMap<ClientId, Entry>>]>,
    stripes: Box<[Stripe]>,
    clock: AtomicU64,
    /// Random per process, so nobody can pick ids that share a stripe with someone else's.
    seed: u64,
}

/// The clock when a lookup started, to keep what it reads with.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

/// The stripes a write in flight holds; give them back to `written` when the write is over.
#[derive(Debug)]
#[must_use = "a write's marks must be handed back to `written`, or its clients are never cached again"]
pub struct WriteMarks {
    stripes: [u32; 2],
    count: usize,
}

impl Default for ClientCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientCache {
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            clock: AtomicU64::new(0),
            seed: fastrand::u64(..),
        }
    }

    /// The hash of a client id; its low bits pick the shard, its high bits the stripe.
    fn id_hash(&self, id: &ClientId) -> u64 {
        xxh3_64_with_seed(id.as_str().as_bytes(), self.seed)
    }

    /// Tokens hash with a different seed: a token and a client id with the same text are two keys.
    fn token_stripe(&self, token: &DeviceToken) -> u32 {
        stripe_of(xxh3_64_with_seed(token.expose().as_bytes(), !self.seed))
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, HashMap<ClientId, Entry>> {
        self.shards[hash as usize % SHARDS].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True while no write touching `stripes` is in flight and none finished after `ticket`.
    /// `writing` is read first: a write raises it before it starts and lowers it only after
    /// stamping, so a reader that sees it at zero also sees the stamp of any write already over.
    fn quiet_since(&self, stripes: [u32; 2], ticket: u64) -> bool {
        let [a, b] = stripes.map(|s| &self.stripes[s as usize]);
        a.writing.load(SeqCst) == 0
            && b.writing.load(SeqCst) == 0
            && a.stamp.load(SeqCst) <= ticket
            && b.stamp.load(SeqCst) <= ticket
    }

    /// The cached client, or a ticket to keep the database's answer with.
    pub fn get(&self, id: &ClientId) -> Result<Client, Ticket> {
        let hash = self.id_hash(id);
        let cached = {
            let shard = self.shard(hash);
            shard.get(id).filter(|e| self.quiet_since(e.stripes, e.ticket)).map(|e| e.client.clone())
        };
        match cached {
            // Cloned outside the shard lock: other lookups on the shard need not wait for it.
            Some(client) => Ok(Client::clone(&client)),
            // Taken after the lookup: whatever the database says from now on is at least as new.
            None => Err(Ticket(self.clock.load(SeqCst))),
        }
    }

    /// Keeps a client read from the database after `get` returned `ticket`.
    pub fn put(&self, ticket: Ticket, client: &Client) {
        let hash = self.id_hash(&client.id);
        let stripes = [stripe_of(hash), self.token_stripe(&client.token)];
        if !self.quiet_since(stripes, ticket.0) {
            return; // A write came in between; the next lookup reads again.
        }
        let mut shard = self.shard(hash);
        if shard.len() >= PER_SHARD && !shard.contains_key(&client.id) {
            self.make_room(&mut shard);
        }
        shard.insert(client.id.clone(), Entry { ticket: ticket.0, stripes, client: Arc::new(client.clone()) });
    }

    /// Frees room in a full shard: entries no longer servable first, then an arbitrary batch
    /// (hash-map order), so a full shard never starts over from empty.
    fn make_room(&self, shard: &mut HashMap<ClientId, Entry>) {
        shard.retain(|_, e| self.quiet_since(e.stripes, e.ticket));
        if shard.len() >= PER_SHARD {
            let mut evict = PER_SHARD / EVICT_FRACTION;
            shard.retain(|_, _| {
                let keep = evict == 0;
                evict = evict.saturating_sub(1);
                keep
            });
        }
    }

    /// Before a write that may change `client` (its row, or, with `token`, the row of whoever holds
    /// that token): from now until `written`, lookups of the touched clients go to the database.
    pub fn writing(&self, client: &ClientId, token: Option<&DeviceToken>) -> WriteMarks {
        let marks = WriteMarks {
            stripes: [stripe_of(self.id_hash(client)), token.map_or(0, |t| self.token_stripe(t))],
            count: if token.is_some() { 2 } else { 1 },
        };
        for &s in marks.stripes() {
            self.stripes[s as usize].writing.fetch_add(1, SeqCst);
        }
        marks
    }

    /// The write is over (committed, or certainly not): entries read before now are stale for the
    /// touched clients, and reads from now on can be kept again.
    pub fn written(&self, marks: WriteMarks) {
        let stamp = self.clock.fetch_add(1, SeqCst) + 1;
        for &s in marks.stripes() {
            let stripe = &self.stripes[s as usize];
            stripe.stamp.fetch_max(stamp, SeqCst);
            stripe.writing.fetch_sub(1, SeqCst);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

impl WriteMarks {
    fn stripes(&self) -> &[u32] {
        &self.stripes[..self.count]
    }
}

fn stripe_of(hash: u64) -> u32 {
    // The high bits: the low ones already chose the shard.
    ((hash >> 32) as usize % STRIPES) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PushType;

    fn client(id: &str, token: &str) -> Client {
        Client {
            id: ClientId::parse(id).unwrap(),
            push_type: PushType::Fcm,
            token: DeviceToken::parse(PushType::Fcm, token).unwrap(),
            always_raw: false,
        }
    }

    /// Reads `c` through the cache as the store does: a miss reads "the database" (`c` itself).
    fn read(cache: &ClientCache, c: &Client) {
        if let Err(ticket) = cache.get(&c.id) {
            cache.put(ticket, c);
        }
    }

    fn cached(cache: &ClientCache, c: &Client) -> bool {
        cache.get(&c.id).is_ok()
    }

    /// Two clients whose ids and tokens all fall on different stripes (the seed is random, so a
    /// fixed pair could share one by chance).
    fn two_apart(cache: &ClientCache) -> (Client, Client) {
        let a = client("a", "token-a");
        let stripes_a = [stripe_of(cache.id_hash(&a.id)), cache.token_stripe(&a.token)];
        (0..)
            .map(|i| client(&format!("b{i}"), &format!("token-b{i}")))
            .find(|b| {
                let sb = [stripe_of(cache.id_hash(&b.id)), cache.token_stripe(&b.token)];
                sb.iter().all(|s| !stripes_a.contains(s)) && sb[0] != sb[1]
            })
            .map(|b| (a, b))
            .unwrap()
    }

    #[test]
    fn serves_what_was_read_until_a_write_to_that_client() {
        let cache = ClientCache::new();
        let (a, b) = two_apart(&cache);
        read(&cache, &a);
        read(&cache, &b);
        assert_eq!(cache.get(&a.id).unwrap(), a);
        let marks = cache.writing(&a.id, Some(&a.token));
        assert!(!cached(&cache, &a), "bypassed while the write is in flight");
        assert!(cached(&cache, &b), "another client is untouched");
        cache.written(marks);
        assert!(!cached(&cache, &a), "stale once the write is over");
        assert!(cached(&cache, &b), "another client is still served");
        read(&cache, &a);
        assert!(cached(&cache, &a), "kept again after a fresh read");
    }

    #[test]
    fn a_write_to_a_token_drops_the_client_that_held_it() {
        let cache = ClientCache::new();
        let (owner, other) = two_apart(&cache);
        read(&cache, &owner);
        // `other` takes the owner's token: the owner's row goes, and nothing names the owner.
        cache.written(cache.writing(&other.id, Some(&owner.token)));
        assert!(!cached(&cache, &owner));
    }

    #[test]
    fn a_delete_leaves_the_token_holder_of_another_client_alone() {
        let cache = ClientCache::new();
        let (a, b) = two_apart(&cache);
        read(&cache, &b);
        cache.written(cache.writing(&a.id, None));
        assert!(cached(&cache, &b));
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = ClientCache::new();
        let old = client("a", "t1");
        // The lookup starts, the database answers with the old row, a write commits and finishes,
        // and only then does the lookup try to keep its answer.
        let ticket = cache.get(&old.id).unwrap_err();
        cache.written(cache.writing(&old.id, None));
        cache.put(ticket, &old);
        assert!(!cached(&cache, &old));
    }

    #[test]
    fn a_read_kept_before_a_write_started_is_dropped_when_it_finishes() {
        let cache = ClientCache::new();
        let old = client("a", "t1");
        let ticket = cache.get(&old.id).unwrap_err();
        let marks = cache.writing(&old.id, None);
        cache.put(ticket, &old);
        assert!(!cached(&cache, &old), "not kept while the write is in flight");
        cache.written(marks);
        assert!(!cached(&cache, &old));
    }

    #[test]
    fn a_read_during_a_write_is_not_kept() {
        let cache = ClientCache::new();
        let c = client("a", "t1");
        let marks = cache.writing(&c.id, Some(&c.token));
        read(&cache, &c);
        assert!(!cached(&cache, &c));
        cache.written(marks);
        assert!(!cached(&cache, &c));
        read(&cache, &c);
        assert_eq!(cache.get(&c.id).unwrap(), c);
    }

    #[test]
    fn overlapping_writes_bypass_until_the_last_is_over() {
        let cache = ClientCache::new();
        let c = client("a", "t1");
        let first = cache.writing(&c.id, None);
        let second = cache.writing(&c.id, Some(&c.token));
        cache.written(first);
        read(&cache, &c);
        assert!(!cached(&cache, &c), "the second write is still in flight");
        cache.written(second);
        read(&cache, &c);
        assert!(cached(&cache, &c));
    }

    #[test]
    fn a_lost_write_keeps_its_clients_out_of_the_cache() {
        let cache = ClientCache::new();
        let (a, b) = two_apart(&cache);
        // A write whose marks are never handed back (its outcome never known).
        let _lost = cache.writing(&a.id, None);
        read(&cache, &a);
        read(&cache, &b);
        assert!(!cached(&cache, &a));
        assert!(cached(&cache, &b));
    }

    #[test]
    fn memory_is_bounded_and_a_full_shard_keeps_most_of_itself() {
        let cache = ClientCache::new();
        for i in 0..(MAX_ENTRIES * 2) {
            read(&cache, &client(&format!("c{i}"), "t"));
        }
        let total = cache.len();
        assert!(total <= MAX_ENTRIES, "{total}");
        assert!(total >= MAX_ENTRIES - MAX_ENTRIES / EVICT_FRACTION - SHARDS, "{total}");
    }
}
