//! Service-account access tokens for FCM: the JWT-bearer grant (RFC 7523) against the
//! credentials' `token_uri`, with the result cached in a `TokenCache`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;

use super::{
    assertion,
    credentials::ServiceAccount,
    errors::{self, Failure},
    token_cache::{AccessToken, Fetched, TokenCache},
};

/// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, form-encoded. The assertion is
/// base64url and dots, which need no encoding, so the form is built without a form encoder.
const GRANT_TYPE_FORM: &str = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";

/// Google's tokens live an hour; assume so if an endpoint leaves `expires_in` out.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

pub struct OAuth {
    http: reqwest::Client,
    account: ServiceAccount,
    cache: TokenCache,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

impl OAuth {
    pub fn new(http: reqwest::Client, account: ServiceAccount) -> Self {
        Self { http, account, cache: TokenCache::new() }
    }

    /// A fresh access token, from the cache or the token endpoint.
    pub async fn token(&self) -> Result<AccessToken, Failure> {
        self.cache.get(|| self.fetch()).await
    }

    /// Drops `stale`, a token FCM refused, so the next `token` asks for a new one.
    pub async fn invalidate(&self, stale: &AccessToken) {
        self.cache.invalidate(stale).await;
    }

    async fn fetch(&self) -> Result<Fetched, Failure> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let assertion = assertion::sign(&self.account, now).map_err(Failure::Credentials)?;
        let response = self
            .http
            .post(&self.account.token_uri)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("{GRANT_TYPE_FORM}&assertion={assertion}"))
            .send()
            .await
            .map_err(|e| errors::transport("OAuth token endpoint", &e))?;
        let status = response.status();
        let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.bytes().await.map_err(|e| errors::transport("OAuth token endpoint", &e))?;
        if !status.is_success() {
            return Err(errors::classify_token(status.as_u16(), retry_after.as_deref(), &body));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|_| Failure::Transient {
            reason: "OAuth token endpoint: the answer has no access_token".into(),
            retry_after: None,
        })?;
        tracing::debug!(expires_in = ?parsed.expires_in, "fetched an FCM access token");
        Ok(Fetched {
            token: AccessToken::new(&parsed.access_token),
            expires_in: parsed.expires_in.map_or(DEFAULT_LIFETIME, Duration::from_secs),
        })
    }
}
