//! Test code shared by push-server's test binaries and by push-bench: the in-process test server
//! and its HTTP client, the Relay-signed request builder, the launcher and harness for the real
//! binary (one process, or several sharing backends), the one fake provider (with its APNS and FCM
//! answers and Google's token endpoint), the test services' helpers, Redis processes a test runs
//! itself, a fault-injecting TCP proxy and an egress (CONNECT) proxy.
//!
//! A crate of its own, not files included by `#[path]`: every test binary sees one API, compiled
//! once, and nothing in it is dead code anywhere. push-server names it only as a dev-dependency
//! (the architecture test checks that), so the library and the release binary never link it.

mod app;
pub mod binary;
pub mod egress_proxy;
pub mod fake;
pub mod instance;
mod join;
pub mod launcher;
pub mod proxy;
#[cfg(feature = "redis")]
pub mod redis_node;
pub mod relay;
pub mod services;

pub use app::{Reply, TestApp, cleartext, encrypted, spawn_app, spawn_settings, spawn_with, test_settings};
pub use join::join_all;
pub use relay::{Signature, SignedRequest, now, relay_key, sign_with};
