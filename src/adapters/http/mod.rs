//! The HTTP adapter (poem + poem-openapi): the API, its envelope and errors, the Relay check's
//! `401`s, the OpenAPI document and Swagger UI, and `/metrics`.
//!
//! One way in: [`serve`] with the use cases, the metrics registry, the Relay check and an
//! [`HttpConfig`]. Everything else is private to the adapter; the few items tests and the
//! command line need (the OpenAPI document, the body readers the property tests drive, the
//! documented patterns) are re-exported here.

mod admin;
mod admin_auth;
mod admin_dto;
mod api;
mod deadline;
mod dialect;
mod dto;
mod envelope;
mod fallback;
mod json_body;
mod nullable;
mod observe;
mod params;
mod preface;
mod rate_limit;
mod relay_auth;
mod request_id;
mod responses;
mod transport;

use std::{future::Future, sync::Arc, time::Duration};

use poem::{Endpoint, EndpointExt, IntoEndpoint, Route, get, handler, web::Data};
use poem_openapi::OpenApiService;
use tokio::net::TcpListener;

use admin::AdminApi;
use api::{Api, HttpState};
pub use dialect::ResponseDialect;
pub use dto::{json_object, read_notification, read_registration, send_field_path};
use json_body::BodyLimits;
pub use params::{CLIENT_ID_PATTERN, PROJECT_ID_PATTERN, SIGNATURE_PATTERN, TIMESTAMP_PATTERN};
use rate_limit::RateLimiter;
use transport::TransportLimits;

use crate::{
    app::{App, ClientAuth, RelayAuth},
    telemetry::Metrics,
};

const TITLE: &str = "push-server";
const DESCRIPTION: &str = "A push-notification gateway. Wallet apps register their APNS or FCM device token under \
their Relay client id; the Relay sends Ed25519-signed requests to notify a client; push-server checks the \
signature, de-duplicates and delivers through Apple or Google. Every JSON response uses the envelope \
`{\"status\":\"OK\"}` / `{\"status\":\"FAILED\",\"errors\":[...],\"fields\":[...]}`; with \
`RESPONSE_DIALECT=walletconnect`, success is `{\"status\":\"SUCCESS\"}` and each `errors[]` item also carries \
`message`, as the WalletConnect SDKs expect.";

/// The OpenAPI service: the source of `/openapi.json`, `/openapi.yaml`, `/docs` and the routes.
pub fn openapi_service() -> OpenApiService<(Api, AdminApi), ()> {
    OpenApiService::new((Api, AdminApi), TITLE, env!("CARGO_PKG_VERSION")).description(DESCRIPTION)
}

/// The OpenAPI document as JSON, exactly as `/openapi.json` serves it.
pub fn openapi_json() -> String {
    openapi_service().spec()
}

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
    pub admin_token: Option<String>,
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
    let state = Arc::new(HttpState {
        app,
        metrics,
        auth,
        limiter: RateLimiter::new(config.rate_limit_per_minute, config.rate_limit_burst, config.rate_limit_ipv6_prefix),
        client_ip_header: config.client_ip_header.clone(),
        trusted_proxies: config.trusted_proxies,
        client_auth: config.client_auth.clone(),
        admin_token: config.admin_token.clone(),
    });
    let limits = TransportLimits {
        max_connections: config.max_connections,
        header_read_timeout: config.header_read_timeout,
        shutdown_grace: config.shutdown_grace,
    };
    transport::serve(listener, endpoint(state, &config), limits, shutdown).await
}

/// Every route of the server, with the error envelope, deadline and telemetry around them.
fn endpoint(state: Arc<HttpState>, config: &HttpConfig) -> impl Endpoint + 'static {
    let request_timeout = config.request_timeout;
    let dialect = config.response_dialect;
    let service = openapi_service();
    let json = service.spec();
    let yaml = service.spec_yaml();
    let docs = service.swagger_ui();
    let metrics = state.metrics.clone();
    let observed = metrics.clone();
    Route::new()
        .at(
            "/openapi.json",
            get(poem::endpoint::make_sync(move |_| {
                poem::Response::builder().content_type("application/json; charset=utf-8").body(json.clone())
            })),
        )
        .at(
            "/openapi.yaml",
            get(poem::endpoint::make_sync(move |_| {
                poem::Response::builder().content_type("application/yaml; charset=utf-8").body(yaml.clone())
            })),
        )
        .nest("/docs", docs)
        .at("/metrics", get(metrics_text))
        .nest("/", service.into_endpoint())
        .data(state)
        .data(metrics)
        .data(BodyLimits { max_bytes: config.max_body_bytes, read_timeout: config.body_read_timeout })
        .around(move |ep, req| deadline::deadline(ep, req, request_timeout))
        .around(fallback::envelope_errors)
        .around(move |ep, req| dialect::apply(ep, req, dialect))
        .around(move |ep, req| observe::observe(ep, req, observed.clone()))
}
