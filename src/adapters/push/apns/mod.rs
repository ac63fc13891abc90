//! `PushProvider` for Apple Push Notification service over HTTP/2: one provider serves `apns`
//! (production endpoint) and `apns-sandbox` (sandbox endpoint), with token (`.p8`) or certificate
//! (`.p12`/PEM) auth, bounded retries of transient failures and one provider-token refresh on 403.

pub mod certificate;
pub mod client;
pub mod errors;
pub mod token;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::header::HeaderValue;
use tracing::{Instrument, debug, error, info, info_span, warn};

use self::{
    client::{ConnectionOptions, Endpoint, Headers},
    errors::{Verdict, classify},
    token::{Clock, ProviderTokens, SystemClock, TokenSigner},
};
use super::{
    render::render,
    retry::{Attempt, RetryPolicy},
};
use crate::{
    bootstrap::settings::{ApnsSettings, ProviderSettings},
    domain::{Delivery, PushType},
    ports::{Delivered, PushError, PushFailure, PushProvider},
};

const NAME: &str = "apns";

pub const DEFAULT_ENDPOINT: &str = "https://api.push.apple.com";
pub const DEFAULT_SANDBOX_ENDPOINT: &str = "https://api.sandbox.push.apple.com";

/// How the provider proves who it is.
enum Auth {
    /// A provider token in `authorization: bearer`, shared by both endpoints.
    Token(ProviderTokens),
    /// A TLS client certificate, set on the connections; requests carry no `authorization`.
    Certificate,
}

/// What can be swapped in besides the settings: the clock of the provider-token cache and extra
/// trust anchors (for an APNS-compatible gateway with a private CA, and for TLS test servers).
pub struct Options {
    pub clock: Arc<dyn Clock>,
    pub extra_roots: Vec<reqwest::Certificate>,
}

impl Default for Options {
    fn default() -> Self {
        Self { clock: Arc::new(SystemClock), extra_roots: Vec::new() }
    }
}

pub struct ApnsProvider {
    topic: HeaderValue,
    auth: Auth,
    production: Endpoint,
    sandbox: Endpoint,
    retry: RetryPolicy,
    placeholder_title: String,
}

impl ApnsProvider {
    /// Checks the APNS settings and sets the provider up; an `Err` is a one-line reason for not
    /// starting. Token auth (`APNS_KEY_PATH`) and certificate auth (`APNS_CERT_PATH`) exclude each
    /// other: with both set, which one is in force would be a guess, so the server refuses.
    pub fn from_settings(settings: &ApnsSettings, provider: &ProviderSettings) -> Result<Self, String> {
        Self::from_settings_with(settings, provider, Options::default())
    }

