//! The command line: subcommands and every setting as a flag or environment variable (a `.env`
//! file in the working directory adds to the environment). Turns them into `bootstrap::settings`. Each
//! command's implementation is its own file under `cli/`.

use std::{fmt::Display, net::IpAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};
use tokio::runtime::Runtime;

use crate::{
    adapters::http::ResponseDialect,
    app::ClientAuthMode,
    telemetry::{self, LogFormat, LogTarget, Telemetry},
};

pub mod check_config;
pub mod client_jwt;
pub mod keygen;
pub mod migrate;
pub mod openapi;
pub mod rotate_credentials;
pub mod send;
pub mod serve;

use crate::bootstrap::{
    defaults,
    settings::{
        ApnsSettings, ClientAuthSettings, DedupBackend, DedupSettings, FcmSettings, HttpSettings, ProjectSettings,
        ProviderSettings, RelaySettings, Settings, StoreSettings,
    },
};
use crate::domain::Secret;

#[derive(Debug, Parser)]
#[command(
    name = "push-server",
    version,
    about = "Push-notification gateway: Relay-signed requests in, APNS and FCM deliveries out."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Print the OpenAPI document.
    Openapi {
        /// `json` or `yaml`.
        #[arg(long, default_value = "json", value_parser = ["json", "yaml"])]
        format: String,
    },
    /// Apply the client store's migrations (DATABASE_URL) and exit.
    Migrate,
    /// Build everything the server would (store, dedup, providers, Relay key, traces) without
    /// listening; print what would be used, or exit non-zero with the reason.
    CheckConfig,
    /// Print a fresh Ed25519 key pair for a test Relay (RELAY_PRIVATE_KEY and RELAY_PUBLIC_KEY),
    /// or with `--client` a test wallet's key and client id (CLIENT_PRIVATE_KEY and CLIENT_ID).
    Keygen {
        /// A wallet's key instead of the Relay's.
        #[arg(long)]
        client: bool,
    },
    /// Sign a test notification with a Relay key and send it to a running server.
    Send(send::SendArgs),
    /// Re-encrypt every project's stored credentials under the first CREDENTIALS_KEY (after a
    /// new key was put first), then exit.
    RotateCredentials,
    /// Print a wallet's client id (did:key) and a client JWT signed with its key, for the
    /// `Authorization` header of a registration or unregistration.
    ClientJwt(client_jwt::ClientJwtArgs),
}

/// How a command ends when it cannot do its job: the one-line reason on stderr, exit code 1.
pub(crate) fn fail(reason: impl Display) -> ExitCode {
    eprintln!("push-server: {reason}");
    ExitCode::FAILURE
}

/// What every long-running command starts with: logging (in the configured format, to `target`,
/// `default_filter` unless `RUST_LOG` says otherwise; trace export when asked) and a runtime.
pub(crate) fn prepare(
    config: &Config,
    target: LogTarget,
    default_filter: &str,
    export_traces: bool,
) -> Result<(Telemetry, Runtime), ExitCode> {
    let format = if config.json_logs() { LogFormat::Json } else { LogFormat::Text };
    let telemetry = telemetry::init(format, target, default_filter, export_traces).map_err(fail)?;
    let runtime = Runtime::new().map_err(|e| fail(format!("cannot start the async runtime: {e}")))?;
    Ok((telemetry, runtime))
}

/// `true`/`1` or `false`/`0`, in any case; anything else is refused.
fn parse_switch(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("'{s}' is not a switch; use true/1 or false/0")),
    }
}

/// The parsed `PUBLIC_URL`. An alias, so that clap takes the whole comma-separated text as one
/// value (it would make a `Vec` field a repeated flag).
type PublicUrls = Vec<String>;

