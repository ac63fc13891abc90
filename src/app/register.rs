//! Use case: register a device (upsert; a token moves to its newest client).

use tracing::{Span, field::Empty, info, instrument};

use super::{App, InvalidField};
use crate::{
    domain::{Client, ClientId, DeviceToken, PushType},
    ports::StoreError,
};

/// A registration as the caller sent it. Each field is the raw text, or why there is none (for
/// example "is required" or "must be a string"), so that every problem is reported at once.
#[derive(Debug, Clone, Copy)]
pub struct RawRegistration<'a> {
    pub client_id: Result<&'a str, &'static str>,
    pub push_type: Result<&'a str, &'static str>,
    pub token: Result<&'a str, &'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("invalid registration")]
    Invalid(Vec<InvalidField>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl App {
    /// Checks every field, then stores the client durably.
    #[instrument(name = "register", skip_all, fields(client_id = Empty, push_type = Empty, outcome = Empty))]
    pub async fn register(&self, raw: RawRegistration<'_>) -> Result<(), RegisterError> {
        let span = Span::current();
        let client = self.parse_registration(raw).map_err(|e| {
            span.record("outcome", "invalid");
            RegisterError::Invalid(e)
        })?;
        span.record("client_id", tracing::field::display(&client.id));
        span.record("push_type", client.push_type.as_str());
        self.clients.upsert(&client).await.inspect_err(|_| {
            span.record("outcome", "storage_unavailable");
            self.metrics.store_error("upsert");
        })?;
        span.record("outcome", "registered");
        info!(client_id = %client.id, push_type = %client.push_type, "client registered");
        Ok(())
    }

    fn parse_registration(&self, raw: RawRegistration<'_>) -> Result<Client, Vec<InvalidField>> {
        let mut invalid = Vec::new();
        let mut field = |name, description: String| invalid.push(InvalidField::new(name, description));

        let id = match raw.client_id {
            Ok(s) => ClientId::parse(s).map_err(|e| field("client_id", e.to_string())).ok(),
            Err(why) => {
                field("client_id", format!("client_id {why}"));
                None
            }
        };
        let push_type = match raw.push_type {
            Ok(s) => match PushType::parse(s) {
                Ok(t) if self.providers.supports(t) => Some(t),
                _ => {
                    field("type", self.unsupported_type_message(s));
                    None
                }
            },
            Err(why) => {
                field("type", format!("type {why}"));
                None
            }
        };
        let token = match raw.token {
            // Without a valid type only the rules common to every type can be checked; FCM's
            // are exactly those.
            Ok(s) => DeviceToken::parse(push_type.unwrap_or(PushType::Fcm), s)
                .map_err(|e| field("token", e.to_string()))
                .ok(),
            Err(why) => {
                field("token", format!("token {why}"));
                None
            }
        };
        match (id, push_type, token) {
            (Some(id), Some(push_type), Some(token)) if invalid.is_empty() => Ok(Client { id, push_type, token }),
            _ => Err(invalid),
        }
    }

    fn unsupported_type_message(&self, given: &str) -> String {
        let supported = self.providers.supported_names();
        if supported.is_empty() {
            return format!("unsupported push type '{given}'; this server has no push provider configured");
        }
        format!("unsupported push type '{given}'; supported: {}", supported.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::app::test_support::{app_with, log_only_providers};
    use crate::ports::{MockClientRepository, MockDedupStore, MockPushProvider};

    fn raw<'a>(id: &'a str, t: &'a str, token: &'a str) -> RawRegistration<'a> {
        RawRegistration { client_id: Ok(id), push_type: Ok(t), token: Ok(token) }
    }

    #[tokio::test]
    async fn stores_a_valid_client_with_the_prefix_stripped() {
        let mut repo = MockClientRepository::new();
        repo.expect_upsert()
            .withf(|c| c.id.as_str() == "abc" && c.push_type == PushType::Apns && c.token.expose() == "00ff")
            .times(1)
            .returning(|_| Ok(()));
        let app = app_with(repo, MockDedupStore::new(), log_only_providers());
        app.register(raw("did:key:abc", "APNS", "00ff")).await.unwrap();
    }

    #[tokio::test]
    async fn reports_every_invalid_field_and_stores_nothing() {
        let app = app_with(MockClientRepository::new(), MockDedupStore::new(), log_only_providers());
        let err = app
            .register(RawRegistration { client_id: Ok("did:key:"), push_type: Ok("xyz"), token: Err("is required") })
            .await
            .unwrap_err();
        let RegisterError::Invalid(fields) = err else { panic!("{err:?}") };
        let names: Vec<_> = fields.iter().map(|f| f.field).collect();
        assert_eq!(names, ["client_id", "type", "token"]);
        assert!(fields[1].description.contains("supported: apns, apns-sandbox, fcm"));
    }

    #[tokio::test]
    async fn refuses_a_known_type_without_a_provider() {
        let mut provider = MockPushProvider::new();
        provider.expect_name().return_const("fcm");
        let providers = crate::app::Providers::default().with(PushType::Fcm, Arc::new(provider));
        let app = app_with(MockClientRepository::new(), MockDedupStore::new(), providers);
        let RegisterError::Invalid(fields) = app.register(raw("a", "apns", "00")).await.unwrap_err() else { panic!() };
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].description, "unsupported push type 'apns'; supported: fcm");
    }

    #[tokio::test]
    async fn apns_token_must_be_hex() {
        let app = app_with(MockClientRepository::new(), MockDedupStore::new(), log_only_providers());
        let RegisterError::Invalid(fields) = app.register(raw("a", "apns-sandbox", "zz")).await.unwrap_err() else {
            panic!()
        };
        assert_eq!(fields[0].field, "token");
    }

    #[tokio::test]
    async fn storage_failure_is_reported_as_such() {
        let mut repo = MockClientRepository::new();
        repo.expect_upsert().returning(|_| Err(StoreError::Unavailable("down".into())));
        let app = app_with(repo, MockDedupStore::new(), log_only_providers());
        assert!(matches!(app.register(raw("a", "fcm", "t")).await, Err(RegisterError::Store(_))));
    }
}
