//! The stored shape of a client, shared by the SQL stores, and its conversion to the domain type.

use crate::{
    domain::{Client, ClientId, DeviceToken, ProjectKey, PushType},
    ports::StoreError,
};

/// Statements that read the same on SQLite and Postgres (`$n` placeholders work on both).
/// Every statement names the project first (`$1`, its storage key): client ids and tokens are
/// scoped to their project.
pub const FIND_CLIENT: &str =
    "SELECT project, client_id, push_type, token, always_raw FROM clients WHERE project = $1 AND client_id = $2";
pub const DELETE_CLIENT: &str = "DELETE FROM clients WHERE project = $1 AND client_id = $2";
/// Deletes a client only while it still holds the token a provider declared dead.
pub const DELETE_CLIENT_IF_TOKEN: &str = "DELETE FROM clients WHERE project = $1 AND client_id = $2 AND token = $3";

/// `true` when the write of a client was stored, `false` when it failed on the clients' foreign
/// key (its project does not exist), the error otherwise: for a write that is a single statement,
/// which the database rolls back whole by itself.
pub(super) fn stored_unless_project_gone<T>(stored: Result<T, sqlx::Error>) -> Result<bool, sqlx::Error> {
    match stored {
        Err(e) if e.as_database_error().is_some_and(|d| d.is_foreign_key_violation()) => Ok(false),
        stored => stored.map(|_| true),
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct ClientRow {
    pub project: String,
    pub client_id: String,
    pub push_type: String,
    pub token: String,
    pub always_raw: bool,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    /// Rows are written only from valid clients, so a failure here means the table was edited by
    /// something else; it is reported, never passed on as a half-valid client.
    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("client {:?}: invalid {what}", row.client_id));
        let push_type = PushType::parse(&row.push_type).map_err(|_| corrupt("push type"))?;
        let project = ProjectKey::from_storage_key(&row.project).ok_or_else(|| corrupt("project"))?;
        Ok(Client {
            id: ClientId::parse(&row.client_id).map_err(|_| corrupt("client id"))?.in_project(project),
            token: DeviceToken::parse(push_type, &row.token).map_err(|_| corrupt("token"))?,
            push_type,
            always_raw: row.always_raw,
        })
    }
}
