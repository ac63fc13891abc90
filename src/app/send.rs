//! Use case: deliver one Relay notification to one client, at most once per id.

use tracing::{Span, field::Empty, info, instrument, warn};

use super::{App, InvalidField, InvalidFields, ResolvedProject};
use crate::{
    domain::{Client, ClientId, Delivery, Flags, Notification, NotificationId, Payload, ProjectKey, PushType, Topic},
    ports::{Claim, ClaimToken, DedupError, PushError, PushFailure, StoreError},
};

/// A send as the Relay made it, field by field; an `Err` says why a field has no usable value
/// ("is required", "must be a string", ...).
#[derive(Debug, Clone, Copy)]
pub struct RawNotification<'a> {
    pub client_id: Result<&'a str, &'static str>,
    pub id: Result<&'a str, &'static str>,
    pub topic: Result<&'a str, &'static str>,
    pub flags: Result<u32, &'static str>,
    pub blob: Result<&'a str, &'static str>,
}

/// A parsed send: which client, and what to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub client_id: ClientId,
    pub notification: Notification,
}

/// How a send that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Delivered,
    /// The id was already delivered (or is being delivered) to this client; nothing was sent.
    Duplicate,
}

/// A send that did not fail: how it ended, and the client's push type and provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub outcome: SendOutcome,
    pub push_type: PushType,
    pub provider: &'static str,
}

/// Why a send failed. Each variant keeps its source, so the client store, the dedup store and
/// the provider are told apart in logs and answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("no client is registered under this id")]
    ClientNotFound,
    #[error("no provider is configured for push type '{0}'")]
    ProviderNotConfigured(PushType),
    #[error(transparent)]
    ClientStore(#[from] StoreError),
    #[error(transparent)]
    Dedup(#[from] DedupError),
    /// The provider did not deliver; for a dead token the client has been removed.
    #[error("{error}")]
    Provider {
        push_type: PushType,
        #[source]
        error: PushError,
    },
}

impl SendError {
    /// The `outcome` of a failed send, as metrics and spans label it: a fixed set of names.
    pub fn outcome_label(&self) -> &'static str {
        match self {
            SendError::ClientNotFound => "client_not_found",
            SendError::ProviderNotConfigured(_) => "provider_not_configured",
            SendError::ClientStore(_) | SendError::Dedup(_) => "storage_unavailable",
            SendError::Provider { error, .. } => match error {
                PushError::TokenUnregistered { .. } => "token_unregistered",
                PushError::PayloadRejected { .. } => "payload_rejected",
                PushError::Unavailable { .. } => "provider_unavailable",
                PushError::Credentials { .. } => "provider_credentials",
                PushError::Busy { .. } => "provider_busy",
            },
        }
    }
}

impl SendOutcome {
    pub fn label(self) -> &'static str {
        match self {
            SendOutcome::Delivered => "delivered",
            SendOutcome::Duplicate => "duplicate",
        }
    }
}

/// Checks every field of a send to a client of `project`, reporting all invalid ones at once.
pub fn parse_notification(raw: RawNotification<'_>, project: &ProjectKey) -> Result<SendRequest, Vec<InvalidField>> {
    let mut invalid = InvalidFields::default();
    let client_id =
        invalid.parse("client_id", raw.client_id, |s| ClientId::parse(s).map(|id| id.in_project(project.clone())));
    let id = invalid.parse("id", raw.id, NotificationId::parse);
    let topic = invalid.parse("payload.topic", raw.topic, Topic::parse);
    let flags = invalid.parse("payload.flags", raw.flags, |f| Ok::<_, String>(Flags::new(f)));
    let blob = invalid.parse("payload.blob", raw.blob, Ok::<_, String>);
    // The blob can only be judged once the flags say whether it is encrypted.
    let payload = match (topic, flags, blob) {
        (Some(topic), Some(flags), Some(blob)) => {
            invalid.parse("payload.blob", Ok(blob), |blob| Payload::new(topic, flags, blob))
        }
        _ => None,
    };
    let request = match (client_id, id, payload) {
        (Some(client_id), Some(id), Some(payload)) => {
            Some(SendRequest { client_id, notification: Notification { id, payload } })
        }
        _ => None,
    };
    invalid.finish(request)
}

