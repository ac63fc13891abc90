//! The HTTP server's settings: bounds that protect it from slow, greedy or abusive clients, the
//! response envelope, and how wallets prove they hold the client they (un)register.

use std::time::Duration;

use clap::Args;

use super::{SettingsError, count, secs};
use crate::{
    adapters::http::{CorsOrigins, ResponseDialect},
    app::ClientAuthMode,
};

#[derive(Debug, Clone, Args)]
pub struct HttpSettings {
    /// Connections served at once; more wait in the kernel backlog.
    #[arg(long, id = "http_max_connections", env = "MAX_CONNECTIONS", default_value_t = 10_000, value_parser = count(1..=1_000_000))]
    pub max_connections: usize,
    /// Seconds a client has to send a connection's first bytes and a request's headers; also the
    /// idle limit of HTTP/1 keep-alive and of HTTP/2 connections with no open stream.
    #[arg(long, env = "HEADER_READ_TIMEOUT_SECS", default_value = "10", value_parser = secs(1..=3600))]
    pub header_read_timeout: Duration,
    /// Seconds a client has to send a request's body.
    #[arg(long, env = "BODY_READ_TIMEOUT_SECS", default_value = "10", value_parser = secs(1..=3600))]
    pub body_read_timeout: Duration,
    /// Seconds a whole request may take, handler included.
    #[arg(long, id = "http_request_timeout", env = "REQUEST_TIMEOUT_SECS", default_value = "30", value_parser = secs(1..=3600))]
    pub request_timeout: Duration,
    /// Registrations and unregistrations per client IP per minute; 0 switches the limit off.
    #[arg(long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = 120)]
    pub rate_limit_per_minute: u32,
    /// Burst of registrations and unregistrations one client IP may make.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,
    /// IPv6 clients are rate limited per prefix of this many bits.
    #[arg(long, env = "RATE_LIMIT_IPV6_PREFIX", default_value_t = 56, value_parser = clap::value_parser!(u8).range(1..=128))]
    pub rate_limit_ipv6_prefix: u8,
    /// Header carrying the client IP, set by a trusted proxy in front (e.g. `x-forwarded-for`;
    /// see TRUSTED_PROXIES for which address is used). Unset: the TCP peer address. Never set it
    /// without such a proxy.
    #[arg(long, env = "CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// How many trusted proxies append to CLIENT_IP_HEADER: the client's address is that many
    /// entries from the right (1: the last, for one proxy; 2 when a load balancer in front of it
    /// appends its own).
    #[arg(long, env = "TRUSTED_PROXIES", default_value_t = 1, value_parser = count(1..=64))]
    pub trusted_proxies: usize,
    /// The response envelope: `spec` (`{"status":"OK"}`) or `walletconnect` (`{"status":"SUCCESS"}`
    /// and `errors[].message`, which the WalletConnect SDKs expect).
    #[arg(long, env = "RESPONSE_DIALECT", default_value = "spec", value_parser = ResponseDialect::parse)]
    pub response_dialect: ResponseDialect,
    /// Comma-separated origins (`https://wallet.example`) or `*` whose pages may call the wallet
    /// routes (register, unregister) and the VAPID key routes from a browser; never the Relay's
    /// send or the admin API [default: no CORS headers]
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = cors_origin)]
    pub cors_allowed_origins: Vec<String>,
}

impl HttpSettings {
    /// `CORS_ALLOWED_ORIGINS` as the HTTP adapter takes it.
    pub fn cors(&self) -> Result<CorsOrigins, SettingsError> {
        CorsOrigins::parse(&self.cors_allowed_origins).map_err(SettingsError::CorsOrigins)
    }
}

/// One `CORS_ALLOWED_ORIGINS` entry, checked as the HTTP adapter will read it.
fn cors_origin(entry: &str) -> Result<String, String> {
    CorsOrigins::parse(&[entry.to_owned()]).map(|_| entry.trim().to_owned())
}

/// How wallets prove they hold the client they (un)register.
#[derive(Debug, Clone, Args)]
pub struct ClientAuthSettings {
    /// Client JWTs on registration and unregistration: `optional` (verified when present),
    /// `required` (a request without one gets 401) or `off` (ignored).
    #[arg(long, env = "CLIENT_AUTH", default_value = "optional", value_parser = ClientAuthMode::parse)]
    pub mode: ClientAuthMode,
    /// The URLs wallets reach this server at, comma-separated: the accepted `aud` of client JWTs
    /// [default: http://localhost:{PORT}]
    #[arg(long, env = "PUBLIC_URL", value_parser = parse_public_urls)]
    pub public_urls: Option<PublicUrls>,
}

impl ClientAuthSettings {
    /// The accepted JWT audiences: `PUBLIC_URL`, or this server on localhost at the port it
    /// actually listens on (which differs from `PORT` when that is 0).
    pub fn audiences(&self, listening_port: u16) -> Vec<String> {
        match &self.public_urls {
            Some(urls) => urls.clone(),
            None => vec![Self::local_audience(listening_port)],
        }
    }

    /// The audience without `PUBLIC_URL`: this server on localhost at `port`.
    pub fn local_audience(port: u16) -> String {
        format!("http://localhost:{port}")
    }
}

/// The parsed `PUBLIC_URL`. An alias, so that clap takes the whole comma-separated text as one
/// value (it would make a `Vec` field a repeated flag).
pub type PublicUrls = Vec<String>;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_http_urls_and_name_the_audiences() {
        assert_eq!(parse_public_urls(" http://a , https://b,").unwrap(), ["http://a", "https://b"]);
        assert!(parse_public_urls(",").is_err());
        assert!(parse_public_urls("ftp://x").unwrap_err().contains("ftp://x"));
        let mut s = ClientAuthSettings::default();
        assert_eq!(s.audiences(4000), ["http://localhost:4000"]);
        s.public_urls = Some(vec!["https://push.example".into()]);
        assert_eq!(s.audiences(4000), ["https://push.example"]);
    }
}
