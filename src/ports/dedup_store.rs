//! Port: the at-most-once memory of notification ids, as claims that are in flight or done.
//!
//! A `200` to the Relay promises a delivery, so a claim says which of two things it is:
//! - **in flight**: a send holds it while it delivers, for a *lease* as long as that send's own
//!   time budget. When the send dies with its server (SIGKILL, power loss), the lease ends by
//!   itself and the next send of the id takes the claim over: a notification may then reach the
//!   device twice, never zero times.
//! - **done**: the provider accepted the notification; the claim is kept for the dedup window and
//!   every later send of the id is a duplicate.
//!
//! A send that finds an in-flight claim does not answer at once: it waits for the outcome
//! ([`DedupStore::wait`]) and then answers `200` (done), or delivers itself (released, or the
//! lease ended).

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{ClientId, NotificationId};

/// Proof of one claim: `complete` and `release` act only on the claim that carries the same token,
/// so a late call can never settle a claim that another send took after this one's lease ended.
/// Never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimToken(pub u64);

impl ClaimToken {
    pub fn random() -> Self {
        Self(fastrand::u64(1..))
    }
}

/// What `try_claim` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody held `(client, id)`, or the holder's lease had ended: the caller holds it in flight
    /// now, for its lease, and must `complete` or `release` it.
    Claimed(ClaimToken),
    /// Delivered within the dedup window: do not deliver again.
    Done,
    /// Another send is delivering it; its lease ends in `lease_left` at the latest.
    InFlight { lease_left: Duration },
}

/// How a claim that was in flight ended, as [`DedupStore::wait`] saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// It was delivered: the claim is done.
    Done,
    /// Its send gave it up (the delivery failed); the id may be claimed again.
    Released,
    /// Its lease ended with no outcome (the send's server died); the id may be claimed again.
    LeaseEnded,
    /// Still in flight when the waiter's patience ran out; its lease ends in `lease_left` at the
    /// latest.
    InFlight { lease_left: Duration },
}

/// What `complete` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completed {
    /// The claim is done, for the window.
    Done,
    /// The claim was no longer this token's (its lease had ended, and perhaps another send took
    /// it over): nothing changed.
    NotHeld,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DedupError {
    /// The store could not be reached or did not answer in time. A failed `try_claim` made no
    /// claim (or takes back the one whose answer was lost).
    #[error("dedup store unavailable: {0}")]
    Unavailable(String),
}

/// Atomic claims on `(client, notification id)` pairs. Every transition is one atomic step in the
/// store, so any number of sends on any number of servers sharing it agree on each claim.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait DedupStore: Send + Sync {
    /// Claims `(client, id)` in flight for `lease`, in one atomic step: of any number of
    /// concurrent callers (on any number of servers sharing the store), at most one gets
    /// `Claimed`, and none while another's lease runs or the claim is done. A lease under a
    /// millisecond is one millisecond.
    async fn try_claim(&self, client: &ClientId, id: &NotificationId, lease: Duration) -> Result<Claim, DedupError>;

    /// Turns the caller's own in-flight claim into a done one, kept for `window` (compare-and-set
    /// on `token`). Completing an already completed claim again is `Done` (so a retry after a lost
    /// answer is safe); a claim whose lease ended, or that another token holds, is `NotHeld`.
    async fn complete(
        &self,
        client: &ClientId,
        id: &NotificationId,
        token: ClaimToken,
        window: Duration,
    ) -> Result<Completed, DedupError>;

    /// Gives up the caller's own in-flight claim (delivery failed, so a retry may deliver). Does
    /// nothing when the claim is gone, done, or another token's.
    async fn release(&self, client: &ClientId, id: &NotificationId, token: ClaimToken) -> Result<(), DedupError>;

    /// Waits, at most `patience`, for the in-flight claim on `(client, id)` to end, and says how
    /// it ended. A claim that is not in flight when the wait starts has ended already (`Done`, or
    /// `Released` when there is none).
    ///
    /// Waiting is cheap for the store: all waiters of one id on one server share one watcher, a
    /// claim completed or released through the same store wakes them at once, and otherwise the
    /// watcher re-reads the claim with a growing interval (capped at a second, and once when its
    /// lease ends): about one read a second per id waited for, however many duplicates wait.
    async fn wait(&self, client: &ClientId, id: &NotificationId, patience: Duration) -> Result<Waited, DedupError>;
}
