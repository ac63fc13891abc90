//! WalletConnect's push server's own setting names that have no place in another section: its
//! log level and Prometheus port, and the names of its features that push-server does not have
//! (named in a warning at start). Their provider credentials (`APNS_CERTIFICATE`,
//! `APNS_PKCS8_PEM`, `FCM_V1_CREDENTIALS`, ...) are accepted beside ours in `providers`.

use base64::{Engine, engine::general_purpose::STANDARD};
use clap::Args;

use super::SettingsError;

#[derive(Debug, Clone, Default, Args)]
pub struct WalletConnectSettings {
    /// WalletConnect's name for the log filter, as `RUST_LOG` (`info`, `debug,hyper=warn`, ...).
    #[arg(long, env = "LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Serve `/metrics` on this port (its own listener, on HOST) instead of the API port.
    #[arg(long, env = "TELEMETRY_PROMETHEUS_PORT")]
    pub prometheus_port: Option<u16>,
}

/// Settings of WalletConnect's server for features push-server does not have: set, each is named
/// in a warning at start (and otherwise ignored), so a team switching sees what it leaves behind.
pub const WITHOUT_COUNTERPART: &[&str] = &[
    "TENANT_DATABASE_URL",
    "JWT_SECRET",
    "S3_ENDPOINT",
    "GEOIP_DB_BUCKET",
    "GEOIP_DB_KEY",
    "ANALYTICS_EXPORT_BUCKET",
    "BLOCKED_COUNTRIES",
    "DISABLE_HEADER",
    "IS_TEST",
];

impl WalletConnectSettings {
    /// The log filter: `LOG_LEVEL` or `default`; `LOG_LEVEL` beside `RUST_LOG` (`rust_log`, the
    /// environment's) names one thing twice and is refused.
    pub fn log_filter<'a>(&'a self, rust_log: Option<&str>, default: &'a str) -> Result<&'a str, SettingsError> {
        match (self.log_level.as_deref().map(str::trim).filter(|l| !l.is_empty()), rust_log) {
            (Some(_), Some(_)) => Err(SettingsError::BothNames { ours: "RUST_LOG", theirs: "LOG_LEVEL" }),
            (Some(level), None) => Ok(level),
            (None, _) => Ok(default),
        }
    }
}

/// Which of [`WITHOUT_COUNTERPART`] are set (to something) in the environment `var` reads.
pub fn without_counterpart_set(var: impl Fn(&str) -> Option<String>) -> Vec<&'static str> {
    WITHOUT_COUNTERPART.iter().copied().filter(|name| var(name).is_some_and(|v| !v.trim().is_empty())).collect()
}

/// Their `.p8` key setting's text: base64 of the file, or its PEM text as it is. `None` when it
/// is neither (the caller names the setting; the value, a private key, is never repeated).
pub fn pem_text(value: &str) -> Option<String> {
    let value = value.trim();
    if value.starts_with("-----BEGIN") {
        return Some(value.to_owned());
    }
    let bytes = STANDARD.decode(value).ok()?;
    String::from_utf8(bytes).ok().filter(|pem| pem.trim_start().starts_with("-----BEGIN"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_level_is_rust_log_by_their_name_and_not_both() {
        let s = WalletConnectSettings { log_level: Some("debug,hyper=warn".into()), ..Default::default() };
        assert_eq!(s.log_filter(None, "info"), Ok("debug,hyper=warn"));
        assert_eq!(WalletConnectSettings::default().log_filter(Some("trace"), "info"), Ok("info"));
        assert!(s.log_filter(Some("trace"), "info").unwrap_err().to_string().contains("LOG_LEVEL"));
    }

    #[test]
    fn names_their_settings_without_counterpart_that_are_set() {
        let set = without_counterpart_set(|name| match name {
            "JWT_SECRET" => Some("s".into()),
            "IS_TEST" => Some(" ".into()),
            _ => None,
        });
        assert_eq!(set, ["JWT_SECRET"]);
    }

    #[test]
    fn p8_as_base64_or_pem() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
        assert_eq!(pem_text(&STANDARD.encode(pem)).as_deref(), Some(pem));
        assert_eq!(pem_text(pem).as_deref(), Some(pem));
        assert_eq!(pem_text("bm90IGEga2V5"), None, "base64, but not of a PEM file");
    }
}
