//! The wallet- and Relay-facing operations as the OpenAPI document lists them: health, register,
//! unregister and send, each on the default routes (`/clients...`) and a project's
//! (`/{project_id}/clients...`). Each operation is one line handing its request to its resource's
//! handler (`clients`, `notifications`); what stays here is the document's text.
//!
//! Why one `#[OpenApi]` block for two resources, and two methods per operation: poem-openapi
//! writes a path's operations together only when they come from one block, and
//! `/clients/{client_id}` carries both an unregister (clients) and a send (notifications). It
//! takes an operation's path, id, summary and description from one method's attribute and doc
//! comment, and each parameter's description from a doc comment on that method's parameter
//! (literal text only), so the default and project forms of an operation, which the document shows
//! with their own ids and texts, are two methods; the project forms' texts refer to the default
//! ones instead of repeating them.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Header, Path},
    payload::PlainText,
};

use super::{
    answer::Answer,
    clients::{self, RegisterResponse, UnregisterResponse, body::RegisterClientRequest},
    json_body::JsonBody,
    notifications::{self, SendResponse, body::SendNotificationRequest},
    params::{ClientIdPath, ProjectIdPath, SignatureHeader, TimestampHeader},
    state::HttpState,
    webpush::{self, VapidKeyResponse, VapidPublicKey},
};

#[derive(Tags)]
enum Tag {
    /// Liveness.
    Health,
    /// Device registration, called by wallet apps (optionally with a client JWT).
    Clients,
    /// Notifications, called by the Relay (Ed25519-signed).
    Notifications,
    /// Web Push: the key pages subscribe with.
    WebPush,
}

pub struct PublicApi;

const HEALTH_TEXT: &str = concat!("OK, push-server v", env!("CARGO_PKG_VERSION"));

#[OpenApi]
impl PublicApi {
    /// Health check
    ///
    /// Answers `OK, push-server v{version}` while the server is up.
    #[oai(path = "/health", method = "get", operation_id = "health", tag = "Tag::Health")]
    async fn health(&self) -> HealthResponse {
        HealthResponse::Ok(PlainText(HEALTH_TEXT))
    }

    /// The VAPID public key
    ///
    /// The key a page passes as `applicationServerKey` to `pushManager.subscribe` before it
    /// registers the subscription (type `webpush`). `404` `webpush_not_configured` while Web Push
    /// is off.
    #[oai(path = "/webpush/vapid-public-key", method = "get", operation_id = "vapid_public_key", tag = "Tag::WebPush")]
    async fn vapid_public_key(&self, state: Data<&Arc<HttpState>>) -> Answer<VapidKeyResponse, VapidPublicKey> {
        webpush::public_key(&state, None).await.into()
    }

    /// The VAPID public key of a project
    ///
    /// Exactly like `GET /webpush/vapid-public-key`, for the project's own key. An unknown
    /// project is a `404` (field `project_id`).
    #[oai(
        path = "/:project_id/webpush/vapid-public-key",
        method = "get",
        operation_id = "project_vapid_public_key",
        tag = "Tag::WebPush"
    )]
    async fn project_vapid_public_key(
        &self,
        state: Data<&Arc<HttpState>>,
        /// The project (wallet app) id.
        project_id: Path<ProjectIdPath>,
    ) -> Answer<VapidKeyResponse, VapidPublicKey> {
        webpush::public_key(&state, Some(&project_id.0.0)).await.into()
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
    ) -> Answer<RegisterResponse> {
        clients::register(&state, req, None, authorization.0.as_deref(), &body).await.into()
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
    ) -> Answer<UnregisterResponse> {
        clients::unregister(&state, req, None, &client_id.0.0, authorization.0.as_deref()).await.into()
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
    ) -> Answer<SendResponse> {
        let (timestamp, signature) = (timestamp.0.0.as_deref(), signature.0.0.as_deref());
        notifications::send(&state, None, &client_id.0.0, timestamp, signature, &body).await.into()
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
    ) -> Answer<RegisterResponse> {
        clients::register(&state, req, Some(&project_id.0.0), authorization.0.as_deref(), &body).await.into()
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
    ) -> Answer<UnregisterResponse> {
        let (project, authorization) = (Some(project_id.0.0.as_str()), authorization.0.as_deref());
        clients::unregister(&state, req, project, &client_id.0.0, authorization).await.into()
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
    ) -> Answer<SendResponse> {
        let (timestamp, signature) = (timestamp.0.0.as_deref(), signature.0.0.as_deref());
        notifications::send(&state, Some(&project_id.0.0), &client_id.0.0, timestamp, signature, &body).await.into()
    }
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The server is up: `OK, push-server v{version}`.
    #[oai(status = 200)]
    Ok(PlainText<&'static str>),
}
