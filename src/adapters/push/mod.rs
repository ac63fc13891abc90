//! `PushProvider` adapters: APNS, FCM (HTTP v1) and the log sink, plus the renderers that turn a
//! notification into each provider's message (shared, so the log sink shows exactly what a real
//! provider would get), the retry policy, the HTTP/2 connection pool APNS and FCM share, and the
//! one factory (`factory`) every provider of the server is built by.

#[cfg(feature = "apns")]
pub mod apns;
pub mod factory;
#[cfg(feature = "fcm")]
pub mod fcm;
pub mod log_sink;
#[cfg(feature = "h2-pool")]
pub mod pool;
pub mod pool_limits;
pub mod render;
pub mod retry;
#[cfg(feature = "webpush")]
pub mod webpush;
