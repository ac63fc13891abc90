//! Use case: register a device (upsert; a token moves to its newest client).

use tracing::{Span, field::Empty, info, instrument};

use super::{App, InvalidField, InvalidFields, Providers, ResolvedProject};
use crate::{
    domain::{Client, ClientId, DeviceToken, ProjectKey, PushType},
    ports::StoreError,
};

/// A registration as the caller sent it. Each field is the raw text, or why there is none (for
/// example "is required" or "must be a string"), so that every problem is reported at once.
#[derive(Debug, Clone, Copy)]
pub struct RawRegistration<'a> {
    pub client_id: Result<&'a str, &'static str>,
    pub push_type: Result<&'a str, &'static str>,
    pub token: Result<&'a str, &'static str>,
    /// `always_raw` as sent (absent is `false`), or why it is not a boolean.
    pub always_raw: Result<bool, &'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The project was deleted after this instance last read it (its cached copy is dropped);
    /// nothing was stored.
    #[error("no such project")]
    ProjectNotFound,
    #[error(transparent)]
    ClientStore(#[from] StoreError),
}

/// Checks every field of a registration in `project`, reporting all invalid ones at once. The
/// type must be one that the project's providers serve.
pub fn parse_registration(raw: RawRegistration<'_>, project: &ResolvedProject) -> Result<Client, Vec<InvalidField>> {
    let providers = &project.providers;
    let mut invalid = InvalidFields::default();
    let id =
        invalid.parse("client_id", raw.client_id, |s| ClientId::parse(s).map(|id| id.in_project(project.key.clone())));
    let push_type = invalid.parse("type", raw.push_type, |s| match PushType::parse(s) {
        Ok(t) if providers.supports(t) => Ok(t),
        _ => Err(unsupported_type_message(s, providers)),
    });
    // Without a valid type only the rules common to every type can be checked; FCM's are exactly
    // those.
    let token = invalid.parse("token", raw.token, |s| DeviceToken::parse(push_type.unwrap_or(PushType::Fcm), s));
    // The Kotlin, Swift and JS SDKs send `always_raw`: which form of a send the client gets.
    let always_raw = invalid.parse("always_raw", raw.always_raw, Ok::<bool, std::convert::Infallible>);
    let client = match (id, push_type, token, always_raw) {
        (Some(id), Some(push_type), Some(token), Some(always_raw)) => Some(Client { id, push_type, token, always_raw }),
        _ => None,
    };
    invalid.finish(client)
}

/// Asks the client's provider whether it could ever deliver to the token (Web Push: the
/// endpoint guard, at registration); `token` is the invalid field when not.
pub async fn check_registered_token(client: &Client, project: &ResolvedProject) -> Result<(), Vec<InvalidField>> {
    let Some(provider) = project.providers.get(client.push_type) else { return Ok(()) };
    provider.check_token(&client.token).await.map_err(|reason| vec![InvalidField::new("token", reason)])
}

fn unsupported_type_message(given: &str, providers: &Providers) -> String {
    let supported = providers.supported_names();
    if supported.is_empty() {
        return format!("unsupported push type '{given}'; this server has no push provider configured");
    }
    format!("unsupported push type '{given}'; supported: {}", supported.join(", "))
}

