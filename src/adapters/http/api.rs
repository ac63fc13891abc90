//! The HTTP API: health, register, unregister and send. Each handler turns the request into domain
//! values, calls one use case and turns the result into one documented response.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{
    OpenApi, Tags,
    param::{Header, Path},
    payload::{Json, PlainText},
};
use tracing::{Instrument, warn};

use super::{
    dto::{
        RegisterClientRequest, SendNotificationRequest, json_object, read_notification, read_registration,
        send_field_path,
    },
    envelope::{Envelope, FieldDetail, Location},
    json_body::JsonBody,
    params::{ClientIdPath, ProjectIdPath, SignatureHeader, TimestampHeader},
    rate_limit::{RateLimiter, client_ip},
    relay_auth,
    responses::{BodyFailure, HealthResponse, RegisterResponse, SendResponse, UnregisterResponse},
};
use crate::{
    app::{
        App, ClientAuth, ClientAuthError, InvalidField, RegisterError, RelayAuth, ResolvedProject, SendError,
        SendField, Sent, UnregisterError, parse_notification, parse_registration, parse_unregistration,
    },
    domain::ClientId,
    ports::{DedupError, PushError, StoreError},
    telemetry::Metrics,
};

/// What the handlers need, shared as request data.
pub struct HttpState {
    pub app: Arc<App>,
    pub metrics: Arc<Metrics>,
    pub auth: RelayAuth,
    /// Limits registrations and unregistrations per client IP; `None` when switched off.
    pub limiter: Option<RateLimiter>,
    /// The proxy header trusted to carry the client IP, if any.
    pub client_ip_header: Option<String>,
    /// How many trusted proxies append to that header.
    pub trusted_proxies: usize,
    /// Who may register and unregister a client.
    pub client_auth: ClientAuth,
    /// `ADMIN_TOKEN`; `None` switches the admin API off (its routes answer `404`).
    pub admin_token: Option<String>,
}

impl HttpState {
    /// `Err(seconds to wait)` when the caller's address has used up its budget.
    fn rate_limited(&self, req: &Request) -> Result<(), (Envelope, u64)> {
        let (Some(limiter), Some(ip)) =
            (&self.limiter, client_ip(req, self.client_ip_header.as_deref(), self.trusted_proxies))
        else {
            return Ok(());
        };
        limiter.check(ip).map_err(|wait| {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            (Envelope::error("rate_limited", format!("too many requests from this address; retry in {secs} s")), secs)
        })
    }

    /// Whether the request's client JWT (if any) lets it touch `client`; the `401` envelope
    /// with the reason otherwise.
    fn client_authorized(&self, authorization: Option<&str>, client: &ClientId) -> Result<(), Envelope> {
        self.client_auth
            .check(authorization, client)
            .map_err(|e: ClientAuthError| Envelope::field(AUTHORIZATION, Location::Header, e.to_string()))
    }
}

/// The header a wallet's client JWT comes in.
const AUTHORIZATION: &str = "Authorization";

#[derive(Tags)]
enum Tag {
    /// Liveness.
    Health,
    /// Device registration, called by wallet apps (optionally with a client JWT).
    Clients,
    /// Notifications, called by the Relay (Ed25519-signed).
    Notifications,
}

pub struct Api;

const HEALTH_TEXT: &str = concat!("OK, push-server v", env!("CARGO_PKG_VERSION"));

pub(super) const STORAGE_UNAVAILABLE: &str = "storage_unavailable";

fn client_store_unavailable(e: &StoreError) -> Envelope {
    // The cause (driver message, address) goes to the log, never to the caller.
    warn!(error = %e, "client store unavailable");
    Envelope::error(STORAGE_UNAVAILABLE, "the client store could not be reached")
}

fn dedup_store_unavailable(e: &DedupError) -> Envelope {
    warn!(error = %e, "dedup store unavailable");
    Envelope::error(STORAGE_UNAVAILABLE, "the dedup store could not be reached")
}

