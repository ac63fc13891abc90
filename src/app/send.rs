//! Use case: deliver one Relay notification to one client, at most once per id.
//!
//! The Relay may send a notification in two forms, classic (`{id, payload}`) and raw (`{topic,
//! tag, message}`), one or both in the same body. Which one a client gets depends on the client
//! (`always_raw`), so both are parsed up front, a body with neither usable is refused before the
//! client is looked up, and a body without the form its client needs is refused once the client
//! is known: the contract's order (body, then client) holds for every body that can be judged
//! without the client.

use tracing::{Span, field::Empty, info, instrument, warn};

use super::{App, InvalidField, InvalidFields, ResolvedProject};
use crate::{
    domain::{
        Client, ClientId, Delivery, Flags, Form, Notification, NotificationId, Payload, ProjectKey, PushType,
        RawMessage, RawPayload, Topic,
    },
    ports::{Claim, ClaimToken, DedupError, PushError, PushFailure, StoreError},
};

/// A send as the Relay made it, field by field; an `Err` says why a field has no usable value
/// ("is required", "must be a string", ...).
#[derive(Debug, Clone, Copy)]
pub struct RawNotification<'a> {
    pub client_id: Result<&'a str, &'static str>,
    /// The classic form: `id` and the `payload` members.
    pub id: Result<&'a str, &'static str>,
    pub topic: Result<&'a str, &'static str>,
    pub flags: Result<u32, &'static str>,
    pub blob: Result<&'a str, &'static str>,
    /// The raw form: the top-level `topic`, `tag` and `message`.
    pub raw_topic: Result<&'a str, &'static str>,
    pub tag: Result<u32, &'static str>,
    pub message: Result<&'a str, &'static str>,
    /// Whether the body has any member of the classic form (`id`, `payload`) and of the raw form
    /// (`topic`, `tag`, `message`): a body with neither form usable is answered with the
    /// problems of the forms it tried (of the classic one when it tried none).
    pub has_classic: bool,
    pub has_raw: bool,
}

/// Where the classic form's content is, for a payload the provider refuses.
const CLASSIC_CONTENT_FIELD: &str = "payload.blob";
/// Where the raw form's content is.
const RAW_CONTENT_FIELD: &str = "message";

/// A parsed send: which client, and the notification in each form the body holds usably (at
/// least one), or why that form is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub client_id: ClientId,
    classic: Result<Notification, Vec<InvalidField>>,
    raw: Result<Notification, Vec<InvalidField>>,
}

impl SendRequest {
    /// A send of `notification` alone: the other form is missing.
    pub fn new(client_id: ClientId, notification: Notification) -> Self {
        match notification.form {
            Form::Classic(_) => Self { client_id, classic: Ok(notification), raw: parse_raw(&MISSING) },
            Form::Raw(_) => Self { client_id, classic: parse_classic(&MISSING), raw: Ok(notification) },
        }
    }

    /// The classic form, or why the body's is unusable.
    pub fn classic(&self) -> Result<&Notification, &[InvalidField]> {
        self.classic.as_ref().map_err(Vec::as_slice)
    }

    /// The raw form, or why the body's is unusable.
    pub fn raw(&self) -> Result<&Notification, &[InvalidField]> {
        self.raw.as_ref().map_err(Vec::as_slice)
    }

    /// What `client` is sent: the raw form when it registered `always_raw`, the classic form
    /// otherwise; the problems of that form when the body's is unusable.
    fn for_client(self, client: &Client) -> Result<Notification, Vec<InvalidField>> {
        if client.always_raw { self.raw } else { self.classic }
    }
}

