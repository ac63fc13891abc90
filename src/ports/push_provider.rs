//! Port: a push service that delivers one message to one device.

use async_trait::async_trait;

use crate::domain::{Delivery, DeviceToken};

/// Why a delivery failed, in the classes the use case acts on. `provider` is a short stable name
/// (`apns`, `fcm`, `log_sink`) used to build error codes such as `apns_unavailable`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The provider says the token is dead (APNS `Unregistered`, `BadDeviceToken`,
    /// `DeviceTokenNotForTopic`; FCM `UNREGISTERED`). The client should be removed.
    #[error("{provider}: device token is no longer valid ({reason})")]
    TokenUnregistered { provider: &'static str, reason: String },
    /// The message itself was refused (too large, invalid). Retrying the same message cannot help.
    #[error("{provider}: payload rejected ({reason})")]
    PayloadRejected { provider: &'static str, reason: String },
    /// The provider could not be reached, timed out or kept failing after bounded retries.
    #[error("{provider}: unavailable ({reason})")]
    Unavailable { provider: &'static str, reason: String },
    /// The provider refused our credentials, even after a refresh.
    #[error("{provider}: credentials rejected ({reason})")]
    Credentials { provider: &'static str, reason: String },
    /// Too many sends are already waiting for this provider (its connections are all full);
    /// refused at once, nothing was sent. The caller should try again shortly.
    #[error("{provider}: busy, too many sends waiting")]
    Busy { provider: &'static str },
}

impl PushError {
    /// The short stable name of the provider that failed.
    pub fn provider(&self) -> &'static str {
        match self {
            PushError::TokenUnregistered { provider, .. }
            | PushError::PayloadRejected { provider, .. }
            | PushError::Unavailable { provider, .. }
            | PushError::Credentials { provider, .. }
            | PushError::Busy { provider } => provider,
        }
    }
}

/// A delivery the provider accepted. `attempts` counts every call made for it (1 when the first
/// call succeeded), so retries are part of the answer whatever way a provider retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub attempts: u32,
}

/// A delivery that failed for good: why, and after how many calls (0 when refused before any
/// network call, for example a payload over the size limit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error} after {attempts} attempt(s)")]
pub struct PushFailure {
    #[source]
    pub error: PushError,
    pub attempts: u32,
}

impl PushFailure {
    /// A failure found before any call to the provider.
    pub fn before_sending(error: PushError) -> Self {
        Self { error, attempts: 0 }
    }
}

/// Delivers notifications through one push service.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait PushProvider: Send + Sync {
    /// Short stable name, used in logs, metrics and error codes.
    fn name(&self) -> &'static str;

    /// Delivers one notification. `Ok` means the provider accepted it. Retries of transient
    /// failures happen inside (bounded) and are counted in the answer; a message over the
    /// provider's size limit is refused with `PayloadRejected` before any network call.
    async fn send(&self, delivery: &Delivery) -> Result<Delivered, PushFailure>;

    /// Checks at registration that this provider could deliver to `token`, beyond the token's
    /// own rules: `Err` with the reason (for the `token` field) when it never could. Web Push
    /// refuses endpoints the server must not call (its own network); the others take any token
    /// the domain accepts. No message is sent.
    async fn check_token(&self, _token: &DeviceToken) -> Result<(), String> {
        Ok(())
    }
}