/// Invalid fields of a request, `client_id` in the path and the rest in the body.
fn invalid(fields: &[InvalidField], client_id_in_path: bool) -> Envelope {
    let location = |name: &str| if client_id_in_path && name == "client_id" { Location::Path } else { Location::Body };
    Envelope::fields(
        fields.iter().map(|f| FieldDetail::new(f.field, location(f.field), f.description.clone())).collect(),
    )
}

/// Invalid fields of a send, each where the request carries it.
fn invalid_send(fields: &[InvalidField<SendField>]) -> Envelope {
    let location = |f: SendField| if f == SendField::ClientId { Location::Path } else { Location::Body };
    Envelope::fields(
        fields
            .iter()
            .map(|f| FieldDetail::new(send_field_path(f.field), location(f.field), f.description.clone()))
            .collect(),
    )
}

/// The `404` of a project that does not exist.
fn unknown_project() -> Envelope {
    Envelope::field("project_id", Location::Path, "no project is registered under this id")
}

/// The project a request addresses (`None`: the default routes), or the response that ends it:
/// `404` for an unknown project, `503` when the project store cannot be reached.
async fn project<R>(
    state: &HttpState,
    raw: Option<&str>,
    not_found: impl FnOnce(Json<Envelope>) -> R,
    unavailable: impl FnOnce(Json<Envelope>) -> R,
) -> Result<Arc<ResolvedProject>, R> {
    match state.app.resolve_project(raw).await {
        Ok(Some(project)) => Ok(project),
        Ok(None) => Err(not_found(Json(unknown_project()))),
        Err(e) => {
            warn!(error = %e, "project store unavailable");
            Err(unavailable(Json(Envelope::error(STORAGE_UNAVAILABLE, "the project store could not be reached"))))
        }
    }
}

/// Register, for the default project (`project: None`) or a named one: rate limit, project,
/// body, fields, store.
async fn register(
    state: &HttpState,
    req: &Request,
    project_id: Option<&str>,
    authorization: Option<&str>,
    body: &JsonBody<RegisterClientRequest>,
) -> RegisterResponse {
    if let Err((envelope, secs)) = state.rate_limited(req) {
        return RegisterResponse::TooManyRequests(Json(envelope), secs);
    }
    let project =
        match project(state, project_id, RegisterResponse::NotFound, RegisterResponse::StorageUnavailable).await {
            Ok(project) => project,
            Err(response) => return response,
        };
    let bytes = match &body.bytes {
        Ok(bytes) => bytes,
        Err(problem) => return RegisterResponse::from_body_problem(problem),
    };
    if let Some(problem) = &body.content_type_problem {
        return RegisterResponse::from_body_problem(problem);
    }
    let map = match json_object(bytes) {
        Ok(map) => map,
        Err(envelope) => return RegisterResponse::BadRequest(Json(envelope)),
    };
    let client = match parse_registration(read_registration(&map), &project) {
        Ok(client) => client,
        Err(fields) => return RegisterResponse::BadRequest(Json(invalid(&fields, false))),
    };
    // After the body: the JWT must name the client that the body names.
    if let Err(envelope) = state.client_authorized(authorization, &client.id) {
        return RegisterResponse::Unauthorized(Json(envelope));
    }
    match state.app.register(client).await {
        Ok(()) => RegisterResponse::Ok(Json(Envelope::ok())),
        Err(RegisterError::ClientStore(e)) => RegisterResponse::StorageUnavailable(Json(client_store_unavailable(&e))),
    }
}

/// Unregister, for the default project or a named one: rate limit, project, client id, store.
async fn unregister(
    state: &HttpState,
    req: &Request,
    project_id: Option<&str>,
    client_id: &str,
    authorization: Option<&str>,
) -> UnregisterResponse {
    if let Err((envelope, secs)) = state.rate_limited(req) {
        return UnregisterResponse::TooManyRequests(Json(envelope), secs);
    }
    let project =
        match project(state, project_id, UnregisterResponse::NotFound, UnregisterResponse::StorageUnavailable).await {
            Ok(project) => project,
            Err(response) => return response,
        };
    let id = match parse_unregistration(client_id, &project.key) {
        Ok(id) => id,
        Err(fields) => return UnregisterResponse::BadRequest(Json(invalid(&fields, true))),
    };
    if let Err(envelope) = state.client_authorized(authorization, &id) {
        return UnregisterResponse::Unauthorized(Json(envelope));
    }
    match state.app.unregister(id).await {
        Ok(()) => UnregisterResponse::Ok(Json(Envelope::ok())),
        Err(UnregisterError::ClientStore(e)) => {
            UnregisterResponse::StorageUnavailable(Json(client_store_unavailable(&e)))
        }
    }
}

