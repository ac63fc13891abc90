//! The real push providers end to end: the server, driven over its HTTP API, delivering through
//! APNS, FCM and Web Push to the test kit's fake provider (as Apple, as Google and as a push
//! service, with a test browser that decrypts), the adapters built
//! straight from their configurations, their HTTP/2 connection pool, the start-up checks of the
//! provider settings, the raw send to each provider, and every outbound connection through an
//! egress proxy.

#[cfg(feature = "apns")]
mod apns;
mod egress_proxy;
#[cfg(feature = "fcm")]
mod fcm;
#[cfg(feature = "apns")]
mod pool;
#[cfg(any(feature = "apns", feature = "fcm"))]
mod raw_send;
#[cfg(feature = "webpush")]
mod webpush;
