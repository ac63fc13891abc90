//! Waiting for an in-flight claim's outcome without hammering the store, for every dedup adapter.
//!
//! A duplicate that finds a claim in flight waits for it to end (`DedupStore::wait`). Many may
//! wait for one id (a Relay retrying, several Relay nodes), and a store shared by many servers
//! must not see a read loop per waiter. So:
//! - all waiters of one id in one store share one *watcher*, a task that exists while anyone
//!   waits;
//! - a claim completed or released through the same store ends the watch at once, with no read
//!   (the adapter reports its own successful transitions here);
//! - otherwise the watcher re-reads the claim: at once, then after 50 ms, doubling up to one
//!   second, plus one read just after the lease ends (so a dead server's claim is taken over
//!   promptly). Over a 16 s lease that is about twenty reads, about one a second once the first
//!   second is past, however many duplicates wait;
//! - the watcher stops when its last waiter stops waiting (outcome or patience), so the reads
//!   are bounded by the waiters' own deadlines.
//!
//! The number of watchers is bounded too: each is an id some waiting request asked about, and
//! waiting requests are open connections, bounded by the server's connection limit and their
//! request deadline.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{sync::watch, time::Instant};

use crate::ports::{DedupError, Waited};

/// The first re-read comes this long after the watch's first read.
const FIRST_INTERVAL: Duration = Duration::from_millis(50);
/// Re-reads never come further apart than this.
const MAX_INTERVAL: Duration = Duration::from_secs(1);
/// The read after a lease ends comes this long after it, so the store surely sees it ended.
const LEASE_END_SLACK: Duration = Duration::from_millis(5);
/// Re-reads never come closer together than this (a lease that has ended by our clock but not
/// yet by the store's must not make a tight loop).
const MIN_GAP: Duration = Duration::from_millis(10);

/// One read of a claim, as an adapter reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// No live claim: never made, released, or its lease or window ended.
    Free,
    Done,
    /// In flight, held by the claim whose token is `holder`.
    InFlight {
        holder: u64,
        lease_left: Duration,
    },
}

/// What the waiters of one id know.
#[derive(Debug, Clone)]
enum Status {
    /// Not read yet.
    Unread,
    /// No read has succeeded yet; the last one failed so.
    Unreadable(DedupError),
    InFlight {
        lease_ends: Instant,
    },
    Ended(Waited),
}

struct Watch {
    /// Which watcher this is, so one that ended never removes its successor.
    serial: u64,
    status: watch::Sender<Status>,
}

struct Shared<K> {
    watching: Mutex<HashMap<K, Watch>>,
    serials: AtomicU64,
}

/// The watchers of one store, by the store's own key for a claim.
pub struct Watchers<K> {
    shared: Arc<Shared<K>>,
}

impl<K> Default for Watchers<K> {
    fn default() -> Self {
        Self { shared: Arc::new(Shared { watching: Mutex::new(HashMap::new()), serials: AtomicU64::new(0) }) }
    }
}

impl<K: Hash + Eq + Clone + Send + 'static> Watchers<K> {
    /// Waits, at most `patience`, for the claim under `key` to stop being in flight. `peek` reads
    /// the claim; it is called by the watcher only, which is started here unless one runs.
    pub async fn wait<F, Fut>(&self, key: K, patience: Duration, peek: F) -> Result<Waited, DedupError>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Seen, DedupError>> + Send + 'static,
    {
        let deadline = Instant::now() + patience;
        let mut status = self.subscribe(key, peek);
        let ended = match tokio::time::timeout_at(deadline, status.wait_for(|s| matches!(s, Status::Ended(_)))).await {
            Ok(Ok(ended)) => Some(ended.clone()),
            // Patience ran out (or the watcher went, which it does only once it ended the watch).
            Ok(Err(_)) | Err(_) => None,
        };
        let seen = ended.unwrap_or_else(|| status.borrow().clone());
        match seen {
            Status::Ended(outcome) => Ok(outcome),
            Status::InFlight { lease_ends } => {
                Ok(Waited::InFlight { lease_left: lease_ends.saturating_duration_since(Instant::now()) })
            }
            Status::Unreadable(e) => Err(e),
            // Patience shorter than one read: still in flight, as the caller last saw it.
            Status::Unread => Ok(Waited::InFlight { lease_left: Duration::ZERO }),
        }
    }

    /// Ends the watch of `key` with `outcome`, which a transition made through this very store has
    /// just brought about: its waiters answer at once.
    pub fn settled(&self, key: &K, outcome: Waited) {
        let mut watching = self.shared.watching.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(watch) = watching.remove(key) {
            watch.status.send_replace(Status::Ended(outcome));
        }
    }

    fn subscribe<F, Fut>(&self, key: K, peek: F) -> watch::Receiver<Status>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Seen, DedupError>> + Send + 'static,
    {
        let mut watching = self.shared.watching.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(watch) = watching.get(&key) {
            return watch.status.subscribe();
        }
        let serial = self.shared.serials.fetch_add(1, Ordering::Relaxed);
        let (status, receiver) = watch::channel(Status::Unread);
        watching.insert(key.clone(), Watch { serial, status: status.clone() });
        tokio::spawn(watcher(self.shared.clone(), key, serial, status, peek));
        receiver
    }
}