/// Send, for the default project or a named one: signature, project, body, client, dedup,
/// delivery.
async fn send(
    state: &HttpState,
    project_id: Option<&str>,
    client_id: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &JsonBody<SendNotificationRequest>,
) -> SendResponse {
    let bytes = match &body.bytes {
        Ok(bytes) => bytes,
        Err(problem) => return SendResponse::from_body_problem(problem),
    };
    if let Err(envelope) = relay_auth::check(&state.auth, timestamp, signature, bytes).await {
        return SendResponse::Unauthorized(Json(envelope));
    }
    let project =
        match project(state, project_id, SendResponse::NotFound, |e| SendResponse::StorageUnavailable(e, None)).await {
            Ok(project) => project,
            Err(response) => return response,
        };
    if let Some(problem) = &body.content_type_problem {
        return SendResponse::from_body_problem(problem);
    }
    let map = match json_object(bytes) {
        Ok(map) => map,
        Err(envelope) => return SendResponse::BadRequest(Json(envelope)),
    };
    let request = match parse_notification(read_notification(client_id, &map), &project.key) {
        Ok(request) => request,
        Err(fields) => return SendResponse::BadRequest(Json(invalid_send(&fields))),
    };
    // The use case runs in a task of its own: if the client hangs up or the request deadline
    // passes, the delivery and its dedup claim are still settled rather than cut in half.
    let app = state.app.clone();
    let in_task = project.clone();
    let sent = match tokio::spawn(async move { app.send(&in_task, request).await }.in_current_span()).await {
        Ok(sent) => sent,
        Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
    };
    record_send(&state.metrics, project.key.label(), &sent);
    match sent {
        Ok(_) => SendResponse::Ok(Json(Envelope::ok())),
        Err(e) => send_failure(e),
    }
}

#[OpenApi]
impl Api {
    /// Health check
    ///
    /// Answers `OK, push-server v{version}` while the server is up.
    #[oai(path = "/health", method = "get", operation_id = "health", tag = "Tag::Health")]
    async fn health(&self) -> HealthResponse {
        HealthResponse::Ok(PlainText(HEALTH_TEXT))
    }

    /// Register a device
    ///
    /// Stores the device token under the client id, replacing the client's previous type and
    /// token. A token belongs to at most one client: registering it under a new client id moves
    /// it there and removes the old client. A `200` means the registration is stored durably.
    /// Checks run in this order: body (400), client JWT (401), storage. Query parameters are
    /// ignored (the SDKs add `?auth=...`).
    #[oai(path = "/clients", method = "post", operation_id = "register_client", tag = "Tag::Clients")]
    async fn register(
        &self,
        state: Data<&Arc<HttpState>>,
        req: &Request,
        /// A JWT signed with the client's own Ed25519 key (the raw token, as the Swift SDK sends it,
        /// or `Bearer <JWT>`): header `{"typ":"JWT","alg":"EdDSA"}`, claims `iss` (the client's
        /// did:key), `sub`, `aud` (this server's `PUBLIC_URL`), `iat`, optional `exp`. Verified when
        /// present; required only with `CLIENT_AUTH=required`.
        #[oai(name = "Authorization")]
        authorization: Header<Option<String>>,
        body: JsonBody<RegisterClientRequest>,
    ) -> RegisterResponse {
        register(&state, req, None, authorization.0.as_deref(), &body).await
    }

