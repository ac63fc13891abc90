//! `ProjectRepository` on the SQLite database of the client store: projects live beside their
//! clients, so deleting a project deletes its clients in the same transaction, and every write
//! goes through the store's one writer (which also keeps its client cache exact).

use std::sync::Arc;

use async_trait::async_trait;
use tracing::instrument;

use super::{
    credentials_cipher::CredentialsCipher,
    project_row::{self as sql, ProjectRow},
    sqlite::SqliteClientRepository,
};
use crate::{
    domain::{
        ApnsCredentials, ClientId, DeviceToken, FcmCredentials, Project, ProjectId, ProjectKey, ProviderKind, PushType,
        Suspension,
    },
    ports::{ProjectCensus, ProjectRepository, ProjectStoreError},
};

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
        let done =
            self.store.bounded(sqlx::query(sql::INSERT_PROJECT).bind(id.as_str()).execute(&self.store.writer)).await;
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
        // The project's clients leave the client cache for the time of the delete, as any write
        // of theirs would (see `ClientCache`): read who they are, mark them, delete in a task that
        // runs to completion and hands the marks back whatever the caller does.
        let writer = self.store.writer.clone();
        let rows: Vec<(String, String, String)> = self
            .store
            .bounded(sqlx::query_as(sql::PROJECT_CLIENTS).bind(id.as_str()).fetch_all(&writer))
            .await
            .map_err(ProjectStoreError::from)?;
        let project = ProjectKey::Named(id.clone());
        let marks: Vec<_> = rows
            .iter()
            .filter_map(|(client, push_type, token)| {
                let client = ClientId::parse(client).ok()?.in_project(project.clone());
                let token = PushType::parse(push_type).ok().and_then(|t| DeviceToken::parse(t, token).ok());
                Some(self.store.cache.writing(&client, token.as_ref()))
            })
            .collect();
        let (cache, id_text) = (self.store.cache.clone(), id.as_str().to_owned());
        let task = tokio::spawn(async move {
            let deleted = async {
                let mut tx = writer.begin().await?;
                sqlx::query(sql::DELETE_PROJECT_CLIENTS).bind(&id_text).execute(&mut *tx).await?;
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
            .bounded(sqlx::query(sql::SET_APNS).bind(id.as_str()).bind(sealed).execute(&self.store.writer))
            .await;
        Ok(done.map_err(ProjectStoreError::from)?.rows_affected() > 0)
    }

    async fn set_fcm(&self, id: &ProjectId, credentials: Option<FcmCredentials>) -> Result<bool, ProjectStoreError> {
        let sealed = credentials.map(|c| sql::seal_fcm(&self.cipher, id, &c));
        let done = self
            .store
            .bounded(sqlx::query(sql::SET_FCM).bind(id.as_str()).bind(sealed).execute(&self.store.writer))
            .await;
        Ok(done.map_err(ProjectStoreError::from)?.rows_affected() > 0)
    }

    async fn census(&self) -> Result<ProjectCensus, ProjectStoreError> {
        let (count,): (i64,) = self
            .store
            .bounded(sqlx::query_as(sql::COUNT_PROJECTS).fetch_one(&self.store.readers))
            .await
            .map_err(ProjectStoreError::from)?;
        let rows: Vec<(String, bool, bool)> = self
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
        suspension: Option<Suspension>,
    ) -> Result<(), ProjectStoreError> {
        let statement = match provider {
            ProviderKind::Apns => sql::SET_APNS_SUSPENSION,
            ProviderKind::Fcm => sql::SET_FCM_SUSPENSION,
        };
        self.store
            .bounded(
                sqlx::query(statement)
                    .bind(id.as_str())
                    .bind(suspension.as_ref().map(|s| s.reason.clone()))
                    .bind(suspension.as_ref().map(|s| s.since))
                    .execute(&self.store.writer),
            )
            .await
            .map_err(ProjectStoreError::from)?;
        Ok(())
    }

    // Not bounded by the store timeout: a maintenance command re-seals every project in one go.
    async fn rotate(&self) -> Result<usize, ProjectStoreError> {
        let unavailable = |e: sqlx::Error| ProjectStoreError::Unavailable(e.to_string());
        let rows: Vec<(String, Option<String>, Option<String>)> =
            sqlx::query_as(sql::ALL_SEALED).fetch_all(&self.store.writer).await.map_err(unavailable)?;
        let mut count = 0;
        for (id, apns, fcm) in rows {
            if let Some((apns, fcm, changed)) = sql::reseal_row(&self.cipher, &id, apns, fcm)? {
                let query = sqlx::query(sql::RESEAL).bind(&id).bind(apns).bind(fcm);
                query.execute(&self.store.writer).await.map_err(unavailable)?;
                count += changed;
            }
        }
        Ok(count)
    }
}
