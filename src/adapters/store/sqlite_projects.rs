//! `ProjectRepository` on the SQLite database of the client store: projects live beside their
//! clients, which refer to them (a foreign key), so deleting a project deletes its clients in the
//! same transaction and no client is stored for a project that is gone; every write goes through
//! the store's one writer (which also keeps its client cache exact).

use std::sync::Arc;

use async_trait::async_trait;
use tracing::instrument;

use super::{
    credentials_cipher::CredentialsCipher,
    project_row::{self as sql, ProjectRow, SealedRow, SealedRows, SealedValues},
    sqlite::SqliteClientRepository,
};
use crate::{
    domain::{
        ApnsCredentials, ClientId, DeviceToken, FcmCredentials, Project, ProjectId, ProjectKey, ProviderKind, PushType,
        Suspension, WebPushCredentials,
    },
    ports::{ProjectCensus, ProjectRepository, ProjectStoreError},
};

/// SQLite counts revisions in a one-row table that triggers keep up to date (migrations `0011`).
const REVISIONS: sql::RevisionStatements = sql::revision_statements!("(SELECT last + 1 FROM project_revisions)");
/// Who a project's clients are, for the client cache before the project goes.
const PROJECT_CLIENTS: &str = "SELECT client_id, push_type, token FROM clients WHERE project = $1";

pub struct SqliteProjectRepository {
    store: Arc<SqliteClientRepository>,
    cipher: CredentialsCipher,
}

impl SqliteProjectRepository {
    pub fn new(store: Arc<SqliteClientRepository>, cipher: CredentialsCipher) -> Self {
        Self { store, cipher }
    }
}

#[async_trait]
impl ProjectRepository for SqliteProjectRepository {
    #[instrument(name = "projects.create", skip_all, fields(project = %id))]
    async fn create(&self, id: &ProjectId) -> Result<bool, ProjectStoreError> {
        let insert = sqlx::query(REVISIONS.insert_project).bind(id.as_str());
        let done = self.store.bounded(insert.execute(&self.store.writer)).await;
        Ok(done.map_err(ProjectStoreError::from)?.rows_affected() > 0)
    }

    async fn list(&self, after: Option<ProjectId>, limit: u32) -> Result<Vec<ProjectId>, ProjectStoreError> {
        let rows: Vec<(String,)> = self
            .store
            .bounded(
                sqlx::query_as(sql::LIST_PROJECTS)
                    .bind(after.as_ref().map_or("", ProjectId::as_str))
                    .bind(i64::from(limit))
                    .fetch_all(&self.store.readers),
            )
            .await
            .map_err(ProjectStoreError::from)?;
        sql::project_ids(rows)
    }

    #[instrument(name = "projects.get", skip_all, fields(project = %id))]
    async fn get(&self, id: &ProjectId) -> Result<Option<Project>, ProjectStoreError> {
        let row: Option<ProjectRow> = self
            .store
            .bounded(sqlx::query_as(sql::GET_PROJECT).bind(id.as_str()).fetch_optional(&self.store.readers))
            .await
            .map_err(ProjectStoreError::from)?;
        row.map(|r| r.open(&self.cipher)).transpose()
    }

    async fn count_clients(&self, id: &ProjectId) -> Result<u64, ProjectStoreError> {
        let (n,): (i64,) = self
            .store
            .bounded(sqlx::query_as(sql::COUNT_CLIENTS).bind(id.as_str()).fetch_one(&self.store.readers))
            .await
            .map_err(ProjectStoreError::from)?;
        Ok(n.max(0) as u64)
    }

