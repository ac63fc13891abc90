//! The HTTP adapter (poem + poem-openapi): the API, its envelope and errors, the Relay signature
//! check, the OpenAPI document and Swagger UI, and `/metrics`.

mod api;
pub mod dto;
pub mod envelope;
mod fallback;
mod json_body;
mod observe;
pub mod relay_auth;
pub mod request_id;
mod responses;
pub mod signature;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, IntoEndpoint, Route, get, handler, web::Data};
use poem_openapi::OpenApiService;

pub use api::{Api, HttpState};
use json_body::BodyLimit;

use crate::app::Metrics;

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

/// Every route of the server, with the error envelope and telemetry around them.
pub fn endpoint(state: Arc<HttpState>, body_limit: usize) -> impl Endpoint + 'static {
    let service = openapi_service();
    let json = service.spec();
    let yaml = service.spec_yaml();
    let docs = service.swagger_ui();
    let metrics = state.app.metrics().clone();
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
        .data(BodyLimit(body_limit))
        .around(fallback::envelope_errors)
        .around(move |ep, req| observe::observe(ep, req, observed.clone()))
}
