//! The second half of a send: find the client, claim the notification id (see `claim`), deliver,
//! and settle the claim and the client by the provider's answer.

use std::time::Duration;

use tracing::{Span, field::Empty, info, instrument, warn};

use super::{InvalidForm, SendRequest, claim::Turn};
use crate::{
    app::{App, ResolvedProject},
    domain::{Client, Delivery, FormKind, NotificationId, PushType},
    ports::{ClaimToken, DedupError, PushError, PushFailure, StoreError},
};

/// How a send that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Delivered,
    /// The id was already delivered to this client (perhaps while this send waited for that
    /// delivery); nothing was sent.
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
    /// The body lacks a usable `form` of the notification, the one this client gets (the raw one
    /// for an `always_raw` client, the classic one otherwise): that form's invalid fields.
    #[error("the body has no usable notification for this client")]
    FormUnusable { form: FormKind, fields: InvalidForm },
    #[error("no provider is configured for push type '{0}'")]
    ProviderNotConfigured(PushType),
    #[error(transparent)]
    ClientStore(#[from] StoreError),
    #[error(transparent)]
    Dedup(#[from] DedupError),
    /// Another send is still delivering this id to this client, past this send's patience; its
    /// lease ends in `lease_left` at the latest. Nothing was sent.
    #[error("the notification is being delivered by another request")]
    InFlight { lease_left: Duration },
    /// The provider did not deliver; for a dead token the client has been removed. `form` is
    /// the form the provider was given: a refused payload is that form's content
    /// ([`SendField::content_of`](super::SendField::content_of)).
    #[error("{error}")]
    Provider {
        push_type: PushType,
        form: FormKind,
        #[source]
        error: PushError,
    },
}

impl SendError {
    /// The `outcome` of a failed send, as metrics and spans label it: a fixed set of names.
    pub fn outcome_label(&self) -> &'static str {
        match self {
            SendError::ClientNotFound => "client_not_found",
            SendError::FormUnusable { .. } => "invalid_body",
            SendError::ProviderNotConfigured(_) => "provider_not_configured",
            SendError::ClientStore(_) | SendError::Dedup(_) => "storage_unavailable",
            SendError::InFlight { .. } => "in_flight",
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

impl App {
    /// Finds the client, claims the notification id, delivers, and settles the claim and the
    /// client according to the provider's answer. Checks run so that the cheapest failure comes
    /// first and nothing partial is left behind.
    #[instrument(name = "send", skip_all, fields(
        project = %project.key,
        client_id = %request.client_id,
        notification_id = Empty,
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
        let client = self.clients.find(&request.client_id).await?.ok_or(SendError::ClientNotFound)?;
        let notification =
            request.for_client(&client).map_err(|(form, fields)| SendError::FormUnusable { form, fields })?;
        Span::current().record("notification_id", tracing::field::display(&notification.id));
        let push_type = client.push_type;
        Span::current().record("push_type", push_type.as_str());
        let provider = project.providers.get(push_type).ok_or(SendError::ProviderNotConfigured(push_type))?;
        Span::current().record("provider", provider.name());
        let sent = |outcome| Ok(Sent { outcome, push_type, provider: provider.name() });

        let claim = match self.take_claim(&client.id, &notification.id).await? {
            Turn::Delivered => return sent(SendOutcome::Duplicate),
            Turn::Deliver(claim) => claim,
        };

        let form = notification.form.kind();
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
                self.complete_claim(&client.id, &delivery.notification.id, claim).await;
                sent(SendOutcome::Delivered)
            }
            Err(failure) => {
                Err(self.settle_failure(&client, &delivery.notification.id, claim, failure.error, form).await)
            }
        }
    }

    /// After a failed delivery of `form`: frees the claim so the Relay's retry can deliver, and
    /// removes a client whose token the provider declared dead.
    async fn settle_failure(
        &self,
        client: &Client,
        id: &NotificationId,
        claim: ClaimToken,
        error: PushError,
        form: FormKind,
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
        SendError::Provider { push_type: client.push_type, form, error }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use mockall::predicate::always;

    use super::super::fixtures::{CLASSIC_FIELDS, RAW_FIELDS, both_forms, fields, parse, raw, raw_form, sha256_hex};
    use super::*;
    use crate::{
        app::{
            Providers,
            test_support::{app_with, client, providers_with},
        },
        domain::{ClientId, Form, Notification},
        ports::{Claim, Completed, Delivered, MockClientRepository, MockDedupStore, MockPushProvider},
    };

    /// Sends `request` to the default project.
    async fn send_default(app: &App, request: SendRequest) -> Result<Sent, SendError> {
        let project = app.resolve_project(None).await.unwrap().unwrap();
        app.send(&project, request).await
    }

    fn notification() -> Notification {
        parse(raw("n1", Ok(1), Ok("cipher"))).unwrap().classic().unwrap().clone()
    }

    /// Sends `notification()` to client `c`, answering how it ended.
    async fn send(app: &App, c: &str) -> Result<SendOutcome, SendError> {
        let project = app.resolve_project(None).await.unwrap().unwrap();
        app.send(&project, SendRequest::new(id(c), notification())).await.map(|sent| sent.outcome)
    }

    fn provider_failed(error: PushError) -> SendError {
        SendError::Provider { push_type: PushType::Apns, form: FormKind::Classic, error }
    }

    fn raw_client_repo() -> MockClientRepository {
        let mut repo = MockClientRepository::new();
        repo.expect_find().returning(|_| Ok(Some(Client { always_raw: true, ..client("c1") })));
        repo
    }

    /// A provider that records the form of what it was given.
    fn recording_provider(seen: Arc<Mutex<Vec<Notification>>>) -> MockPushProvider {
        let mut provider = MockPushProvider::new();
        provider.expect_name().return_const("apns");
        provider.expect_send().returning(move |d| {
            seen.lock().unwrap().push(d.notification.clone());
            Ok(Delivered { attempts: 1 })
        });
        provider
    }

    fn repo_with_client() -> MockClientRepository {
        let mut repo = MockClientRepository::new();
        repo.expect_find().returning(|_| Ok(Some(client("c1"))));
        repo
    }

    /// A store where the id is free: the send claims it (token 7).
    fn dedup_new() -> MockDedupStore {
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().times(1).returning(|_, _, _| Ok(Claim::Claimed(ClaimToken(7))));
        dedup
    }

    /// A store where every id is free, and every delivered one is completed.
    fn dedup_free() -> MockDedupStore {
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().returning(|_, _, _| Ok(Claim::Claimed(ClaimToken(1))));
        dedup.expect_complete().returning(|_, _, _, _| Ok(Completed::Done));
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
        let mut dedup = dedup_new();
        dedup.expect_complete().times(1).returning(|_, _, _, _| Ok(Completed::Done));
        let app = app_with(repo_with_client(), dedup, providers_with(provider));
        assert_eq!(send(&app, "c1").await, Ok(SendOutcome::Delivered));
        assert_eq!(seen.lock().unwrap().clone(), Some(("c1".into(), "n1".into())));
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

    #[tokio::test]
    async fn an_always_raw_client_gets_the_raw_form_and_others_the_classic_one() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = app_with(raw_client_repo(), dedup_free(), providers_with(recording_provider(seen.clone())));
        let request = parse(both_forms("sealed")).unwrap();
        assert_eq!(send_default(&app, request.clone()).await.map(|s| s.outcome), Ok(SendOutcome::Delivered));
        let app = app_with(repo_with_client(), dedup_free(), providers_with(recording_provider(seen.clone())));
        assert_eq!(send_default(&app, request).await.map(|s| s.outcome), Ok(SendOutcome::Delivered));
        let seen = seen.lock().unwrap();
        assert!(matches!(&seen[0].form, Form::Raw(r) if r.message() == "sealed"));
        assert_eq!(seen[0].id.as_str(), sha256_hex("sealed"));
        assert!(matches!(&seen[1].form, Form::Classic(_)));
        assert_eq!(seen[1].id.as_str(), "n1");
    }

    #[tokio::test]
    async fn a_missing_form_is_refused_once_the_client_is_known_and_claims_nothing() {
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().never();
        let mut provider = MockPushProvider::new();
        provider.expect_name().return_const("apns");
        provider.expect_send().never();
        let app = app_with(raw_client_repo(), dedup, providers_with(provider));
        let classic_only = parse(raw("n1", Ok(1), Ok("cipher"))).unwrap();
        let Err(SendError::FormUnusable { form, fields: problems }) = send_default(&app, classic_only).await else {
            panic!("refused")
        };
        assert_eq!((form, fields(&problems)), (FormKind::Raw, RAW_FIELDS.to_vec()));

        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().never();
        let app = app_with(repo_with_client(), dedup, providers_with(MockPushProvider::new()));
        let raw_only = parse(raw_form("sealed", 1)).unwrap();
        let Err(SendError::FormUnusable { form, fields: problems }) = send_default(&app, raw_only).await else {
            panic!("refused")
        };
        assert_eq!((form, fields(&problems)), (FormKind::Classic, CLASSIC_FIELDS.to_vec()));
    }

    #[tokio::test]
    async fn raw_sends_are_deduplicated_by_the_hash_of_their_message() {
        let claimed = Arc::new(Mutex::new(Vec::new()));
        let mut dedup = MockDedupStore::new();
        let c = claimed.clone();
        dedup.expect_try_claim().returning(move |client, id, _| {
            let mut claimed = c.lock().unwrap();
            let key = (client.to_string(), id.to_string());
            if claimed.contains(&key) {
                return Ok(Claim::Done);
            }
            claimed.push(key);
            Ok(Claim::Claimed(ClaimToken(1)))
        });
        dedup.expect_complete().times(2).returning(|_, _, _, _| Ok(Completed::Done));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = app_with(raw_client_repo(), dedup, providers_with(recording_provider(seen.clone())));
        let outcome = |message, tag| {
            let request = parse(raw_form(message, tag)).unwrap();
            let app = &app;
            async move { send_default(app, request).await.map(|s| s.outcome) }
        };
        assert_eq!(outcome("m1", 1).await, Ok(SendOutcome::Delivered));
        // The same message under another tag (or topic) is the same notification.
        assert_eq!(outcome("m1", 2).await, Ok(SendOutcome::Duplicate));
        assert_eq!(outcome("m2", 1).await, Ok(SendOutcome::Delivered));
        assert_eq!(claimed.lock().unwrap()[0], ("c1".to_owned(), sha256_hex("m1")));
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_refused_raw_payload_names_the_raw_form() {
        let mut dedup = dedup_new();
        dedup.expect_release().times(1).returning(|_, _, _| Ok(()));
        let provider =
            provider_answering(Err(PushError::PayloadRejected { provider: "apns", reason: "too big".into() }));
        let app = app_with(raw_client_repo(), dedup, providers_with(provider));
        let sent = send_default(&app, parse(raw_form("m", 1)).unwrap()).await;
        assert!(matches!(sent, Err(SendError::Provider { form: FormKind::Raw, .. })), "{sent:?}");
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
