//! Notifications: the Relay sends one to a client, signed, on the default route
//! (`/clients/{client_id}`) or a project's (`/{project_id}/clients/{client_id}`). The handler
//! checks the signature over the exact bytes, turns the body into domain values, runs the use
//! case, counts the outcome and maps its error with `?`.

pub mod body;

use poem_openapi::{ApiResponse, payload::Json};
use tracing::Instrument;

use super::{envelope::Envelope, error::ApiError, json_body::JsonBody, state::HttpState};
use crate::{
    app::{SendError, Sent, parse_notification},
    telemetry::Metrics,
};
pub use body::send_field_path;
use body::{SendNotificationRequest, read_notification};

/// Send, for the default project (`project: None`) or a named one: signature, project, body,
/// then the use case (client, the form this client needs, dedup, delivery).
pub async fn send(
    state: &HttpState,
    project: Option<&str>,
    client_id: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &JsonBody<SendNotificationRequest>,
) -> Result<Envelope, ApiError> {
    state.relay.authorize(timestamp, signature, body.bytes()?).await?;
    let project = state.project(project).await?;
    let map = body.object()?;
    let request = parse_notification(read_notification(client_id, &map), &project.key)?;
    // The use case runs in a task of its own: if the client hangs up or the request deadline
    // passes, the delivery and its dedup claim are still settled rather than cut in half.
    let (push, in_task) = (state.push.clone(), project.clone());
    let sent = match tokio::spawn(async move { push.send(&in_task, request).await }.in_current_span()).await {
        Ok(sent) => sent,
        Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
    };
    record_send(&state.metrics, project.key.label(), &sent);
    sent?;
    Ok(Envelope::ok())
}

/// Counts a send by project, push type, provider and outcome (type unknown before the client was
/// found). Projects are counted only once they exist, so the label is bounded by their number.
fn record_send(metrics: &Metrics, project: &str, sent: &Result<Sent, SendError>) {
    match sent {
        Ok(sent) => metrics.record_send(project, sent.push_type.as_str(), sent.provider, sent.outcome.label()),
        Err(e @ SendError::Provider { push_type, error, .. }) => {
            metrics.record_send(project, push_type.as_str(), error.provider(), e.outcome_label())
        }
        Err(e @ SendError::ProviderNotConfigured(push_type)) => {
            metrics.record_send(project, push_type.as_str(), "none", e.outcome_label())
        }
        Err(e) => metrics.record_send(project, "unknown", "none", e.outcome_label()),
    }
}

/// What the send operation can answer, for the OpenAPI document (see `answer`): the handler above
/// builds the answers, so these variants are read by the document and never constructed.
#[allow(dead_code)]
#[derive(ApiResponse)]
pub enum SendResponse {
    /// Delivered (the provider accepted it), now or earlier under the same `id` for this client:
    /// a duplicate of a delivered notification is not sent again, and a duplicate sent while the
    /// first is still being delivered waits for that delivery's outcome. `{"status":"OK"}`.
    #[oai(status = 200)]
    Ok(Json<Envelope>),
    /// A body field or the client id is invalid (`fields`), the body lacks the form this client
    /// needs (the raw form's `topic`/`tag`/`message` for an `always_raw` client, `id`/`payload`
    /// otherwise), the body is not a JSON object (`errors`), or the provider refused the payload
    /// (field `payload.blob`, or `message` for the raw form).
    #[oai(status = 400)]
    BadRequest(Json<Envelope>),
    /// The signature headers are missing, malformed, outside the timestamp window or do not verify
    /// (`fields` naming the headers, `location: header`).
    #[oai(status = 401)]
    Unauthorized(Json<Envelope>),
    /// No client is registered under this id (field `client_id`, `location: path`), or no such
    /// project (field `project_id`, `location: path`; project routes only).
    #[oai(status = 404)]
    NotFound(Json<Envelope>),
    /// The provider says the device token is dead (`client_unregistered`); the client was deleted.
    #[oai(status = 410)]
    Gone(Json<Envelope>),
    /// The body did not arrive within the body read timeout (`request_timeout`).
    #[oai(status = 408)]
    RequestTimeout(Json<Envelope>),
    /// The body is larger than the server accepts (16 KiB by default).
    #[oai(status = 413)]
    PayloadTooLarge(Json<Envelope>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<Envelope>),
    /// The provider is unreachable, kept failing after bounded retries, or refused this server's
    /// credentials (`apns_unavailable`, `fcm_credentials`, ...). The notification id is free
    /// again, so a retry can deliver.
    #[oai(status = 502)]
    BadGateway(Json<Envelope>),
    /// The client store or the dedup store could not be reached (`storage_unavailable`); nothing
    /// was sent and nothing partial is kept. Also `request_timeout` when the whole request took
    /// longer than the server allows. Also `provider_busy`, with `Retry-After` (seconds): too many
    /// notifications are already waiting for this push provider; nothing was sent, the id is free
    /// again, and a retry after the delay can deliver. Also `in_flight`, with `Retry-After`
    /// (seconds): another request is delivering this `id` to this client right now and had not
    /// finished within this request's deadline; this request sent nothing. By the delay, that
    /// delivery has succeeded (a retry answers `200`) or given up (a retry delivers).
    #[oai(status = 503)]
    StorageUnavailable(Json<Envelope>, #[oai(header = "Retry-After")] Option<u64>),
}

#[cfg(test)]
mod tests {
    use poem::http::Method;
    use serde_json::{Value, json};