/// `PUBLIC_URL`: one or more comma-separated http(s) URLs.
fn parse_public_urls(s: &str) -> Result<PublicUrls, String> {
    let urls: Vec<String> = s.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned).collect();
    if urls.is_empty() {
        return Err("PUBLIC_URL names no URL".to_owned());
    }
    match urls.iter().find(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
        Some(bad) => Err(format!("'{bad}' is not an http:// or https:// URL")),
        None => Ok(urls),
    }
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = defaults::HOST)]
    pub host: IpAddr,
    /// TCP port to listen on.
    #[arg(long, env = "PORT", default_value_t = defaults::PORT)]
    pub port: u16,
    /// `sqlite://PATH` or `postgres://...` [default: sqlite://push-server.db]
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// One Redis node (`redis://` or `rediss://`) for dedup, shared by all instances.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Where dedup lives: `memory`, `redis` or `postgres` [default: redis when a Redis is
    /// configured, memory otherwise]
    #[arg(long, env = "DEDUP_BACKEND", value_parser = DedupBackend::parse)]
    pub dedup_backend: Option<DedupBackend>,
    /// Comma-separated seed nodes (`redis://` or `rediss://`) of a Redis Cluster, instead of REDIS_URL.
    #[arg(long, env = "REDIS_CLUSTER_NODES", value_delimiter = ',')]
    pub redis_cluster_nodes: Vec<String>,
    /// Comma-separated Sentinels (`redis://host:port`, or `rediss://`), instead of REDIS_URL;
    /// needs REDIS_SENTINEL_MASTER.
    #[arg(long, env = "REDIS_SENTINELS", value_delimiter = ',')]
    pub redis_sentinels: Vec<String>,
    /// The name of the master that REDIS_SENTINELS watch.
    #[arg(long, env = "REDIS_SENTINEL_MASTER")]
    pub redis_sentinel_master: Option<String>,
    /// A PEM file of CA certificates that `rediss://` servers are checked against, instead of the
    /// system's trust store.
    #[arg(long, env = "REDIS_CA_PATH")]
    pub redis_ca_path: Option<PathBuf>,
    /// How often Postgres dedup deletes expired claims, in seconds.
    #[arg(long, env = "DEDUP_SWEEP_SECS", default_value_t = defaults::DEDUP_SWEEP_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub dedup_sweep_secs: u64,
    /// Hex Ed25519 public key of the Relay.
    #[arg(long, env = "RELAY_PUBLIC_KEY")]
    pub relay_public_key: Option<String>,
    /// Where to fetch `/public-key` when no key is configured.
    #[arg(long, env = "RELAY_URL")]
    pub relay_url: Option<String>,
    /// `false`/`0` switches Relay signature checks off.
    #[arg(long, env = "VALIDATE_SIGNATURES", default_value_t = defaults::VALIDATE_SIGNATURES, value_parser = parse_switch)]
    pub validate_signatures: bool,
    /// How far a signed request's timestamp may be from the server clock, in seconds (at most
    /// 3600; the dedup window must be at least twice as long).
    #[arg(long, env = "SIGNATURE_MAX_SKEW_SECS", default_value_t = defaults::SIGNATURE_MAX_SKEW_SECS, value_parser = clap::value_parser!(u64).range(1..=defaults::SIGNATURE_MAX_SKEW_SECS_CAP))]
    pub signature_max_skew_secs: u64,
    /// How often a key fetched from RELAY_URL is refreshed, in seconds.
    #[arg(long, env = "RELAY_KEY_REFRESH_SECS", default_value_t = defaults::RELAY_KEY_REFRESH_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub relay_key_refresh_secs: u64,
    /// Bound on one fetch of the key from RELAY_URL, in milliseconds.
    #[arg(long, env = "RELAY_KEY_TIMEOUT_MS", default_value_t = defaults::RELAY_KEY_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub relay_key_timeout_ms: u64,
    /// `true` keeps the log sink on beside real providers [default: on only without real providers]
    #[arg(long, env = "LOG_SINK", value_parser = parse_switch)]
    pub log_sink: Option<bool>,
    /// The log sink's JSON-lines file.
    #[arg(long, env = "LOG_SINK_PATH")]
    pub log_sink_path: Option<PathBuf>,
    /// Bearer token of the admin API (`/admin/...`); unset switches the admin API off. Needs
    /// CREDENTIALS_KEY.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// AES-256 keys (64 hex characters each, comma-separated) that encrypt projects' credentials;
    /// the first encrypts, any decrypts. Unset: no projects are served.
    #[arg(long, env = "CREDENTIALS_KEY", hide_env_values = true)]
    pub credentials_key: Option<String>,
    /// The default project's id: `/{id}/clients...` then reaches the environment-configured
    /// providers too.
    #[arg(long, env = "DEFAULT_PROJECT_ID")]
    pub default_project_id: Option<String>,
    /// How old a project's cached credentials may get before they are read again, in seconds.
    #[arg(long, env = "PROJECT_REFRESH_SECS", default_value_t = defaults::PROJECT_REFRESH_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub project_refresh_secs: u64,
    /// How long a project's provider that refused its credentials stays suspended, in seconds
    /// (the contract's 600; shorter values are for tests).
    #[arg(long, env = "PROJECT_SUSPENSION_SECS", default_value_t = defaults::PROJECT_SUSPENSION_SECS, value_parser = clap::value_parser!(u64).range(1..=600), hide = true)]
    pub project_suspension_secs: u64,
    /// Projects unused this long are dropped with their providers and connections, in seconds.
    #[arg(long, env = "PROJECT_IDLE_SECS", default_value_t = defaults::PROJECT_IDLE_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub project_idle_secs: u64,
    /// The dedup window in seconds.
    #[arg(long, env = "DEDUP_TTL_SECS", default_value_t = defaults::DEDUP_TTL_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub dedup_ttl_secs: u64,
    /// Most claims the in-memory dedup store holds (about 70 bytes each); when full, expired
    /// claims are dropped first, then the claims closest to expiry. Not used with Redis.
    #[arg(long, env = "DEDUP_MAX_ENTRIES", default_value_t = defaults::DEDUP_MAX_ENTRIES, value_parser = clap::value_parser!(u64).range(64..=1_000_000_000))]
    pub dedup_max_entries: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = defaults::MAX_BODY_BYTES, value_parser = clap::value_parser!(u64).range(64..=16 * 1024 * 1024))]
    pub max_body_bytes: u64,
    /// Client-store connection pool size (SQLite: readers; the writer is one connection).
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = defaults::DATABASE_MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,
    /// Prepared statements cached per Postgres connection; `0` for PgBouncer in transaction
    /// pooling mode (unnamed statements, every call in a transaction, no migrations at start).
    #[arg(long, env = "DATABASE_STATEMENT_CACHE", default_value_t = defaults::DATABASE_STATEMENT_CACHE)]
    pub database_statement_cache: usize,
    /// Bound on each store and dedup call, in milliseconds; past it the request gets 503.
    #[arg(long, env = "STORAGE_TIMEOUT_MS", default_value_t = defaults::STORAGE_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(1..))]
    pub storage_timeout_ms: u64,
    /// SQLite `synchronous` mode: `normal` (durable through a server crash) or `full` (also
    /// through power loss, with an fsync per registration).
    #[arg(long, env = "SQLITE_SYNCHRONOUS", default_value = defaults::SQLITE_SYNCHRONOUS, value_parser = ["full", "normal"], ignore_case = true)]
    pub sqlite_synchronous: String,
    /// The app's bundle id, sent as `apns-topic`.
    #[arg(long, env = "APNS_TOPIC")]
    pub apns_topic: Option<String>,
    /// APNS token auth: the `.p8` key file.
    #[arg(long, env = "APNS_KEY_PATH")]
    pub apns_key_path: Option<PathBuf>,
    /// APNS token auth: the key's id.
    #[arg(long, env = "APNS_KEY_ID")]
    pub apns_key_id: Option<String>,
    /// APNS token auth: the team id.
    #[arg(long, env = "APNS_TEAM_ID")]
    pub apns_team_id: Option<String>,
    /// APNS certificate auth: a `.p12` file, or PEM with certificate and key.
    #[arg(long, env = "APNS_CERT_PATH")]
    pub apns_cert_path: Option<PathBuf>,
    /// Password of the `.p12` file.
    #[arg(long, env = "APNS_CERT_PASSWORD")]
    pub apns_cert_password: Option<String>,
    /// Base URL for `apns` clients [default: https://api.push.apple.com]
    #[arg(long, env = "APNS_ENDPOINT")]
    pub apns_endpoint: Option<String>,
    /// Base URL for `apns-sandbox` clients [default: https://api.sandbox.push.apple.com]
    #[arg(long, env = "APNS_SANDBOX_ENDPOINT")]
    pub apns_sandbox_endpoint: Option<String>,
    /// Alert title for encrypted notifications.
    #[arg(long, env = "APNS_PLACEHOLDER_TITLE", default_value = defaults::APNS_PLACEHOLDER_TITLE)]
    pub apns_placeholder_title: String,
    /// The FCM service-account JSON.
    #[arg(long, env = "FCM_CREDENTIALS_PATH")]
    pub fcm_credentials_path: Option<PathBuf>,
    /// The Firebase project [default: project_id from the credentials]
    #[arg(long, env = "FCM_PROJECT_ID")]
    pub fcm_project_id: Option<String>,
    /// Base URL of the FCM v1 API [default: https://fcm.googleapis.com]
    #[arg(long, env = "FCM_ENDPOINT")]
    pub fcm_endpoint: Option<String>,
    /// Speak HTTP/2 with prior knowledge to an http:// FCM_ENDPOINT (benchmark fakes) instead of HTTP/1.1.
    #[arg(long, env = "FCM_CLEARTEXT_HTTP2", default_value = "false", value_parser = parse_switch)]
    pub fcm_cleartext_http2: bool,
    /// HTTP/2 connections per APNS endpoint (production, sandbox), per set of credentials.
    #[arg(long, env = "APNS_MAX_CONNECTIONS", default_value_t = defaults::APNS_MAX_CONNECTIONS, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub apns_max_connections: u64,
    /// HTTP/2 connections to FCM, per set of credentials.
    #[arg(long, env = "FCM_MAX_CONNECTIONS", default_value_t = defaults::FCM_MAX_CONNECTIONS, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub fcm_max_connections: u64,
    /// Sends waiting for a provider stream (per provider) before further ones get 503 provider_busy.
    #[arg(long, env = "PROVIDER_MAX_PENDING", default_value_t = defaults::PROVIDER_MAX_PENDING, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub provider_max_pending: u64,
    /// Bound on one provider HTTP request, in milliseconds.
    #[arg(long, env = "PROVIDER_TIMEOUT_MS", default_value_t = defaults::PROVIDER_TIMEOUT_MS, value_parser = clap::value_parser!(u64).range(100..=15_000))]
    pub provider_timeout_ms: u64,
    /// Attempts for transient provider failures (3 to 6).
    #[arg(long, env = "PROVIDER_MAX_ATTEMPTS", default_value_t = defaults::PROVIDER_MAX_ATTEMPTS, value_parser = clap::value_parser!(u32).range(3..=6))]
    pub provider_max_attempts: u32,
    /// Connections served at once; more wait in the kernel backlog.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = defaults::MAX_CONNECTIONS, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Seconds a client has to send a connection's first bytes and a request's headers; also the
    /// idle limit of HTTP/1 keep-alive and of HTTP/2 connections with no open stream.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", default_value_t = defaults::HEADER_READ_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout_secs: u64,
    /// Seconds a client has to send a request's body.
    #[arg(long, env = "BODY_READ_TIMEOUT_SECS", default_value_t = defaults::BODY_READ_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_read_timeout_secs: u64,
    /// Seconds a whole request may take, handler included.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = defaults::REQUEST_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,
    /// Registrations and unregistrations per client IP per minute; 0 switches the limit off.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = defaults::RATE_LIMIT_PER_MINUTE)]
    pub rate_limit_per_minute: u32,
    /// Burst of registrations and unregistrations one client IP may make.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = defaults::RATE_LIMIT_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,
    /// IPv6 clients are rate limited per prefix of this many bits.
    #[arg(long, env = "RATE_LIMIT_IPV6_PREFIX", default_value_t = defaults::RATE_LIMIT_IPV6_PREFIX, value_parser = clap::value_parser!(u8).range(1..=128))]
    pub rate_limit_ipv6_prefix: u8,
    /// Header carrying the client IP, set by a trusted proxy in front (e.g. `x-forwarded-for`;
    /// see TRUSTED_PROXIES for which address is used). Unset: the TCP peer address. Never set it
    /// without such a proxy.
    #[arg(long, env = "CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// How many trusted proxies append to CLIENT_IP_HEADER: the client's address is that many
    /// entries from the right (1: the last, for one proxy; 2 when a load balancer in front of it
    /// appends its own).
    #[arg(long, env = "TRUSTED_PROXIES", default_value_t = defaults::TRUSTED_PROXIES, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub trusted_proxies: u64,
    /// Client JWTs on registration and unregistration: `optional` (verified when present),
    /// `required` (a request without one gets 401) or `off` (ignored).
    #[arg(long, env = "CLIENT_AUTH", default_value = defaults::CLIENT_AUTH, value_parser = ClientAuthMode::parse)]
    pub client_auth: ClientAuthMode,
    /// The URLs wallets reach this server at, comma-separated: the accepted `aud` of client JWTs
    /// [default: http://localhost:{PORT}]
    #[arg(long, env = "PUBLIC_URL", value_parser = parse_public_urls)]
    pub public_url: Option<PublicUrls>,
    /// The response envelope: `spec` (`{"status":"OK"}`) or `walletconnect` (`{"status":"SUCCESS"}`
    /// and `errors[].message`, which the WalletConnect SDKs expect).
    #[arg(long, env = "RESPONSE_DIALECT", default_value = defaults::RESPONSE_DIALECT, value_parser = ResponseDialect::parse)]
    pub response_dialect: ResponseDialect,
    /// Log format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = defaults::LOG_FORMAT, value_parser = ["text", "json"], ignore_case = true)]
    pub log_format: String,
}

