//! One APNS endpoint (production or sandbox): a long-lived HTTP/2 connection and the request that
//! delivers one notification over it.
//!
//! A `reqwest::Client` built for HTTP/2 only keeps a single connection per host and multiplexes
//! every request on it, which is what Apple asks of providers (opening a connection per request
//! looks like a denial-of-service attack to APNS). When the connection drops, the pool notices and
//! the next request dials anew.

use std::{error::Error as _, time::Duration};

use bytes::Bytes;
use reqwest::{Certificate, Identity, Url, header::HeaderValue, redirect};

use crate::adapters::push::retry::parse_retry_after;

/// Apple's documented answers are a few dozen bytes; a larger body is not APNS and is not read.
const MAX_ERROR_BODY_BYTES: usize = 16 * 1024;

/// HTTP/2 pings on the idle connection: a connection that a NAT or load balancer silently dropped
/// is found between notifications, not by the next notification's timeout.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How an endpoint's connection is set up.
pub struct ConnectionOptions<'a> {
    /// Bound on one request, connecting included.
    pub request_timeout: Duration,
    /// Certificate auth: the TLS client identity.
    pub identity: Option<&'a Identity>,
    /// Extra trust anchors besides the system's (an APNS-compatible gateway or a test server).
    pub extra_roots: &'a [Certificate],
}

/// One APNS base URL and the client (and so the connection) that talks to it.
pub struct Endpoint {
    base: String,
    http: reqwest::Client,
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

/// The headers every notification carries (besides `authorization`).
pub struct Headers<'a> {
    pub topic: &'a HeaderValue,
}

impl Endpoint {
    /// Validates `base` (an `http://` or `https://` URL) and builds its client. `http://` is
    /// HTTP/2 over cleartext with prior knowledge (local fakes), `https://` negotiates `h2` by
    /// ALPN; HTTP/1.1 is never offered, since APNS does not speak it.
    pub fn new(base: &str, options: &ConnectionOptions<'_>) -> Result<Self, String> {
        let url = Url::parse(base).map_err(|e| format!("'{base}' is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("'{base}' must be an http:// or https:// URL with a host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("'{base}' must not have a query or fragment"));
        }
        let mut builder = reqwest::Client::builder()
            .http2_prior_knowledge()
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout)
            // The connection should live as long as the server; keep-alive pings detect a dead one.
            .pool_idle_timeout(None)
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .http2_keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .http2_keep_alive_while_idle(true)
            // APNS never redirects; following one would carry the provider token elsewhere.
            .redirect(redirect::Policy::none())
            .user_agent(concat!("push-server/", env!("CARGO_PKG_VERSION")));
        if let Some(identity) = options.identity {
            builder = builder.identity(identity.clone());
        }
        for root in options.extra_roots {
            builder = builder.add_root_certificate(root.clone());
        }
        let http = builder.build().map_err(|e| format!("cannot set up the HTTP/2 client: {}", chain(&e)))?;
        Ok(Self { base: base.trim_end_matches('/').to_owned(), http })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST {base}/3/device/{device_token}` with the payload. `bearer` is the provider token
    /// (token auth) or `None` (certificate auth). An `Err` is a transport failure (connect,
    /// reset, timeout), described without the URL, since the URL holds the device token.
    pub async fn post(
        &self,
        device_token: &str,
        headers: &Headers<'_>,
        bearer: Option<&str>,
        body: Bytes,
    ) -> Result<Answer, String> {
        let mut request = self
            .http
            .post(format!("{}/3/device/{device_token}", self.base))
            .header("apns-topic", headers.topic.clone())
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .header("content-type", "application/json")
            .body(body);
        if let Some(jwt) = bearer {
            request = request.header("authorization", format!("bearer {jwt}"));
        }
        let response = request.send().await.map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let retry_after = parse_retry_after(header("retry-after").as_deref());
        let apns_id = header("apns-id");
        let reason = if response.status().is_success() {
            None
        } else {
            let body = response.bytes().await.map_err(|e| describe(&e))?;
            reason_of(&body)
        };
        Ok(Answer { status, reason, retry_after, apns_id })
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

/// A transport error in one line, without the request URL (it contains the device token).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    match e.source() {
        Some(source) => format!("{kind}: {}", chain(source)),
        None => kind.to_owned(),
    }
}

/// An error and its sources, joined; reqwest's own `Display` names only the outermost layer.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
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
        ConnectionOptions { request_timeout: Duration::from_secs(1), identity: None, extra_roots: &[] }
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