    use super::super::{
        HttpConfig,
        test_support::{Harness, config, default_project, named_project, relay},
    };
    use crate::{
        app::{
            InvalidField, MockAdminService, MockPushService, RawField, RelayCheck, SendError, SendField, SendOutcome,
            Sent,
        },
        domain::{FormKind, PushType},
        ports::PushError,
    };

    fn classic() -> Value {
        json!({"id": "n1", "payload": {"topic": "t", "flags": 1, "blob": "cipher"}})
    }

    /// What the mocked send answers.
    type Outcome = fn() -> Result<Sent, SendError>;

    fn delivered() -> Result<Sent, SendError> {
        Ok(Sent { outcome: SendOutcome::Delivered, push_type: PushType::Fcm, provider: "fcm" })
    }

    /// The default project, and a send that answers `sent`.
    fn sending(sent: Outcome) -> MockPushService {
        let mut push = MockPushService::new();
        push.expect_project().withf(|raw| raw.is_none()).returning(|_| Ok(Some(default_project())));
        push.expect_send().times(1).returning(move |_, _| sent());
        push
    }

    #[tokio::test]
    async fn a_send_is_parsed_in_its_project_run_and_counted() {
        let mut push = MockPushService::new();
        push.expect_project().withf(|raw| *raw == Some("w1")).returning(|_| Ok(Some(named_project("w1"))));
        push.expect_send()
            .withf(|project, request| {
                project.key.label() == "w1"
                    && request.client_id.as_str() == "c1"
                    && request.client_id.project().label() == "w1"
                    && request.classic().is_ok_and(|n| n.id.as_str() == "n1")
                    && request.raw().is_err()
            })
            .times(1)
            .returning(|_, _| delivered());
        let harness = Harness::push(push);
        let answered = harness.call(Method::POST, "/w1/clients/did:key:c1", Some(classic()), &[]).await;
        assert_eq!((answered.status, answered.json), (200, json!({"status": "OK"})));
        let counted = r#"push_notifications_total{outcome="delivered",project="w1",provider="fcm",push_type="fcm"} 1"#;
        assert!(harness.state.metrics.render().contains(counted));
    }

    #[tokio::test]
    async fn the_signature_is_checked_over_the_read_bytes_before_the_project() {
        let refusing =
            |config| Harness::new(push_never(), MockAdminService::new(), relay(RelayCheck::Unconfigured), config);
        let answered = refusing(config()).call(Method::POST, "/w1/clients/c1", Some(classic()), &[]).await;
        assert_eq!(answered.status, 401);
        assert_eq!(answered.fields(), [("X-Ed25519-Signature".to_owned(), "header".to_owned())]);
        // A body that cannot even be read is answered as such first.
        let small = HttpConfig { max_body_bytes: 8, ..config() };
        let answered = refusing(small).call(Method::POST, "/w1/clients/c1", Some(classic()), &[]).await;
        assert_eq!((answered.status, answered.error()), (413, "payload_too_large"));
    }

