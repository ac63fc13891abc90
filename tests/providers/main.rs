//! The real push providers end to end: the server, driven over its HTTP API, delivering through
//! APNS and FCM to local fakes of Apple and Google (under `tests/support/`), the adapters built
//! straight from their configurations, the start-up checks of the provider settings, and the raw
//! send to each provider.

#[path = "../support/mod.rs"]
mod support;

#[cfg(feature = "apns")]
#[path = "../support/fake_apns.rs"]
mod fake_apns;
#[cfg(feature = "fcm")]
#[path = "../support/fake_google.rs"]
mod fake_google;
#[cfg(feature = "apns")]
#[path = "../support/fake_h2.rs"]
mod fake_h2;

#[cfg(feature = "apns")]
mod apns;
#[cfg(feature = "fcm")]
mod fcm;
#[cfg(feature = "apns")]
mod pool;
#[cfg(any(feature = "apns", feature = "fcm"))]
mod raw_send;
