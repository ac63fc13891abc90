//! `PushProvider` for Apple Push Notification service over HTTP/2: one provider serves `apns`
//! (production endpoint) and `apns-sandbox` (sandbox endpoint), with token (`.p8`) or certificate
//! (`.p12`/PEM) auth, bounded retries of transient failures and one provider-token refresh on 403.

pub mod certificate;
pub mod client;
pub mod config;
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
use http::HeaderValue;
use tracing::{Instrument, debug, error, info, info_span, warn};

pub use self::config::{
    ApnsAuth, ApnsConfig, ApnsConfigError, ApnsIdentity, DEFAULT_ENDPOINT, DEFAULT_SANDBOX_ENDPOINT, Environment,
    IdField,
};
use self::{
    client::{ConnectionOptions, Endpoint, Headers, PostError},
    errors::{Verdict, classify},
    token::{Clock, ProviderTokens, SystemClock, TokenSigner},
};
use super::{
    pool::{PoolStats, TlsOptions},
    render::render,
    retry::{Attempt, RetryPolicy},
};
use crate::{
    domain::{Delivery, PushType},
    ports::{Delivered, PushError, PushFailure, PushProvider},
};

const NAME: &str = "apns";

/// How the provider proves who it is.
enum Auth {
    /// A provider token in `authorization: bearer`, shared by both endpoints.
    Token(ProviderTokens),
    /// A TLS client certificate, set on the connections; requests carry no `authorization`.
    Certificate,
}

pub struct ApnsProvider {
    topic: HeaderValue,
    auth: Auth,
    production: Endpoint,
    sandbox: Endpoint,
    retry: RetryPolicy,
    placeholder_title: String,
    origin: String,
}

/// Checks credentials as [`ApnsProvider::new`] does, without setting a provider up (no endpoint,
/// no connection, no token): a topic that can be an `apns-topic`, Apple's ids, a key that signs
/// ES256, an identity that opens and whose key belongs to its certificate. Every problem found is
/// returned, not only the first.
pub fn check_credentials(topic: &str, auth: &ApnsAuth) -> Result<(), Vec<ApnsConfigError>> {
    let mut problems: Vec<ApnsConfigError> = topic_header(topic).err().into_iter().collect();
    match auth {
        ApnsAuth::Token { key_pem, key_id, team_id } => {
            problems.extend(check_id(IdField::KeyId, key_id).err());
            problems.extend(check_id(IdField::TeamId, team_id).err());
            problems.extend(TokenSigner::from_pem(key_pem, key_id, team_id).err().map(ApnsConfigError::Key));
        }
        ApnsAuth::Certificate(material) => problems.extend(certificate::identity(material).err().map(Into::into)),
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// The `apns-topic` header of a bundle id: printable ASCII without blanks.
fn topic_header(topic: &str) -> Result<HeaderValue, ApnsConfigError> {
    let topic = topic.trim();
    let refused = || ApnsConfigError::Topic(topic.to_owned());
    if topic.is_empty() || topic.chars().any(|c| c.is_whitespace() || c.is_control()) || !topic.is_ascii() {
        return Err(refused());
    }
    HeaderValue::from_str(topic).map_err(|_| refused())
}

/// Apple's key and team ids are letters and digits.
fn check_id(field: IdField, value: &str) -> Result<(), ApnsConfigError> {
    if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApnsConfigError::Id { field, value: value.to_owned() });
    }
    Ok(())
}

impl ApnsProvider {
    /// Checks the configuration and sets the provider up: a topic that is not a bundle id, ids
    /// that are not Apple's, a key that cannot sign ES256, an identity that does not open or whose
    /// key is not its certificate's, or a malformed endpoint is an error now rather than on every
    /// send. Credentials that are well formed but refused by Apple fail each send instead.
    pub fn new(config: ApnsConfig) -> Result<Self, ApnsConfigError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// As `new`, with the clock that dates provider tokens.
    pub fn with_clock(config: ApnsConfig, clock: Arc<dyn Clock>) -> Result<Self, ApnsConfigError> {
        let topic = topic_header(&config.topic)?;
        let mut identity = None;
        let auth = match &config.auth {
            ApnsAuth::Token { key_pem, key_id, team_id } => {
                check_id(IdField::KeyId, key_id)?;
                check_id(IdField::TeamId, team_id)?;
                let signer = TokenSigner::from_pem(key_pem, key_id, team_id).map_err(ApnsConfigError::Key)?;
                info!(key_id, team_id, "APNS token auth");
                Auth::Token(ProviderTokens::new(signer, clock))
            }
            ApnsAuth::Certificate(material) => {
                identity = Some(certificate::identity(material)?);
                info!("APNS certificate auth");
                Auth::Certificate
            }
        };

        let tls = TlsOptions { identity, extra_roots: config.extra_roots };
        let connection = ConnectionOptions {
            request_timeout: config.retry.attempt_timeout,
            tls: &tls,
            limits: config.pool,
            egress: &config.egress,
        };
        let endpoint = |environment, base: &str| {
            Endpoint::new(base, &connection).map_err(|reason| ApnsConfigError::Endpoint { environment, reason })
        };
        let production = endpoint(Environment::Production, &config.endpoint)?;
        let sandbox = endpoint(Environment::Sandbox, &config.sandbox_endpoint)?;
        info!(production = production.base(), sandbox = sandbox.base(), "APNS endpoints");
        Ok(Self {
            topic,
            auth,
            production,
            sandbox,
            retry: config.retry,
            placeholder_title: config.placeholder_title,
            origin: config.origin,
        })
    }

    /// The pools of the production and sandbox endpoints, as they are now.
    pub fn pool_stats(&self) -> (PoolStats, PoolStats) {
        (self.production.pool().stats(), self.sandbox.pool().stats())
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
            // Waiting sends are already over the bound: retrying would only add to the queue.
            Err(PostError::Busy) => return Attempt::Fail(PushError::Busy { provider: NAME }),
            Err(PostError::Transport(reason)) => return Attempt::Retry { error: unavailable(reason), after: None },
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
                reason: format!("{}: check the APNS topic and endpoints", reason()),
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
                    "APNS REFUSED THIS SERVER'S CREDENTIALS OR SETTINGS: every APNS notification fails until {} \
                     are fixed",
                    self.origin
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
                Err(PushFailure { error: PushError::Busy { .. }, .. }) => {
                    debug!("APNS busy: too many sends waiting for a stream")
                }
            }
            result.map(|(_, attempts)| Delivered { attempts })
        }
        .instrument(span)
        .await
    }
}
