//! `ClientRepository` adapters: SQLite (embedded default) and Postgres (shared by several servers).

mod row;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use row::ClientRow;