    /// Unregister a device
    ///
    /// Removes the client. Succeeds also when the client did not exist. Checks run in this
    /// order: client id (400), client JWT (401), storage.
    #[oai(path = "/clients/:client_id", method = "delete", operation_id = "unregister_client", tag = "Tag::Clients")]
    async fn unregister(
        &self,
        state: Data<&Arc<HttpState>>,
        req: &Request,
        /// The Relay client id (a leading `did:key:` is stripped).
        client_id: Path<ClientIdPath>,
        /// A JWT signed with the client's own Ed25519 key (the raw token, as the Swift SDK sends it,
        /// or `Bearer <JWT>`): header `{"typ":"JWT","alg":"EdDSA"}`, claims `iss` (the client's
        /// did:key), `sub`, `aud` (this server's `PUBLIC_URL`), `iat`, optional `exp`. Verified when
        /// present; required only with `CLIENT_AUTH=required`.
        #[oai(name = "Authorization")]
        authorization: Header<Option<String>>,
    ) -> UnregisterResponse {
        unregister(&state, req, None, &client_id.0.0, authorization.0.as_deref()).await
    }

    /// Send a notification (Relay only)
    ///
    /// Delivers the notification to the client's device through its push provider. Signed by the
    /// Relay: `X-Ed25519-Signature` is the hex Ed25519 signature over
    /// `{timestamp}.{body length}.{body}`. The body holds the classic form (`{id, payload}`), the
    /// raw form (`{topic, tag, message}`) or both: a client registered with `always_raw: true` is
    /// sent the raw form, any other client the classic one. The same `id` (for the raw form, the
    /// same SHA-256 of `message`) for the same client is delivered at most once within the dedup
    /// window; a duplicate is answered `200` without sending. Checks run in this order: signature
    /// (401), body (400), client (404), the form this client needs (400), dedup, delivery.
    #[oai(
        path = "/clients/:client_id",
        method = "post",
        operation_id = "send_notification",
        tag = "Tag::Notifications"
    )]
    async fn send(
        &self,
        state: Data<&Arc<HttpState>>,
        /// The Relay client id (a leading `did:key:` is stripped).
        client_id: Path<ClientIdPath>,
        /// Unix time in seconds, as decimal text; at most 5 minutes from the server clock.
        #[oai(name = "X-Ed25519-Timestamp")]
        timestamp: Header<TimestampHeader>,
        /// Hex (128 characters, any case) of the Ed25519 signature.
        #[oai(name = "X-Ed25519-Signature")]
        signature: Header<SignatureHeader>,
        body: JsonBody<SendNotificationRequest>,
    ) -> SendResponse {
        send(&state, None, &client_id.0.0, timestamp.0.0.as_deref(), signature.0.0.as_deref(), &body).await
    }

    /// Register a device in a project
    ///
    /// Exactly like `POST /clients`, for the project's clients and the project's providers. An
    /// unknown project is a `404` (field `project_id`) before any other check.
    #[oai(
        path = "/:project_id/clients",
        method = "post",
        operation_id = "register_project_client",
        tag = "Tag::Clients"
    )]
    async fn register_in_project(
        &self,
        state: Data<&Arc<HttpState>>,
        req: &Request,
        /// The project (wallet app) id.
        project_id: Path<ProjectIdPath>,
        /// A client JWT (`{"typ":"JWT","alg":"EdDSA"}`, `iss` the client's did:key), as for
        /// `POST /clients`.
        #[oai(name = "Authorization")]
        authorization: Header<Option<String>>,
        body: JsonBody<RegisterClientRequest>,
    ) -> RegisterResponse {
        register(&state, req, Some(&project_id.0.0), authorization.0.as_deref(), &body).await
    }

    /// Unregister a device in a project
    ///
    /// Exactly like `DELETE /clients/{client_id}`, for the project's clients. An unknown project
    /// is a `404` (field `project_id`).
    #[oai(
        path = "/:project_id/clients/:client_id",
        method = "delete",
        operation_id = "unregister_project_client",
        tag = "Tag::Clients"
    )]
    async fn unregister_in_project(
        &self,
        state: Data<&Arc<HttpState>>,
        req: &Request,
        /// The project (wallet app) id.
        project_id: Path<ProjectIdPath>,
        /// The Relay client id (a leading `did:key:` is stripped).
        client_id: Path<ClientIdPath>,
        /// A client JWT, as for `DELETE /clients/{client_id}`.
        #[oai(name = "Authorization")]
        authorization: Header<Option<String>>,
    ) -> UnregisterResponse {
        unregister(&state, req, Some(&project_id.0.0), &client_id.0.0, authorization.0.as_deref()).await
    }

    /// Send a notification to a client of a project (Relay only)
    ///
    /// Exactly like `POST /clients/{client_id}`, through the project's own credentials. Checks run
    /// in this order: signature (401), project (404, field `project_id`), body (400), client
    /// (404), dedup, delivery. While the project's provider is suspended (it refused the
    /// project's credentials) the answer is `502` `{provider}_credentials` at once.
    #[oai(
        path = "/:project_id/clients/:client_id",
        method = "post",
        operation_id = "send_project_notification",
        tag = "Tag::Notifications"
    )]
    async fn send_in_project(
        &self,
        state: Data<&Arc<HttpState>>,
        /// The project (wallet app) id.
        project_id: Path<ProjectIdPath>,
        /// The Relay client id (a leading `did:key:` is stripped).
        client_id: Path<ClientIdPath>,
        /// Unix time in seconds, as decimal text; at most 5 minutes from the server clock.
        #[oai(name = "X-Ed25519-Timestamp")]
        timestamp: Header<TimestampHeader>,
        /// Hex (128 characters, any case) of the Ed25519 signature.
        #[oai(name = "X-Ed25519-Signature")]
        signature: Header<SignatureHeader>,
        body: JsonBody<SendNotificationRequest>,
    ) -> SendResponse {
        let (timestamp, signature) = (timestamp.0.0.as_deref(), signature.0.0.as_deref());
        send(&state, Some(&project_id.0.0), &client_id.0.0, timestamp, signature, &body).await
    }
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

