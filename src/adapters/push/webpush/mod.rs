//! `PushProvider` for Web Push and UnifiedPush (RFC 8030): each message is encrypted to the
//! subscription's keys (RFC 8291 `aes128gcm`, one record), signed for with the project's VAPID key
//! (RFC 8292) and POSTed to the subscription's endpoint, through the endpoint guard.
//!
//! Layout: `guard` decides which endpoints may be called and resolves them, `vapid` holds the key
//! and the per-origin JWTs, `transport` keeps the per-origin connections, and this file encrypts,
//! sends with bounded retries and sorts the push service's answers into the port's classes.
//! The encryption itself is web-push-native's (RustCrypto, no I/O); the rest is ours, so every
//! connection goes through the guard and `Egress`.

pub mod guard;
pub mod transport;
pub mod vapid;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use web_push_native::{Auth, p256::PublicKey};

pub use self::{
    guard::{AllowedHost, Guard, Resolve, SystemResolver},
    transport::{Transport, TransportError, TransportStats},
    vapid::{Vapid, VapidKey, check_subject},
};
use super::{
    pool::{PoolLimits, TlsOptions},
    render::render,
    retry::{Attempt, RetryPolicy, parse_retry_after},
};
use crate::{
    adapters::egress::Egress,
    domain::{Delivery, DeviceToken, WebPushSubscription},
    ports::{Delivered, PushError, PushFailure, PushProvider},
};

const NAME: &str = "webpush";

/// `TTL` when none is configured: four weeks, the longest most push services keep a message.
pub const DEFAULT_TTL_SECS: u64 = 2_419_200;

/// What a Web Push provider is built from.
pub struct WebPushConfig {
    pub key: VapidKey,
    /// `mailto:` or `https:` (checked by `new`).
    pub subject: String,
    /// The `TTL` header: how long the push service keeps an undelivered message.
    pub ttl_secs: u64,
    pub guard: Guard,
    pub resolver: Arc<dyn Resolve>,
    pub retry: RetryPolicy,
    pub pool: PoolLimits,
    pub tls: TlsOptions,
    pub egress: Egress,
    /// Where the key comes from, for the log when push services refuse it.
    pub origin: String,
}

pub struct WebPushProvider {
    vapid: Vapid,
    ttl: HeaderValue,
    guard: Guard,
    resolver: Arc<dyn Resolve>,
    transport: Transport,
    policy: RetryPolicy,
    origin: String,
}

/// How one attempt ended, before it becomes a retry decision.
#[derive(Debug)]
enum Failure {
    Gone(String),
    TooLarge(String),
    Refused(String),
    Transient { reason: String, retry_after: Option<Duration> },
    Final(String),
    Busy,
}

impl WebPushProvider {
    pub fn new(config: WebPushConfig) -> Result<Self, String> {
        check_subject(&config.subject).map_err(|e| format!("the VAPID subject {e}"))?;
        let connect_timeout = config.retry.attempt_timeout.min(Duration::from_secs(5));
        let transport = Transport::new(config.pool, connect_timeout, &config.tls, config.egress)?;
        let ttl = HeaderValue::from(config.ttl_secs);
        tracing::info!(public_key = %config.key.public_key_base64url(), subject = %config.subject, "Web Push provider ready");
        Ok(Self {
            vapid: Vapid::new(config.key, config.subject),
            ttl,
            guard: config.guard,
            resolver: config.resolver,
            transport,
            policy: config.retry,
            origin: config.origin,
        })
    }

    /// The VAPID public key pages subscribe with (base64url).
    pub fn public_key(&self) -> String {
        self.vapid.key().public_key_base64url()
    }

    pub fn transport_stats(&self) -> TransportStats {
        self.transport.stats()
    }

    /// The encrypted body and the request headers for `delivery`, or why it cannot be sent
    /// (refused before any connection).
    fn prepare(&self, delivery: &Delivery) -> Result<(guard::Endpoint, HeaderMap, Bytes), PushError> {
        let subscription = delivery.token.web_push_subscription().ok_or_else(|| PushError::TokenUnregistered {
            provider: NAME,
            reason: "the stored token is not a Web Push subscription".into(),
        })?;
        let endpoint = self.guard.check_url(subscription.endpoint()).map_err(|reason| PushError::Unavailable {
            provider: NAME,
            reason: format!("endpoint refused: {reason}"),
        })?;
        let message = render(delivery, "", NAME)?;
        let ua_public =
            user_agent_key(&subscription).map_err(|reason| PushError::TokenUnregistered { provider: NAME, reason })?;
        let plaintext = serde_json::to_vec(&message).expect("JSON values serialize");
        let auth: [u8; 16] = subscription.auth().try_into().expect("the domain keeps auth at 16 bytes");
        let body = web_push_native::encrypt(plaintext, &ua_public, &Auth::from(auth))
            .map_err(|e| PushError::PayloadRejected { provider: NAME, reason: format!("cannot encrypt: {e}") })?;
        let mut headers = HeaderMap::with_capacity(6);
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("aes128gcm"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        headers.insert("ttl", self.ttl.clone());
        headers.insert("urgency", HeaderValue::from_static("high"));
        headers
            .insert(header::USER_AGENT, HeaderValue::from_static(concat!("push-server/", env!("CARGO_PKG_VERSION"))));
        let mut authorization = HeaderValue::try_from(self.vapid.authorization(&endpoint.origin())).map_err(|_| {
            PushError::Unavailable { provider: NAME, reason: "the VAPID authorization is not header-safe".into() }
        })?;
        authorization.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, authorization);
        Ok((endpoint, headers, Bytes::from(body)))
    }

