//! The pool's bookkeeping: the open connections with their streams in flight, the sends waiting
//! for a stream, and the one rule that decides between using a stream, dialling, waiting and
//! refusing.
//!
//! Everything is under one short-held mutex: the decisions are a few comparisons over at most
//! `max_connections` entries, far cheaper than the HTTP/2 work around them, and one lock makes
//! "a new connection only when every open one is full" exact instead of racy.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::sync::oneshot;

use super::{PoolLimits, PoolStats, dial::Dialer};

/// How long a failed dial keeps the pool from dialling again while another connection serves.
/// With none left, waiting sends fail at once and their retry policy paces the next dial. A new
/// connection that grants no stream counts as a failed dial here.
const REDIAL_HOLD_OFF: Duration = Duration::from_secs(1);

/// How long a connection may grant no stream (SETTINGS_MAX_CONCURRENT_STREAMS = 0) before it is
/// retired. RFC 9113 §6.5.2 asks servers to set 0 only for short durations; a peer that keeps it
/// would otherwise hold its place in the pool, as capacity that never serves, forever.
const NO_STREAM_GRACE: Duration = Duration::from_secs(2);

/// A stream granted to one send, or why it could not get one.
type Grant = Result<Stream, String>;

pub struct Shared {
    pub dialer: Dialer,
    pub limits: PoolLimits,
    state: Mutex<State>,
    opened: AtomicU64,
    in_flight_peak: AtomicUsize,
}

#[derive(Default)]
struct State {
    entries: Vec<Entry>,
    /// At most one connection is being opened at a time: the sends that wait meanwhile get its
    /// streams, and a burst does not open a connection per waiting send.
    dialling: bool,
    waiters: VecDeque<oneshot::Sender<Grant>>,
    /// After a failed dial, no new one before this while a live connection still serves: a
    /// provider that refuses new connections must not be hammered with them.
    redial_after: Option<Instant>,
    /// When a wake-up is due to look at the connections again (see `recheck_later`).
    recheck_at: Option<Instant>,
    next_id: u64,
    in_flight: usize,
}

struct Entry {
    id: u64,
    send: SendRequest<Bytes>,
    in_flight: usize,
    /// The peer sent GOAWAY: streams already open finish, no new ones start here.
    draining: bool,
    /// Since when the peer has been seen granting no stream at all.
    no_stream_since: Option<Instant>,
}

impl Entry {
    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS, as h2 last received it (peers may change it).
    fn has_room(&self) -> bool {
        !self.draining && self.in_flight < self.send.current_max_send_streams()
    }

    /// Whether the peer has granted no stream for longer than `NO_STREAM_GRACE` (noting when it
    /// started, and forgetting it once the peer grants streams again).
    fn granted_nothing_for_too_long(&mut self, now: Instant) -> bool {
        if self.send.current_max_send_streams() > 0 {
            self.no_stream_since = None;
            return false;
        }
        let since = *self.no_stream_since.get_or_insert(now);
        now.duration_since(since) >= NO_STREAM_GRACE
    }
}

/// The right to open one stream on one connection, held until the exchange is over (response
/// body read, or failed); dropping it gives the stream back.
pub struct Stream {
    shared: Option<Arc<Shared>>,
    pub connection: u64,
    pub send: SendRequest<Bytes>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.release(self.connection);
        }
    }
}

/// What `acquire` found.
pub enum Acquired {
    Ready(Stream),
    /// Every connection is full (or none is open yet): the grant comes through this channel.
    Wait(oneshot::Receiver<Grant>),
    /// `max_pending` sends are already waiting.
    Busy,
}

