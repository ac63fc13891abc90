//! The one fake provider, for the tests and the benchmark alike: a loopback server
//! ([`FakeProvider`], in `server.rs`) that records each request and answers it from a script or
//! a responder, and the provider-specific layers over it: what APNS answers and how its provider
//! tokens are checked (`apns.rs`), what FCM and Google's token endpoint answer and how the OAuth
//! assertion is checked (`fcm.rs`), what a Web Push service answers and how a browser decrypts
//! and checks what it gets (`webpush.rs`).

pub mod apns;
pub mod fcm;
mod server;
pub mod webpush;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Version, request::Parts};
use serde_json::Value;

pub use server::{ConnectionStats, FakeProvider, Options};

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Which TCP connection (0, 1, ...) carried it.
    pub connection: usize,
    /// The DER of the client certificate, on TLS connections that presented one.
    pub client_cert: Option<Vec<u8>>,
}

impl Recorded {
    fn new(parts: Parts, body: Vec<u8>, connection: usize, client_cert: Option<Vec<u8>>) -> Self {
        Self {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            version: parts.version,
            headers: parts.headers,
            body,
            connection,
            client_cert,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }

    /// The JWT of `authorization: bearer <jwt>`.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("bearer ")
    }
}

/// How the fake answers one request: a status, headers and a body, sent after `delay`.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub delay: Duration,
}

impl Answer {
    /// `status` with no header and no body, at once.
    pub fn status(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Bytes::new(), delay: Duration::ZERO }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// `value` as the body, with its content type.
    pub fn json(self, value: &Value) -> Self {
        self.body_bytes(value.to_string()).header("content-type", "application/json")
    }

    pub fn body_bytes(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sent only after `delay` (counted in flight meanwhile).
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Never sent in a test's lifetime: the client's timeout has to end the request.
    pub fn hang(self) -> Self {
        self.after(Duration::from_secs(3600))
    }
}
