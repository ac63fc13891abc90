//! The HTTP adapter (poem + poem-openapi), a file per resource: `clients` (register,
//! unregister), `notifications` (send), `admin` (projects and credentials) and `docs` (the OpenAPI
//! document and Swagger UI), with `routes` listing the public operations, `error` mapping every
//! use-case error to its answer, `state` the one runtime state, and around them the envelope, the
//! response dialect, the deadline, telemetry and `/metrics`.
//!
//! One way in: [`serve`] with the use cases, the metrics registry, the Relay check and an
//! [`HttpConfig`]. Everything else is private to the adapter; the few items tests and the
//! command line need (the OpenAPI document, the body readers the property tests drive, the
//! documented patterns) are re-exported here.

mod admin;
mod answer;
mod clients;
mod cors;
pub use cors::CorsOrigins;
mod deadline;
mod dialect;
mod docs;
mod envelope;
mod error;
mod fallback;
mod json_body;
mod notifications;
mod nullable;
mod observe;
mod params;
mod preface;
mod rate_limit;
mod request_id;
mod routes;
mod state;
#[cfg(test)]
mod test_support;
mod transport;
mod unread_body;
mod webpush;

use std::{future::Future, sync::Arc, time::Duration};

use poem::{Endpoint, EndpointExt, IntoEndpoint, Route, get, handler, web::Data};
use tokio::net::TcpListener;

pub use clients::body::read_registration;
pub use dialect::ResponseDialect;
pub use docs::{openapi_json, openapi_service};
use json_body::BodyLimits;
pub use json_body::json_object;
pub use notifications::body::{read_notification, send_field_path};
pub use params::{CLIENT_ID_PATTERN, PROJECT_ID_PATTERN, SIGNATURE_PATTERN, TIMESTAMP_PATTERN};
use state::HttpState;
use transport::TransportLimits;
use unread_body::UnreadBodyLimits;

use crate::{
    app::{App, ClientAuth, RelayAuth},
    domain::Secret,
    telemetry::Metrics,
};

#[handler]
fn metrics_text(metrics: Data<&Arc<Metrics>>) -> poem::Response {
    poem::Response::builder().content_type("text/plain; version=0.0.4; charset=utf-8").body(metrics.render())
}

/// The adapter's own configuration: the bounds that protect the server from slow, greedy or
/// abusive clients.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Time a client has to send a request's body once its headers are in.
    pub body_read_timeout: Duration,
    /// Bound on a whole request, handler included.
    pub request_timeout: Duration,
    /// Connections served at once; more wait in the kernel backlog.
    pub max_connections: usize,
    /// Time a client has to send a new connection's first bytes and each request's headers; also
    /// the idle limit of both protocols (HTTP/1 keep-alive, HTTP/2 with no open stream).
    pub header_read_timeout: Duration,
    /// How long in-flight requests may take to finish once shutdown starts.
    pub shutdown_grace: Duration,
    /// Registrations and unregistrations per client IP per minute; 0 switches the limit off.
    pub rate_limit_per_minute: u32,
    /// How many such requests an IP may make in a burst.
    pub rate_limit_burst: u32,
    /// IPv6 clients are limited per prefix of this many bits.
    pub rate_limit_ipv6_prefix: u8,
    /// The header that carries the client IP behind a trusted proxy; `None`: the TCP peer.
    pub client_ip_header: Option<String>,
    /// How many trusted proxies append to that header (the client is that many from the right).
    pub trusted_proxies: usize,
    /// The envelope every JSON response is written in.
    pub response_dialect: ResponseDialect,
    /// Who may register and unregister a client (`CLIENT_AUTH`, `PUBLIC_URL`).
    pub client_auth: ClientAuth,
    /// `ADMIN_TOKEN`: the bearer token of the admin API; `None` switches it off.
    pub admin_token: Option<Secret<String>>,
    /// `CORS_ALLOWED_ORIGINS`: which pages may call the wallet and VAPID key routes.
    pub cors: CorsOrigins,
    /// `/metrics` is served apart, by [`serve_metrics`] on a listener of its own
    /// (`TELEMETRY_PROMETHEUS_PORT`), and not among the API's routes.
    pub metrics_apart: bool,
}

/// Serves the API on `listener` until `shutdown` completes, then stops accepting and lets open
/// requests finish (bounded by `config.shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    metrics: Arc<Metrics>,
    auth: RelayAuth,
    config: HttpConfig,
    shutdown: impl Future<Output = ()>,
) {
    let limits = TransportLimits {
        max_connections: config.max_connections,
        header_read_timeout: config.header_read_timeout,
        shutdown_grace: config.shutdown_grace,
        unread_body: UnreadBodyLimits { max_bytes: config.max_body_bytes, timeout: config.body_read_timeout },
    };
    let state = Arc::new(HttpState::new(app.clone(), app, auth, metrics, config));
    transport::serve(listener, endpoint(state), limits, shutdown).await
}

/// Serves only `GET /metrics` on `listener` (a port of its own, `TELEMETRY_PROMETHEUS_PORT`)
/// until `shutdown` completes.
pub async fn serve_metrics(listener: TcpListener, metrics: Arc<Metrics>, shutdown: impl Future<Output = ()>) {
    let limits = TransportLimits {
        max_connections: 16,
        header_read_timeout: Duration::from_secs(10),
        shutdown_grace: Duration::from_secs(1),
        unread_body: UnreadBodyLimits { max_bytes: 1024, timeout: Duration::from_secs(1) },
    };
    transport::serve(listener, Route::new().at("/metrics", get(metrics_text)).data(metrics), limits, shutdown).await
}

/// Every route of the server, with the error envelope, deadline and telemetry around them.
fn endpoint(state: Arc<HttpState>) -> impl Endpoint + 'static {
    let config = &state.config;
    let (request_timeout, dialect) = (config.request_timeout, config.response_dialect);
    let body_limits = BodyLimits { max_bytes: config.max_body_bytes, read_timeout: config.body_read_timeout };
    let service = openapi_service();
    let metrics = state.metrics.clone();
    let observed = metrics.clone();
    let admin_state = state.clone();
    let cors = config.cors.clone();
    let mut routes = docs::routes(&service);
    if !config.metrics_apart {
        routes = routes.at("/metrics", get(metrics_text));
    }
    routes
        .nest("/", service.into_endpoint())
        // Outside the router: who may use the admin API is settled before its routes are matched
        // and their parameters parsed.
        .around(move |ep, req| admin::gate(ep, req, admin_state.clone()))
        .data(state)
        .data(metrics)
        .data(body_limits)
        .around(move |ep, req| deadline::deadline(ep, req, request_timeout))
        .around(fallback::envelope_errors)
        .around(move |ep, req| dialect::apply(ep, req, dialect))
        .around(move |ep, req| observe::observe(ep, req, observed.clone()))
        // Boxed here: the layers' nested types grow past what the compiler lays out by default
        // (one dynamic call per request, nothing measurable).
        .boxed()
        // Outermost: a preflight is answered before anything else looks at it, and every answer
        // of a browser route (errors too) carries the allowed origin.
        .around(move |ep, req| {
            let cors = cors.clone();
            async move { cors::cors(ep, req, &cors).await }
        })
}
