//! The API's own documentation: the OpenAPI service whose operations the routes are, the
//! document as JSON (`/openapi.json`) and YAML (`/openapi.yaml`), and Swagger UI (`/docs`).

use poem::{Endpoint, Route, get};
use poem_openapi::OpenApiService;

use super::{admin::AdminApi, routes::PublicApi};

const TITLE: &str = "push-server";
const DESCRIPTION: &str = "A push-notification gateway. Wallet apps register their APNS or FCM device token under \
their Relay client id; the Relay sends Ed25519-signed requests to notify a client; push-server checks the \
signature, de-duplicates and delivers through Apple or Google. Every JSON response uses the envelope \
`{\"status\":\"OK\"}` / `{\"status\":\"FAILED\",\"errors\":[...],\"fields\":[...]}`; with \
`RESPONSE_DIALECT=walletconnect`, success is `{\"status\":\"SUCCESS\"}` and each `errors[]` item also carries \
`message`, as the WalletConnect SDKs expect.";

/// The OpenAPI service: the source of the document, Swagger UI and the routes.
pub fn openapi_service() -> OpenApiService<(PublicApi, AdminApi), ()> {
    OpenApiService::new((PublicApi, AdminApi), TITLE, env!("CARGO_PKG_VERSION")).description(DESCRIPTION)
}

/// The OpenAPI document as JSON, exactly as `/openapi.json` serves it.
pub fn openapi_json() -> String {
    openapi_service().spec()
}

/// `/openapi.json`, `/openapi.yaml` and `/docs` of `service`, rendered once.
pub fn routes(service: &OpenApiService<(PublicApi, AdminApi), ()>) -> Route {
    let (json, yaml) = (service.spec(), service.spec_yaml());
    Route::new()
        .at("/openapi.json", get(text("application/json; charset=utf-8", json)))
        .at("/openapi.yaml", get(text("application/yaml; charset=utf-8", yaml)))
        .nest("/docs", service.swagger_ui())
}

fn text(content_type: &'static str, body: String) -> impl Endpoint {
    poem::endpoint::make_sync(move |_| poem::Response::builder().content_type(content_type).body(body.clone()))
}
