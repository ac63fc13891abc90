//! `ClientRepository` adapters: SQLite (embedded default) and Postgres (shared by several servers).

#[cfg(feature = "sqlite")]
mod client_cache;
#[cfg(feature = "postgres")]
pub mod postgres;
mod row;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use row::{ClientRow, DELETE_CLIENT, DELETE_CLIENT_IF_TOKEN, FIND_CLIENT};
