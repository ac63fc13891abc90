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
    /// Delivered (the provider accepted it), or a duplicate `id` for this client that was not sent
    /// again: `{"status":"OK"}`.
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
    /// again, and a retry after the delay can deliver.
    #[oai(status = 503)]
    StorageUnavailable(Json<Envelope>, #[oai(header = "Retry-After")] Option<u64>),
}
