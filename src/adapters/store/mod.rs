//! `ClientRepository` adapters: SQLite (embedded default) and Postgres (shared by several servers).

#[cfg(feature = "sqlite")]
mod client_cache;
mod row;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use row::ClientRow;
