//! Port: where projects, their encrypted credentials and their suspensions live.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{
    ApnsCredentials, FcmCredentials, Project, ProjectId, ProviderKind, Suspension, WebPushCredentials,
};

/// Why a project store call failed. Adapters map driver and cipher errors into these at the seam.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectStoreError {
    /// The store could not be reached or did not answer in time; nothing was changed.
    #[error("project store unavailable: {0}")]
    Unavailable(String),
    /// A stored row could not be read back (edited by hand, or encrypted under a key that is not
    /// among `CREDENTIALS_KEY`).
    #[error("project store holds an unreadable row: {0}")]
    Corrupt(String),
}

/// Projects and clients share one database: a store failure means the same for both.
impl From<StoreError> for ProjectStoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(s) => ProjectStoreError::Unavailable(s),
            StoreError::Corrupt(s) => ProjectStoreError::Corrupt(s),
        }
    }
}

/// How many projects exist and which providers are suspended, for the start-up log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectCensus {
    pub projects: u64,
    pub suspended: Vec<(ProjectId, ProviderKind)>,
}

/// Durable storage of projects. Credentials are stored so that the database never holds key
/// material in the clear; what goes in comes back out unchanged.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ProjectRepository: Send + Sync {
    /// Creates the project with no credentials; `Ok(false)` when it existed already (unchanged).
    async fn create(&self, id: &ProjectId) -> Result<bool, ProjectStoreError>;

    /// Up to `limit` project ids after `after` (exclusive), in ascending order.
    async fn list(&self, after: Option<ProjectId>, limit: u32) -> Result<Vec<ProjectId>, ProjectStoreError>;

    /// The project with its decrypted credentials, or `None`.
    async fn get(&self, id: &ProjectId) -> Result<Option<Project>, ProjectStoreError>;

    /// How many clients are registered in the project.
    async fn count_clients(&self, id: &ProjectId) -> Result<u64, ProjectStoreError>;

    /// Removes the project, its credentials and all its clients in one transaction; `Ok(false)`
    /// when there was none. A client is never stored for a project that is gone, also when the
    /// registration raced the delete (see [`ClientRepository::upsert`](super::ClientRepository)).
    async fn delete(&self, id: &ProjectId) -> Result<bool, ProjectStoreError>;

    /// Replaces (`Some`) or removes (`None`) the project's APNS credentials, lifts an APNS
    /// suspension and gives the project a new revision, one it never had before (not even before
    /// it was deleted and created again). `Ok(false)` when the project does not exist.
    async fn set_apns(&self, id: &ProjectId, credentials: Option<ApnsCredentials>) -> Result<bool, ProjectStoreError>;

    /// The same for FCM.
    async fn set_fcm(&self, id: &ProjectId, credentials: Option<FcmCredentials>) -> Result<bool, ProjectStoreError>;

    /// The same for the Web Push identity.
    async fn set_webpush(
        &self,
        id: &ProjectId,
        credentials: Option<WebPushCredentials>,
    ) -> Result<bool, ProjectStoreError>;

    /// How many projects exist and which of their providers are suspended.
    async fn census(&self) -> Result<ProjectCensus, ProjectStoreError>;

    /// Records (`Some`) or lifts (`None`) a suspension of one provider of the project, without
    /// changing the revision (the credentials did not change), but only while the project is
    /// still at `revision`: the revision of the credentials the provider refused (or accepted).
    /// `Ok(false)` when nothing was recorded: the credentials were replaced meanwhile (which
    /// lifted any suspension of theirs) or the project is gone; neither is an error.
    async fn set_suspension(
        &self,
        id: &ProjectId,
        provider: ProviderKind,
        revision: i64,
        suspension: Option<Suspension>,
    ) -> Result<bool, ProjectStoreError>;

    /// Re-encrypts every project's credentials under the first key (the `rotate-credentials`
    /// command, once a new key was put first), so that the older keys can be dropped; the number
    /// of values re-encrypted, 0 when all were under the first key already. Each project is
    /// written with compare-and-swap on its revision and gets a new one: credentials uploaded
    /// while the rotation runs are kept (and re-sealed), never overwritten with those read before,
    /// and every instance rebuilds from what was written. `Corrupt` when a value opens under none
    /// of the keys; values re-encrypted before the failure stay so.
    async fn rotate(&self) -> Result<usize, ProjectStoreError>;
}
