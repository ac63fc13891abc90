//! The adapter's runtime state, shared by every handler as request data: the use cases (behind
//! traits, see `app::services`), the Relay check, the metrics, the rate limiter, and the
//! [`HttpConfig`] they were built from, kept whole rather than copied field by field.

use std::sync::Arc;

use poem::Request;

use super::{HttpConfig, error::ApiError, rate_limit::RateLimiter, rate_limit::client_ip};
use crate::{
    app::{AdminService, PushService, RelayAuth, ResolvedProject},
    telemetry::Metrics,
};

pub struct HttpState {
    pub push: Arc<dyn PushService>,
    pub admin: Arc<dyn AdminService>,
    pub relay: RelayAuth,
    pub metrics: Arc<Metrics>,
    /// Limits registrations and unregistrations per client IP; `None` when switched off.
    limiter: Option<RateLimiter>,
    pub config: HttpConfig,
}

impl HttpState {
    pub fn new(
        push: Arc<dyn PushService>,
        admin: Arc<dyn AdminService>,
        relay: RelayAuth,
        metrics: Arc<Metrics>,
        config: HttpConfig,
    ) -> Self {
        let limiter =
            RateLimiter::new(config.rate_limit_per_minute, config.rate_limit_burst, config.rate_limit_ipv6_prefix);
        Self { push, admin, relay, metrics, limiter, config }
    }

    /// `429` when the caller's address has used up its budget.
    pub fn rate_limit(&self, req: &Request) -> Result<(), ApiError> {
        let (Some(limiter), Some(ip)) =
            (&self.limiter, client_ip(req, self.config.client_ip_header.as_deref(), self.config.trusted_proxies))
        else {
            return Ok(());
        };
        limiter.check(ip).map_err(|wait| ApiError::rate_limited(wait.as_secs_f64().ceil().max(1.0) as u64))
    }

    /// The project a request addresses (`None`: the default routes): `404` when there is no such
    /// project, `503` when the project store cannot be reached.
    pub async fn project(&self, raw: Option<&str>) -> Result<Arc<ResolvedProject>, ApiError> {
        self.push.project(raw).await?.ok_or_else(ApiError::unknown_project)
    }

    /// `ADMIN_TOKEN`, exposed for the one comparison that needs it; `None` while the admin API
    /// is off.
    pub fn admin_token(&self) -> Option<&str> {
        self.config.admin_token.as_ref().map(|token| token.expose().as_str())
    }
}
