//! Adapters: the technology behind each port (stores, dedup, push, Relay key, clock), and the HTTP API
//! that drives the use cases.
//! Feature gates live here (which adapters are compiled in) and in `bootstrap::stores` and
//! `bootstrap::providers` (which are used).

pub mod clock;
pub mod dedup;
pub mod egress;
pub mod http;
pub mod pem;
#[cfg(feature = "postgres")]
pub mod pg_database;
#[cfg(feature = "postgres")]
pub mod pg_schema;
pub mod push;
pub mod relay_key;
pub mod store;
#[cfg(feature = "postgres")]
pub mod walletconnect_source;
