//! Clients: a wallet registers its device token under its client id, and unregisters it; on the
//! default routes (`/clients...`) and a project's (`/{project_id}/clients...`) alike. Each handler
//! turns the request into domain values, calls one use case and maps its error with `?`.

pub mod body;

use poem::Request;
use poem_openapi::{ApiResponse, payload::Json};

use super::{
    envelope::{Envelope, Location},
    error::ApiError,
    json_body::JsonBody,
    state::HttpState,
};
use crate::app::{parse_registration, parse_unregistration};
use body::{RegisterClientRequest, read_registration};

/// Register, for the default project (`project: None`) or a named one: rate limit, project,
/// body, fields, client JWT, store.
pub async fn register(
    state: &HttpState,
    req: &Request,
    project: Option<&str>,
    authorization: Option<&str>,
    body: &JsonBody<RegisterClientRequest>,
) -> Result<Envelope, ApiError> {
    state.rate_limit(req)?;
    let project = state.project(project).await?;
    let map = body.object()?;
    let client =
        parse_registration(read_registration(&map), &project).map_err(|f| ApiError::invalid(&f, Location::Body))?;
    // After the body: the JWT must name the client that the body names.
    state.config.client_auth.check(authorization, &client.id)?;
    state.push.register(client).await?;
    Ok(Envelope::ok())
}

/// Unregister, for the default project or a named one: rate limit, project, client id, client
/// JWT, store.
pub async fn unregister(
    state: &HttpState,
    req: &Request,
    project: Option<&str>,
    client_id: &str,
    authorization: Option<&str>,
) -> Result<Envelope, ApiError> {
    state.rate_limit(req)?;
    let project = state.project(project).await?;
    let id = parse_unregistration(client_id, &project.key).map_err(|f| ApiError::invalid(&f, Location::Path))?;
    state.config.client_auth.check(authorization, &id)?;
    state.push.unregister(id).await?;
    Ok(Envelope::ok())
}

// What each operation can answer, for the OpenAPI document (see `answer`): the handlers above
// build the answers, so these variants are read by the document and never constructed.

#[allow(dead_code)]
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

#[allow(dead_code)]
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
