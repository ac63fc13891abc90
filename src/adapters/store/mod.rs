//! `ClientRepository` and `ProjectRepository` adapters: SQLite (embedded default) and Postgres
//! (shared by several servers), with project credentials sealed by `credentials_cipher`.

#[cfg(feature = "sqlite")]
mod client_cache;
pub mod credentials_cipher;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
pub mod postgres_projects;
mod project_row;
mod row;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "sqlite")]
pub mod sqlite_projects;

pub use row::{ClientRow, DELETE_CLIENT, DELETE_CLIENT_IF_TOKEN, FIND_CLIENT};
