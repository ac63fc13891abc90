//! Port: the at-most-once memory of notification ids.

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{ClientId, NotificationId};

/// Proof of one claim; `release` only removes the claim that carries the same token, so a late
/// release can never free a claim that another request made after this one expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimToken(pub u64);

impl ClaimToken {
    pub fn random() -> Self {
        Self(fastrand::u64(..))
    }
}

/// The outcome of `try_claim`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody held this (client, id) within the window; the caller owns it now.
    New(ClaimToken),
    /// Already claimed within the window: do not deliver again.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DedupError {
    /// The store could not be reached or did not answer in time. No claim was made.
    #[error("dedup store unavailable: {0}")]
    Unavailable(String),
}

/// Atomic claims on `(client, notification id)` pairs, each held for a time-to-live.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait DedupStore: Send + Sync {
    /// Claims `(client, id)` for `ttl` in one atomic step: of any number of concurrent callers
    /// (on any number of servers sharing the store), exactly one gets `Claim::New`.
    async fn try_claim(&self, client: &ClientId, id: &NotificationId, ttl: Duration) -> Result<Claim, DedupError>;

    /// Gives up a claim made with `token` (delivery failed transiently, so a retry may deliver).
    /// Does nothing when the claim is gone or belongs to another token.
    async fn release(&self, client: &ClientId, id: &NotificationId, token: ClaimToken) -> Result<(), DedupError>;
}
