//! `ProjectRepository` on the Postgres database of the client store: projects live beside their
//! clients, so deleting a project deletes its clients in the same transaction, and every instance
//! sharing the database sees the same projects. Statements follow the database's PgBouncer mode
//! (unnamed statements, single statements in transactions of their own) as the client store's do.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::instrument;

use super::{
    credentials_cipher::CredentialsCipher,
    postgres::PostgresClientRepository,
    project_row::{self as sql, ProjectRow},
};
use crate::{
    domain::{ApnsCredentials, FcmCredentials, Project, ProjectId, ProviderKind, Suspension},
    ports::{ProjectCensus, ProjectRepository, ProjectStoreError},
};

/// A project's id and its sealed APNS and FCM credentials.
type SealedRow = (String, Option<String>, Option<String>);

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
        let done =
            self.store.bounded(async { run!(self, sqlx::query(sql::INSERT_PROJECT).bind(id.as_str()), execute) });
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
        let db = self.store.database();
        let done = self
            .store
            .bounded(async {
                let mut tx = db.begin().await?;
                sqlx::query(sql::DELETE_PROJECT_CLIENTS)
                    .persistent(db.persistent())
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query(sql::DELETE_PROJECT)
                    .persistent(db.persistent())
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            })
            .await;
        done.map_err(ProjectStoreError::from)
    }

    async fn set_apns(&self, id: &ProjectId, credentials: Option<ApnsCredentials>) -> Result<bool, ProjectStoreError> {
        let sealed = credentials.map(|c| sql::seal_apns(&self.cipher, id, &c));
        let done = self
            .store
            .bounded(async { run!(self, sqlx::query(sql::SET_APNS).bind(id.as_str()).bind(&sealed), execute) })
            .await;
        Ok(done.map_err(ProjectStoreError::from)?.rows_affected() > 0)
    }

    async fn set_fcm(&self, id: &ProjectId, credentials: Option<FcmCredentials>) -> Result<bool, ProjectStoreError> {
        let sealed = credentials.map(|c| sql::seal_fcm(&self.cipher, id, &c));
        let done = self
            .store
            .bounded(async { run!(self, sqlx::query(sql::SET_FCM).bind(id.as_str()).bind(&sealed), execute) })
            .await;
        Ok(done.map_err(ProjectStoreError::from)?.rows_affected() > 0)
    }

    async fn census(&self) -> Result<ProjectCensus, ProjectStoreError> {
        let (count,): (i64,) = self
            .store
            .bounded(async { run!(self, sqlx::query_as(sql::COUNT_PROJECTS), fetch_one) })
            .await
            .map_err(ProjectStoreError::from)?;
        let rows: Vec<(String, bool, bool)> = self
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
        suspension: Option<Suspension>,
    ) -> Result<(), ProjectStoreError> {
        let statement = match provider {
            ProviderKind::Apns => sql::SET_APNS_SUSPENSION,
            ProviderKind::Fcm => sql::SET_FCM_SUSPENSION,
        };
        let (reason, since) = (suspension.as_ref().map(|s| s.reason.clone()), suspension.as_ref().map(|s| s.since));
        self.store
            .bounded(async { run!(self, sqlx::query(statement).bind(id.as_str()).bind(&reason).bind(since), execute) })
            .await
            .map_err(ProjectStoreError::from)?;
        Ok(())
    }

    // Not bounded by the store timeout: a maintenance command re-seals every project in one go.
    async fn rotate(&self) -> Result<usize, ProjectStoreError> {
        let unavailable = |e: sqlx::Error| ProjectStoreError::Unavailable(e.to_string());
        let rows: Result<Vec<SealedRow>, sqlx::Error> =
            async { run!(self, sqlx::query_as(sql::ALL_SEALED), fetch_all) }.await;
        let mut count = 0;
        for (id, apns, fcm) in rows.map_err(unavailable)? {
            if let Some((apns, fcm, changed)) = sql::reseal_row(&self.cipher, &id, apns, fcm)? {
                let query = sqlx::query(sql::RESEAL).bind(&id).bind(apns).bind(fcm);
                let done: Result<_, sqlx::Error> = async { run!(self, query, execute) }.await;
                done.map_err(unavailable)?;
                count += changed;
            }
        }
        Ok(count)
    }
}