    async fn try_once(&self, endpoint: &guard::Endpoint, headers: HeaderMap, body: Bytes) -> Result<(), Failure> {
        let answer = self.transport.post(&self.guard, self.resolver.as_ref(), endpoint, headers, body).await.map_err(
            |e| match e {
                TransportError::Busy => Failure::Busy,
                TransportError::Refused(reason) => Failure::Final(format!("endpoint refused: {reason}")),
                TransportError::Failed(reason) => Failure::Transient { reason, retry_after: None },
            },
        )?;
        let status = answer.status;
        if (200..300).contains(&status) {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)]).trim().to_owned();
        let reason = if said.is_empty() { format!("HTTP {status}") } else { format!("HTTP {status}: {said}") };
        Err(match status {
            404 | 410 => Failure::Gone(reason),
            413 => Failure::TooLarge(reason),
            400 | 401 | 403 => Failure::Refused(reason),
            429 | 500..=599 => Failure::Transient {
                reason,
                retry_after: parse_retry_after(answer.headers.get("retry-after").and_then(|v| v.to_str().ok())),
            },
            _ => Failure::Final(reason),
        })
    }

    async fn attempt(&self, n: u32, endpoint: &guard::Endpoint, headers: &HeaderMap, body: &Bytes) -> Attempt<()> {
        let outcome = match tokio::time::timeout(
            self.policy.attempt_timeout,
            self.try_once(endpoint, headers.clone(), body.clone()),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::Transient { reason: "attempt timed out".into(), retry_after: None }),
        };
        let failure = match outcome {
            Ok(()) => return Attempt::Done(()),
            Err(failure) => failure,
        };
        tracing::debug!(attempt = n, ?failure, "Web Push attempt failed");
        match failure {
            Failure::Gone(reason) => Attempt::Fail(PushError::TokenUnregistered { provider: NAME, reason }),
            Failure::TooLarge(reason) => Attempt::Fail(PushError::PayloadRejected { provider: NAME, reason }),
            Failure::Refused(reason) => Attempt::Fail(PushError::Credentials { provider: NAME, reason }),
            Failure::Transient { reason, retry_after } => {
                Attempt::Retry { error: PushError::Unavailable { provider: NAME, reason }, after: retry_after }
            }
            Failure::Final(reason) => Attempt::Fail(PushError::Unavailable { provider: NAME, reason }),
            Failure::Busy => Attempt::Fail(PushError::Busy { provider: NAME }),
        }
    }
}

/// The subscription's public key as a curve point (the domain checked only its shape).
fn user_agent_key(subscription: &WebPushSubscription) -> Result<PublicKey, String> {
    PublicKey::from_sec1_bytes(subscription.p256dh())
        .map_err(|_| "the subscription's p256dh is not a point on P-256".to_owned())
}

#[async_trait]
impl PushProvider for WebPushProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, delivery: &Delivery) -> Result<Delivered, PushFailure> {
        let (endpoint, headers, body) = self.prepare(delivery).map_err(PushFailure::before_sending)?;
        let result = self.policy.run_within_total(NAME, |n| self.attempt(n, &endpoint, &headers, &body)).await;
        if let Err(PushFailure { error: PushError::Credentials { reason, .. }, .. }) = &result {
            tracing::error!(
                %reason,
                origin = %endpoint.origin(),
                "A PUSH SERVICE REFUSED THE VAPID AUTHORIZATION: check {}; the client is kept",
                self.origin
            );
        }
        result.map(|(_, attempts)| Delivered { attempts })
    }

    /// The subscription's key is a P-256 point, and the endpoint passes the guard: its URL, and
    /// the addresses its host resolves to now (checked again at each new connection).
    async fn check_token(&self, token: &DeviceToken) -> Result<(), String> {
        let subscription = token.web_push_subscription().ok_or("the token is not a Web Push subscription")?;
        user_agent_key(&subscription)?;
        let endpoint = self.guard.check_url(subscription.endpoint())?;
        self.guard.resolve(self.resolver.as_ref(), &endpoint).await.map(|_| ())
    }
}
