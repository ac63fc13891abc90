//! `PushProvider` for Firebase Cloud Messaging over the HTTP v1 API
//! (`POST {endpoint}/v1/projects/{project}/messages:send`), authenticated with a service
//! account's OAuth access token.
//!
//! Layout: `config` is what a provider is built from, `credentials` parses the service-account
//! JSON, `assertion` signs the JWT that `oauth` trades for access tokens (cached by
//! `token_cache`), `errors` sorts FCM's answers into the port's error classes, and this file sends
//! with bounded retries.

mod assertion;
mod config;
pub(crate) mod credentials;
mod errors;
mod oauth;
mod token_cache;

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

pub use self::{
    config::{DEFAULT_ENDPOINT, FcmConfig, FcmConfigError},
    credentials::{InvalidServiceAccount, ServiceAccount},
};
use self::{errors::Failure, oauth::OAuth, token_cache::AccessToken};
use super::{
    pool::{Pool, PoolError, PoolStats, TlsOptions},
    render::render,
    retry::{Attempt, RetryPolicy},
};
use crate::{
    domain::Delivery,
    ports::{Delivered, PushError, PushFailure, PushProvider},
};

const NAME: &str = "fcm";

/// How messages reach FCM.
enum Transport {
    /// The HTTP/2 pool: `https://` (ALPN `h2`), or `http://` with `cleartext_http2`.
    Pooled(Pool),
    /// Plain HTTP/1.1 to an `http://` endpoint (the local test fakes).
    Http1(reqwest::Client),
}

pub struct FcmProvider {
    transport: Transport,
    /// `{endpoint}/v1/projects/{project}/messages:send`, built once.
    send_url: String,
    /// The same, without the endpoint: what the pool is asked for.
    send_path: String,
    oauth: OAuth,
    policy: RetryPolicy,
    origin: String,
}

/// Checks a Firebase project id as [`FcmProvider::new`] does, without setting a provider up.
/// Project ids are lowercase letters, digits and hyphens (older ones `domain:name`); the check
/// keeps a typo from turning into a different URL path.
pub fn check_project_id(project: &str) -> Result<(), FcmConfigError> {
    if project.is_empty() || !project.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':' | '_')) {
        return Err(FcmConfigError::ProjectId(project.to_owned()));
    }
    Ok(())
}

