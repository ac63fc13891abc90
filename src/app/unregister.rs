//! Use case: unregister a device (idempotent).

use tracing::{Span, field::Empty, info, instrument};

use super::{App, InvalidField, InvalidFields};
use crate::{domain::ClientId, ports::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum UnregisterError {
    #[error(transparent)]
    ClientStore(#[from] StoreError),
}

/// Checks the client id of an unregistration.
pub fn parse_unregistration(raw_client_id: &str) -> Result<ClientId, Vec<InvalidField>> {
    let mut invalid = InvalidFields::default();
    let id = invalid.parse("client_id", Ok(raw_client_id), ClientId::parse);
    invalid.finish(id)
}

impl App {
    /// Removes the client if it exists; succeeds as well when it did not. Its dedup entries are
    /// left to expire: they are keyed by client id and harmless.
    #[instrument(name = "unregister", skip_all, fields(client_id = %id, outcome = Empty))]
    pub async fn unregister(&self, id: ClientId) -> Result<(), UnregisterError> {
        let deleted = self.clients.delete(&id).await;
        let outcome = match deleted {
            Ok(true) => "removed",
            Ok(false) => "absent",
            Err(_) => "storage_unavailable",
        };
        Span::current().record("outcome", outcome);
        let existed = deleted?;
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
        app.unregister(parse_unregistration("did:key:x").unwrap()).await.unwrap();
    }

    #[tokio::test]
    async fn invalid_id_and_storage_failure() {
        let mut repo = MockClientRepository::new();
        repo.expect_delete().returning(|_| Err(StoreError::Unavailable("down".into())));
        let app = app_with(repo, MockDedupStore::new(), log_only_providers());
        assert_eq!(parse_unregistration("a b").unwrap_err()[0].field, "client_id");
        let id = parse_unregistration("ab").unwrap();
        assert!(matches!(app.unregister(id).await, Err(UnregisterError::ClientStore(_))));
    }
}
