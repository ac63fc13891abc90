//! Use cases of the admin API: create, list, show and delete projects, and set or remove their
//! credentials. Credentials are parsed field by field, then checked by building them (the
//! provider factory), and stored only when both pass.

use base64::{Engine, engine::general_purpose::STANDARD};
use tracing::{info, instrument};

use super::{App, InvalidField, InvalidFields};
use crate::{
    domain::{
        ApnsCredentials, ApnsCredentialsAuth, ApnsSummary, FcmCredentials, FcmSummary, ProjectId, ProviderKind, Secret,
        Suspension,
    },
    ports::{CredentialProblem, ProjectStoreError},
};

/// Most project ids one page of the list holds.
pub const MAX_PAGE: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// This server has no project store (no `CREDENTIALS_KEY`).
    #[error("projects are not enabled on this server")]
    Disabled,
    #[error("no such project")]
    NotFound,
    /// The value names the default project (`DEFAULT_PROJECT_ID`), which the environment configures.
    #[error("this id names the default project, which is configured by environment")]
    DefaultProject,
    /// Values the caller supplied are wrong; nothing was stored.
    #[error("invalid fields")]
    Invalid(Vec<InvalidField>),
    #[error(transparent)]
    Store(#[from] ProjectStoreError),
}

/// What the admin API shows of a project: never a key, a password or a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectView {
    pub id: ProjectId,
    pub apns: Option<(ApnsSummary, Option<Suspension>)>,
    pub fcm: Option<(FcmSummary, Option<Suspension>)>,
    pub clients: u64,
}

/// APNS credentials as uploaded; `None` for an absent field, `Err` for one of the wrong kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawApnsCredentials<'a> {
    pub topic: Option<Result<&'a str, &'static str>>,
    pub key_id: Option<Result<&'a str, &'static str>>,
    pub team_id: Option<Result<&'a str, &'static str>>,
    pub key: Option<Result<&'a str, &'static str>>,
    pub certificate: Option<Result<&'a str, &'static str>>,
    pub password: Option<Result<&'a str, &'static str>>,
}

/// A service account as uploaded: its text and the fields read from it.
#[derive(Debug, Clone, Copy)]
pub struct RawServiceAccount<'a> {
    pub json: &'a str,
    pub project_id: Result<&'a str, &'static str>,
    pub client_email: Result<&'a str, &'static str>,
    pub private_key: Result<&'a str, &'static str>,
    pub token_uri: Result<&'a str, &'static str>,
}

fn required<'a>(v: Option<Result<&'a str, &'static str>>) -> Result<&'a str, &'static str> {
    v.unwrap_or(Err("is required"))
}

fn non_empty(s: &str) -> Result<String, &'static str> {
    if s.trim().is_empty() { Err("must not be empty") } else { Ok(s.to_owned()) }
}

/// Checks the shape of uploaded APNS credentials: a topic and either token auth (`key_id`,
/// `team_id`, `key`) or certificate auth (`certificate`, optional `password`).
pub fn parse_apns_credentials(raw: RawApnsCredentials<'_>) -> Result<ApnsCredentials, Vec<InvalidField>> {
    let mut invalid = InvalidFields::default();
    let topic = invalid.parse("topic", required(raw.topic), non_empty);
    let auth = match (raw.key, raw.certificate) {
        (Some(_), Some(_)) => {
            invalid.add("certificate", "give either `key` (token auth) or `certificate` (certificate auth), not both");
            None
        }
        (None, None) => {
            invalid.add("key", "give `key`, `key_id` and `team_id` (token auth) or `certificate` (certificate auth)");
            None
        }
        (Some(key), None) => {
            let key_id = invalid.parse("key_id", required(raw.key_id), non_empty);
            let team_id = invalid.parse("team_id", required(raw.team_id), non_empty);
            let key = invalid.parse("key", key, non_empty);
            match (key_id, team_id, key) {
                (Some(key_id), Some(team_id), Some(key)) => {
                    Some(ApnsCredentialsAuth::Token { key_id, team_id, key_pem: Secret::new(key) })
                }
                _ => None,
            }
        }
        (None, Some(certificate)) => {
            let p12 = invalid.parse("certificate", certificate, |s: &str| {
                STANDARD.decode(s.trim()).map_err(|_| "certificate must be base64 of the .p12 file")
            });
            let password =
                invalid.parse("password", raw.password.unwrap_or(Ok("")), |s: &str| Ok::<_, String>(s.to_owned()));
            match (p12, password) {
                (Some(p12), Some(password)) => Some(ApnsCredentialsAuth::Certificate {
                    p12: Secret::new(p12),
                    password: Secret::new(password),
                    not_after: None,
                }),
                _ => None,
            }
        }
    };
    let credentials = match (topic, auth) {
        (Some(topic), Some(auth)) => Some(ApnsCredentials { topic, auth }),
        _ => None,
    };
    invalid.finish(credentials)
}

/// Checks the fields of a service account that the provider needs.
pub fn parse_service_account(raw: RawServiceAccount<'_>) -> Result<FcmCredentials, Vec<InvalidField>> {
    let mut invalid = InvalidFields::default();
    let project_id = invalid.parse("project_id", raw.project_id, non_empty);
    let client_email = invalid.parse("client_email", raw.client_email, non_empty);
    invalid.parse("private_key", raw.private_key, non_empty);
    invalid.parse("token_uri", raw.token_uri, non_empty);
    let credentials = match (project_id, client_email) {
        (Some(project_id), Some(client_email)) => {
            Some(FcmCredentials { project_id, client_email, service_account: Secret::new(raw.json.to_owned()) })
        }
        _ => None,
    };
    invalid.finish(credentials)
}

