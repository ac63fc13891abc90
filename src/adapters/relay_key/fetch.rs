//! One fetch of the Relay key: `GET {RELAY_URL}/public-key`, its body capped in size.

use std::time::Duration;

use async_trait::async_trait;

use crate::{adapters::egress::Egress, domain::RelayPublicKey};

/// A key is 64 hex characters; anything much longer is not a key, and reading it would let the
/// key server (or whoever answers in its place) make this server buffer without bound.
pub const MAX_KEY_BODY_BYTES: usize = 1024;

/// Where a fetched key comes from; the HTTP source in production, fakes in the cache's tests.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// One attempt; the error says why, for the log.
    async fn fetch(&self) -> Result<RelayPublicKey, String>;
}

pub struct HttpKeySource {
    url: String,
    http: reqwest::Client,
}

impl HttpKeySource {
    /// `url` is the full key address. `timeout` bounds the whole exchange, body included;
    /// `egress` is the route (the egress proxy, or direct), and reqwest reads no proxy variable
    /// of its own.
    pub fn new(url: String, timeout: Duration, egress: &Egress) -> Result<Self, String> {
        let http = egress
            .configure(reqwest::Client::builder())
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client for RELAY_URL: {e}"))?;
        Ok(Self { url, http })
    }
}

#[async_trait]
impl KeySource for HttpKeySource {
    async fn fetch(&self) -> Result<RelayPublicKey, String> {
        let mut response = self.http.get(&self.url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let too_long = || format!("the key response is longer than {MAX_KEY_BODY_BYTES} bytes");
        if response.content_length().is_some_and(|n| n > MAX_KEY_BODY_BYTES as u64) {
            return Err(too_long());
        }
        // Read chunk by chunk: a missing or false Content-Length must not get past the cap.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_KEY_BODY_BYTES {
                return Err(too_long());
            }
            body.extend_from_slice(&chunk);
        }
        let text = std::str::from_utf8(&body).map_err(|_| "the key response is not text".to_owned())?;
        RelayPublicKey::parse(text).map_err(|e| e.to_string())
    }
}
