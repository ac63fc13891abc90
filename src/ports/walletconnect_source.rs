//! Port: the rows of a WalletConnect push server's database (reown-com/push-server, formerly
//! echo-server), read page by page for `push-server import-walletconnect`.
//!
//! The rows are as that server stores them, unparsed: deciding what each becomes here (and why a
//! row is skipped) is the import's job. Every page comes from one consistent, read-only snapshot,
//! so the import never writes to their tables and a page boundary never skips or repeats a row
//! that their server changed meanwhile.

use std::time::Duration;

use async_trait::async_trait;

/// Their single-tenant deployments keep every client under this tenant id.
pub const THEIR_DEFAULT_TENANT: &str = "0000-0000-0000-0000";

/// A row of their `clients` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TheirClient {
    pub id: String,
    pub tenant_id: String,
    /// `apns`, `apnssandbox`, `fcm` or `noop`.
    pub push_type: String,
    pub device_token: String,
    pub always_raw: bool,
}

/// A row of their `tenants` table (only the columns the import reads). Secrets are as stored:
/// base64 of the `.p12` and of the `.p8`, and the service-account JSON.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct TheirTenant {
    pub id: String,
    /// `certificate` or `token`.
    pub apns_type: Option<String>,
    pub apns_topic: Option<String>,
    pub apns_certificate: Option<String>,
    pub apns_certificate_password: Option<String>,
    pub apns_pkcs8_pem: Option<String>,
    pub apns_key_id: Option<String>,
    pub apns_team_id: Option<String>,
    pub fcm_api_key: Option<String>,
    pub fcm_v1_credentials: Option<String>,
    pub suspended: bool,
    pub suspended_reason: Option<String>,
}

/// Only the id: a tenant row holds private keys and passwords.
impl std::fmt::Debug for TheirTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TheirTenant").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A row of their `notifications` table, with how long ago it was last received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TheirNotification {
    pub id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub age: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Their database could not be read (unreachable, or not the schema we know).
    #[error("cannot read the WalletConnect database: {0}")]
    Unavailable(String),
}

/// Reads their rows in pages ordered by their keys; each method returns the rows after `after`
/// (exclusive), at most `limit`, and fewer only at the end.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait WalletConnectSource: Send {
    /// How many clients there are (for the progress display).
    async fn count_clients(&mut self) -> Result<u64, SourceError>;
    /// Clients ordered by id.
    async fn clients(&mut self, after: Option<String>, limit: u32) -> Result<Vec<TheirClient>, SourceError>;
    /// Tenants ordered by id; `None` when their database has no tenants table (a single-tenant
    /// deployment whose tenant migrations never ran there).
    async fn tenants(&mut self, after: Option<String>, limit: u32) -> Result<Option<Vec<TheirTenant>>, SourceError>;
    /// Notifications last received less than `window` ago, ordered by (id, client id).
    async fn notifications(
        &mut self,
        after: Option<(String, String)>,
        window: Duration,
        limit: u32,
    ) -> Result<Vec<TheirNotification>, SourceError>;
    /// Ends the snapshot (the read-only transactions) and closes the connections.
    async fn close(self: Box<Self>);
}
