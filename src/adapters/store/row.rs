//! The stored shape of a client, shared by the SQL stores, and its conversion to the domain type.

use crate::{
    domain::{Client, ClientId, DeviceToken, PushType},
    ports::StoreError,
};

/// Statements that read the same on SQLite and Postgres (`$n` placeholders work on both).
pub const FIND_CLIENT: &str = "SELECT client_id, push_type, token, always_raw FROM clients WHERE client_id = $1";
pub const DELETE_CLIENT: &str = "DELETE FROM clients WHERE client_id = $1";
/// Deletes a client only while it still holds the token a provider declared dead.
pub const DELETE_CLIENT_IF_TOKEN: &str = "DELETE FROM clients WHERE client_id = $1 AND token = $2";

#[derive(Debug, sqlx::FromRow)]
pub struct ClientRow {
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
        Ok(Client {
            id: ClientId::parse(&row.client_id).map_err(|_| corrupt("client id"))?,
            token: DeviceToken::parse(push_type, &row.token).map_err(|_| corrupt("token"))?,
            push_type,
            always_raw: row.always_raw,
        })
    }
}
