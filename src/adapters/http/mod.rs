//! The HTTP adapter (poem + poem-openapi): the API, its envelope and errors, the Relay signature
//! check, the OpenAPI document and Swagger UI, and `/metrics`.

mod api;
mod deadline;
pub mod dto;
pub mod envelope;
mod fallback;
mod json_body;
mod observe;
pub mod params;
mod rate_limit;
pub mod relay_auth;
pub mod request_id;
mod responses;
pub mod signature;
pub mod transport;

use std::{sync::Arc, time::Duration};

use poem::{Endpoint, EndpointExt, IntoEndpoint, Route, get, handler, web::Data};
use poem_openapi::OpenApiService;

pub use api::{Api, HttpState};
use json_body::BodyLimits;
pub use rate_limit::RateLimiter;

use crate::telemetry::Metrics;

const TITLE: &str = "push-server";
const DESCRIPTION: &str = "A push-notification gateway. Wallet apps register their APNS or FCM device token under \
their Relay client id; the Relay sends Ed25519-signed requests to notify a client; push-server checks the \
signature, de-duplicates and delivers through Apple or Google. Every JSON response uses the envelope \
`{\"status\":\"OK\"}` / `{\"status\":\"FAILED\",\"errors\":[...],\"fields\":[...]}`.";

/// The OpenAPI service: the source of `/openapi.json`, `/openapi.yaml`, `/docs` and the routes.
pub fn openapi_service() -> OpenApiService<Api, ()> {
    OpenApiService::new(Api, TITLE, env!("CARGO_PKG_VERSION")).description(DESCRIPTION)
}

/// The OpenAPI document as JSON, exactly as `/openapi.json` serves it.
pub fn openapi_json() -> String {
    openapi_service().spec()
}

#[handler]
fn metrics_text(metrics: Data<&Arc<Metrics>>) -> poem::Response {
    poem::Response::builder().content_type("text/plain; version=0.0.4; charset=utf-8").body(metrics.render())
}

/// Per-request bounds applied by the adapter.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_body_bytes: usize,
    pub body_read_timeout: Duration,
    pub request_timeout: Duration,
}

/// Every route of the server, with the error envelope, deadline and telemetry around them.
pub fn endpoint(state: Arc<HttpState>, limits: RequestLimits) -> impl Endpoint + 'static {
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
        .data(BodyLimits { max_bytes: limits.max_body_bytes, read_timeout: limits.body_read_timeout })
        .around(move |ep, req| deadline::deadline(ep, req, limits.request_timeout))
        .around(fallback::envelope_errors)
        .around(move |ep, req| observe::observe(ep, req, observed.clone()))
}