fn send_failure(e: SendError) -> SendResponse {
    match e {
        SendError::ClientNotFound => SendResponse::NotFound(Json(Envelope::field(
            "client_id",
            Location::Path,
            "no client is registered under this id",
        ))),
        SendError::FormUnusable { fields, .. } => SendResponse::BadRequest(Json(invalid_send(&fields))),
        SendError::Provider { error, form, .. } => {
            provider_failure(error, send_field_path(SendField::content_of(form)))
        }
        SendError::ProviderNotConfigured(push_type) => SendResponse::BadGateway(Json(Envelope::error(
            "provider_not_configured",
            format!("this server has no provider for push type '{push_type}' any more"),
        ))),
        SendError::ClientStore(e) => SendResponse::StorageUnavailable(Json(client_store_unavailable(&e)), None),
        SendError::Dedup(e) => SendResponse::StorageUnavailable(Json(dedup_store_unavailable(&e)), None),
    }
}

/// A provider's queue drains in well under a second once it keeps up again.
const PROVIDER_BUSY_RETRY_AFTER_SECS: u64 = 1;

/// `field` is the request field whose content the provider was given (`payload.blob`, or
/// `message` for the raw form).
fn provider_failure(error: PushError, field: &'static str) -> SendResponse {
    match error {
        PushError::TokenUnregistered { .. } => SendResponse::Gone(Json(Envelope::error(
            "client_unregistered",
            "the push provider says the device token is no longer valid; the client was removed",
        ))),
        PushError::PayloadRejected { reason, .. } => SendResponse::BadRequest(Json(Envelope::field(
            field,
            Location::Body,
            format!("the push provider refused the payload: {reason}"),
        ))),
        PushError::Unavailable { provider, .. } => SendResponse::BadGateway(Json(Envelope::error(
            &format!("{provider}_unavailable"),
            format!("{provider} could not be reached or kept failing; the notification can be retried"),
        ))),
        PushError::Credentials { provider, .. } => SendResponse::BadGateway(Json(Envelope::error(
            &format!("{provider}_credentials"),
            format!(
                "{provider} rejected this server's credentials; the notification can be retried once they are fixed"
            ),
        ))),
        PushError::Busy { provider } => SendResponse::StorageUnavailable(
            Json(Envelope::error(
                "provider_busy",
                format!("too many notifications are waiting for {provider}; retry after the Retry-After delay"),
            )),
            Some(PROVIDER_BUSY_RETRY_AFTER_SECS),
        ),
    }
}
