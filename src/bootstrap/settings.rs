//! Everything the server is configured with, as plain values. The command line (`crate::cli`)
//! fills this from flags, the environment and `.env`; tests build it directly.

use std::{net::IpAddr, path::PathBuf, time::Duration};

use crate::{adapters::http::ResponseDialect, app::ClientAuthMode, domain::Secret};

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// One Redis node (`redis://` or `rediss://`) for dedup.
    pub redis_url: Option<String>,
    /// Where dedup lives, and how Redis is reached when it lives there.
    pub dedup: DedupSettings,
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
    pub client_auth: ClientAuthSettings,
    pub projects: ProjectSettings,
}

/// How wallets prove they hold the client they (un)register.
#[derive(Debug, Clone, Default)]
pub struct ClientAuthSettings {
    pub mode: ClientAuthMode,
    /// The URLs this server is reached at (`PUBLIC_URL`), the accepted JWT audiences; `None`:
    /// `defaults::public_url` of the port the server listens on.
    pub public_urls: Option<Vec<String>>,
}

/// Several apps on one server: the admin API and the projects' credentials.
#[derive(Debug, Clone)]
pub struct ProjectSettings {
    /// `ADMIN_TOKEN`: the admin API's bearer token; unset switches the admin API off.
    pub admin_token: Option<Secret<String>>,
    /// `CREDENTIALS_KEY`: comma-separated 64-hex-character AES-256 keys; the first encrypts.
    /// Unset: no named projects are served.
    pub credentials_key: Option<Secret<String>>,
    /// `DEFAULT_PROJECT_ID`: the default project's id under `/{id}/clients...`.
    pub default_project_id: Option<String>,
    /// `PROJECT_REFRESH_SECS`.
    pub refresh: Duration,
    /// `PROJECT_SUSPENSION_SECS` (600 by the contract; shorter only for tests).
    pub suspension: Duration,
    /// `PROJECT_IDLE_SECS`.
    pub idle: Duration,
}

/// Bounds that protect the server from slow, greedy or abusive clients.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Connections served at once; more wait in the kernel backlog.
    pub max_connections: usize,
    /// Time a client has to send a new connection's first bytes and each request's headers; also
    /// the idle limit of both protocols (HTTP/1 keep-alive, HTTP/2 with no open stream).
    pub header_read_timeout: Duration,
    /// Time a client has to send a request's body once its headers are in.
    pub body_read_timeout: Duration,
    /// Bound on a whole request, handler included.
    pub request_timeout: Duration,
    /// Registrations and unregistrations per client IP per minute; 0 switches the limit off.
    pub rate_limit_per_minute: u32,
    /// How many such requests an IP may make in a burst.
    pub rate_limit_burst: u32,
    /// IPv6 clients are limited per prefix of this many bits (1 to 128).
    pub rate_limit_ipv6_prefix: u8,
    /// The header that carries the client IP when behind a trusted proxy (for example
    /// `x-forwarded-for`); `None` uses the TCP peer address.
    pub client_ip_header: Option<String>,
    /// How many trusted proxies append to `client_ip_header`: the client's address is that many
    /// entries from the right (1: the last).
    pub trusted_proxies: usize,
    /// The envelope every JSON response is written in (`RESPONSE_DIALECT`).
    pub response_dialect: ResponseDialect,
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
    /// Bound on one fetch of the key from `url`.
    pub key_timeout: Duration,
}

/// Which `DedupStore` serves, and the Redis set-ups besides `REDIS_URL`.
#[derive(Debug, Clone, Default)]
pub struct DedupSettings {
    /// `None`: Redis when any Redis is configured, memory otherwise.
    pub backend: Option<DedupBackend>,
    /// Seed nodes of a Redis Cluster (instead of `REDIS_URL`).
    pub redis_cluster_nodes: Vec<String>,
    /// Sentinels watching `redis_sentinel_master` (instead of `REDIS_URL`).
    pub redis_sentinels: Vec<String>,
    pub redis_sentinel_master: Option<String>,
    /// CA certificates (PEM) that `rediss://` servers are checked against instead of the system's.
    pub redis_ca_path: Option<PathBuf>,
    /// How often Postgres dedup sweeps out expired claims.
    pub sweep_every: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedupBackend {
    Memory,
    Redis,
    Postgres,
}

impl DedupBackend {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "memory" => Ok(Self::Memory),
            "redis" => Ok(Self::Redis),
            "postgres" => Ok(Self::Postgres),
            _ => Err(format!("'{s}' is not a dedup backend; use memory, redis or postgres")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub max_connections: u32,
    /// Prepared statements cached per Postgres connection; 0 for PgBouncer in transaction mode.
    pub statement_cache: usize,
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
            dedup: DedupSettings { sweep_every: secs(d::DEDUP_SWEEP_SECS), ..DedupSettings::default() },
            relay: RelaySettings {
                public_key: None,
                url: None,
                validate_signatures: d::VALIDATE_SIGNATURES,
                max_clock_skew: secs(d::SIGNATURE_MAX_SKEW_SECS),
                key_refresh: secs(d::RELAY_KEY_REFRESH_SECS),
                key_timeout: millis(d::RELAY_KEY_TIMEOUT_MS),
            },
            log_sink: None,
            log_sink_path: None,
            dedup_ttl: secs(d::DEDUP_TTL_SECS),
            dedup_max_entries: d::DEDUP_MAX_ENTRIES as usize,
            max_body_bytes: d::MAX_BODY_BYTES as usize,
            store: StoreSettings {
                max_connections: d::DATABASE_MAX_CONNECTIONS,
                statement_cache: d::DATABASE_STATEMENT_CACHE,
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
                rate_limit_ipv6_prefix: d::RATE_LIMIT_IPV6_PREFIX,
                client_ip_header: None,
                trusted_proxies: d::TRUSTED_PROXIES as usize,
                response_dialect: ResponseDialect::parse(d::RESPONSE_DIALECT).expect("the default dialect is valid"),
            },
            client_auth: ClientAuthSettings {
                mode: ClientAuthMode::parse(d::CLIENT_AUTH).expect("the default client auth mode is valid"),
                public_urls: None,
            },
            projects: ProjectSettings {
                admin_token: None,
                credentials_key: None,
                default_project_id: None,
                refresh: secs(d::PROJECT_REFRESH_SECS),
                suspension: secs(d::PROJECT_SUSPENSION_SECS),
                idle: secs(d::PROJECT_IDLE_SECS),
            },
        }
    }
}