impl Shared {
    pub fn new(dialer: Dialer, limits: PoolLimits) -> Self {
        Self { dialer, limits, state: Mutex::default(), opened: AtomicU64::new(0), in_flight_peak: AtomicUsize::new(0) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent between statements, so a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn acquire(self: &Arc<Self>) -> Acquired {
        let mut state = self.lock();
        // Waiting sends go first: a newcomer must not overtake them when a stream frees up.
        if state.waiters.is_empty() {
            if let Some(stream) = self.take(&mut state) {
                return Acquired::Ready(stream);
            }
        }
        if state.waiters.len() >= self.limits.max_pending {
            // Sends that gave up still hold places until a stream frees up; count only live ones
            // (a scan only at the limit, not on every send).
            state.waiters.retain(|w| !w.is_closed());
            if state.waiters.len() >= self.limits.max_pending {
                return Acquired::Busy;
            }
        }
        let (tx, rx) = oneshot::channel();
        state.waiters.push_back(tx);
        self.dispatch(&mut state);
        Acquired::Wait(rx)
    }

    /// A stream on the first connection with room, if any.
    fn take(self: &Arc<Self>, state: &mut State) -> Option<Stream> {
        let entry = state.entries.iter_mut().find(|e| e.has_room())?;
        entry.in_flight += 1;
        let stream = Stream { shared: Some(self.clone()), connection: entry.id, send: entry.send.clone() };
        state.in_flight += 1;
        self.in_flight_peak.fetch_max(state.in_flight, Ordering::Relaxed);
        Some(stream)
    }

    /// Hands free streams to waiting sends in order; opens a connection when they are all taken
    /// and the limit allows.
    fn dispatch(self: &Arc<Self>, state: &mut State) {
        loop {
            while state.waiters.front().is_some_and(oneshot::Sender::is_closed) {
                state.waiters.pop_front();
            }
            if state.waiters.is_empty() {
                return;
            }
            let Some(stream) = self.take(state) else {
                self.dial_if_allowed(state);
                return;
            };
            let waiter = state.waiters.pop_front().expect("checked above");
            if let Err(Ok(mut stream)) = waiter.send(Ok(stream)) {
                // The send gave up (timed out) just now; its stream goes back without the lock
                // being taken again.
                stream.shared = None;
                Self::give_back(state, stream.connection);
            }
        }
    }

    fn dial_if_allowed(self: &Arc<Self>, state: &mut State) {
        // h2 reports a GOAWAY only to the next stream opened on that connection; a full one
        // would keep its place and block a replacement, so ask h2 now (cheap, and only here,
        // when every connection is full).
        // A connection whose peer has granted no stream for a while is retired the same way.
        let mut context = Context::from_waker(Waker::noop());
        let now = Instant::now();
        for entry in state.entries.iter_mut().filter(|e| !e.draining) {
            if let Poll::Ready(Err(e)) = entry.send.poll_ready(&mut context) {
                tracing::debug!(connection = entry.id, error = %e, "the HTTP/2 connection takes no new streams");
                entry.draining = true;
            } else if entry.granted_nothing_for_too_long(now) {
                tracing::debug!(connection = entry.id, host = %self.dialer.host, "the peer grants no stream; retiring the HTTP/2 connection");
                entry.draining = true;
            }
        }
        state.entries.retain(|e| !(e.draining && e.in_flight == 0));
        let live = state.entries.iter().filter(|e| !e.draining).count();
        if state.dialling {
            return;
        }
        if live >= self.limits.max_connections || (live > 0 && state.redial_after.is_some_and(|at| now < at)) {
            self.recheck_later(state, now);
            return;
        }
        state.dialling = true;
        state.next_id += 1;
        let id = state.next_id;
        let shared = self.clone();
        tokio::spawn(async move {
            let weak = Arc::downgrade(&shared);
            let on_close = move || {
                if let Some(shared) = weak.upgrade() {
                    shared.closed(id);
                }
            };
            let result = shared.dialer.dial(on_close).await;
            shared.dialled(id, result);
        });
    }

    fn dialled(self: &Arc<Self>, id: u64, result: Result<SendRequest<Bytes>, String>) {
        let mut state = self.lock();
        state.dialling = false;
        match result {
            Ok(send) => {
                self.opened.fetch_add(1, Ordering::Relaxed);
                let max_streams = send.current_max_send_streams();
                tracing::debug!(connection = id, max_streams, host = %self.dialer.host, "HTTP/2 connection open");
                // A connection that grants no stream is no better than a failed dial: dialling
                // on at once would only fill the pool with more of them.
                let now = Instant::now();
                let no_stream_since = (max_streams == 0).then_some(now);
                state.redial_after = no_stream_since.map(|now| now + REDIAL_HOLD_OFF);
                state.entries.push(Entry { id, send, in_flight: 0, draining: false, no_stream_since });
            }
            Err(reason) => {
                tracing::debug!(%reason, host = %self.dialer.host, "HTTP/2 connection failed");
                state.redial_after = Some(Instant::now() + REDIAL_HOLD_OFF);
                // With no connection left to wait for, the waiting sends fail now (their retry
                // policy decides what next) rather than at their timeout.
                if !state.entries.iter().any(|e| !e.draining) {
                    for waiter in state.waiters.drain(..) {
                        let _ = waiter.send(Err(reason.clone()));
                    }
                }
            }
        }
        self.dispatch(&mut state);
    }

    /// Sends wait and no dial may start now. When some connection grants no stream, nothing the
    /// pool sees (a stream given back, a connection closing) may ever happen again, so a task
    /// looks again when that connection is due for retirement or the redial hold-off ends,
    /// whichever comes first; it also finds the room of a peer that raised its limit meanwhile.
    fn recheck_later(self: &Arc<Self>, state: &mut State, now: Instant) {
        let Some(retire_at) = state
            .entries
            .iter()
            .filter(|e| !e.draining)
            .filter_map(|e| e.no_stream_since)
            .min()
            .map(|s| s + NO_STREAM_GRACE)
        else {
            return;
        };
        let at = state.redial_after.filter(|&at| at > now).map_or(retire_at, |hold| hold.min(retire_at));
        if state.recheck_at.is_some_and(|due| due > now && due <= at) {
            return;
        }
        state.recheck_at = Some(at);
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            if let Some(shared) = weak.upgrade() {
                let mut state = shared.lock();
                state.recheck_at = state.recheck_at.filter(|&due| due != at);
                shared.dispatch(&mut state);
            }
        });
    }

