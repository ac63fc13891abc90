//! The use cases as a driving adapter calls them: [`PushService`] for the wallet- and
//! Relay-facing routes, [`AdminService`] for the operators' routes, both implemented by [`App`].
//! The HTTP handlers hold them as trait objects, so a handler's test runs against a mockall mock
//! (no store, no provider, no clock) and the use cases' own tests stay with the use cases.

use std::sync::Arc;

use async_trait::async_trait;

use super::{
    AdminError, App, ProjectView, RegisterError, ResolvedProject, SendError, SendRequest, Sent, UnregisterError,
    WebPushUpload,
};
use crate::{
    domain::{ApnsCredentials, Client, ClientId, FcmCredentials, ProjectId},
    ports::ProjectStoreError,
};

/// Registering, unregistering and sending, in the project a request addresses.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait PushService: Send + Sync {
    /// The project a request addresses: the default project for `None` (the `/clients...` routes)
    /// and for `DEFAULT_PROJECT_ID`, otherwise the named project; `Ok(None)` when there is none.
    async fn project<'a>(&self, raw: Option<&'a str>) -> Result<Option<Arc<ResolvedProject>>, ProjectStoreError>;

    /// Stores the client durably; a token moves to its newest client.
    async fn register(&self, client: Client) -> Result<(), RegisterError>;

    /// Removes the client; succeeds as well when it did not exist.
    async fn unregister(&self, id: ClientId) -> Result<(), UnregisterError>;

    /// Delivers the notification to the client at most once per id (see [`App::send`]).
    async fn send(&self, project: &ResolvedProject, request: SendRequest) -> Result<Sent, SendError>;
}

/// Projects and their credentials.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait AdminService: Send + Sync {
    /// The project id of an admin path: a valid id that is not the default project's alias
    /// (`Invalid` with field `project_id`, or `DefaultProject`).
    fn admin_project_id(&self, raw: &str) -> Result<ProjectId, AdminError>;

    /// Creates the project; succeeds as well when it exists.
    async fn create_project(&self, id: &ProjectId) -> Result<(), AdminError>;

    /// One page of at most `limit` project ids (clamped to 1 to `MAX_PAGE`), sorted, after `after`.
    async fn list_projects(&self, after: Option<ProjectId>, limit: u32) -> Result<Vec<ProjectId>, AdminError>;

    /// The project's view without secrets; `NotFound` when absent.
    async fn show_project(&self, id: &ProjectId) -> Result<ProjectView, AdminError>;

    /// Deletes the project with its credentials and clients; succeeds as well when absent.
    async fn delete_project(&self, id: &ProjectId) -> Result<(), AdminError>;

    /// Checks and stores APNS credentials (`Invalid` with what the check found), or removes
    /// them (`None`); `NotFound` when the project does not exist.
    async fn set_project_apns(&self, id: &ProjectId, credentials: Option<ApnsCredentials>) -> Result<(), AdminError>;

    /// The same for a service account.
    async fn set_project_fcm(&self, id: &ProjectId, credentials: Option<FcmCredentials>) -> Result<(), AdminError>;
    async fn set_project_webpush(&self, id: &ProjectId, upload: Option<WebPushUpload>) -> Result<(), AdminError>;
}

// Each method is the use case of the same name; they live in their own files (`register.rs`,
// `send/execute.rs`, `project_admin.rs`, ...), which a single trait impl could not span.

#[async_trait]
impl PushService for App {
    async fn project<'a>(&self, raw: Option<&'a str>) -> Result<Option<Arc<ResolvedProject>>, ProjectStoreError> {
        App::resolve_project(self, raw).await
    }

    async fn register(&self, client: Client) -> Result<(), RegisterError> {
        App::register(self, client).await
    }

    async fn unregister(&self, id: ClientId) -> Result<(), UnregisterError> {
        App::unregister(self, id).await
    }

    async fn send(&self, project: &ResolvedProject, request: SendRequest) -> Result<Sent, SendError> {
        App::send(self, project, request).await
    }
}

#[async_trait]
impl AdminService for App {
    fn admin_project_id(&self, raw: &str) -> Result<ProjectId, AdminError> {
        App::parse_admin_project_id(self, raw)
    }

    async fn create_project(&self, id: &ProjectId) -> Result<(), AdminError> {
        App::create_project(self, id).await
    }

    async fn list_projects(&self, after: Option<ProjectId>, limit: u32) -> Result<Vec<ProjectId>, AdminError> {
        App::list_projects(self, after, limit).await
    }

    async fn show_project(&self, id: &ProjectId) -> Result<ProjectView, AdminError> {
        App::show_project(self, id).await
    }

    async fn delete_project(&self, id: &ProjectId) -> Result<(), AdminError> {
        App::delete_project(self, id).await
    }

    async fn set_project_apns(&self, id: &ProjectId, credentials: Option<ApnsCredentials>) -> Result<(), AdminError> {
        App::set_project_apns(self, id, credentials).await
    }

    async fn set_project_fcm(&self, id: &ProjectId, credentials: Option<FcmCredentials>) -> Result<(), AdminError> {
        App::set_project_fcm(self, id, credentials).await
    }

    async fn set_project_webpush(&self, id: &ProjectId, upload: Option<WebPushUpload>) -> Result<(), AdminError> {
        App::set_project_webpush(self, id, upload).await
    }
}