impl<K: Hash + Eq> Shared<K> {
    /// Ends watch `serial` of `key` with `outcome`, unless a local settlement ended it first.
    fn end(&self, key: &K, serial: u64, outcome: Waited) {
        let mut watching = self.watching.lock().unwrap_or_else(|e| e.into_inner());
        // Under the lock: a waiter arriving after this starts a new watch rather than taking an
        // outcome that may predate its own look at the claim.
        if watching.get(key).is_some_and(|w| w.serial == serial)
            && let Some(watch) = watching.remove(key)
        {
            watch.status.send_replace(Status::Ended(outcome));
        }
    }

    /// Drops watch `serial` when nobody waits on it any more; false when someone does (a waiter
    /// may have joined since the last one left).
    fn abandon(&self, key: &K, serial: u64, status: &watch::Sender<Status>) -> bool {
        let mut watching = self.watching.lock().unwrap_or_else(|e| e.into_inner());
        if status.receiver_count() > 0 {
            return false;
        }
        if watching.get(key).is_some_and(|w| w.serial == serial) {
            watching.remove(key);
        }
        true
    }
}

/// The watcher of one id: reads the claim until it is no longer the in-flight claim first seen,
/// or until nobody waits.
async fn watcher<K, F, Fut>(shared: Arc<Shared<K>>, key: K, serial: u64, status: watch::Sender<Status>, mut peek: F)
where
    K: Hash + Eq,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Seen, DedupError>>,
{
    let mut interval = FIRST_INTERVAL;
    let mut next = Instant::now();
    // The holder being waited for and when its lease ends, once read.
    let mut held: Option<(u64, Instant)> = None;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = status.closed() => {
                if shared.abandon(&key, serial, &status) {
                    return;
                }
                continue;
            }
        }
        if matches!(*status.borrow(), Status::Ended(_)) {
            return; // settled by a transition through this store
        }
        // The lease is counted from the moment the read was sent: the store measured what is left
        // somewhere between then and its answer, so the end is never placed after the true one.
        let asked = Instant::now();
        let seen = peek().await;
        let now = Instant::now();
        // Gone or taken over: by the lease's end, or before it by a release.
        let ended = |held: Option<(u64, Instant)>| match held {
            Some((_, lease_ends)) if now >= lease_ends => Waited::LeaseEnded,
            _ => Waited::Released,
        };
        let lease_left = match seen {
            Ok(Seen::Done) => return shared.end(&key, serial, Waited::Done),
            Ok(Seen::Free) => return shared.end(&key, serial, ended(held)),
            Ok(Seen::InFlight { holder, .. }) if held.is_some_and(|(h, _)| h != holder) => {
                return shared.end(&key, serial, ended(held));
            }
            Ok(Seen::InFlight { holder, lease_left }) => {
                held = Some((holder, asked + lease_left));
                // A transition through this store may have settled the watch while the read was on
                // its way (the read then predates it): the settled outcome stands, and the watch
                // is over.
                let watching = status.send_if_modified(|s| {
                    if matches!(s, Status::Ended(_)) {
                        return false;
                    }
                    *s = Status::InFlight { lease_ends: asked + lease_left };
                    true
                });
                if !watching {
                    return;
                }
                Some(lease_left)
            }
            Err(e) => {
                status.send_if_modified(|s| match s {
                    Status::Unread | Status::Unreadable(_) => {
                        *s = Status::Unreadable(e);
                        true
                    }
                    _ => false,
                });
                None
            }
        };
        let until_lease_end = lease_left.map_or(interval, |left| left + LEASE_END_SLACK);
        next = now + interval.min(until_lease_end).max(MIN_GAP);
        interval = (interval * 2).min(MAX_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A claim whose reads are counted; it reads as `answer(reads so far)`.
    fn counted(
        reads: &Arc<AtomicUsize>,
        answer: impl Fn(usize) -> Result<Seen, DedupError> + Send + Sync + 'static,
    ) -> impl FnMut() -> std::future::Ready<Result<Seen, DedupError>> + Send + 'static {
        let reads = reads.clone();
        move || std::future::ready(answer(reads.fetch_add(1, Ordering::SeqCst)))
    }

    fn in_flight(lease_left: Duration) -> Result<Seen, DedupError> {
        Ok(Seen::InFlight { holder: 7, lease_left })
    }

    #[tokio::test(start_paused = true)]
    async fn a_hundred_waiters_cost_one_read_a_second_and_nothing_once_they_are_gone() {
        let watchers = Arc::new(Watchers::<u8>::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..100)
            .map(|_| {
                let (watchers, peek) = (watchers.clone(), counted(&reads, |_| in_flight(Duration::from_secs(60))));
                tokio::spawn(async move { watchers.wait(1, Duration::from_secs(10), peek).await })
            })
            .collect();
        for waiter in waiters {
            let waited = waiter.await.unwrap().unwrap();
            // As of the last read (at 9.55 s), which said a minute was left.
            assert_eq!(waited, Waited::InFlight { lease_left: Duration::from_millis(59_550) });
        }
        // At once, after 50, 100, 200, 400, 800 ms (1.55 s in), then every second until 10 s.
        let total = reads.load(Ordering::SeqCst);
        assert!((13..=16).contains(&total), "{total} reads for 100 waiters over 10 s");
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(reads.load(Ordering::SeqCst), total, "no waiter, no reads");
        assert!(watchers.shared.watching.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_lease_end_is_read_when_it_comes_not_a_second_later() {
        let watchers = Watchers::<u8>::default();
        let reads = Arc::new(AtomicUsize::new(0));
        // In flight for 3.2 s, then gone: a dead server's claim.
        let started = Instant::now();
        let peek = counted(&reads, move |_| {
            let left = Duration::from_millis(3200).saturating_sub(started.elapsed());
            if left.is_zero() { Ok(Seen::Free) } else { in_flight(left) }
        });
        let waited = watchers.wait(1, Duration::from_secs(30), peek).await.unwrap();
        assert_eq!(waited, Waited::LeaseEnded);
        assert_eq!(started.elapsed(), Duration::from_millis(3200) + LEASE_END_SLACK);
    }

    #[tokio::test(start_paused = true)]
    async fn another_holder_or_no_claim_before_the_lease_end_is_a_release() {
        let watchers = Watchers::<u8>::default();
        let reads = Arc::new(AtomicUsize::new(0));
        // Another send took it over after a release.
        let peek = counted(&reads, |n| {
            if n < 3 {
                in_flight(Duration::from_secs(60))
            } else {
                Ok(Seen::InFlight { holder: 8, lease_left: Duration::from_secs(60) })
            }
        });
        assert_eq!(watchers.wait(1, Duration::from_secs(30), peek).await, Ok(Waited::Released));
        let peek = counted(&reads, |_| Ok(Seen::Free));
        assert_eq!(watchers.wait(2, Duration::from_secs(30), peek).await, Ok(Waited::Released));
        let peek = counted(&reads, |_| Ok(Seen::Done));
        assert_eq!(watchers.wait(3, Duration::from_secs(30), peek).await, Ok(Waited::Done));
    }

    #[tokio::test(start_paused = true)]
    async fn a_local_settlement_wakes_every_waiter_without_a_read() {
        let watchers = Arc::new(Watchers::<u8>::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (watchers, peek) = (watchers.clone(), counted(&reads, |_| in_flight(Duration::from_secs(60))));
                tokio::spawn(async move { watchers.wait(1, Duration::from_secs(10), peek).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let before = reads.load(Ordering::SeqCst);
        watchers.settled(&1, Waited::Done);
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), Ok(Waited::Done));
        }
        assert_eq!(before, 1, "only the first read");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(reads.load(Ordering::SeqCst), 1, "the watcher stopped");
        // A settlement with nobody waiting is nothing.
        watchers.settled(&2, Waited::Released);
    }

    /// A read sent before a local completion and answered after it says "in flight": the waiters
    /// still get the completion (they used to get `in_flight` from the stale read, a 503 for a
    /// notification that had been delivered).
    #[tokio::test(start_paused = true)]
    async fn a_read_older_than_a_local_settlement_never_overrides_it() {
        let watchers = Arc::new(Watchers::<u8>::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let settling = watchers.clone();
        let peek = move || {
            let (watchers, n) = (settling.clone(), reads.fetch_add(1, Ordering::SeqCst));
            async move {
                if n > 0 {
                    return Ok(Seen::Done);
                }
                // The delivery completes through this store while the first read is on its way.
                watchers.settled(&1, Waited::Done);
                in_flight(Duration::from_secs(60))
            }
        };
        let started = Instant::now();
        assert_eq!(watchers.wait(1, Duration::from_secs(10), peek).await, Ok(Waited::Done));
        assert_eq!(started.elapsed(), Duration::ZERO, "at once, not at the patience");
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_that_never_answers_is_an_error_at_the_patience() {
        let watchers = Watchers::<u8>::default();
        let reads = Arc::new(AtomicUsize::new(0));
        let peek = counted(&reads, |_| Err(DedupError::Unavailable("down".into())));
        let started = Instant::now();
        let waited = watchers.wait(1, Duration::from_secs(2), peek).await;
        assert_eq!(waited, Err(DedupError::Unavailable("down".into())));
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        // After one good read, a failing one keeps what was known.
        let peek = counted(&reads, |n| {
            if n % 2 == 0 { in_flight(Duration::from_secs(60)) } else { Err(DedupError::Unavailable("x".into())) }
        });
        assert!(matches!(watchers.wait(2, Duration::from_secs(2), peek).await, Ok(Waited::InFlight { .. })));
    }
}
