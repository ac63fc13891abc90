//! Instrumenting decorators: each wraps one port, opens its span and records its metrics, and
//! passes every call through unchanged. The use cases stay free of telemetry steps; bootstrap
//! wraps the adapters it builds.

mod client_repository;
mod dedup_store;
mod push_provider;

pub use client_repository::InstrumentedClientRepository;
pub use dedup_store::InstrumentedDedupStore;
pub use push_provider::InstrumentedPushProvider;
