//! `ProjectRepository` on the Postgres database of the client store: projects live beside their
//! clients, which refer to them (a foreign key), so deleting a project deletes its clients in the
//! same transaction and no client is stored for a project that is gone, and every instance
//! sharing the database sees the same projects. Statements follow the database's PgBouncer mode
//! (unnamed statements, single statements in transactions of their own) as the client store's do.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::instrument;

use super::{
    credentials_cipher::CredentialsCipher,
    postgres::PostgresClientRepository,
    project_row::{self as sql, ProjectRow, SealedRow, SealedRows, SealedValues},
};
use crate::{
    domain::{ApnsCredentials, FcmCredentials, Project, ProjectId, ProviderKind, Suspension, WebPushCredentials},
    ports::{ProjectCensus, ProjectRepository, ProjectStoreError},
};

/// The statements that hand out revisions, from the `project_revisions` sequence.
/// Postgres takes revisions from a sequence (migrations `0011`).
const REVISIONS: sql::RevisionStatements = sql::revision_statements!("nextval('project_revisions')");
const INSERT_PROJECT: &str = REVISIONS.insert_project;

pub struct PostgresProjectRepository {
    store: Arc<PostgresClientRepository>,
    cipher: CredentialsCipher,
}

/// Runs one statement (`$query.$method(executor)`): on the pool, or through PgBouncer in a
/// transaction of its own.
macro_rules! run {
    ($self:ident, $query:expr, $method:ident) => {{
        let db = $self.store.database();
        let query = $query.persistent(db.persistent());
        if db.single_statements_in_transactions() {
            let mut tx = db.begin().await?;
            let done = query.$method(&mut *tx).await?;
            tx.commit().await?;
            Ok(done)
        } else {
            query.$method(db.pool()).await
        }
    }};
}

impl PostgresProjectRepository {
    pub fn new(store: Arc<PostgresClientRepository>, cipher: CredentialsCipher) -> Self {
        Self { store, cipher }
    }
}

#[async_trait]
impl ProjectRepository for PostgresProjectRepository {
    #[instrument(name = "projects.create", skip_all, fields(project = %id))]
    async fn create(&self, id: &ProjectId) -> Result<bool, ProjectStoreError> {
        let done = self.store.bounded(async { run!(self, sqlx::query(INSERT_PROJECT).bind(id.as_str()), execute) });
        Ok(done.await.map_err(ProjectStoreError::from)?.rows_affected() > 0)
    }

    async fn list(&self, after: Option<ProjectId>, limit: u32) -> Result<Vec<ProjectId>, ProjectStoreError> {
        let after = after.as_ref().map_or("", ProjectId::as_str);
        let rows: Vec<(String,)> = self
            .store
            .bounded(async {
                run!(self, sqlx::query_as(sql::LIST_PROJECTS).bind(after).bind(i64::from(limit)), fetch_all)
            })
            .await
            .map_err(ProjectStoreError::from)?;
        sql::project_ids(rows)
    }

    #[instrument(name = "projects.get", skip_all, fields(project = %id))]
    async fn get(&self, id: &ProjectId) -> Result<Option<Project>, ProjectStoreError> {
        let row: Option<ProjectRow> = self
            .store
            .bounded(async { run!(self, sqlx::query_as(sql::GET_PROJECT).bind(id.as_str()), fetch_optional) })
            .await
            .map_err(ProjectStoreError::from)?;
        row.map(|r| r.open(&self.cipher)).transpose()
    }

    async fn count_clients(&self, id: &ProjectId) -> Result<u64, ProjectStoreError> {
        let (n,): (i64,) = self
            .store
            .bounded(async { run!(self, sqlx::query_as(sql::COUNT_CLIENTS).bind(id.as_str()), fetch_one) })
            .await
            .map_err(ProjectStoreError::from)?;
        Ok(n.max(0) as u64)
    }

    #[instrument(name = "projects.delete", skip_all, fields(project = %id))]
    async fn delete(&self, id: &ProjectId) -> Result<bool, ProjectStoreError> {
        // One statement: the clients go with the project (the foreign key cascades), and a
        // registration racing the delete either commits first and goes with it, or finds no
        // project (see `PostgresClientRepository::upsert`).
        let done =
            self.store.bounded(async { run!(self, sqlx::query(sql::DELETE_PROJECT).bind(id.as_str()), execute) });
        Ok(done.await.map_err(ProjectStoreError::from)?.rows_affected() > 0)
    }