fn problems(problems: Vec<CredentialProblem>) -> AdminError {
    AdminError::Invalid(problems.into_iter().map(|p| InvalidField::new(p.field, p.description)).collect())
}

impl App {
    /// The project id of an admin path: a valid id that is not the default project's alias.
    pub fn parse_admin_project_id(&self, raw: &str) -> Result<ProjectId, AdminError> {
        let id = ProjectId::parse(raw)
            .map_err(|e| AdminError::Invalid(vec![InvalidField::new("project_id", e.to_string())]))?;
        if self.default_project_id.as_ref() == Some(&id) {
            return Err(AdminError::DefaultProject);
        }
        Ok(id)
    }

    fn catalog(&self) -> Result<&super::ProjectCatalog, AdminError> {
        self.projects.as_deref().ok_or(AdminError::Disabled)
    }

    /// Creates the project; succeeds as well when it exists.
    #[instrument(name = "admin.create_project", skip_all, fields(project = %id))]
    pub async fn create_project(&self, id: &ProjectId) -> Result<(), AdminError> {
        let catalog = self.catalog()?;
        if catalog.repo().create(id).await? {
            info!(project = %id, "project created");
        }
        catalog.invalidate(id);
        Ok(())
    }

    /// One page of project ids, sorted, after `after`.
    pub async fn list_projects(&self, after: Option<ProjectId>, limit: u32) -> Result<Vec<ProjectId>, AdminError> {
        Ok(self.catalog()?.repo().list(after, limit.clamp(1, MAX_PAGE)).await?)
    }

    /// The project's secret-free view.
    pub async fn show_project(&self, id: &ProjectId) -> Result<ProjectView, AdminError> {
        let catalog = self.catalog()?;
        let project = catalog.repo().get(id).await?.ok_or(AdminError::NotFound)?;
        let clients = catalog.repo().count_clients(id).await?;
        let suspension = |kind: ProviderKind| project.suspension(kind).cloned();
        Ok(ProjectView {
            apns: project.apns.as_ref().map(|c| (c.summary(), suspension(ProviderKind::Apns))),
            fcm: project.fcm.as_ref().map(|c| (c.summary(), suspension(ProviderKind::Fcm))),
            id: project.id,
            clients,
        })
    }

    /// Deletes the project with its credentials and clients; succeeds as well when absent.
    #[instrument(name = "admin.delete_project", skip_all, fields(project = %id))]
    pub async fn delete_project(&self, id: &ProjectId) -> Result<(), AdminError> {
        let catalog = self.catalog()?;
        let existed = catalog.repo().delete(id).await?;
        catalog.invalidate(id);
        info!(project = %id, existed, "project deleted");
        Ok(())
    }

    /// Checks and stores APNS credentials (lifting a suspension), or removes them (`None`).
    #[instrument(name = "admin.set_apns", skip_all, fields(project = %id))]
    pub async fn set_project_apns(
        &self,
        id: &ProjectId,
        credentials: Option<ApnsCredentials>,
    ) -> Result<(), AdminError> {
        let catalog = self.catalog()?;
        let credentials = match credentials {
            Some(mut credentials) => {
                let facts = catalog.factory().check_apns(&credentials).map_err(problems)?;
                if let ApnsCredentialsAuth::Certificate { not_after, .. } = &mut credentials.auth {
                    *not_after = facts.certificate_not_after;
                }
                Some(credentials)
            }
            None => None,
        };
        if !catalog.repo().set_apns(id, credentials.clone()).await? {
            return Err(AdminError::NotFound);
        }
        catalog.invalidate(id);
        info!(project = %id, set = credentials.is_some(), "project APNS credentials changed");
        Ok(())
    }

    /// Checks and stores a service account (lifting a suspension), or removes it (`None`).
    #[instrument(name = "admin.set_fcm", skip_all, fields(project = %id))]
    pub async fn set_project_fcm(&self, id: &ProjectId, credentials: Option<FcmCredentials>) -> Result<(), AdminError> {
        let catalog = self.catalog()?;
        if let Some(credentials) = &credentials {
            catalog.factory().check_fcm(credentials).map_err(problems)?;
        }
        if !catalog.repo().set_fcm(id, credentials.clone()).await? {
            return Err(AdminError::NotFound);
        }
        catalog.invalidate(id);
        info!(project = %id, set = credentials.is_some(), "project FCM credentials changed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apns_token_and_certificate_shapes() {
        let token = RawApnsCredentials {
            topic: Some(Ok("com.example")),
            key_id: Some(Ok("K")),
            team_id: Some(Ok("T")),
            key: Some(Ok("pem")),
            ..Default::default()
        };
        assert!(matches!(parse_apns_credentials(token).unwrap().auth, ApnsCredentialsAuth::Token { .. }));
        let cert = RawApnsCredentials { topic: Some(Ok("t")), certificate: Some(Ok("AAAA")), ..Default::default() };
        assert!(matches!(parse_apns_credentials(cert).unwrap().auth, ApnsCredentialsAuth::Certificate { .. }));
        let neither = RawApnsCredentials::default();
        let names: Vec<_> = parse_apns_credentials(neither).unwrap_err().iter().map(|f| f.field).collect();
        assert_eq!(names, ["topic", "key"]);
        let bad = RawApnsCredentials { topic: Some(Ok("t")), key: Some(Ok("pem")), ..Default::default() };
        let names: Vec<_> = parse_apns_credentials(bad).unwrap_err().iter().map(|f| f.field).collect();
        assert_eq!(names, ["key_id", "team_id"]);
        let not_b64 = RawApnsCredentials { topic: Some(Ok("t")), certificate: Some(Ok("@@")), ..Default::default() };
        assert_eq!(parse_apns_credentials(not_b64).unwrap_err()[0].field, "certificate");
    }
}
