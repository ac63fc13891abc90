//! `ProjectRepository` with suspensions counted (`push_project_suspensions_total`,
//! `push_project_suspended`): the suspension rule records every suspension and lift through the
//! store, so this is the one place that sees them all.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    domain::{ApnsCredentials, FcmCredentials, Project, ProjectId, ProviderKind, Suspension, WebPushCredentials},
    ports::{ProjectCensus, ProjectRepository, ProjectStoreError},
    telemetry::Metrics,
};

pub struct InstrumentedProjectRepository {
    inner: Arc<dyn ProjectRepository>,
    metrics: Arc<Metrics>,
}

impl InstrumentedProjectRepository {
    pub fn new(inner: Arc<dyn ProjectRepository>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl ProjectRepository for InstrumentedProjectRepository {
    async fn create(&self, id: &ProjectId) -> Result<bool, ProjectStoreError> {
        self.inner.create(id).await
    }

    async fn list(&self, after: Option<ProjectId>, limit: u32) -> Result<Vec<ProjectId>, ProjectStoreError> {
        self.inner.list(after, limit).await
    }

    async fn get(&self, id: &ProjectId) -> Result<Option<Project>, ProjectStoreError> {
        self.inner.get(id).await
    }

    async fn count_clients(&self, id: &ProjectId) -> Result<u64, ProjectStoreError> {
        self.inner.count_clients(id).await
    }

    async fn delete(&self, id: &ProjectId) -> Result<bool, ProjectStoreError> {
        let deleted = self.inner.delete(id).await;
        if deleted.is_ok() {
            for kind in ProviderKind::ALL {
                self.metrics.record_suspension(id.as_str(), kind.as_str(), false);
            }
        }
        deleted
    }

    async fn set_apns(&self, id: &ProjectId, credentials: Option<ApnsCredentials>) -> Result<bool, ProjectStoreError> {
        let set = self.inner.set_apns(id, credentials).await;
        if set.is_ok() {
            self.metrics.record_suspension(id.as_str(), ProviderKind::Apns.as_str(), false);
        }
        set
    }

    async fn set_fcm(&self, id: &ProjectId, credentials: Option<FcmCredentials>) -> Result<bool, ProjectStoreError> {
        let set = self.inner.set_fcm(id, credentials).await;
        if set.is_ok() {
            self.metrics.record_suspension(id.as_str(), ProviderKind::Fcm.as_str(), false);
        }
        set
    }

    async fn set_webpush(
        &self,
        id: &ProjectId,
        credentials: Option<WebPushCredentials>,
    ) -> Result<bool, ProjectStoreError> {
        let set = self.inner.set_webpush(id, credentials).await;
        if set.is_ok() {
            self.metrics.record_suspension(id.as_str(), ProviderKind::WebPush.as_str(), false);
        }
        set
    }

    async fn census(&self) -> Result<ProjectCensus, ProjectStoreError> {
        self.inner.census().await
    }

    /// Counted unless the store said the credentials were replaced meanwhile (`Ok(false)`): a
    /// refusal of those suspends nothing. A store that failed to record it does not make this
    /// instance's suspension any less real.
    async fn set_suspension(
        &self,
        id: &ProjectId,
        provider: ProviderKind,
        revision: i64,
        suspension: Option<Suspension>,
    ) -> Result<bool, ProjectStoreError> {
        let suspended = suspension.is_some();
        let recorded = self.inner.set_suspension(id, provider, revision, suspension).await;
        if recorded != Ok(false) {
            self.metrics.record_suspension(id.as_str(), provider.as_str(), suspended);
        }
        recorded
    }

    async fn rotate(&self) -> Result<usize, ProjectStoreError> {
        self.inner.rotate().await
    }
}