/// A body without a single member, to name what a missing form lacks.
const MISSING: RawNotification<'static> = RawNotification {
    client_id: Err("is required"),
    id: Err("is required"),
    topic: Err("is required"),
    flags: Err("is required"),
    blob: Err("is required"),
    raw_topic: Err("is required"),
    tag: Err("is required"),
    message: Err("is required"),
    has_classic: false,
    has_raw: false,
};

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
    /// The body lacks a usable form of the notification that this client gets (the raw one for
    /// an `always_raw` client, the classic one otherwise): its invalid fields.
    #[error("the body has no usable notification for this client")]
    InvalidBody(Vec<InvalidField>),
    #[error("no provider is configured for push type '{0}'")]
    ProviderNotConfigured(PushType),
    #[error(transparent)]
    ClientStore(#[from] StoreError),
    #[error(transparent)]
    Dedup(#[from] DedupError),
    /// The provider did not deliver; for a dead token the client has been removed. `field` is
    /// the request field whose content the provider was given (`payload.blob` or `message`),
    /// which a refused payload is reported under.
    #[error("{error}")]
    Provider {
        push_type: PushType,
        field: &'static str,
        #[source]
        error: PushError,
    },
}

impl SendError {
    /// The `outcome` of a failed send, as metrics and spans label it: a fixed set of names.
    pub fn outcome_label(&self) -> &'static str {
        match self {
            SendError::ClientNotFound => "client_not_found",
            SendError::InvalidBody(_) => "invalid_body",
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

/// Checks every field of a send to a client of `project`. Both forms are parsed; when neither is usable, every invalid
/// field of the forms the body tried is reported at once (with the client id's, if invalid).
pub fn parse_notification(raw: RawNotification<'_>, project: &ProjectKey) -> Result<SendRequest, Vec<InvalidField>> {
    let mut invalid = InvalidFields::default();
    let client_id =
        invalid.parse("client_id", raw.client_id, |s| ClientId::parse(s).map(|id| id.in_project(project.clone())));
    let classic = parse_classic(&raw);
    let raw_form = parse_raw(&raw);
    if let (Err(classic_fields), Err(raw_fields)) = (&classic, &raw_form) {
        if raw.has_classic || !raw.has_raw {
            invalid.extend(classic_fields.iter().cloned());
        }
        if raw.has_raw {
            invalid.extend(raw_fields.iter().cloned());
        }
    }
    let request = client_id.map(|client_id| SendRequest { client_id, classic, raw: raw_form });
    invalid.finish(request)
}

/// The classic form: `id` and a payload whose blob fits its flags.
fn parse_classic(raw: &RawNotification<'_>) -> Result<Notification, Vec<InvalidField>> {
    let mut invalid = InvalidFields::default();
    let id = invalid.parse("id", raw.id, NotificationId::parse);
    let topic = invalid.parse("payload.topic", raw.topic, Topic::parse);
    let flags = invalid.parse("payload.flags", raw.flags, |f| Ok::<_, String>(Flags::new(f)));
    let blob = invalid.parse(CLASSIC_CONTENT_FIELD, raw.blob, Ok::<_, String>);
    // The blob can only be judged once the flags say whether it is encrypted.
    let payload = match (topic, flags, blob) {
        (Some(topic), Some(flags), Some(blob)) => {
            invalid.parse(CLASSIC_CONTENT_FIELD, Ok(blob), |blob| Payload::new(topic, flags, blob))
        }
        _ => None,
    };
    let notification = match (id, payload) {
        (Some(id), Some(payload)) => Some(Notification::classic(id, payload)),
        _ => None,
    };
    invalid.finish(notification)
}

/// The raw form: `topic`, `tag` and a non-empty `message`, whose hash is its id.
fn parse_raw(raw: &RawNotification<'_>) -> Result<Notification, Vec<InvalidField>> {
    let mut invalid = InvalidFields::default();
    let topic = invalid.parse("topic", raw.raw_topic, Topic::parse);
    let tag = invalid.parse("tag", raw.tag, Ok::<u32, std::convert::Infallible>);
    let message = invalid.parse(RAW_CONTENT_FIELD, raw.message, RawMessage::parse);
    let notification = match (topic, tag, message) {
        (Some(topic), Some(tag), Some(message)) => Some(Notification::raw(RawPayload::new(topic, tag, message))),
        _ => None,
    };
    invalid.finish(notification)
}

/// The request field that holds what a provider is given of `form`.
fn content_field(form: &Form) -> &'static str {
    match form {
        Form::Classic(_) => CLASSIC_CONTENT_FIELD,
        Form::Raw(_) => RAW_CONTENT_FIELD,
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
        let notification = request.for_client(&client).map_err(SendError::InvalidBody)?;
        Span::current().record("notification_id", tracing::field::display(&notification.id));
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

        let field = content_field(&notification.form);
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
            Err(failure) => {
                Err(self.settle_failure(&client, &delivery.notification.id, claim, failure.error, field).await)
            }
        }
    }

    /// After a failed delivery: frees the claim so the Relay's retry can deliver, and removes a
    /// client whose token the provider declared dead. `field` holds the content the provider was
    /// given.
    async fn settle_failure(
        &self,
        client: &Client,
        id: &NotificationId,
        claim: ClaimToken,
        error: PushError,
        field: &'static str,
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
        SendError::Provider { push_type: client.push_type, field, error }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use base64::{Engine, engine::general_purpose::STANDARD};
    use mockall::predicate::always;

    use super::*;

    /// Sends `request` to the default project.
    async fn send_default(app: &App, request: SendRequest) -> Result<Sent, SendError> {
        let project = app.resolve_project(None).await.unwrap().unwrap();
        app.send(&project, request).await
    }

    /// Sends in these tests go to the default project.
    fn parse_notification(raw: RawNotification<'_>) -> Result<SendRequest, Vec<InvalidField>> {
        super::parse_notification(raw, &ProjectKey::Default)
    }
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
        RawNotification { client_id: Ok("c1"), id: Ok(id), topic: Ok("t"), flags, blob, has_classic: true, ..MISSING }
    }

    /// A body with the raw form only.
    fn raw_form<'a>(message: &'a str, tag: u32) -> RawNotification<'a> {
        RawNotification {
            client_id: Ok("c1"),
            raw_topic: Ok("rt"),
            tag: Ok(tag),
            message: Ok(message),
            has_raw: true,
            ..MISSING
        }
    }

    /// A body with both forms: classic id `n1`, raw message `message`.
    fn both_forms(message: &str) -> RawNotification<'_> {
        raw_form(message, 9).with_classic("n1")
    }

    impl<'a> RawNotification<'a> {
        fn with_classic(self, id: &'a str) -> Self {
            Self { id: Ok(id), topic: Ok("t"), flags: Ok(1), blob: Ok("cipher"), has_classic: true, ..self }
        }
    }

    fn notification() -> Notification {
        parse_notification(raw("n1", Ok(1), Ok("cipher"))).unwrap().classic().unwrap().clone()
    }

    /// Sends `notification()` to client `c`, answering how it ended.
    async fn send(app: &App, c: &str) -> Result<SendOutcome, SendError> {
        let project = app.resolve_project(None).await.unwrap().unwrap();
        app.send(&project, SendRequest::new(id(c), notification())).await.map(|sent| sent.outcome)
    }

    fn provider_failed(error: PushError) -> SendError {
        SendError::Provider { push_type: PushType::Apns, field: "payload.blob", error }
    }

    fn sha256_hex(text: &str) -> String {
        hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()))
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
        let err = parse_notification(RawNotification {
            client_id: Ok("c1"),
            id: Ok(""),
            topic: Ok(""),
            flags: Err("must be an unsigned 32-bit integer"),
            blob: Err("must be a string"),
            has_classic: true,
            ..MISSING
        })
        .unwrap_err();
        let names: Vec<_> = err.iter().map(|f| f.field).collect();
        assert_eq!(names, ["id", "payload.topic", "payload.flags", "payload.blob"]);
    }

    fn field_names(fields: &[InvalidField]) -> Vec<&'static str> {
        fields.iter().map(|f| f.field).collect()
    }

    #[test]
    fn a_body_with_neither_form_is_refused_by_the_forms_it_tried() {
        // Nothing at all: the classic form's fields, as before the raw form existed.
        let none = parse_notification(RawNotification { client_id: Ok("c1"), ..MISSING }).unwrap_err();
        assert_eq!(field_names(&none), ["id", "payload.topic", "payload.flags", "payload.blob"]);
        // A raw attempt only: its own fields.
        let raw_only =
            parse_notification(RawNotification { tag: Err("must be an unsigned 32-bit integer"), ..raw_form("", 1) })
                .unwrap_err();
        assert_eq!(field_names(&raw_only), ["tag", "message"]);
        assert_eq!(raw_only[1].description, "message must not be empty");
        // Both tried, both broken: every problem of each.
        let both = parse_notification(RawNotification { id: Ok(""), ..both_forms("") }).unwrap_err();
        assert_eq!(field_names(&both), ["id", "message"]);
        // With a bad client id too.
        let with_path = parse_notification(RawNotification { client_id: Ok(""), ..raw_form("", 1) }).unwrap_err();
        assert_eq!(field_names(&with_path), ["client_id", "message"]);
    }

    #[test]
    fn one_usable_form_is_enough_to_parse_and_the_other_keeps_its_problems() {
        let raw_only = parse_notification(raw_form("sealed", 4)).unwrap();
        assert_eq!(
            field_names(raw_only.classic().unwrap_err()),
            ["id", "payload.topic", "payload.flags", "payload.blob"]
        );
        let n = raw_only.raw().unwrap();
        assert_eq!(n.id.as_str(), sha256_hex("sealed"));
        assert!(
            matches!(&n.form, Form::Raw(r) if r.topic().as_str() == "rt" && r.tag() == 4 && r.message() == "sealed")
        );
        let classic_only = parse_notification(raw("n1", Ok(1), Ok("cipher"))).unwrap();
        assert_eq!(field_names(classic_only.raw().unwrap_err()), ["topic", "tag", "message"]);
        assert_eq!(classic_only.raw().unwrap_err()[2].description, "message is required");
    }

    #[test]
    fn parse_decodes_cleartext_blobs() {
        let blob = STANDARD.encode(r#"{"title":"T","body":"B"}"#);
        assert!(parse_notification(raw("i", Ok(16), Ok(&blob))).is_ok());
        let err = parse_notification(raw("i", Ok(16), Ok("@@"))).unwrap_err();
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

    #[tokio::test]
    async fn an_always_raw_client_gets_the_raw_form_and_others_the_classic_one() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().returning(|_, _, _| Ok(Claim::New(ClaimToken(1))));
        let app = app_with(raw_client_repo(), dedup, providers_with(recording_provider(seen.clone())));
        let request = parse_notification(both_forms("sealed")).unwrap();
        assert_eq!(send_default(&app, request.clone()).await.map(|s| s.outcome), Ok(SendOutcome::Delivered));
        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().returning(|_, _, _| Ok(Claim::New(ClaimToken(1))));
        let app = app_with(repo_with_client(), dedup, providers_with(recording_provider(seen.clone())));
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
        let classic_only = parse_notification(raw("n1", Ok(1), Ok("cipher"))).unwrap();
        let Err(SendError::InvalidBody(fields)) = send_default(&app, classic_only).await else { panic!("refused") };
        assert_eq!(field_names(&fields), ["topic", "tag", "message"]);

        let mut dedup = MockDedupStore::new();
        dedup.expect_try_claim().never();
        let app = app_with(repo_with_client(), dedup, providers_with(MockPushProvider::new()));
        let raw_only = parse_notification(raw_form("sealed", 1)).unwrap();
        let Err(SendError::InvalidBody(fields)) = send_default(&app, raw_only).await else { panic!("refused") };
        assert_eq!(field_names(&fields), ["id", "payload.topic", "payload.flags", "payload.blob"]);
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
                return Ok(Claim::Duplicate);
            }
            claimed.push(key);
            Ok(Claim::New(ClaimToken(1)))
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = app_with(raw_client_repo(), dedup, providers_with(recording_provider(seen.clone())));
        let outcome = |message, tag| {
            let request = parse_notification(raw_form(message, tag)).unwrap();
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
    async fn a_refused_raw_payload_names_the_message() {
        let mut dedup = dedup_new();
        dedup.expect_release().times(1).returning(|_, _, _| Ok(()));
        let provider =
            provider_answering(Err(PushError::PayloadRejected { provider: "apns", reason: "too big".into() }));
        let app = app_with(raw_client_repo(), dedup, providers_with(provider));
        let sent = send_default(&app, parse_notification(raw_form("m", 1)).unwrap()).await;
        assert!(matches!(sent, Err(SendError::Provider { field: "message", .. })), "{sent:?}");
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
