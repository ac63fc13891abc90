//! Use cases of the admin API: create, list, show and delete projects, and set or remove their
//! credentials. Credentials are parsed field by field, then checked by building them (the
//! provider factory), and stored only when both pass.

use base64::{Engine, engine::general_purpose::STANDARD};
use tracing::{info, instrument};

use super::{App, InvalidField, InvalidFields};
use crate::{
    domain::{
        ApnsCredentials, ApnsCredentialsAuth, ApnsSummary, FcmCredentials, FcmSummary, ProjectId, ProviderKind, Secret,
        Suspension, WebPushSummary,
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
    pub webpush: Option<(WebPushSummary, Option<Suspension>)>,
    pub clients: u64,
}

/// A Web Push identity as uploaded: the subject, and the private key (PEM) unless one is to be
/// generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebPushUpload {
    pub subject: String,
    pub private_key: Option<Secret<String>>,
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
            webpush: project.webpush.as_ref().map(|c| (c.summary(), suspension(ProviderKind::WebPush))),
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

    /// Checks and stores a Web Push identity (generating its key when none is given; lifting a
    /// suspension), or removes it (`None`). The public key pages subscribe with changes with the
    /// key: subscriptions made with the old one stop working.
    #[instrument(name = "admin.set_webpush", skip_all, fields(project = %id))]
    pub async fn set_project_webpush(&self, id: &ProjectId, upload: Option<WebPushUpload>) -> Result<(), AdminError> {
        let catalog = self.catalog()?;
        let credentials = match upload {
            Some(upload) => {
                Some(catalog.factory().check_webpush(&upload.subject, upload.private_key).map_err(problems)?)
            }
            None => None,
        };
        let public_key = credentials.as_ref().map(|c| c.public_key.clone());
        if !catalog.repo().set_webpush(id, credentials).await? {
            return Err(AdminError::NotFound);
        }
        catalog.invalidate(id);
        info!(project = %id, ?public_key, "project Web Push identity changed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        app::{
            CatalogTimings, ProjectCatalog,
            test_support::{app_with, log_only_providers},
        },
        domain::Project,
        ports::{
            ApnsFacts, MockClientRepository, MockClock, MockDedupStore, MockProjectRepository, MockProviderFactory,
        },
    };

    fn id(s: &str) -> ProjectId {
        ProjectId::parse(s).unwrap()
    }

    /// An app whose project store and provider factory are these mocks, with `w0` the default
    /// project's alias.
    fn app(repo: MockProjectRepository, factory: MockProviderFactory) -> App {
        // No test here resolves a suspended project, so the wall clock is never read.
        let catalog = ProjectCatalog::new(
            Arc::new(repo),
            Arc::new(factory),
            CatalogTimings::default(),
            Arc::new(MockClock::new()),
        );
        app_with(MockClientRepository::new(), MockDedupStore::new(), log_only_providers())
            .with_projects(Some(Arc::new(catalog)), Some(id("w0")))
    }

    /// A store that holds project `p` without credentials, counting how often it is read.
    fn store_with_p(reads: usize) -> MockProjectRepository {
        let mut repo = MockProjectRepository::new();
        repo.expect_get().withf(|p| p.as_str() == "p").times(reads).returning(|p| Ok(Some(Project::new(p.clone()))));
        repo
    }

    fn token_auth() -> ApnsCredentials {
        let key = Secret::new("pem".to_owned());
        ApnsCredentials {
            topic: "com.example".into(),
            auth: ApnsCredentialsAuth::Token { key_id: "K".into(), team_id: "T".into(), key_pem: key },
        }
    }

    fn service_account() -> FcmCredentials {
        FcmCredentials { project_id: "f".into(), client_email: "e@f".into(), service_account: Secret::new("{}".into()) }
    }

    #[test]
    fn an_admin_path_names_a_valid_project_other_than_the_default_one() {
        let app = app(MockProjectRepository::new(), MockProviderFactory::new());
        assert_eq!(app.parse_admin_project_id("p"), Ok(id("p")));
        assert_eq!(app.parse_admin_project_id("w0"), Err(AdminError::DefaultProject));
        let Err(AdminError::Invalid(fields)) = app.parse_admin_project_id("a b") else { panic!("refused") };
        assert_eq!(fields.iter().map(|f| f.field).collect::<Vec<_>>(), ["project_id"]);
    }

    #[tokio::test]
    async fn without_a_project_store_every_admin_use_case_is_disabled() {
        let app = app_with(MockClientRepository::new(), MockDedupStore::new(), log_only_providers());
        let p = id("p");
        assert_eq!(app.create_project(&p).await, Err(AdminError::Disabled));
        assert_eq!(app.list_projects(None, 10).await, Err(AdminError::Disabled));
        assert_eq!(app.show_project(&p).await, Err(AdminError::Disabled));
        assert_eq!(app.delete_project(&p).await, Err(AdminError::Disabled));
        assert_eq!(app.set_project_apns(&p, Some(token_auth())).await, Err(AdminError::Disabled));
        assert_eq!(app.set_project_fcm(&p, None).await, Err(AdminError::Disabled));
    }

    #[tokio::test]
    async fn creating_or_deleting_a_project_makes_this_instance_read_it_again() {
        // Read once and then served from the cache, until each change drops it: three reads.
        let mut repo = store_with_p(3);
        repo.expect_create().withf(|p| p.as_str() == "p").times(1).returning(|_| Ok(false));
        repo.expect_delete().withf(|p| p.as_str() == "p").times(1).returning(|_| Ok(true));
        let app = app(repo, MockProviderFactory::new());
        app.resolve_project(Some("p")).await.unwrap().unwrap();
        app.resolve_project(Some("p")).await.unwrap().unwrap();
        assert_eq!(app.create_project(&id("p")).await, Ok(()), "an existing project is created as well");
        app.resolve_project(Some("p")).await.unwrap().unwrap();
        assert_eq!(app.delete_project(&id("p")).await, Ok(()));
        app.resolve_project(Some("p")).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_page_holds_one_to_max_page_ids() {
        // The limit asked for, and what the store is asked for.
        let limits = [(0, 1), (5, 5), (5000, MAX_PAGE)];
        let mut repo = MockProjectRepository::new();
        for (_, asked) in limits {
            repo.expect_list()
                .withf(move |after, l| after.as_ref().is_some_and(|a| a.as_str() == "a") && *l == asked)
                .times(1)
                .returning(|_, _| Ok(vec![id("b")]));
        }
        let app = app(repo, MockProviderFactory::new());
        for (limit, _) in limits {
            assert_eq!(app.list_projects(Some(id("a")), limit).await, Ok(vec![id("b")]));
        }
    }

    #[tokio::test]
    async fn a_project_is_shown_as_its_summaries_suspensions_and_client_count() {
        let mut repo = MockProjectRepository::new();
        repo.expect_get().withf(|p| p.as_str() == "p").returning(|p| {
            let mut project = Project::new(p.clone());
            project.fcm = Some(service_account());
            project.fcm_suspended = Some(Suspension { reason: "invalid_grant".into(), since: 7 });
            Ok(Some(project))
        });
        repo.expect_get().withf(|p| p.as_str() == "gone").returning(|_| Ok(None));
        repo.expect_count_clients().withf(|p| p.as_str() == "p").times(1).returning(|_| Ok(3));
        let app = app(repo, MockProviderFactory::new());
        let view = app.show_project(&id("p")).await.unwrap();
        let suspended = Suspension { reason: "invalid_grant".into(), since: 7 };
        assert_eq!(
            view,
            ProjectView {
                id: id("p"),
                apns: None,
                fcm: Some((service_account().summary(), Some(suspended))),
                webpush: None,
                clients: 3
            }
        );
        assert_eq!(app.show_project(&id("gone")).await, Err(AdminError::NotFound));
    }

    #[tokio::test]
    async fn credentials_the_factory_refuses_are_never_stored() {
        let mut factory = MockProviderFactory::new();
        factory
            .expect_check_apns()
            .times(1)
            .returning(|_| Err(vec![CredentialProblem::new("key", "not a P-256 PKCS#8 key")]));
        factory.expect_check_fcm().times(1).returning(|_| Err(vec![CredentialProblem::new("private_key", "not RSA")]));
        let mut repo = MockProjectRepository::new();
        repo.expect_set_apns().never();
        repo.expect_set_fcm().never();
        let app = app(repo, factory);
        assert_eq!(
            app.set_project_apns(&id("p"), Some(token_auth())).await,
            Err(AdminError::Invalid(vec![InvalidField::new("key", "not a P-256 PKCS#8 key")]))
        );
        assert_eq!(
            app.set_project_fcm(&id("p"), Some(service_account())).await,
            Err(AdminError::Invalid(vec![InvalidField::new("private_key", "not RSA")]))
        );
    }

    #[tokio::test]
    async fn a_certificate_is_stored_with_the_expiry_its_check_read() {
        let mut factory = MockProviderFactory::new();
        factory.expect_check_apns().returning(|_| Ok(ApnsFacts { certificate_not_after: Some(1_900_000_000) }));
        let mut repo = MockProjectRepository::new();
        repo.expect_set_apns()
            .withf(|p, c| {
                p.as_str() == "p"
                    && matches!(
                        c,
                        Some(ApnsCredentials {
                            auth: ApnsCredentialsAuth::Certificate { not_after: Some(1_900_000_000), .. },
                            ..
                        })
                    )
            })
            .times(1)
            .returning(|_, _| Ok(true));
        let app = app(repo, factory);
        let certificate = ApnsCredentials {
            topic: "t".into(),
            auth: ApnsCredentialsAuth::Certificate {
                p12: Secret::new(vec![1]),
                password: Secret::new(String::new()),
                not_after: None,
            },
        };
        assert_eq!(app.set_project_apns(&id("p"), Some(certificate)).await, Ok(()));
    }

    #[tokio::test]
    async fn removing_credentials_needs_no_check_and_a_missing_project_is_not_found() {
        let mut factory = MockProviderFactory::new();
        factory.expect_check_apns().never();
        factory.expect_check_fcm().times(1).returning(|_| Ok(()));
        let mut repo = MockProjectRepository::new();
        repo.expect_set_apns().withf(|_, c| c.is_none()).times(1).returning(|_, _| Ok(true));
        repo.expect_set_fcm().withf(|_, c| c.is_some()).times(1).returning(|_, _| Ok(false));
        let app = app(repo, factory);
        assert_eq!(app.set_project_apns(&id("p"), None).await, Ok(()));
        assert_eq!(app.set_project_fcm(&id("p"), Some(service_account())).await, Err(AdminError::NotFound));
    }

    #[tokio::test]
    async fn a_store_failure_is_the_store_s() {
        let down = || ProjectStoreError::Unavailable("down".into());
        let mut repo = MockProjectRepository::new();
        repo.expect_create().returning(move |_| Err(down()));
        repo.expect_count_clients().never();
        repo.expect_get().returning(move |_| Err(down()));
        let app = app(repo, MockProviderFactory::new());
        assert_eq!(app.create_project(&id("p")).await, Err(AdminError::Store(down())));
        assert_eq!(app.show_project(&id("p")).await, Err(AdminError::Store(down())));
    }

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
