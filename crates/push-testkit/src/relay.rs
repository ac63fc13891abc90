//! Requests signed as the Relay signs them: the `X-Ed25519-Timestamp` and `X-Ed25519-Signature`
//! headers over the server's own framing of timestamp and body. The one place tests and the
//! benchmark make a Relay signature, so the header names and the framing cannot drift between them.

use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use push_server::domain::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_message};

/// The tests' Relay: `test_settings` configures the server with its public half.
pub fn relay_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// Unix seconds now: a timestamp the server accepts.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The raw Ed25519 signature of `body` sent at `timestamp` (push-bench keeps these 64 bytes per
/// request rather than the hex).
pub fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> [u8; 64] {
    key.sign(&signed_message(timestamp, body)).to_bytes()
}

/// The signature header's value: [`sign`] in lowercase hex.
pub fn sign_with(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    hex::encode(sign(key, timestamp, body))
}

/// The two signature headers of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub timestamp: String,
    pub signature: String,
}

impl Signature {
    /// `body` signed by `key` at `timestamp`.
    pub fn at(key: &SigningKey, timestamp: impl Into<String>, body: &[u8]) -> Self {
        let timestamp = timestamp.into();
        let signature = sign_with(key, &timestamp, body);
        Self { timestamp, signature }
    }

    /// `body` signed by `key` now.
    pub fn now(key: &SigningKey, body: &[u8]) -> Self {
        Self::at(key, now().to_string(), body)
    }

    /// The headers as (name, value) pairs, for clients that take a list.
    pub fn headers(&self) -> [(&'static str, &str); 2] {
        [(TIMESTAMP_HEADER, &self.timestamp), (SIGNATURE_HEADER, &self.signature)]
    }
}

/// Signing for reqwest's request builder.
pub trait SignedRequest {
    /// Adds the headers of `signature`.
    fn signature(self, signature: &Signature) -> Self;

    /// Adds `body` as the body, signed by `key` now.
    fn signed_body(self, key: &SigningKey, body: impl Into<String>) -> Self;
}

impl SignedRequest for reqwest::RequestBuilder {
    fn signature(self, signature: &Signature) -> Self {
        signature.headers().into_iter().fold(self, |request, (name, value)| request.header(name, value))
    }

    fn signed_body(self, key: &SigningKey, body: impl Into<String>) -> Self {
        let body = body.into();
        self.signature(&Signature::now(key, body.as_bytes())).body(body)
    }
}