impl Config {
    pub fn json_logs(&self) -> bool {
        self.log_format.eq_ignore_ascii_case("json")
    }

    pub fn settings(&self) -> Settings {
        let defaults = Settings::default();
        Settings {
            host: self.host,
            port: self.port,
            database_url: self.database_url.clone().unwrap_or_else(|| defaults::DATABASE_URL.to_owned()),
            redis_url: self.redis_url.clone(),
            dedup: DedupSettings {
                backend: self.dedup_backend,
                redis_cluster_nodes: non_empty(&self.redis_cluster_nodes),
                redis_sentinels: non_empty(&self.redis_sentinels),
                redis_sentinel_master: self.redis_sentinel_master.clone(),
                redis_ca_path: self.redis_ca_path.clone(),
                sweep_every: Duration::from_secs(self.dedup_sweep_secs),
            },
            relay: RelaySettings {
                public_key: self.relay_public_key.clone(),
                url: self.relay_url.clone(),
                validate_signatures: self.validate_signatures,
                max_clock_skew: Duration::from_secs(self.signature_max_skew_secs),
                key_refresh: Duration::from_secs(self.relay_key_refresh_secs),
                key_timeout: Duration::from_millis(self.relay_key_timeout_ms),
            },
            log_sink: self.log_sink,
            log_sink_path: self.log_sink_path.clone(),
            dedup_ttl: Duration::from_secs(self.dedup_ttl_secs),
            dedup_max_entries: self.dedup_max_entries as usize,
            max_body_bytes: self.max_body_bytes as usize,
            store: StoreSettings {
                max_connections: self.database_max_connections,
                statement_cache: self.database_statement_cache,
                timeout: Duration::from_millis(self.storage_timeout_ms),
                sqlite_synchronous_full: self.sqlite_synchronous.eq_ignore_ascii_case("full"),
            },
            apns: ApnsSettings {
                topic: self.apns_topic.clone(),
                key_path: self.apns_key_path.clone(),
                key_id: self.apns_key_id.clone(),
                team_id: self.apns_team_id.clone(),
                cert_path: self.apns_cert_path.clone(),
                cert_password: self.apns_cert_password.clone(),
                endpoint: self.apns_endpoint.clone(),
                sandbox_endpoint: self.apns_sandbox_endpoint.clone(),
                placeholder_title: self.apns_placeholder_title.clone(),
            },
            fcm: FcmSettings {
                credentials_path: self.fcm_credentials_path.clone(),
                project_id: self.fcm_project_id.clone(),
                endpoint: self.fcm_endpoint.clone(),
                cleartext_http2: self.fcm_cleartext_http2,
            },
            provider: ProviderSettings {
                request_timeout: Duration::from_millis(self.provider_timeout_ms),
                max_attempts: self.provider_max_attempts,
                apns_max_connections: self.apns_max_connections as usize,
                fcm_max_connections: self.fcm_max_connections as usize,
                max_pending: self.provider_max_pending as usize,
                ..defaults.provider
            },
            http: HttpSettings {
                max_connections: self.max_connections as usize,
                header_read_timeout: Duration::from_secs(self.header_read_timeout_secs),
                body_read_timeout: Duration::from_secs(self.body_read_timeout_secs),
                request_timeout: Duration::from_secs(self.request_timeout_secs),
                rate_limit_per_minute: self.rate_limit_per_minute,
                rate_limit_burst: self.rate_limit_burst,
                rate_limit_ipv6_prefix: self.rate_limit_ipv6_prefix,
                client_ip_header: self.client_ip_header.clone(),
                trusted_proxies: self.trusted_proxies as usize,
                response_dialect: self.response_dialect,
            },
            client_auth: ClientAuthSettings { mode: self.client_auth, public_urls: self.public_url.clone() },
            projects: ProjectSettings {
                admin_token: self.admin_token.clone().filter(|t| !t.is_empty()).map(Secret::new),
                credentials_key: self.credentials_key.clone().filter(|t| !t.is_empty()).map(Secret::new),
                default_project_id: self.default_project_id.clone().filter(|t| !t.is_empty()),
                refresh: Duration::from_secs(self.project_refresh_secs),
                suspension: Duration::from_secs(self.project_suspension_secs),
                idle: Duration::from_secs(self.project_idle_secs),
            },
        }
    }
}

/// The entries of a comma-separated list, trimmed, without empty ones (`a,,b,` is `a`, `b`).
fn non_empty(items: &[String]) -> Vec<String> {
    items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_values() {
        for (s, v) in [("TRUE", true), ("1", true), ("False", false), ("0", false)] {
            assert_eq!(parse_switch(s), Ok(v));
        }
        assert!(parse_switch("yes").is_err());
        assert!(parse_switch("").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
