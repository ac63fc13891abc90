//! Every response each operation can give, one enum per operation, so the OpenAPI document lists
//! exactly the status codes the handler can return.

use poem_openapi::{
    ApiResponse,
    payload::{Json, PlainText},
};

use super::{envelope::Envelope, json_body::BodyProblem};

/// Responses an operation with a JSON body can give for a body it cannot use.
pub trait BodyFailure: Sized {
    fn bad_request(envelope: Envelope) -> Self;
    fn payload_too_large(envelope: Envelope) -> Self;
    fn unsupported_media_type(envelope: Envelope) -> Self;
    fn request_timeout(envelope: Envelope) -> Self;

    fn from_body_problem(problem: &BodyProblem) -> Self {
        let envelope = problem.envelope();
        match problem {
            BodyProblem::TooLarge { .. } => Self::payload_too_large(envelope),
            BodyProblem::WrongContentType { .. } => Self::unsupported_media_type(envelope),
            BodyProblem::TooSlow { .. } => Self::request_timeout(envelope),
            BodyProblem::Unreadable(_) => Self::bad_request(envelope),
        }
    }
}

macro_rules! body_failures {
    ($t:ident) => {
        impl BodyFailure for $t {
            fn bad_request(envelope: Envelope) -> Self {
                Self::BadRequest(Json(envelope))
            }
            fn payload_too_large(envelope: Envelope) -> Self {
                Self::PayloadTooLarge(Json(envelope))
            }
            fn unsupported_media_type(envelope: Envelope) -> Self {
                Self::UnsupportedMediaType(Json(envelope))
            }
            fn request_timeout(envelope: Envelope) -> Self {
                Self::RequestTimeout(Json(envelope))
            }
        }
    };
}
/// For the other response enums of the adapter (the admin API's).
pub(super) use body_failures;

#[derive(ApiResponse)]
pub enum RegisterResponse {
    /// The client is stored durably: `{"status":"OK"}`.
    #[oai(status = 200)]
    Ok(Json<Envelope>),
    /// A field is invalid (every invalid field is listed in `fields`), or the body is not a JSON
    /// object (`errors`).
    #[oai(status = 400)]
    BadRequest(Json<Envelope>),
    /// The client JWT in `Authorization` does not verify or names another client, or it is
    /// missing while `CLIENT_AUTH=required` (field `Authorization`, `location: header`, with the
    /// reason).
    #[oai(status = 401)]
    Unauthorized(Json<Envelope>),
    /// No such project (field `project_id`, `location: path`; project routes only).
    #[oai(status = 404)]
    NotFound(Json<Envelope>),
    /// The body did not arrive within the body read timeout (`request_timeout`).
    #[oai(status = 408)]
    RequestTimeout(Json<Envelope>),
    /// The body is larger than the server accepts (16 KiB by default).
    #[oai(status = 413)]
    PayloadTooLarge(Json<Envelope>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<Envelope>),
    /// Too many requests from this client address (`rate_limited`); retry after `Retry-After`
    /// seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<Envelope>, #[oai(header = "Retry-After")] u64),
    /// The client store could not be reached (`storage_unavailable`), or the request did not
    /// complete in time (`request_timeout`); nothing was stored.
    #[oai(status = 503)]
    StorageUnavailable(Json<Envelope>),
}
body_failures!(RegisterResponse);

#[derive(ApiResponse)]
pub enum UnregisterResponse {
    /// The client is gone (or never existed): `{"status":"OK"}`.
    #[oai(status = 200)]
    Ok(Json<Envelope>),
    /// The client id in the path is invalid (`fields`, `location: path`).
    #[oai(status = 400)]
    BadRequest(Json<Envelope>),
    /// The client JWT in `Authorization` does not verify or names another client, or it is
    /// missing while `CLIENT_AUTH=required` (field `Authorization`, `location: header`, with the
    /// reason).
    #[oai(status = 401)]
    Unauthorized(Json<Envelope>),
    /// No such project (field `project_id`, `location: path`; project routes only).
    #[oai(status = 404)]
    NotFound(Json<Envelope>),
    /// Too many requests from this client address (`rate_limited`); retry after `Retry-After`
    /// seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<Envelope>, #[oai(header = "Retry-After")] u64),
    /// The client store could not be reached (`storage_unavailable`), or the request did not
    /// complete in time (`request_timeout`); nothing was deleted.
    #[oai(status = 503)]
    StorageUnavailable(Json<Envelope>),
}

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
body_failures!(SendResponse);

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The server is up: `OK, push-server v{version}`.
    #[oai(status = 200)]
    Ok(PlainText<&'static str>),
}
