//! What an APNS provider is built from: plain values and key material, never paths or settings,
//! so the same provider can be built from the environment or from credentials stored per project.

use std::fmt;

use rustls_pki_types::CertificateDer;

use super::certificate::IdentityError;
use crate::adapters::{
    egress::Egress,
    push::{pool::PoolLimits, retry::RetryPolicy},
};

/// Apple's hosts, used unless a configuration names others (a gateway, or local fakes in tests).
pub const DEFAULT_ENDPOINT: &str = "https://api.push.apple.com";
pub const DEFAULT_SANDBOX_ENDPOINT: &str = "https://api.sandbox.push.apple.com";

pub struct ApnsConfig {
    /// The app's bundle id, sent as `apns-topic`.
    pub topic: String,
    pub auth: ApnsAuth,
    /// Base URLs for `apns` and `apns-sandbox` clients. `http://` is HTTP/2 over cleartext
    /// (prior knowledge), for local fakes.
    pub endpoint: String,
    pub sandbox_endpoint: String,
    /// The alert title of encrypted notifications, which the app's extension replaces.
    pub placeholder_title: String,
    pub retry: RetryPolicy,
    /// Trust anchors besides the system's (an APNS-compatible gateway with a private CA, and TLS
    /// test servers).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Connections per endpoint and sends waiting for a stream: each provider instance, so each
    /// project, has its own pools.
    pub pool: PoolLimits,
    /// How the connections leave the machine (directly, or through the egress proxy).
    pub egress: Egress,
    /// Where these credentials come from (for example the variables that set them), named in the
    /// error log when APNS refuses them, so an operator knows what to fix.
    pub origin: String,
}

impl ApnsConfig {
    /// A configuration with Apple's endpoints, no extra trust anchors, and direct connections.
    pub fn new(topic: String, auth: ApnsAuth, placeholder_title: String, retry: RetryPolicy) -> Self {
        Self {
            topic,
            auth,
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            sandbox_endpoint: DEFAULT_SANDBOX_ENDPOINT.to_owned(),
            placeholder_title,
            retry,
            extra_roots: Vec::new(),
            pool: PoolLimits::default(),
            egress: Egress::direct(),
            origin: "the APNS credentials".to_owned(),
        }
    }
}

/// How the provider proves who it is. The two exclude each other: with both at hand, which one is
/// in force would be a guess.
pub enum ApnsAuth {
    /// Token auth: provider tokens (ES256 JWTs) signed with the team's `.p8` key.
    Token {
        /// The `.p8` file's content: a PKCS#8 PEM P-256 private key.
        key_pem: Vec<u8>,
        /// Apple's 10-character ids of the key and of the team.
        key_id: String,
        team_id: String,
    },
    /// Certificate auth: a TLS client certificate and its key.
    Certificate(ApnsIdentity),
}

/// The client certificate and its key, as exported from Keychain Access or converted by openssl.
pub enum ApnsIdentity {
    /// A `.p12` export and its password (empty when exported without one).
    Pkcs12 { der: Vec<u8>, password: String },
    /// PEM text holding the certificate chain (leaf first) and an unencrypted private key.
    Pem(Vec<u8>),
}

impl ApnsIdentity {
    /// Tells PEM from PKCS#12 by the armour line, for a file that may hold either.
    pub fn detect(bytes: Vec<u8>, password: Option<&str>) -> Self {
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            Self::Pem(bytes)
        } else {
            Self::Pkcs12 { der: bytes, password: password.unwrap_or_default().to_owned() }
        }
    }
}

/// Which APNS environment an endpoint serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Production,
    Sandbox,
}

/// A configuration that cannot work. Each variant names the part that is wrong, so the caller
/// can point at the setting or the stored field it came from; texts never hold key material or a
/// password.
#[derive(Debug, thiserror::Error)]
pub enum ApnsConfigError {
    #[error("the topic '{0}' is not a bundle id")]
    Topic(String),
    #[error("the {field} '{value}' must be letters and digits (Apple's 10-character id)")]
    Id { field: IdField, value: String },
    /// Why the `.p8` key cannot sign provider tokens.
    #[error("the signing key {0}")]
    Key(String),
    #[error("the certificate {0}")]
    Certificate(#[from] IdentityError),
    #[error("the {environment} endpoint: {reason}")]
    Endpoint { environment: Environment, reason: String },
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Production => "production",
            Self::Sandbox => "sandbox",
        })
    }
}

/// The two ids token auth needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdField {
    KeyId,
    TeamId,
}

impl fmt::Display for IdField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KeyId => "key id",
            Self::TeamId => "team id",
        })
    }
}