    #[instrument(name = "projects.delete", skip_all, fields(project = %id))]
    async fn delete(&self, id: &ProjectId) -> Result<bool, ProjectStoreError> {
        // The project's clients go with it (the foreign key cascades), so they leave the client
        // cache for the time of the delete, as any write of theirs would (see `ClientCache`).
        // Who they are is read in the delete's own transaction, on the store's one writer, so no
        // registration can slip in between; the task runs to completion and hands the marks back
        // whatever the caller does.
        let (writer, cache) = (self.store.writer.clone(), self.store.cache.clone());
        let (project, id_text) = (ProjectKey::Named(id.clone()), id.as_str().to_owned());
        let task = tokio::spawn(async move {
            // Write-locked from the start: the read below is the delete's own.
            let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
            let rows: Vec<(String, String, String)> =
                sqlx::query_as(PROJECT_CLIENTS).bind(&id_text).fetch_all(&mut *tx).await?;
            let marks: Vec<_> = rows
                .iter()
                .filter_map(|(client, push_type, token)| {
                    let client = ClientId::parse(client).ok()?.in_project(project.clone());
                    let token = PushType::parse(push_type).ok().and_then(|t| DeviceToken::parse(t, token).ok());
                    Some(cache.writing(&client, token.as_ref()))
                })
                .collect();
            let deleted = async {
                let done = sqlx::query(sql::DELETE_PROJECT).bind(&id_text).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(done.rows_affected() > 0)
            }
            .await;
            for marks in marks {
                cache.written(marks);
            }
            deleted
        });
        match tokio::time::timeout(self.store.timeout, task).await {
            Ok(Ok(deleted)) => deleted.map_err(|e| ProjectStoreError::Unavailable(e.to_string())),
            Ok(Err(e)) => Err(ProjectStoreError::Unavailable(format!("the delete failed: {e}"))),
            Err(_) => Err(ProjectStoreError::Unavailable("no answer in time (the delete may still complete)".into())),
        }
    }

    async fn set_apns(&self, id: &ProjectId, credentials: Option<ApnsCredentials>) -> Result<bool, ProjectStoreError> {
        let sealed = credentials.map(|c| sql::seal_apns(&self.cipher, id, &c));
        let done = self
            .store
            .bounded(sqlx::query(REVISIONS.set_apns).bind(id.as_str()).bind(sealed).execute(&self.store.writer))
            .await;
        Ok(done.map_err(ProjectStoreError::from)?.rows_affected() > 0)
    }

    async fn set_fcm(&self, id: &ProjectId, credentials: Option<FcmCredentials>) -> Result<bool, ProjectStoreError> {
        let sealed = credentials.map(|c| sql::seal_fcm(&self.cipher, id, &c));
        let done = self
            .store
            .bounded(sqlx::query(REVISIONS.set_fcm).bind(id.as_str()).bind(sealed).execute(&self.store.writer))
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
            .bounded(sqlx::query(REVISIONS.set_webpush).bind(id.as_str()).bind(sealed).execute(&self.store.writer))
            .await;
        Ok(done.map_err(ProjectStoreError::from)?.rows_affected() > 0)
    }

    async fn census(&self) -> Result<ProjectCensus, ProjectStoreError> {
        let (count,): (i64,) = self
            .store
            .bounded(sqlx::query_as(sql::COUNT_PROJECTS).fetch_one(&self.store.readers))
            .await
            .map_err(ProjectStoreError::from)?;
        let rows: Vec<(String, bool, bool, bool)> = self
            .store
            .bounded(sqlx::query_as(sql::SUSPENDED_PROJECTS).fetch_all(&self.store.readers))
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
        let done = self
            .store
            .bounded(
                sqlx::query(statement)
                    .bind(id.as_str())
                    .bind(suspension.as_ref().map(|s| s.reason.clone()))
                    .bind(suspension.as_ref().map(|s| s.since))
                    .bind(revision)
                    .execute(&self.store.writer),
            )
            .await
            .map_err(ProjectStoreError::from)?;
        Ok(done.rows_affected() > 0)
    }

    // Not bounded by the store timeout: a maintenance command re-seals every project in one go.
    async fn rotate(&self) -> Result<usize, ProjectStoreError> {
        sql::rotate(&self.cipher, self).await
    }
}

impl SealedRows for SqliteProjectRepository {
    async fn all(&self) -> Result<Vec<SealedRow>, sqlx::Error> {
        sqlx::query_as(sql::ALL_SEALED).fetch_all(&self.store.writer).await
    }

    async fn one(&self, id: &str) -> Result<Option<SealedRow>, sqlx::Error> {
        sqlx::query_as(sql::ONE_SEALED).bind(id).fetch_optional(&self.store.writer).await
    }

    async fn reseal(&self, id: &str, values: SealedValues, revision: i64) -> Result<u64, sqlx::Error> {
        let [apns, fcm, webpush] = values;
        let query = sqlx::query(REVISIONS.reseal).bind(id).bind(apns).bind(fcm).bind(revision).bind(webpush);
        Ok(query.execute(&self.store.writer).await?.rows_affected())
    }
}
