//! The handler tests' harness: the adapter's whole endpoint (routes, extractors, answers, the
//! envelope and dialect around them) over mocked use cases, called in process. No socket, no
//! store, no provider, no clock is touched; what a handler asks of the use cases is what the
//! mocks expect.

use std::{sync::Arc, time::Duration};

use poem::{Endpoint, Request, http::Method};
use serde_json::Value;

use super::{HttpConfig, ResponseDialect, endpoint, state::HttpState};
use crate::{
    app::{
        ClientAuth, ClientAuthMode, MockAdminService, MockPushService, Providers, RelayAuth, RelayCheck,
        ResolvedProject,
    },
    domain::{Audiences, ProjectId, ProjectKey, PushType, Secret},
    ports::{MockClock, MockPushProvider},
    telemetry::Metrics,
};

/// The admin token of [`config`].
pub const ADMIN_TOKEN: &str = "s3cret";

/// The header the client address comes in (rate limiting needs one without a TCP peer).
pub const CLIENT_IP: &str = "X-Forwarded-For";

/// A server's configuration: generous limits, rate limiting off, client JWTs not looked at, the
/// admin API on.
pub fn config() -> HttpConfig {
    HttpConfig {
        max_body_bytes: 16 * 1024,
        body_read_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
        max_connections: 16,
        header_read_timeout: Duration::from_secs(10),
        shutdown_grace: Duration::from_secs(1),
        rate_limit_per_minute: 0,
        rate_limit_burst: 1,
        rate_limit_ipv6_prefix: 56,
        client_ip_header: Some(CLIENT_IP.to_owned()),
        trusted_proxies: 1,
        response_dialect: ResponseDialect::Spec,
        client_auth: client_auth(ClientAuthMode::Off),
        admin_token: Some(Secret::new(ADMIN_TOKEN.to_owned())),
        cors: Default::default(),
        metrics_apart: false,
    }
}

/// A client-auth policy whose clock must not be read: no test here carries a JWT.
pub fn client_auth(mode: ClientAuthMode) -> ClientAuth {
    ClientAuth::new(mode, Audiences::new(["http://localhost"]), Arc::new(MockClock::new()))
}

/// The Relay check as `check` says, with a clock that must not be read.
pub fn relay(check: RelayCheck) -> RelayAuth {
    RelayAuth::new(check, Duration::from_secs(300), Arc::new(MockClock::new()))
}

/// The adapter over these use cases.
pub struct Harness {
    pub state: Arc<HttpState>,
}

impl Harness {
    pub fn new(push: MockPushService, admin: MockAdminService, relay: RelayAuth, config: HttpConfig) -> Self {
        let metrics = Arc::new(Metrics::new(""));
        Self { state: Arc::new(HttpState::new(Arc::new(push), Arc::new(admin), relay, metrics, config)) }
    }

    /// Signature checks off, the default configuration.
    pub fn push(push: MockPushService) -> Self {
        Self::new(push, MockAdminService::new(), relay(RelayCheck::Disabled), config())
    }

    pub fn admin(admin: MockAdminService) -> Self {
        Self::new(MockPushService::new(), admin, relay(RelayCheck::Disabled), config())
    }

    /// Calls the endpoint with `method path`, a JSON `body` if any (declared as JSON unless
    /// `headers` say otherwise), and `headers`.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Answered {
        let mut req = Request::builder().method(method).uri(path.parse().expect("a path"));
        if body.is_some() && !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
            req = req.content_type("application/json");
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(body.map(|b| b.to_string()).unwrap_or_default());
        let resp = endpoint(self.state.clone()).get_response(req).await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.into_body().into_string().await.expect("a body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answered { status, headers, json }
    }
}

/// What the endpoint answered.
#[derive(Debug)]
pub struct Answered {
    pub status: u16,
    pub headers: poem::http::HeaderMap,
    pub json: Value,
}

impl Answered {
    /// `(field, location)` of each entry of the envelope's `fields`.
    pub fn fields(&self) -> Vec<(String, String)> {
        let fields = self.json["fields"].as_array().map(Vec::as_slice).unwrap_or_default();
        fields
            .iter()
            .map(|f| {
                (
                    f["field"].as_str().unwrap_or_default().to_owned(),
                    f["location"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The `name` of the envelope's first error.
    pub fn error(&self) -> &str {
        self.json["errors"][0]["name"].as_str().unwrap_or_default()
    }
}

/// The default project, served by an FCM provider that must never be called.
pub fn default_project() -> Arc<ResolvedProject> {
    project(ProjectKey::Default)
}

/// Project `id`, served like [`default_project`].
pub fn named_project(id: &str) -> Arc<ResolvedProject> {
    project(ProjectKey::Named(ProjectId::parse(id).expect("a project id")))
}

fn project(key: ProjectKey) -> Arc<ResolvedProject> {
    let mut fcm = MockPushProvider::new();
    fcm.expect_name().return_const("fcm");
    fcm.expect_send().never();
    // FCM takes any token the domain accepts (the port's default).
    fcm.expect_check_token().returning(|_| Ok(()));
    Arc::new(ResolvedProject::new(key, Providers::default().with(PushType::Fcm, Arc::new(fcm))))
}