    pub fn from_settings_with(
        settings: &ApnsSettings,
        provider: &ProviderSettings,
        options: Options,
    ) -> Result<Self, String> {
        if settings.key_path.is_some() && settings.cert_path.is_some() {
            return Err(
                "APNS_KEY_PATH (token auth) and APNS_CERT_PATH (certificate auth) are both set; set only one".into()
            );
        }
        let topic = match settings.topic.as_deref().map(str::trim) {
            None | Some("") => {
                return Err("APNS credentials are set but APNS_TOPIC (the app's bundle id) is not".into());
            }
            Some(t) => t,
        };
        if topic.chars().any(|c| c.is_whitespace() || c.is_control()) || !topic.is_ascii() {
            return Err(format!("APNS_TOPIC '{topic}' is not a bundle id"));
        }
        let topic = HeaderValue::from_str(topic).map_err(|_| format!("APNS_TOPIC '{topic}' is not a bundle id"))?;

        let mut identity = None;
        let auth = if let Some(path) = &settings.key_path {
            let (key_id, team_id) = match (non_empty(&settings.key_id), non_empty(&settings.team_id)) {
                (Some(k), Some(t)) => (k, t),
                _ => return Err("APNS_KEY_PATH is set; APNS_KEY_ID and APNS_TEAM_ID are needed with it".into()),
            };
            for (name, value) in [("APNS_KEY_ID", key_id), ("APNS_TEAM_ID", team_id)] {
                if !value.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!("{name} '{value}' must be letters and digits (Apple's 10-character id)"));
                }
            }
            let pem =
                std::fs::read(path).map_err(|e| format!("APNS_KEY_PATH {}: cannot be read: {e}", path.display()))?;
            let signer = TokenSigner::from_pem(&pem, key_id, team_id)
                .map_err(|e| format!("APNS_KEY_PATH {}: {e}", path.display()))?;
            info!(key_id, team_id, "APNS token auth");
            Auth::Token(ProviderTokens::new(signer, options.clock))
        } else if let Some(path) = &settings.cert_path {
            identity = Some(
                certificate::load(path, settings.cert_password.as_deref())
                    .map_err(|e| format!("APNS_CERT_PATH {}: {e}", path.display()))?,
            );
            info!("APNS certificate auth");
            Auth::Certificate
        } else {
            return Err("APNS needs APNS_KEY_PATH (token auth) or APNS_CERT_PATH (certificate auth)".into());
        };

        let connection = ConnectionOptions {
            request_timeout: provider.request_timeout,
            identity: identity.as_ref(),
            extra_roots: &options.extra_roots,
        };
        let production = Endpoint::new(settings.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT), &connection)
            .map_err(|e| format!("APNS_ENDPOINT: {e}"))?;
        let sandbox =
            Endpoint::new(settings.sandbox_endpoint.as_deref().unwrap_or(DEFAULT_SANDBOX_ENDPOINT), &connection)
                .map_err(|e| format!("APNS_SANDBOX_ENDPOINT: {e}"))?;
        info!(production = production.base(), sandbox = sandbox.base(), "APNS endpoints");
        Ok(Self {
            topic,
            auth,
            production,
            sandbox,
            retry: RetryPolicy::from_settings(provider),
            placeholder_title: settings.placeholder_title.clone(),
        })
    }

    /// One request and what it means. `refreshed` is set once this delivery has spent its one
    /// provider-token refresh.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        delivery: &Delivery,
        body: Bytes,
        refreshed: &AtomicBool,
    ) -> Attempt<Option<String>> {
        let bearer = match &self.auth {
            Auth::Token(tokens) => Some(tokens.current()),
            Auth::Certificate => None,
        };
        let headers = Headers { topic: &self.topic };
        let answer = match endpoint.post(delivery.token.expose(), &headers, bearer.as_deref(), body).await {
            Ok(answer) => answer,
            Err(reason) => return Attempt::Retry { error: unavailable(reason), after: None },
        };
        let reason = || match &answer.reason {
            Some(r) => format!("{r} (HTTP {})", answer.status),
            None => format!("HTTP {}", answer.status),
        };
        match classify(answer.status, answer.reason.as_deref()) {
            Verdict::Delivered => Attempt::Done(answer.apns_id),
            Verdict::DeadToken => Attempt::Fail(PushError::TokenUnregistered { provider: NAME, reason: reason() }),
            Verdict::BadPayload => Attempt::Fail(PushError::PayloadRejected { provider: NAME, reason: reason() }),
            Verdict::Transient => Attempt::Retry { error: unavailable(reason()), after: answer.retry_after },
            Verdict::Misconfigured => Attempt::Fail(PushError::Credentials {
                provider: NAME,
                reason: format!("{}: check APNS_TOPIC and the APNS endpoints", reason()),
            }),
            Verdict::AuthRejected => {
                let error = PushError::Credentials { provider: NAME, reason: reason() };
                match (&self.auth, bearer) {
                    // One fresh token per delivery: it cures an expired token (a clock jump, a
                    // machine that slept); a fresh token refused again means the key is wrong.
                    (Auth::Token(tokens), Some(jwt))
                        if !refreshed.swap(true, Ordering::SeqCst) && tokens.refresh_rejected(&jwt) =>
                    {
                        Attempt::Retry { error, after: Some(Duration::ZERO) }
                    }
                    _ => Attempt::Fail(error),
                }
            }
            Verdict::Unexpected => Attempt::Fail(unavailable(format!("{}: not an APNS answer", reason()))),
        }
    }
}

fn unavailable(reason: String) -> PushError {
    PushError::Unavailable { provider: NAME, reason }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[async_trait]
impl PushProvider for ApnsProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, delivery: &Delivery) -> Result<Delivered, PushFailure> {
        let endpoint = match delivery.push_type {
            PushType::Apns => &self.production,
            PushType::ApnsSandbox => &self.sandbox,
            other => {
                return Err(PushFailure::before_sending(unavailable(format!(
                    "APNS cannot deliver to push type '{other}'"
                ))));
            }
        };
        // Rendering enforces the 4 KiB limit, so an oversized message never reaches APNS.
        let message = render(delivery, &self.placeholder_title, NAME).map_err(PushFailure::before_sending)?;
        let body = Bytes::from(serde_json::to_vec(&message).expect("JSON values serialize"));
        let span = info_span!(
            "apns.send",
            client_id = %delivery.client_id,
            notification_id = %delivery.notification.id,
            push_type = %delivery.push_type,
            token = %delivery.token,
        );
        async {
            let refreshed = AtomicBool::new(false);
            let result = self.retry.run(|_| self.attempt(endpoint, delivery, body.clone(), &refreshed)).await;
            match &result {
                Ok((apns_id, _)) => {
                    debug!(apns_id = apns_id.as_deref().unwrap_or(""), "APNS accepted the notification")
                }
                Err(PushFailure { error: PushError::Credentials { reason, .. }, .. }) => error!(
                    reason = %reason,
                    "APNS REFUSED THIS SERVER'S CREDENTIALS OR SETTINGS: every APNS notification fails until \
                     APNS_KEY_PATH/APNS_KEY_ID/APNS_TEAM_ID (or APNS_CERT_PATH), APNS_TOPIC and the endpoints are fixed"
                ),
                Err(PushFailure { error: PushError::Unavailable { reason, .. }, .. }) => {
                    warn!(reason = %reason, "APNS unavailable")
                }
                Err(PushFailure { error: PushError::TokenUnregistered { reason, .. }, .. }) => {
                    info!(reason = %reason, "APNS says the device token is dead")
                }
                Err(PushFailure { error: PushError::PayloadRejected { reason, .. }, .. }) => {
                    warn!(reason = %reason, "APNS refused the payload")
                }
            }
            result.map(|(_, attempts)| Delivered { attempts })
        }
        .instrument(span)
        .await
    }
}