    /// Use cases that must not be asked anything.
    fn push_never() -> MockPushService {
        let mut push = MockPushService::new();
        push.expect_project().never();
        push.expect_send().never();
        push
    }

    #[tokio::test]
    async fn the_project_is_judged_before_the_content_type_and_the_body() {
        let mut push = MockPushService::new();
        push.expect_project().withf(|raw| *raw == Some("nope")).returning(|_| Ok(None));
        push.expect_project().withf(|raw| raw.is_none()).returning(|_| Ok(Some(default_project())));
        push.expect_send().never();
        let harness = Harness::push(push);
        let text = [("content-type", "text/plain")];
        let unknown = harness.call(Method::POST, "/nope/clients/c1", Some(json!([])), &text).await;
        assert_eq!((unknown.status, unknown.fields()), (404, vec![("project_id".to_owned(), "path".to_owned())]));
        let wrong_type = harness.call(Method::POST, "/clients/c1", Some(json!([])), &text).await;
        assert_eq!((wrong_type.status, wrong_type.error()), (415, "unsupported_media_type"));
        let not_an_object = harness.call(Method::POST, "/clients/c1", Some(json!([])), &[]).await;
        assert_eq!((not_an_object.status, not_an_object.error()), (400, "invalid_body"));
    }

    #[tokio::test]
    async fn invalid_fields_are_named_by_their_json_path_and_nothing_is_sent() {
        let mut push = MockPushService::new();
        push.expect_project().returning(|_| Ok(Some(default_project())));
        push.expect_send().never();
        let body = json!({"id": "n1", "payload": {"topic": "t", "flags": "1"}});
        let answered = Harness::push(push).call(Method::POST, "/clients/did:key:", Some(body), &[]).await;
        assert_eq!(answered.status, 400);
        let at = |field: &str, location: &str| (field.to_owned(), location.to_owned());
        assert_eq!(
            answered.fields(),
            [at("client_id", "path"), at("payload.flags", "body"), at("payload.blob", "body")]
        );
    }

    #[tokio::test]
    async fn a_payload_the_provider_refuses_is_named_where_its_form_carries_it() {
        let answered = Harness::push(sending(|| {
            Err(SendError::Provider {
                push_type: PushType::Fcm,
                form: FormKind::Raw,
                error: PushError::PayloadRejected { provider: "fcm", reason: "too big".into() },
            })
        }))
        .call(Method::POST, "/clients/c1", Some(classic()), &[])
        .await;
        assert_eq!((answered.status, answered.fields()), (400, vec![("message".to_owned(), "body".to_owned())]));
    }

    #[tokio::test]
    async fn the_use_case_s_refusals_keep_their_statuses() {
        let unusable = || {
            let fields = vec![InvalidField::new(SendField::Raw(RawField::Tag), "tag is required")];
            Err(SendError::FormUnusable { form: FormKind::Raw, fields })
        };
        let cases: [(Outcome, u16); 5] = [
            (|| Err(SendError::ClientNotFound), 404),
            (unusable, 400),
            (|| Err(SendError::ProviderNotConfigured(PushType::Apns)), 502),
            (
                || {
                    Err(SendError::Provider {
                        push_type: PushType::Fcm,
                        form: FormKind::Classic,
                        error: PushError::TokenUnregistered { provider: "fcm", reason: "UNREGISTERED".into() },
                    })
                },
                410,
            ),
            (
                || {
                    Err(SendError::Provider {
                        push_type: PushType::Fcm,
                        form: FormKind::Classic,
                        error: PushError::Busy { provider: "fcm" },
                    })
                },
                503,
            ),
        ];
        for (sent, status) in cases {
            let harness = Harness::push(sending(sent));
            let answered = harness.call(Method::POST, "/clients/c1", Some(classic()), &[]).await;
            assert_eq!(answered.status, status, "{:?}", answered.json);
            // A busy provider asks for a retry; every outcome is counted.
            let retry_after = answered.headers.get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(retry_after.as_deref(), (status == 503).then_some("1"));
            assert!(harness.state.metrics.render().contains(r#"push_notifications_total{"#));
        }
    }
}
