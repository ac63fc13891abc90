//! # push-server
//!
//! A push-notification gateway. Wallet apps register their APNS or FCM device token under their
//! Relay client id; the Relay sends Ed25519-signed requests to notify a client; push-server checks
//! the signature, de-duplicates, finds the device and delivers through Apple or Google.
//!
//! ## Layout
//!
//! A hexagon: the domain knows nothing of HTTP, SQL, Redis or Apple; ports are the traits it
//! needs from the world; adapters plug real technology into them; `app` holds the use cases and
//! is the one place that wires adapters to ports.
//!
//! - [`domain`]: pure types and rules (`ClientId`, `DeviceToken`, `PushType`, `NotificationId`,
//!   `Flags`, `Payload`, `NotifyMessage`, `Delivery`).
//! - [`ports`]: `ClientRepository`, `DedupStore`, `PushProvider`, each with its error enum.
//! - [`app`]: use cases (`register`, `unregister`, `send`), settings, metrics, wiring, server.
//! - [`adapters::http`]: the poem-openapi API, the envelope, the Relay signature check, docs and
//!   metrics endpoints.
//! - [`adapters::store`]: `ClientRepository` on SQLite and Postgres.
//! - [`adapters::dedup`]: `DedupStore` in memory and on Redis.
//! - [`adapters::push`]: `PushProvider` for APNS, FCM and the log sink, the message renderers, and
//!   the stream-aware HTTP/2 connection pool (`pool`) that APNS and FCM deliver through.
//! - [`cli`]: the command line and configuration; one file per command under `cli/`.
//! - [`telemetry`]: logs (text or JSON lines, `RUST_LOG`) and, with the `otel` feature, OTLP
//!   trace export and W3C `traceparent` propagation.

pub mod adapters;
pub mod app;
pub mod bootstrap;
pub mod cli;
pub mod domain;
pub mod ports;
pub mod telemetry;