impl FcmProvider {
    /// Builds the provider, refusing a configuration that cannot work (a project id that is not
    /// Firebase's, a malformed endpoint). Credentials that are well formed but refused by Google
    /// do not stop it; each send then fails with `Credentials`.
    pub fn new(config: FcmConfig) -> Result<Self, FcmConfigError> {
        let FcmConfig {
            service_account: account,
            project_id: project,
            endpoint,
            retry,
            pool,
            cleartext_http2,
            egress,
            origin,
        } = config;
        check_project_id(&project)?;
        let endpoint = endpoint.trim_end_matches('/');
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(FcmConfigError::Endpoint(endpoint.to_owned()));
        }
        let send_path = format!("/v1/projects/{project}/messages:send");
        let send_url = format!("{endpoint}{send_path}");
        // The token endpoint is called about once an hour: reqwest (HTTP/1.1 or h2 by ALPN) is
        // plenty there. Messages go through the pool, except to an http:// endpoint spoken to as
        // HTTP/1.1 (the local fakes). Both take the egress route, and only it: reqwest's own
        // reading of the proxy variables is off.
        let http = egress
            .configure(reqwest::Client::builder())
            .timeout(retry.attempt_timeout)
            .connect_timeout(retry.attempt_timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("push-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FcmConfigError::HttpClient(e.to_string()))?;
        tracing::info!(%send_url, token_uri = %account.token_uri, client_email = %account.client_email, "FCM provider ready");
        let transport = if endpoint.starts_with("https://") || cleartext_http2 {
            let connect_timeout = retry.attempt_timeout.min(Duration::from_secs(5));
            let pool = Pool::new(endpoint, &TlsOptions::default(), pool, connect_timeout, egress)
                .map_err(FcmConfigError::Pool)?;
            Transport::Pooled(pool)
        } else {
            Transport::Http1(http.clone())
        };
        Ok(Self { oauth: OAuth::new(http, account), transport, send_url, send_path, policy: retry, origin })
    }

    /// The message pool, as it is now (`None` over HTTP/1.1).
    pub fn pool_stats(&self) -> Option<PoolStats> {
        match &self.transport {
            Transport::Pooled(pool) => Some(pool.stats()),
            Transport::Http1(_) => None,
        }
    }

    /// One attempt: get an access token, POST the message, classify the answer. The token used
    /// comes back with a failure so that a refused one can be invalidated.
    async fn try_once(&self, body: Bytes) -> Result<(), (Failure, Option<AccessToken>)> {
        let token = self.oauth.token().await.map_err(|f| (f, None))?;
        let mut auth = HeaderValue::try_from(format!("Bearer {}", token.expose())).map_err(|_| {
            (Failure::Credentials("the token endpoint issued an access token that is not header-safe".into()), None)
        })?;
        // Keeps the token out of any debug output of the HTTP stack.
        auth.set_sensitive(true);
        let (status, retry_after, body) = match &self.transport {
            Transport::Pooled(pool) => {
                let mut headers = http::HeaderMap::with_capacity(3);
                headers.insert(AUTHORIZATION, auth);
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                headers.insert(
                    http::header::USER_AGENT,
                    HeaderValue::from_static(concat!("push-server/", env!("CARGO_PKG_VERSION"))),
                );
                let answer = pool.post(&self.send_path, &headers, body).await.map_err(|e| match e {
                    PoolError::Busy => (Failure::Busy, None),
                    PoolError::Transport(reason) => {
                        (Failure::Transient { reason: format!("FCM: {reason}"), retry_after: None }, None)
                    }
                })?;
                let retry_after = answer.headers.get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                (answer.status, retry_after, answer.body)
            }
            Transport::Http1(http) => {
                let response = http
                    .post(&self.send_url)
                    .header(AUTHORIZATION, auth)
                    .header(CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| (errors::transport("FCM", &e), None))?;
                let status = response.status().as_u16();
                let retry_after =
                    response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let body = if response.status().is_success() {
                    Bytes::new()
                } else {
                    response.bytes().await.unwrap_or_default()
                };
                (status, retry_after, body)
            }
        };
        if (200..300).contains(&status) {
            return Ok(());
        }
        Err((errors::classify_send(status, retry_after.as_deref(), &body), Some(token)))
    }

    /// One attempt, bounded in time and turned into what the retry loop should do next.
    async fn attempt(&self, n: u32, body: Bytes, refreshed: &AtomicBool) -> Attempt<()> {
        let outcome = match tokio::time::timeout(self.policy.attempt_timeout, self.try_once(body)).await {
            Ok(outcome) => outcome,
            Err(_) => Err((Failure::Transient { reason: "FCM: attempt timed out".into(), retry_after: None }, None)),
        };
        let (failure, token) = match outcome {
            Ok(()) => return Attempt::Done(()),
            Err(failed) => failed,
        };
        tracing::debug!(attempt = n, ?failure, "FCM attempt failed");
        match failure {
            Failure::Unregistered(reason) => Attempt::Fail(PushError::TokenUnregistered { provider: NAME, reason }),
            Failure::PayloadRejected(reason) => Attempt::Fail(PushError::PayloadRejected { provider: NAME, reason }),
            Failure::Credentials(reason) => match token {
                // FCM refused an access token: it may have been revoked or rotated early. Fetch a
                // new one and try once more; a second refusal is final.
                Some(token) if !refreshed.swap(true, Ordering::SeqCst) => {
                    self.oauth.invalidate(&token).await;
                    Attempt::Retry {
                        error: PushError::Credentials { provider: NAME, reason },
                        after: Some(Duration::ZERO),
                    }
                }
                // Refused again, or the token endpoint refused our assertion (the same assertion
                // would be refused again).
                _ => Attempt::Fail(PushError::Credentials { provider: NAME, reason }),
            },
            Failure::Transient { reason, retry_after } => {
                Attempt::Retry { error: PushError::Unavailable { provider: NAME, reason }, after: retry_after }
            }
            Failure::Unexpected(reason) => Attempt::Fail(PushError::Unavailable { provider: NAME, reason }),
            // Waiting sends are already over the bound: retrying would only add to the queue.
            Failure::Busy => Attempt::Fail(PushError::Busy { provider: NAME }),
        }
    }
}

/// The v1 request body: the rendered message with the device token added.
fn request_body(message: Value, token: &str) -> Bytes {
    let mut message = message;
    if let Value::Object(m) = &mut message {
        m.insert("token".into(), token.into());
    }
    serde_json::to_vec(&json!({ "message": message })).expect("JSON values serialize").into()
}

#[async_trait]
impl PushProvider for FcmProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, delivery: &Delivery) -> Result<Delivered, PushFailure> {
        // The size limit is checked here, before any network call; the placeholder title is an
        // APNS notion and unused for FCM.
        let message = render(delivery, "", NAME).map_err(PushFailure::before_sending)?;
        let body = request_body(message, delivery.token.expose());
        let refreshed = AtomicBool::new(false);
        // `Bytes` so each attempt shares the one serialized body instead of copying it.
        let result = self.policy.run_within_total(NAME, |n| self.attempt(n, body.clone(), &refreshed)).await;
        if let Err(PushFailure { error: PushError::Credentials { reason, .. }, .. }) = &result {
            tracing::error!(
                %reason,
                "FCM REFUSED THE SERVICE-ACCOUNT CREDENTIALS: check {}; every FCM send fails until fixed",
                self.origin
            );
        }
        result.map(|(_, attempts)| Delivered { attempts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_inside_the_message() {
        let body = request_body(json!({"data": {"topic": "t"}, "android": {"priority": "HIGH"}}), "tok");
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"message": {"data": {"topic": "t"}, "android": {"priority": "HIGH"}, "token": "tok"}})
        );
    }
}