    /// The connection is gone; its streams already failed inside h2.
    fn closed(self: &Arc<Self>, id: u64) {
        let mut state = self.lock();
        if let Some(pos) = state.entries.iter().position(|e| e.id == id) {
            let entry = state.entries.remove(pos);
            state.in_flight -= entry.in_flight;
            tracing::debug!(connection = id, host = %self.dialer.host, "HTTP/2 connection closed");
        }
        self.dispatch(&mut state);
    }

    /// The peer sent GOAWAY on this connection: no new streams there.
    pub fn drain(self: &Arc<Self>, id: u64) {
        let mut state = self.lock();
        if let Some(pos) = state.entries.iter().position(|e| e.id == id && !e.draining) {
            state.entries[pos].draining = true;
            tracing::debug!(connection = id, host = %self.dialer.host, "GOAWAY: draining the HTTP/2 connection");
            if state.entries[pos].in_flight == 0 {
                state.entries.remove(pos);
            }
        }
        self.dispatch(&mut state);
    }

    fn release(self: &Arc<Self>, id: u64) {
        let mut state = self.lock();
        Self::give_back(&mut state, id);
        self.dispatch(&mut state);
    }

    fn give_back(state: &mut State, id: u64) {
        let Some(pos) = state.entries.iter().position(|e| e.id == id) else { return };
        let entry = &mut state.entries[pos];
        entry.in_flight -= 1;
        state.in_flight -= 1;
        if entry.draining && entry.in_flight == 0 {
            // Dropping the last handle lets h2 finish the connection.
            state.entries.remove(pos);
        }
    }

    pub fn stats(&self) -> PoolStats {
        let state = self.lock();
        PoolStats {
            connections_opened: self.opened.load(Ordering::Relaxed),
            open_connections: state.entries.len(),
            in_flight: state.in_flight,
            in_flight_peak: self.in_flight_peak.load(Ordering::Relaxed),
            waiting: state.waiters.iter().filter(|w| !w.is_closed()).count(),
        }
    }
}
