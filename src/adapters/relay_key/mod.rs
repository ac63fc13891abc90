//! `RelayKey` adapters: a key from configuration, or one fetched from the Relay and cached.

mod fetch;
mod fetched;
mod schedule;
mod static_key;

pub use fetched::{FetchedKey, FetchedKeyConfig};
pub use static_key::StaticKey;
