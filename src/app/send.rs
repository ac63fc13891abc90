//! Use case: deliver one Relay notification to one client, at most once per id.

use std::time::Instant;

use tracing::{Instrument, Span, field::Empty, info, info_span, warn};

use super::{App, InvalidField};
use crate::{
    adapters::push::retry::count_retries,
    domain::{Client, ClientId, Delivery, Flags, Notification, NotificationId, Payload, PayloadError, Topic},
    ports::{Claim, ClaimToken, DedupError, PushError, StoreError},
};

/// A notification body as the Relay sent it, field by field; an `Err` says why a field has no
/// usable value ("is required", "must be a string", ...).
#[derive(Debug, Clone, Copy)]
pub struct RawNotification<'a> {
    pub id: Result<&'a str, &'static str>,
    pub topic: Result<&'a str, &'static str>,
    pub flags: Result<u32, &'static str>,
    pub blob: Result<&'a str, &'static str>,
}

/// How a send that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Delivered,
    /// The id was already delivered (or is being delivered) to this client; nothing was sent.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("no client is registered under this id")]
    ClientNotFound,
    #[error("the device token is no longer valid; the client was removed")]
    ClientUnregistered { provider: &'static str },
    #[error("{provider} rejected the payload: {reason}")]
    PayloadRejected { provider: &'static str, reason: String },
    #[error("{provider} is unavailable: {reason}")]
    ProviderUnavailable { provider: &'static str, reason: String },
    #[error("{provider} rejected this server's credentials: {reason}")]
    ProviderCredentials { provider: &'static str, reason: String },
    #[error("no provider is configured for push type '{0}'")]
    ProviderNotConfigured(&'static str),
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),
}

impl From<StoreError> for SendError {
    fn from(e: StoreError) -> Self {
        SendError::StorageUnavailable(e.to_string())
    }
}

impl From<DedupError> for SendError {
    fn from(e: DedupError) -> Self {
        SendError::StorageUnavailable(e.to_string())
    }
}

/// Parses a notification body, reporting every invalid field at once.
pub fn parse_notification(raw: RawNotification<'_>) -> Result<Notification, Vec<InvalidField>> {
    let mut invalid = Vec::new();
    let mut field = |name, description: String| invalid.push(InvalidField::new(name, description));

    let id = match raw.id {
        Ok(s) => NotificationId::parse(s).map_err(|e| field("id", e.to_string())).ok(),
        Err(why) => {
            field("id", format!("id {why}"));
            None
        }
    };
    let topic = match raw.topic {
        Ok(s) => Topic::parse(s).map_err(|e| field("payload.topic", e.to_string())).ok(),
        Err(why) => {
            field("payload.topic", format!("topic {why}"));
            None
        }
    };
    let flags = raw.flags.map(Flags::new).map_err(|why| field("payload.flags", format!("flags {why}"))).ok();
    let blob = raw.blob.map_err(|why| field("payload.blob", format!("blob {why}"))).ok();

    // The blob can only be judged once the flags say whether it is encrypted.
    let payload = match (topic, flags, blob) {
        (Some(topic), Some(flags), Some(blob)) => {
            Payload::new(topic, flags, blob).map_err(|e: PayloadError| field("payload.blob", e.to_string())).ok()
        }
        _ => None,
    };
    match (id, payload) {
        (Some(id), Some(payload)) if invalid.is_empty() => Ok(Notification { id, payload }),
        _ => Err(invalid),
    }
}

/// The `outcome` of a send, as metrics and spans label it: a fixed set of names.
pub fn send_outcome_label(result: &Result<SendOutcome, SendError>) -> &'static str {
    match result {
        Ok(SendOutcome::Delivered) => "delivered",
        Ok(SendOutcome::Duplicate) => "duplicate",
        Err(SendError::ClientNotFound) => "client_not_found",
        Err(SendError::ClientUnregistered { .. }) => "token_unregistered",
        Err(SendError::PayloadRejected { .. }) => "payload_rejected",
        Err(SendError::ProviderUnavailable { .. }) => "provider_unavailable",
        Err(SendError::ProviderCredentials { .. }) => "provider_credentials",
        Err(SendError::ProviderNotConfigured(_)) => "provider_not_configured",
        Err(SendError::StorageUnavailable(_)) => "storage_unavailable",
    }
}

/// How one provider call ended, for the `provider.send` span and the provider metrics.
fn push_outcome_label(result: &Result<(), PushError>) -> &'static str {
    match result {
        Ok(()) => "delivered",
        Err(PushError::TokenUnregistered { .. }) => "token_unregistered",
        Err(PushError::PayloadRejected { .. }) => "payload_rejected",
        Err(PushError::Unavailable { .. }) => "unavailable",
        Err(PushError::Credentials { .. }) => "credentials",
    }
}

/// The metric labels of a send, filled in as the client and its provider become known.
struct SendLabels {
    push_type: &'static str,
    provider: &'static str,
}

impl App {
    /// Finds the client, claims the notification id, delivers, and settles the claim and the
    /// client according to the provider's answer. Checks run so that the cheapest failure comes
    /// first and nothing partial is left behind.
    pub async fn send(&self, client_id: ClientId, notification: Notification) -> Result<SendOutcome, SendError> {
        let span = info_span!(
            "send",
            client_id = %client_id,
            notification_id = %notification.id,
            push_type = Empty,
            provider = Empty,
            outcome = Empty,
        );
        let mut labels = SendLabels { push_type: "unknown", provider: "none" };
        let result = self.send_inner(client_id, notification, &mut labels).instrument(span.clone()).await;
        let outcome = send_outcome_label(&result);
        span.record("outcome", outcome);
        self.metrics.record_send(labels.push_type, labels.provider, outcome);
        result
    }

    async fn send_inner(
        &self,
        client_id: ClientId,
        notification: Notification,
        labels: &mut SendLabels,
    ) -> Result<SendOutcome, SendError> {
        let client = self
            .clients
            .find(&client_id)
            .await
            .inspect_err(|_| self.metrics.store_error("find"))?
            .ok_or(SendError::ClientNotFound)?;
        labels.push_type = client.push_type.as_str();
        Span::current().record("push_type", labels.push_type);
        let provider =
            self.providers.get(client.push_type).ok_or(SendError::ProviderNotConfigured(client.push_type.as_str()))?;
        labels.provider = provider.name();
        Span::current().record("provider", labels.provider);

        let claim_span = info_span!(
            "dedup.try_claim",
            client_id = %client.id,
            notification_id = %notification.id,
            outcome = Empty,
        );
        let claimed =
            self.dedup.try_claim(&client.id, &notification.id, self.dedup_ttl).instrument(claim_span.clone()).await;
        claim_span.record(
            "outcome",
            match &claimed {
                Ok(Claim::New(_)) => "new",
                Ok(Claim::Duplicate) => "duplicate",
                Err(_) => "error",
            },
        );
        let claim = match claimed.inspect_err(|_| self.metrics.dedup_error("try_claim"))? {
            Claim::Duplicate => {
                info!("duplicate notification id; not sent again");
                return Ok(SendOutcome::Duplicate);
            }
            Claim::New(token) => token,
        };

        let delivery = Delivery {
            client_id: client.id.clone(),
            push_type: client.push_type,
            token: client.token.clone(),
            notification,
        };
        // Never the token or the payload: ids, type and outcome are what a trace needs.
        let provider_span = info_span!(
            "provider.send",
            provider = provider.name(),
            push_type = %client.push_type,
            client_id = %client.id,
            notification_id = %delivery.notification.id,
            outcome = Empty,
            retries = Empty,
        );
        let started = Instant::now();
        let (sent, retries) = count_retries(provider.send(&delivery)).instrument(provider_span.clone()).await;
        let outcome = push_outcome_label(&sent);
        provider_span.record("outcome", outcome);
        provider_span.record("retries", retries);
        self.metrics.observe_provider(provider.name(), outcome, started.elapsed(), retries);

        match sent {
            Ok(()) => {
                info!(push_type = %client.push_type, "notification delivered");
                Ok(SendOutcome::Delivered)
            }
            Err(err) => self.settle_failure(&client, &delivery.notification.id, claim, err).await,
        }
    }

    /// After a failed delivery: frees the claim so the Relay's retry can deliver, and removes a
    /// client whose token the provider declared dead.
    async fn settle_failure(
        &self,
        client: &Client,
        id: &NotificationId,
        claim: ClaimToken,
        err: PushError,
    ) -> Result<SendOutcome, SendError> {
        warn!(error = %err, "delivery failed");
        let released = self.dedup.release(&client.id, id, claim).instrument(info_span!("dedup.release")).await;
        if let Err(e) = released {
            // The claim then simply expires; a retry within the window is answered as duplicate.
            self.metrics.dedup_error("release");
            warn!(error = %e, "could not release the dedup claim");
        }
        Err(match err {
            PushError::TokenUnregistered { provider, .. } => {
                self.clients
                    .delete_if_token(client)
                    .await
                    .inspect_err(|_| self.metrics.store_error("delete_if_token"))?;
                info!("client removed: its device token is dead");
                SendError::ClientUnregistered { provider }
            }
            PushError::PayloadRejected { provider, reason } => SendError::PayloadRejected { provider, reason },
            PushError::Unavailable { provider, reason } => SendError::ProviderUnavailable { provider, reason },
            // The provider itself logs this loudly, with what to check for its credentials.
            PushError::Credentials { provider, reason } => SendError::ProviderCredentials { provider, reason },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use base64::{Engine, engine::general_purpose::STANDARD};
    use mockall::predicate::always;

    use super::*;
    use crate::app::test_support::{app_with, client, providers_with};
    use crate::ports::{MockClientRepository, MockDedupStore, MockPushProvider};

    fn notification() -> Notification {
        parse_notification(RawNotification { id: Ok("n1"), topic: Ok("t"), flags: Ok(1), blob: Ok("cipher") }).unwrap()
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
        p.expect_send().times(1).returning(move |_| result.clone());
        p
    }

    fn id(s: &str) -> ClientId {
        ClientId::parse(s).unwrap()
    }

    #[test]
    fn parse_reports_every_bad_field() {
        let err = parse_notification(RawNotification {
            id: Ok(""),
            topic: Ok(""),
            flags: Err("must be an unsigned 32-bit integer"),
            blob: Err("must be a string"),
        })
        .unwrap_err();
        let names: Vec<_> = err.iter().map(|f| f.field).collect();
        assert_eq!(names, ["id", "payload.topic", "payload.flags", "payload.blob"]);
    }

    #[test]
    fn parse_decodes_cleartext_blobs() {
        let blob = STANDARD.encode(r#"{"title":"T","body":"B"}"#);
        assert!(
            parse_notification(RawNotification { id: Ok("i"), topic: Ok("t"), flags: Ok(16), blob: Ok(&blob) }).is_ok()
        );
        let err = parse_notification(RawNotification { id: Ok("i"), topic: Ok("t"), flags: Ok(16), blob: Ok("@@") })
            .unwrap_err();
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
            Ok(())
        });
        let app = app_with(repo_with_client(), dedup_new(), providers_with(provider));
        assert_eq!(app.send(id("c1"), notification()).await, Ok(SendOutcome::Delivered));
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
        assert_eq!(app.send(id("c1"), notification()).await, Ok(SendOutcome::Duplicate));
    }

    #[tokio::test]
    async fn unknown_client_is_not_found_and_claims_nothing() {
        let mut repo = MockClientRepository::new();
        repo.expect_find().returning(|_| Ok(None));
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().never();
        let app = app_with(repo, dedup, providers_with(MockPushProvider::new()));
        assert_eq!(app.send(id("c1"), notification()).await, Err(SendError::ClientNotFound));
    }

    #[tokio::test]
    async fn storage_unavailable_stops_before_dedup_and_delivery() {
        let mut repo = MockClientRepository::new();
        repo.expect_find().returning(|_| Err(StoreError::Unavailable("down".into())));
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().never();
        let app = app_with(repo, dedup, providers_with(MockPushProvider::new()));
        assert!(matches!(app.send(id("c1"), notification()).await, Err(SendError::StorageUnavailable(_))));
    }

    #[tokio::test]
    async fn dedup_unavailable_sends_nothing() {
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().returning(|_, _, _| Err(DedupError::Unavailable("down".into())));
        let mut provider = MockPushProvider::new();
        provider.expect_name().return_const("apns");
        provider.expect_send().never();
        let app = app_with(repo_with_client(), dedup, providers_with(provider));
        assert!(matches!(app.send(id("c1"), notification()).await, Err(SendError::StorageUnavailable(_))));
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
            app.send(id("c1"), notification()).await,
            Err(SendError::ProviderUnavailable { provider: "apns", reason: "503".into() })
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
        assert_eq!(app.send(id("c1"), notification()).await, Err(SendError::ClientUnregistered { provider: "apns" }));
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
        assert!(matches!(app.send(id("c1"), notification()).await, Err(SendError::PayloadRejected { .. })));
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
        assert!(matches!(app.send(id("c1"), notification()).await, Err(SendError::ProviderCredentials { .. })));
    }
}
