//! One APNS endpoint (production or sandbox): its pool of long-lived HTTP/2 connections and the
//! request that delivers one notification over it.
//!
//! Apple asks providers to keep connections open and reuse them (opening a connection per
//! request looks like a denial-of-service attack to APNS), and to open several for throughput:
//! each carries only as many concurrent streams as APNS allows. The pool (`push::pool`) does
//! both; when a connection drops, the next request dials anew.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

use crate::adapters::{
    egress::Egress,
    push::{
        pool::{Pool, PoolError, PoolLimits, TlsOptions},
        retry::parse_retry_after,
    },
};

/// How an endpoint's connections are set up.
pub struct ConnectionOptions<'a> {
    /// Bound on one request, waiting for a stream and connecting included.
    pub request_timeout: Duration,
    /// Client certificate (certificate auth) and extra trust anchors.
    pub tls: &'a TlsOptions,
    pub limits: PoolLimits,
    /// How the connections leave the machine.
    pub egress: &'a Egress,
}

/// Apple's documented answers are a few dozen bytes; a larger body is not APNS and is not read.
const MAX_ERROR_BODY_BYTES: usize = 16 * 1024;

/// One APNS base URL and the connections that talk to it.
pub struct Endpoint {
    pool: Pool,
    request_timeout: Duration,
}

/// What APNS answered, reduced to what the provider decides on.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// The `reason` of an error body (`{"reason": "BadDeviceToken"}`).
    pub reason: Option<String>,
    pub retry_after: Option<Duration>,
    /// The `apns-id` APNS gave the notification, for tracing a delivery with Apple's tools.
    pub apns_id: Option<String>,
}

/// Why no answer came.
#[derive(Debug)]
pub enum PostError {
    /// Too many sends are already waiting for a stream on this endpoint.
    Busy,
    /// Connect, reset or timeout, described without the URL (it holds the device token).
    Transport(String),
}

/// The headers every notification carries (besides `authorization`).
pub struct Headers<'a> {
    pub topic: &'a HeaderValue,
}

impl Endpoint {
    /// Validates `base` (an `http://` or `https://` URL) and sets up its pool. `http://` is
    /// HTTP/2 over cleartext with prior knowledge (local fakes), `https://` negotiates `h2` by
    /// ALPN; HTTP/1.1 is never offered, since APNS does not speak it.
    pub fn new(base: &str, options: &ConnectionOptions<'_>) -> Result<Self, String> {
        let pool = Pool::new(base, options.tls, options.limits, options.request_timeout, options.egress.clone())?;
        Ok(Self { pool, request_timeout: options.request_timeout })
    }

    pub fn base(&self) -> &str {
        self.pool.base()
    }

    /// `POST {base}/3/device/{device_token}` with the payload. `bearer` is the provider token
    /// (token auth) or `None` (certificate auth).
    pub async fn post(
        &self,
        device_token: &str,
        headers: &Headers<'_>,
        bearer: Option<&str>,
        body: Bytes,
    ) -> Result<Answer, PostError> {
        let mut map = HeaderMap::with_capacity(7);
        map.insert("apns-topic", headers.topic.clone());
        map.insert("apns-push-type", HeaderValue::from_static("alert"));
        map.insert("apns-priority", HeaderValue::from_static("10"));
        map.insert("content-type", HeaderValue::from_static("application/json"));
        map.insert("user-agent", HeaderValue::from_static(concat!("push-server/", env!("CARGO_PKG_VERSION"))));
        if let Some(jwt) = bearer {
            let mut value = HeaderValue::try_from(format!("bearer {jwt}"))
                .map_err(|_| PostError::Transport("the provider token is not header-safe".to_owned()))?;
            value.set_sensitive(true);
            map.insert("authorization", value);
        }
        let path = format!("/3/device/{device_token}");
        let answer = match tokio::time::timeout(self.request_timeout, self.pool.post(&path, &map, body)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(PoolError::Busy)) => return Err(PostError::Busy),
            Ok(Err(PoolError::Transport(reason))) => return Err(PostError::Transport(reason)),
            Err(_) => return Err(PostError::Transport("timed out".to_owned())),
        };
        let header = |name: &str| answer.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let retry_after = parse_retry_after(header("retry-after").as_deref());
        let apns_id = header("apns-id");
        let reason = if (200..300).contains(&answer.status) { None } else { reason_of(&answer.body) };
        Ok(Answer { status: answer.status, reason, retry_after, apns_id })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// The `reason` field of an APNS error body, if it has one.
fn reason_of(body: &[u8]) -> Option<String> {
    if body.len() > MAX_ERROR_BODY_BYTES {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("reason")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_come_from_the_json_body() {
        assert_eq!(reason_of(br#"{"reason":"BadDeviceToken"}"#).as_deref(), Some("BadDeviceToken"));
        assert_eq!(reason_of(br#"{"reason":"Unregistered","timestamp":1}"#).as_deref(), Some("Unregistered"));
        assert_eq!(reason_of(b"<html>bad gateway</html>"), None);
        assert_eq!(reason_of(b""), None);
    }

    fn options() -> ConnectionOptions<'static> {
        static TLS: std::sync::LazyLock<TlsOptions> = std::sync::LazyLock::new(TlsOptions::default);
        static DIRECT: std::sync::LazyLock<Egress> = std::sync::LazyLock::new(Egress::direct);
        ConnectionOptions {
            request_timeout: Duration::from_secs(1),
            tls: &TLS,
            limits: PoolLimits::default(),
            egress: &DIRECT,
        }
    }

    #[test]
    fn endpoints_must_be_http_urls() {
        assert!(Endpoint::new("https://api.push.apple.com", &options()).is_ok());
        assert_eq!(Endpoint::new("http://127.0.0.1:9/", &options()).unwrap().base(), "http://127.0.0.1:9");
        assert!(Endpoint::new("ftp://x", &options()).is_err());
        assert!(Endpoint::new("api.push.apple.com", &options()).is_err());
        assert!(Endpoint::new("https://x/?a=b", &options()).is_err());
    }
}