impl App {
    /// Finds the client, claims the notification id, delivers, and settles the claim and the
    /// client according to the provider's answer. Checks run so that the cheapest failure comes
    /// first and nothing partial is left behind.
    #[instrument(name = "send", skip_all, fields(
        project = %project.key,
        client_id = %request.client_id,
        notification_id = %request.notification.id,
        push_type = Empty,
        provider = Empty,
        outcome = Empty,
    ))]
    pub async fn send(&self, project: &ResolvedProject, request: SendRequest) -> Result<Sent, SendError> {
        let _running = self.sends.enter();
        let result = self.find_claim_deliver(project, request).await;
        Span::current().record("outcome", result.as_ref().map_or_else(SendError::outcome_label, |s| s.outcome.label()));
        result
    }

    async fn find_claim_deliver(&self, project: &ResolvedProject, request: SendRequest) -> Result<Sent, SendError> {
        let SendRequest { client_id, notification } = request;
        let client = self.clients.find(&client_id).await?.ok_or(SendError::ClientNotFound)?;
        let push_type = client.push_type;
        Span::current().record("push_type", push_type.as_str());
        let provider = project.providers.get(push_type).ok_or(SendError::ProviderNotConfigured(push_type))?;
        Span::current().record("provider", provider.name());
        let sent = |outcome| Ok(Sent { outcome, push_type, provider: provider.name() });

        let claim = match self.dedup.try_claim(&client.id, &notification.id, self.dedup_ttl).await? {
            Claim::Duplicate => {
                info!("duplicate notification id; not sent again");
                return sent(SendOutcome::Duplicate);
            }
            Claim::New(claim) => claim,
        };

        let delivery = Delivery::to(&client, notification);
        // A shutdown that cannot wait any longer cuts the delivery; it then fails like any
        // unfinished delivery, so the claim is released and the Relay's retry can deliver.
        let delivered = tokio::select! {
            delivered = provider.send(&delivery) => delivered,
            () = self.sends.cut() => Err(PushFailure {
                error: PushError::Unavailable {
                    provider: provider.name(),
                    reason: "the server is shutting down".into(),
                },
                attempts: 0,
            }),
        };
        match delivered {
            Ok(_) => {
                info!(push_type = %push_type, "notification delivered");
                sent(SendOutcome::Delivered)
            }
            Err(failure) => Err(self.settle_failure(&client, &delivery.notification.id, claim, failure.error).await),
        }
    }

    /// After a failed delivery: frees the claim so the Relay's retry can deliver, and removes a
    /// client whose token the provider declared dead.
    async fn settle_failure(
        &self,
        client: &Client,
        id: &NotificationId,
        claim: ClaimToken,
        error: PushError,
    ) -> SendError {
        // The provider logs its own failures, credentials loudly, with what to check.
        warn!(error = %error, "delivery failed");
        if let Err(e) = self.dedup.release(&client.id, id, claim).await {
            // The claim then simply expires; a retry within the window is answered as duplicate.
            warn!(error = %e, "could not release the dedup claim");
        }
        if let PushError::TokenUnregistered { .. } = error {
            match self.clients.delete_if_token(client).await {
                Ok(_) => info!("client removed: its device token is dead"),
                Err(e) => return SendError::ClientStore(e),
            }
        }
        SendError::Provider { push_type: client.push_type, error }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use base64::{Engine, engine::general_purpose::STANDARD};
    use mockall::predicate::always;

    use super::*;
    use crate::app::{
        Providers,
        test_support::{app_with, client, providers_with},
    };
    use crate::ports::Delivered;
    use crate::ports::{MockClientRepository, MockDedupStore, MockPushProvider};

    fn raw<'a>(
        id: &'a str,
        flags: Result<u32, &'static str>,
        blob: Result<&'a str, &'static str>,
    ) -> RawNotification<'a> {
        RawNotification { client_id: Ok("c1"), id: Ok(id), topic: Ok("t"), flags, blob }
    }

    fn notification() -> Notification {
        parse_notification(raw("n1", Ok(1), Ok("cipher")), &ProjectKey::Default).unwrap().notification
    }

    /// Sends `notification()` to client `c`, answering how it ended.
    async fn send(app: &App, c: &str) -> Result<SendOutcome, SendError> {
        let project = app.resolve_project(None).await.unwrap().unwrap();
        app.send(&project, SendRequest { client_id: id(c), notification: notification() })
            .await
            .map(|sent| sent.outcome)
    }

    fn provider_failed(error: PushError) -> SendError {
        SendError::Provider { push_type: PushType::Apns, error }
    }

    fn repo_with_client() -> MockClientRepository {
        let mut repo = MockClientRepository::new();
        repo.expect_find().returning(|_| Ok(Some(client("c1"))));
        repo
    }

    fn dedup_new() -> MockDedupStore {
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().times(1).returning(|_, _, _| Ok(Claim::New(ClaimToken(7))));
        dedup
    }

    fn provider_answering(result: Result<(), PushError>) -> MockPushProvider {
        let mut p = MockPushProvider::new();
        p.expect_name().return_const("apns");
        let answer = result.map(|()| Delivered { attempts: 1 }).map_err(|error| PushFailure { error, attempts: 1 });
        p.expect_send().times(1).returning(move |_| answer.clone());
        p
    }

    fn id(s: &str) -> ClientId {
        ClientId::parse(s).unwrap()
    }

    #[test]
    fn parse_reports_every_bad_field() {
        let err = parse_notification(
            RawNotification {
                client_id: Ok("c1"),
                id: Ok(""),
                topic: Ok(""),
                flags: Err("must be an unsigned 32-bit integer"),
                blob: Err("must be a string"),
            },
            &ProjectKey::Default,
        )
        .unwrap_err();
        let names: Vec<_> = err.iter().map(|f| f.field).collect();
        assert_eq!(names, ["id", "payload.topic", "payload.flags", "payload.blob"]);
    }

    #[test]
    fn parse_decodes_cleartext_blobs() {
        let blob = STANDARD.encode(r#"{"title":"T","body":"B"}"#);
        assert!(parse_notification(raw("i", Ok(16), Ok(&blob)), &ProjectKey::Default).is_ok());
        let err = parse_notification(raw("i", Ok(16), Ok("@@")), &ProjectKey::Default).unwrap_err();
        assert_eq!(err[0].field, "payload.blob");
    }

    #[tokio::test]
    async fn delivers_a_new_notification() {
        let seen = Arc::new(Mutex::new(None));
        let mut provider = MockPushProvider::new();
        provider.expect_name().return_const("apns");
        let s = seen.clone();
        provider.expect_send().times(1).returning(move |d| {
            *s.lock().unwrap() = Some((d.client_id.to_string(), d.notification.id.to_string()));
            Ok(Delivered { attempts: 1 })
        });
        let app = app_with(repo_with_client(), dedup_new(), providers_with(provider));
        assert_eq!(send(&app, "c1").await, Ok(SendOutcome::Delivered));
        assert_eq!(seen.lock().unwrap().clone(), Some(("c1".into(), "n1".into())));
    }

    #[tokio::test]
    async fn duplicate_is_not_sent_again() {
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().returning(|_, _, _| Ok(Claim::Duplicate));
        let mut provider = MockPushProvider::new();
        provider.expect_name().return_const("apns");
        provider.expect_send().never();
        let app = app_with(repo_with_client(), dedup, providers_with(provider));
        assert_eq!(send(&app, "c1").await, Ok(SendOutcome::Duplicate));
    }

    #[tokio::test]
    async fn unknown_client_is_not_found_and_claims_nothing() {
        let mut repo = MockClientRepository::new();
        repo.expect_find().returning(|_| Ok(None));
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().never();
        let app = app_with(repo, dedup, providers_with(MockPushProvider::new()));
        assert_eq!(send(&app, "c1").await, Err(SendError::ClientNotFound));
    }

    #[tokio::test]
    async fn storage_unavailable_stops_before_dedup_and_delivery() {
        let mut repo = MockClientRepository::new();
        repo.expect_find().returning(|_| Err(StoreError::Unavailable("down".into())));
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().never();
        let app = app_with(repo, dedup, providers_with(MockPushProvider::new()));
        assert!(matches!(send(&app, "c1").await, Err(SendError::ClientStore(_))));
    }

    #[tokio::test]
    async fn dedup_unavailable_sends_nothing() {
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().returning(|_, _, _| Err(DedupError::Unavailable("down".into())));
        let mut provider = MockPushProvider::new();
        provider.expect_name().return_const("apns");
        provider.expect_send().never();
        let app = app_with(repo_with_client(), dedup, providers_with(provider));
        assert!(matches!(send(&app, "c1").await, Err(SendError::Dedup(_))));
    }

    #[tokio::test]
    async fn transient_failure_releases_the_claim_and_keeps_the_client() {
        let mut dedup = dedup_new();
        dedup
            .expect_release()
            .with(always(), always(), mockall::predicate::eq(ClaimToken(7)))
            .times(1)
            .returning(|_, _, _| Ok(()));
        let mut repo = repo_with_client();
        repo.expect_delete_if_token().never();
        let provider = provider_answering(Err(PushError::Unavailable { provider: "apns", reason: "503".into() }));
        let app = app_with(repo, dedup, providers_with(provider));
        assert_eq!(
            send(&app, "c1").await,
            Err(provider_failed(PushError::Unavailable { provider: "apns", reason: "503".into() }))
        );
    }

    #[tokio::test]
    async fn dead_token_deletes_the_client() {
        let mut dedup = dedup_new();
        dedup.expect_release().times(1).returning(|_, _, _| Ok(()));
        let mut repo = repo_with_client();
        repo.expect_delete_if_token().withf(|c| c.id.as_str() == "c1").times(1).returning(|_| Ok(true));
        let provider =
            provider_answering(Err(PushError::TokenUnregistered { provider: "apns", reason: "Unregistered".into() }));
        let app = app_with(repo, dedup, providers_with(provider));
        assert_eq!(
            send(&app, "c1").await,
            Err(provider_failed(PushError::TokenUnregistered { provider: "apns", reason: "Unregistered".into() }))
        );
    }

    #[tokio::test]
    async fn rejected_payload_keeps_the_client() {
        let mut dedup = dedup_new();
        dedup.expect_release().times(1).returning(|_, _, _| Ok(()));
        let mut repo = repo_with_client();
        repo.expect_delete_if_token().never();
        let provider =
            provider_answering(Err(PushError::PayloadRejected { provider: "apns", reason: "too big".into() }));
        let app = app_with(repo, dedup, providers_with(provider));
        assert!(matches!(
            send(&app, "c1").await,
            Err(SendError::Provider { error: PushError::PayloadRejected { .. }, .. })
        ));
    }

    #[tokio::test]
    async fn bad_credentials_are_a_provider_error_and_keep_the_client() {
        let mut dedup = dedup_new();
        dedup.expect_release().times(1).returning(|_, _, _| Ok(()));
        let mut repo = repo_with_client();
        repo.expect_delete_if_token().never();
        let provider =
            provider_answering(Err(PushError::Credentials { provider: "apns", reason: "InvalidProviderToken".into() }));
        let app = app_with(repo, dedup, providers_with(provider));
        assert!(matches!(
            send(&app, "c1").await,
            Err(SendError::Provider { error: PushError::Credentials { .. }, .. })
        ));
    }

    /// A provider that never answers.
    struct Hanging;

    #[async_trait::async_trait]
    impl crate::ports::PushProvider for Hanging {
        fn name(&self) -> &'static str {
            "apns"
        }

        async fn send(&self, _: &Delivery) -> Result<Delivered, PushFailure> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_cut_by_shutdown_releases_its_claim() {
        let mut dedup = dedup_new();
        dedup.expect_release().times(1).returning(|_, _, _| Ok(()));
        let mut repo = repo_with_client();
        repo.expect_delete_if_token().never();
        let providers = Providers::default().with(PushType::Apns, Arc::new(Hanging));
        let app = Arc::new(app_with(repo, dedup, providers));
        let sending = tokio::spawn({
            let app = app.clone();
            async move { send(&app, "c1").await }
        });
        tokio::task::yield_now().await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(16);
        let drained = app.sends().drain(deadline, std::time::Duration::from_secs(5)).await;
        assert_eq!(drained, crate::app::Drained::Cut { sends: 1 });
        assert!(matches!(
            sending.await.unwrap(),
            Err(SendError::Provider { error: PushError::Unavailable { .. }, .. })
        ));
    }
}
