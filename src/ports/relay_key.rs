//! Port: the Relay's public key, wherever it comes from (configuration, or the Relay itself).

use async_trait::async_trait;

use crate::domain::RelayPublicKey;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayKeyError {
    /// No key is known and none could be had now (the source is unreachable, answered with an
    /// error, or is backing off after failures). Nothing can be verified: the caller refuses.
    #[error("the Relay public key is unavailable: {0}")]
    Unavailable(String),
}

/// The key Relay signatures are checked with. Implementations are cheap to ask on every request.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait RelayKey: Send + Sync {
    /// The key to verify with now. Answers from memory whenever a key is known, also a stale one
    /// whose refresh is due or failing (a refresh never makes the caller wait). Only when no key
    /// was ever had may it wait for one fetch, bounded by the source's timeout; then
    /// `Unavailable` if that fails.
    async fn current(&self) -> Result<RelayPublicKey, RelayKeyError>;

    /// A signature failed with `failed`: is there a newer key (the Relay rotated)? `Some` with a
    /// key different from `failed`, `None` when there is none, or when asking the source again is
    /// not allowed yet (re-asks are rate-limited by the implementation, so a stream of bad
    /// signatures cannot drive traffic to the Relay) or fails.
    async fn newer_than(&self, failed: &RelayPublicKey) -> Option<RelayPublicKey>;
}