impl App {
    /// Stores the client durably (a token moves to its newest client), unless its project is gone:
    /// the project may have been deleted (through another instance) since this one read it.
    #[instrument(name = "register", skip_all, fields(project = %client.id.project(), client_id = %client.id, push_type = %client.push_type, outcome = Empty))]
    pub async fn register(&self, client: Client) -> Result<(), RegisterError> {
        let stored = self.clients.upsert(&client).await;
        let outcome = match stored {
            Ok(true) => "registered",
            Ok(false) => "project_not_found",
            Err(_) => "storage_unavailable",
        };
        Span::current().record("outcome", outcome);
        if !stored? {
            if let (ProjectKey::Named(id), Some(catalog)) = (client.id.project(), &self.projects) {
                catalog.invalidate(id);
            }
            info!(client_id = %client.id, "registration refused: the project was deleted");
            return Err(RegisterError::ProjectNotFound);
        }
        info!(client_id = %client.id, push_type = %client.push_type, "client registered");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::app::test_support::{app_with, log_only_providers};
    use crate::ports::{MockClientRepository, MockDedupStore, MockPushProvider};

    fn in_default(app: &App) -> ResolvedProject {
        ResolvedProject::new(crate::domain::ProjectKey::Default, app.providers().clone())
    }

    fn raw<'a>(id: &'a str, t: &'a str, token: &'a str) -> RawRegistration<'a> {
        RawRegistration { client_id: Ok(id), push_type: Ok(t), token: Ok(token), always_raw: Ok(false) }
    }

    #[tokio::test]
    async fn stores_a_valid_client_with_the_prefix_stripped() {
        let mut repo = MockClientRepository::new();
        repo.expect_upsert()
            .withf(|c| c.id.as_str() == "abc" && c.push_type == PushType::Apns && c.token.expose() == "00ff")
            .times(1)
            .returning(|_| Ok(true));
        let app = app_with(repo, MockDedupStore::new(), log_only_providers());
        app.register(parse_registration(raw("did:key:abc", "APNS", "00ff"), &in_default(&app)).unwrap()).await.unwrap();
    }

    #[tokio::test]
    async fn always_raw_is_stored_with_the_client() {
        let mut repo = MockClientRepository::new();
        repo.expect_upsert().withf(|c| c.always_raw && c.push_type == PushType::Noop).times(1).returning(|_| Ok(true));
        let app = app_with(repo, MockDedupStore::new(), log_only_providers());
        let asked = RawRegistration { always_raw: Ok(true), ..raw("a", "noop", "any-token") };
        app.register(parse_registration(asked, &in_default(&app)).unwrap()).await.unwrap();
        assert!(!parse_registration(raw("a", "fcm", "t"), &in_default(&app)).unwrap().always_raw);
    }

    #[tokio::test]
    async fn reports_every_invalid_field_and_stores_nothing() {
        let app = app_with(MockClientRepository::new(), MockDedupStore::new(), log_only_providers());
        let raw = RawRegistration {
            client_id: Ok("did:key:"),
            push_type: Ok("xyz"),
            token: Err("is required"),
            always_raw: Err("must be a boolean"),
        };
        let fields = parse_registration(raw, &in_default(&app)).unwrap_err();
        let names: Vec<_> = fields.iter().map(|f| f.field).collect();
        assert_eq!(names, ["client_id", "type", "token", "always_raw"]);
        assert_eq!(fields[3].description, "always_raw must be a boolean");
        assert!(fields[1].description.contains("supported: apns, apns-sandbox, fcm"));
    }

    #[tokio::test]
    async fn refuses_a_known_type_without_a_provider() {
        let mut provider = MockPushProvider::new();
        provider.expect_name().return_const("fcm");
        let providers = crate::app::Providers::default().with(PushType::Fcm, Arc::new(provider));
        let app = app_with(MockClientRepository::new(), MockDedupStore::new(), providers);
        let fields = parse_registration(raw("a", "apns", "00"), &in_default(&app)).unwrap_err();
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].description, "unsupported push type 'apns'; supported: fcm");
    }

    #[tokio::test]
    async fn apns_token_must_be_hex() {
        let app = app_with(MockClientRepository::new(), MockDedupStore::new(), log_only_providers());
        let fields = parse_registration(raw("a", "apns-sandbox", "zz"), &in_default(&app)).unwrap_err();
        assert_eq!(fields[0].field, "token");
    }

    #[tokio::test]
    async fn a_project_deleted_meanwhile_stores_nothing_and_is_reported() {
        let mut repo = MockClientRepository::new();
        repo.expect_upsert().times(1).returning(|_| Ok(false));
        let app = app_with(repo, MockDedupStore::new(), log_only_providers());
        let client = parse_registration(raw("a", "fcm", "t"), &in_default(&app)).unwrap();
        assert!(matches!(app.register(client).await, Err(RegisterError::ProjectNotFound)));
    }

    #[tokio::test]
    async fn storage_failure_is_reported_as_such() {
        let mut repo = MockClientRepository::new();
        repo.expect_upsert().returning(|_| Err(StoreError::Unavailable("down".into())));
        let app = app_with(repo, MockDedupStore::new(), log_only_providers());
        let client = parse_registration(raw("a", "fcm", "t"), &in_default(&app)).unwrap();
        assert!(matches!(app.register(client).await, Err(RegisterError::ClientStore(_))));
    }
}
