//! Everything the server is configured with, as plain values. The command line (`crate::cli`)
//! fills this from flags, the environment and `.env`; tests build it directly.

use std::{net::IpAddr, path::PathBuf, time::Duration};

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// Dedup in Redis when set, in memory otherwise.
    pub redis_url: Option<String>,
    pub relay: RelaySettings,
    /// `Some(true)` keeps the log sink on beside real providers; `None` means "only when no real
    /// provider is configured".
    pub log_sink: Option<bool>,
    pub log_sink_path: Option<PathBuf>,
    pub dedup_ttl: Duration,
    /// Cap on live claims in the in-memory dedup store; when full, expired claims go first,
    /// then the claims closest to expiry (not used with Redis).
    pub dedup_max_entries: usize,
    pub max_body_bytes: usize,
    pub store: StoreSettings,
    pub apns: ApnsSettings,
    pub fcm: FcmSettings,
    pub provider: ProviderSettings,
    pub http: HttpSettings,
}

/// Bounds that protect the server from slow, greedy or abusive clients.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Connections served at once; more wait in the kernel backlog.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (also the keep-alive idle limit).
    pub header_read_timeout: Duration,
    /// Time a client has to send a request's body once its headers are in.
    pub body_read_timeout: Duration,
    /// Bound on a whole request, handler included.
    pub request_timeout: Duration,
    /// Registrations and unregistrations per client IP per minute; 0 switches the limit off.
    pub rate_limit_per_minute: u32,
    /// How many such requests an IP may make in a burst.
    pub rate_limit_burst: u32,
    /// The header that carries the client IP when behind a trusted proxy (for example
    /// `x-forwarded-for`, whose last address is used); `None` uses the TCP peer address.
    pub client_ip_header: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Hex Ed25519 public key.
    pub public_key: Option<String>,
    /// Base URL serving `/public-key`, used when no key is configured.
    pub url: Option<String>,
    pub validate_signatures: bool,
    /// How far a request's timestamp may be from the server clock.
    pub max_clock_skew: Duration,
    /// How often a fetched key is refreshed.
    pub key_refresh: Duration,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub max_connections: u32,
    /// Bound on waiting for a connection and on each statement; past it the call is `Unavailable`.
    pub timeout: Duration,
    /// SQLite `synchronous` mode. NORMAL (the default) makes a commit durable through a crash of
    /// the server process, which is the contract's promise, without an fsync per registration;
    /// FULL also syncs the WAL on every commit, durable through power loss, at about a third of
    /// the registration throughput.
    pub sqlite_synchronous_full: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ApnsSettings {
    pub topic: Option<String>,
    pub key_path: Option<PathBuf>,
    pub key_id: Option<String>,
    pub team_id: Option<String>,
    pub cert_path: Option<PathBuf>,
    pub cert_password: Option<String>,
    pub endpoint: Option<String>,
    pub sandbox_endpoint: Option<String>,
    pub placeholder_title: String,
}

impl ApnsSettings {
    /// True when any credential is set: the operator means to use APNS.
    pub fn is_configured(&self) -> bool {
        self.key_path.is_some() || self.cert_path.is_some()
    }
}

#[derive(Debug, Clone, Default)]
pub struct FcmSettings {
    pub credentials_path: Option<PathBuf>,
    pub project_id: Option<String>,
    pub endpoint: Option<String>,
    /// HTTP/2 with prior knowledge to an `http://` endpoint (benchmark fakes), instead of HTTP/1.1.
    pub cleartext_http2: bool,
}

impl FcmSettings {
    pub fn is_configured(&self) -> bool {
        self.credentials_path.is_some()
    }
}

/// How real providers retry and time out.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// Bound on one provider HTTP request.
    pub request_timeout: Duration,
    /// Attempts for transient failures (3 to 6).
    pub max_attempts: u32,
    /// Bound on all attempts of one delivery together.
    pub total_timeout: Duration,
    /// HTTP/2 connections per APNS endpoint, per provider instance.
    pub apns_max_connections: usize,
    /// HTTP/2 connections to FCM, per provider instance.
    pub fcm_max_connections: usize,
    /// Sends waiting for a stream, per provider pool, before `provider_busy`.
    pub max_pending: usize,
}

impl Default for Settings {
    /// What the command line gives with no flags and no environment.
    fn default() -> Self {
        use super::defaults as d;
        let secs = Duration::from_secs;
        let millis = Duration::from_millis;
        Self {
            host: d::HOST.parse().expect("the default host is an IP address"),
            port: d::PORT,
            database_url: d::DATABASE_URL.to_owned(),
            redis_url: None,
            relay: RelaySettings {
                public_key: None,
                url: None,
                validate_signatures: d::VALIDATE_SIGNATURES,
                max_clock_skew: secs(d::SIGNATURE_MAX_SKEW_SECS),
                key_refresh: secs(d::RELAY_KEY_REFRESH_SECS),
            },
            log_sink: None,
            log_sink_path: None,
            dedup_ttl: secs(d::DEDUP_TTL_SECS),
            dedup_max_entries: d::DEDUP_MAX_ENTRIES as usize,
            max_body_bytes: d::MAX_BODY_BYTES as usize,
            store: StoreSettings {
                max_connections: d::DATABASE_MAX_CONNECTIONS,
                timeout: millis(d::STORAGE_TIMEOUT_MS),
                sqlite_synchronous_full: d::SQLITE_SYNCHRONOUS == "full",
            },
            apns: ApnsSettings { placeholder_title: d::APNS_PLACEHOLDER_TITLE.to_owned(), ..Default::default() },
            fcm: FcmSettings::default(),
            provider: ProviderSettings {
                request_timeout: millis(d::PROVIDER_TIMEOUT_MS),
                max_attempts: d::PROVIDER_MAX_ATTEMPTS,
                total_timeout: millis(d::PROVIDER_TOTAL_TIMEOUT_MS),
                apns_max_connections: d::APNS_MAX_CONNECTIONS as usize,
                fcm_max_connections: d::FCM_MAX_CONNECTIONS as usize,
                max_pending: d::PROVIDER_MAX_PENDING as usize,
            },
            http: HttpSettings {
                max_connections: d::MAX_CONNECTIONS as usize,
                header_read_timeout: secs(d::HEADER_READ_TIMEOUT_SECS),
                body_read_timeout: secs(d::BODY_READ_TIMEOUT_SECS),
                request_timeout: secs(d::REQUEST_TIMEOUT_SECS),
                rate_limit_per_minute: d::RATE_LIMIT_PER_MINUTE,
                rate_limit_burst: d::RATE_LIMIT_BURST,
                client_ip_header: None,
            },
        }
    }
}
