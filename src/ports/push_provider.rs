//! Port: a push service that delivers one message to one device.

use async_trait::async_trait;

use crate::domain::Delivery;

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
}

/// Delivers notifications through one push service.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait PushProvider: Send + Sync {
    /// Short stable name, used in logs, metrics and error codes.
    fn name(&self) -> &'static str;

    /// Delivers one notification. `Ok` means the provider accepted it. Retries of transient
    /// failures happen inside (bounded); a message over the provider's size limit is refused with
    /// `PayloadRejected` before any network call.
    async fn send(&self, delivery: &Delivery) -> Result<(), PushError>;
}
