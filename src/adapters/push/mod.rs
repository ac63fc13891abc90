//! `PushProvider` adapters: APNS, FCM (HTTP v1) and the log sink, plus the renderers that turn a
//! notification into each provider's message (shared, so the log sink shows exactly what a real
//! provider would get), the retry policy, and the HTTP/2 connection pool APNS and FCM share.

#[cfg(feature = "apns")]
pub mod apns;
#[cfg(feature = "fcm")]
pub mod fcm;
pub mod log_sink;
#[cfg(feature = "h2-pool")]
pub mod pool;
pub mod render;
pub mod retry;
