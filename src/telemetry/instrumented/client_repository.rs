//! `ClientRepository` with its failures counted (`push_store_errors_total` by operation). The
//! adapters open their own `store.*` spans.

use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    domain::{Client, ClientId},
    ports::{ClientRepository, StoreError},
    telemetry::Metrics,
};

pub struct InstrumentedClientRepository {
    inner: Arc<dyn ClientRepository>,
    metrics: Arc<Metrics>,
}

impl InstrumentedClientRepository {
    pub fn new(inner: Arc<dyn ClientRepository>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn counted<T>(&self, operation: &'static str, result: Result<T, StoreError>) -> Result<T, StoreError> {
        result.inspect_err(|_| self.metrics.store_error(operation))
    }
}

#[async_trait]
impl ClientRepository for InstrumentedClientRepository {
    async fn upsert(&self, client: &Client) -> Result<bool, StoreError> {
        self.counted("upsert", self.inner.upsert(client).await)
    }

    async fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        self.counted("find", self.inner.find(id).await)
    }

    async fn delete(&self, id: &ClientId) -> Result<bool, StoreError> {
        self.counted("delete", self.inner.delete(id).await)
    }

    async fn delete_if_token(&self, client: &Client) -> Result<bool, StoreError> {
        self.counted("delete_if_token", self.inner.delete_if_token(client).await)
    }
}
