//! Use cases (register, unregister, send, the admin API's, and who may call the Relay endpoint):
//! domain values and ports in, nothing of adapters, settings or the command line. Each use case is
//! parsed first (every invalid field reported at once) and then executed: `parse_registration`
//! then `App::register`, and so on. Driving adapters call them through [`PushService`] and
//! [`AdminService`].

mod client_auth;
mod in_flight;
mod invalid_field;
mod project_admin;
mod project_catalog;
mod providers;
mod register;
mod relay_auth;
mod send;
mod services;
mod signature_verifier;
mod suspension;
#[cfg(test)]
mod test_support;
mod unregister;

use std::sync::Arc;

pub use client_auth::{ClientAuth, ClientAuthError, ClientAuthMode, bearer_token};
pub use in_flight::{Drained, InFlight};
pub use invalid_field::{FieldName, InvalidField, InvalidFields};
pub use project_admin::{
    AdminError, MAX_PAGE, ProjectView, RawApnsCredentials, RawServiceAccount, WebPushUpload, parse_apns_credentials,
    parse_service_account,
};
pub use project_catalog::{CatalogTimings, ProjectCatalog, ResolvedProject};
pub use providers::Providers;
pub use register::{RawRegistration, RegisterError, check_registered_token, parse_registration};
pub use relay_auth::{RelayAuth, RelayAuthError, RelayCheck};
pub use send::{
    ClaimTimes, ClassicField, InvalidForm, RawField, RawNotification, SendError, SendField, SendOutcome, SendRequest,
    Sent, parse_notification,
};
pub use services::{AdminService, PushService};
#[cfg(test)]
pub use services::{MockAdminService, MockPushService};
pub use suspension::DEFAULT_SUSPENSION;
pub use unregister::{UnregisterError, parse_unregistration};

use crate::{
    domain::{ProjectId, ProjectKey},
    ports::{ClientRepository, DedupStore, ProjectStoreError},
};

/// The application: the ports it works through and the rules' tunable values. Cheap to share
/// behind an `Arc`; every use case is a method in its own file.
pub struct App {
    clients: Arc<dyn ClientRepository>,
    dedup: Arc<dyn DedupStore>,
    /// The default project: the providers configured by environment.
    default_project: Arc<ResolvedProject>,
    /// `DEFAULT_PROJECT_ID`: the default project's alias under `/{id}/clients...`.
    default_project_id: Option<ProjectId>,
    /// Named projects, when this server has a project store (`CREDENTIALS_KEY`).
    projects: Option<Arc<ProjectCatalog>>,
    claims: ClaimTimes,
    sends: InFlight,
}

impl App {
    pub fn new(
        clients: Arc<dyn ClientRepository>,
        dedup: Arc<dyn DedupStore>,
        providers: Providers,
        claims: ClaimTimes,
    ) -> Self {
        let default_project = Arc::new(ResolvedProject::new(ProjectKey::Default, providers));
        Self {
            clients,
            dedup,
            default_project,
            default_project_id: None,
            projects: None,
            claims,
            sends: InFlight::default(),
        }
    }

    /// Serves named projects from `catalog`, and the default project also under `default_id`.
    pub fn with_projects(mut self, catalog: Option<Arc<ProjectCatalog>>, default_id: Option<ProjectId>) -> Self {
        self.projects = catalog;
        self.default_project_id = default_id;
        self
    }

    /// The default project's providers.
    pub fn providers(&self) -> &Providers {
        &self.default_project.providers
    }

    pub fn has_projects(&self) -> bool {
        self.projects.is_some()
    }

    /// The project a request addresses: the default project for `None` (the `/clients...`
    /// routes) and for `DEFAULT_PROJECT_ID`; otherwise the named project, `None` when there is no
    /// such project (an id that is not even valid names none).
    pub async fn resolve_project(&self, raw: Option<&str>) -> Result<Option<Arc<ResolvedProject>>, ProjectStoreError> {
        let Some(raw) = raw else { return Ok(Some(self.default_project.clone())) };
        if self.default_project_id.as_ref().is_some_and(|d| d.as_str() == raw) {
            return Ok(Some(self.default_project.clone()));
        }
        let (Ok(id), Some(catalog)) = (ProjectId::parse(raw), &self.projects) else { return Ok(None) };
        catalog.resolve(&id).await
    }

    /// Sends in progress: what a shutdown waits for (see [`InFlight`]).
    pub fn sends(&self) -> &InFlight {
        &self.sends
    }
}
