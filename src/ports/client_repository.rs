//! Port: where registrations live.

use async_trait::async_trait;

use crate::domain::{Client, ClientId};

/// Why a client store call failed. Adapters map their driver errors into these at the seam.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or did not answer in time; the call may succeed later.
    /// Nothing was changed.
    #[error("client store unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be read back into a valid client (for example edited by hand).
    #[error("client store holds an unreadable row: {0}")]
    Corrupt(String),
}

/// Durable storage of clients. Every client belongs to a project (`ClientId::project`): ids and
/// device tokens are unique per project, and nothing here reaches across projects.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ClientRepository: Send + Sync {
    /// Stores `client`, replacing the type and token of an existing client with the same id.
    /// If another client of the same project holds the same token text, that client is removed in the same
    /// transaction, so a token never has two owners, even under concurrent calls. `Ok(true)` means
    /// the write is durable; `Ok(false)` that the client's project does not exist (deleted, maybe
    /// while the caller still had it cached) and nothing was stored: a client never outlives its
    /// project, whatever the order of a registration and the project's delete.
    async fn upsert(&self, client: &Client) -> Result<bool, StoreError>;

    /// The client registered under `id`, or `None`.
    async fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;

    /// Removes the client; `Ok(false)` when there was none (deleting is idempotent).
    async fn delete(&self, id: &ClientId) -> Result<bool, StoreError>;

    /// Removes the client only while it still holds `token`: a provider said this token is dead,
    /// and a registration that replaced it meanwhile must survive. `Ok(false)` when nothing matched.
    async fn delete_if_token(&self, client: &Client) -> Result<bool, StoreError>;
}
