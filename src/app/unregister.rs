//! Use case: unregister a device (idempotent).

use tracing::{Span, field::Empty, info, instrument};

use super::{App, InvalidField};
use crate::{domain::ClientId, ports::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum UnregisterError {
    #[error("invalid client id")]
    Invalid(InvalidField),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl App {
    /// Removes the client if it exists; succeeds as well when it did not. Its dedup entries are
    /// left to expire: they are keyed by client id and harmless.
    #[instrument(name = "unregister", skip_all, fields(client_id = Empty, outcome = Empty))]
    pub async fn unregister(&self, raw_client_id: &str) -> Result<(), UnregisterError> {
        let span = Span::current();
        let id = ClientId::parse(raw_client_id).map_err(|e| {
            span.record("outcome", "invalid");
            UnregisterError::Invalid(InvalidField::new("client_id", e.to_string()))
        })?;
        span.record("client_id", tracing::field::display(&id));
        let existed = self.clients.delete(&id).await.inspect_err(|_| {
            span.record("outcome", "storage_unavailable");
            self.metrics.store_error("delete");
        })?;
        span.record("outcome", if existed { "removed" } else { "absent" });
        info!(client_id = %id, existed, "client unregistered");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::test_support::{app_with, log_only_providers};
    use crate::ports::{MockClientRepository, MockDedupStore};

    #[tokio::test]
    async fn deleting_a_missing_client_succeeds() {
        let mut repo = MockClientRepository::new();
        repo.expect_delete().withf(|id| id.as_str() == "x").times(1).returning(|_| Ok(false));
        let app = app_with(repo, MockDedupStore::new(), log_only_providers());
        app.unregister("did:key:x").await.unwrap();
    }

    #[tokio::test]
    async fn invalid_id_and_storage_failure() {
        let mut repo = MockClientRepository::new();
        repo.expect_delete().returning(|_| Err(StoreError::Unavailable("down".into())));
        let app = app_with(repo, MockDedupStore::new(), log_only_providers());
        assert!(matches!(app.unregister("a b").await, Err(UnregisterError::Invalid(_))));
        assert!(matches!(app.unregister("ab").await, Err(UnregisterError::Store(_))));
    }
}