    async fn set_apns(&self, id: &ProjectId, credentials: Option<ApnsCredentials>) -> Result<bool, ProjectStoreError> {
        let sealed = credentials.map(|c| sql::seal_apns(&self.cipher, id, &c));
        let done = self
            .store
            .bounded(async { run!(self, sqlx::query(REVISIONS.set_apns).bind(id.as_str()).bind(&sealed), execute) })
            .await;
        Ok(done.map_err(ProjectStoreError::from)?.rows_affected() > 0)
    }

    async fn set_fcm(&self, id: &ProjectId, credentials: Option<FcmCredentials>) -> Result<bool, ProjectStoreError> {
        let sealed = credentials.map(|c| sql::seal_fcm(&self.cipher, id, &c));
        let done = self
            .store
            .bounded(async { run!(self, sqlx::query(REVISIONS.set_fcm).bind(id.as_str()).bind(&sealed), execute) })
            .await;
        Ok(done.map_err(ProjectStoreError::from)?.rows_affected() > 0)
    }

    async fn set_webpush(
        &self,
        id: &ProjectId,
        credentials: Option<WebPushCredentials>,
    ) -> Result<bool, ProjectStoreError> {
        let sealed = credentials.map(|c| sql::seal_webpush(&self.cipher, id, &c));
        let done = self
            .store
            .bounded(async { run!(self, sqlx::query(REVISIONS.set_webpush).bind(id.as_str()).bind(&sealed), execute) })
            .await;
        Ok(done.map_err(ProjectStoreError::from)?.rows_affected() > 0)
    }

    async fn census(&self) -> Result<ProjectCensus, ProjectStoreError> {
        let (count,): (i64,) = self
            .store
            .bounded(async { run!(self, sqlx::query_as(sql::COUNT_PROJECTS), fetch_one) })
            .await
            .map_err(ProjectStoreError::from)?;
        let rows: Vec<(String, bool, bool, bool)> = self
            .store
            .bounded(async { run!(self, sqlx::query_as(sql::SUSPENDED_PROJECTS), fetch_all) })
            .await
            .map_err(ProjectStoreError::from)?;
        Ok(sql::census(count, rows))
    }

    async fn set_suspension(
        &self,
        id: &ProjectId,
        provider: ProviderKind,
        revision: i64,
        suspension: Option<Suspension>,
    ) -> Result<bool, ProjectStoreError> {
        let statement = match provider {
            ProviderKind::Apns => sql::SET_APNS_SUSPENSION,
            ProviderKind::Fcm => sql::SET_FCM_SUSPENSION,
            ProviderKind::WebPush => sql::SET_WEBPUSH_SUSPENSION,
        };
        let (reason, since) = (suspension.as_ref().map(|s| s.reason.clone()), suspension.as_ref().map(|s| s.since));
        let done = self
            .store
            .bounded(async {
                run!(self, sqlx::query(statement).bind(id.as_str()).bind(&reason).bind(since).bind(revision), execute)
            })
            .await
            .map_err(ProjectStoreError::from)?;
        Ok(done.rows_affected() > 0)
    }

    // Not bounded by the store timeout: a maintenance command re-seals every project in one go.
    async fn rotate(&self) -> Result<usize, ProjectStoreError> {
        sql::rotate(&self.cipher, self).await
    }
}

impl SealedRows for PostgresProjectRepository {
    async fn all(&self) -> Result<Vec<SealedRow>, sqlx::Error> {
        run!(self, sqlx::query_as(sql::ALL_SEALED), fetch_all)
    }

    async fn one(&self, id: &str) -> Result<Option<SealedRow>, sqlx::Error> {
        run!(self, sqlx::query_as(sql::ONE_SEALED).bind(id), fetch_optional)
    }

    async fn reseal(&self, id: &str, values: SealedValues, revision: i64) -> Result<u64, sqlx::Error> {
        let [apns, fcm, webpush] = values;
        let reseal = sqlx::query(REVISIONS.reseal).bind(id).bind(apns).bind(fcm).bind(revision).bind(webpush);
        let done = run!(self, reseal, execute);
        Ok(done?.rows_affected())
    }
}
