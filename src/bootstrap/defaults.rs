//! Every default setting, written once: the command line's `default_value`s and
//! `Settings::default()` (what tests start from) both read these, so they cannot drift apart.

/// Address to listen on.
pub const HOST: &str = "0.0.0.0";
pub const PORT: u16 = 3000;
/// The default SQLite database: a file in the working directory, created on first start.
pub const DATABASE_URL: &str = "sqlite://push-server.db";
pub const VALIDATE_SIGNATURES: bool = true;
pub const SIGNATURE_MAX_SKEW_SECS: u64 = 300;
/// The largest accepted skew: past an hour a captured request stays replayable for too long.
pub const SIGNATURE_MAX_SKEW_SECS_CAP: u64 = 3600;
pub const RELAY_KEY_REFRESH_SECS: u64 = 3600;
/// Bound on one fetch of the Relay key from `RELAY_URL`.
pub const RELAY_KEY_TIMEOUT_MS: u64 = 5000;
pub const DEDUP_TTL_SECS: u64 = 86_400;
/// The in-memory dedup store's own cap (about 70 bytes a claim).
pub const DEDUP_MAX_ENTRIES: u64 = crate::adapters::dedup::memory::DEFAULT_MAX_ENTRIES as u64;
pub const MAX_BODY_BYTES: u64 = 16 * 1024;
pub const DATABASE_MAX_CONNECTIONS: u32 = 16;
/// Prepared statements cached per Postgres connection (sqlx's default); 0 for PgBouncer's
/// transaction mode.
pub const DATABASE_STATEMENT_CACHE: usize = 100;
/// How often Postgres dedup deletes expired claims.
pub const DEDUP_SWEEP_SECS: u64 = 60;
pub const STORAGE_TIMEOUT_MS: u64 = 5000;
pub const SQLITE_SYNCHRONOUS: &str = "normal";
pub const APNS_PLACEHOLDER_TITLE: &str = "You have new notifications";
pub const PROVIDER_TIMEOUT_MS: u64 = 5000;
pub const PROVIDER_MAX_ATTEMPTS: u32 = 4;
/// Bound on all attempts of one delivery together: a 502 comes well within the contract's 15 s.
pub const PROVIDER_TOTAL_TIMEOUT_MS: u64 = 14_000;
/// HTTP/2 connections per APNS endpoint and to FCM, per provider instance (Apple: "open several
/// connections"; each carries as many streams as the provider allows).
pub const APNS_MAX_CONNECTIONS: u64 = 8;
pub const FCM_MAX_CONNECTIONS: u64 = 8;
/// Sends waiting for a provider stream, per provider, before further ones answer 503
/// `provider_busy`: at ~1 KiB each, about 10 MiB at most.
pub const PROVIDER_MAX_PENDING: u64 = 10_000;
pub const MAX_CONNECTIONS: u64 = 10_000;
pub const HEADER_READ_TIMEOUT_SECS: u64 = 10;
pub const BODY_READ_TIMEOUT_SECS: u64 = 10;
pub const REQUEST_TIMEOUT_SECS: u64 = 30;
pub const RATE_LIMIT_PER_MINUTE: u32 = 120;
pub const RATE_LIMIT_BURST: u32 = 60;
/// IPv6 clients are rate limited per prefix of this length (a site usually gets a /56 or a /48).
pub const RATE_LIMIT_IPV6_PREFIX: u8 = 56;
/// How many proxies append to `CLIENT_IP_HEADER`: the client is that many entries from the right.
pub const TRUSTED_PROXIES: u64 = 1;
pub const LOG_FORMAT: &str = "text";
/// How old a cached project may get before the store is read again (changes made through
/// another instance show within this).
pub const PROJECT_REFRESH_SECS: u64 = 30;
/// How long a project's provider stays suspended after it refused the credentials.
pub const PROJECT_SUSPENSION_SECS: u64 = 600;
/// Projects unused this long are dropped with their providers and connections.
pub const PROJECT_IDLE_SECS: u64 = 900;
/// Client JWTs are verified when present and not asked for (`optional`, `required`, `off`).
pub const CLIENT_AUTH: &str = "optional";
/// The envelope of the contract (`spec`), not the WalletConnect one (`walletconnect`).
pub const RESPONSE_DIALECT: &str = "spec";

/// The audience of client JWTs when `PUBLIC_URL` is unset: this server on localhost, at the port
/// it actually listens on (which differs from `PORT` when that is 0).
pub fn public_url(port: u16) -> String {
    format!("http://localhost:{port}")
}
