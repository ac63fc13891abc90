//! How Relay requests are authenticated: the Relay's key (configured, or fetched from the Relay)
//! and how far a signed request's timestamp may stray.

use std::time::Duration;

use clap::Args;

use super::{SettingsError, millis, parse_switch, secs};
use crate::domain::RelayPublicKey;

/// The largest accepted skew: past an hour a captured request stays replayable for too long.
pub const MAX_CLOCK_SKEW_SECS: u64 = 3600;

#[derive(Debug, Clone, Args)]
pub struct RelaySettings {
    /// Hex Ed25519 public key of the Relay.
    #[arg(long, env = "RELAY_PUBLIC_KEY")]
    pub public_key: Option<String>,
    /// Where to fetch `/public-key` when no key is configured.
    #[arg(long, id = "relay_url", env = "RELAY_URL")]
    pub url: Option<String>,
    /// `false`/`0` switches Relay signature checks off.
    #[arg(long, env = "VALIDATE_SIGNATURES", default_value_t = true, value_parser = parse_switch)]
    pub validate_signatures: bool,
    /// How far a signed request's timestamp may be from the server clock, in seconds (at most
    /// 3600; the dedup window must be at least twice as long).
    #[arg(long, env = "SIGNATURE_MAX_SKEW_SECS", default_value = "300", value_parser = secs(1..=MAX_CLOCK_SKEW_SECS))]
    pub max_clock_skew: Duration,
    /// How often a key fetched from RELAY_URL is refreshed, in seconds.
    #[arg(long, env = "RELAY_KEY_REFRESH_SECS", default_value = "3600", value_parser = secs(1..))]
    pub key_refresh: Duration,
    /// Bound on one fetch of the key from RELAY_URL, in milliseconds.
    #[arg(long, env = "RELAY_KEY_TIMEOUT_MS", default_value = "5000", value_parser = millis(1..))]
    pub key_timeout: Duration,
}

/// Where the Relay's key comes from, as the settings say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayKeySource {
    /// `VALIDATE_SIGNATURES=false`: no check at all.
    Off,
    /// `RELAY_PUBLIC_KEY`.
    Configured(RelayPublicKey),
    /// `RELAY_URL`, refreshed every `key_refresh`; `plain_http` when it is `http://`, which lets
    /// anyone on the network path substitute the key.
    Fetched { url: String, plain_http: bool },
    /// Checks on, and no key anywhere: every Relay request is refused.
    Unconfigured,
}

impl RelaySettings {
    /// The key source; a configured key wins over a URL.
    pub fn key_source(&self) -> Result<RelayKeySource, SettingsError> {
        if !self.validate_signatures {
            return Ok(RelayKeySource::Off);
        }
        if let Some(key) = &self.public_key {
            let key = RelayPublicKey::parse(key).map_err(|e| SettingsError::RelayPublicKey(e.to_string()))?;
            return Ok(RelayKeySource::Configured(key));
        }
        match &self.url {
            Some(url) if url.starts_with("https://") => {
                Ok(RelayKeySource::Fetched { url: url.clone(), plain_http: false })
            }
            Some(url) if url.starts_with("http://") => {
                Ok(RelayKeySource::Fetched { url: url.clone(), plain_http: true })
            }
            Some(url) => Err(SettingsError::RelayUrl(url.clone())),
            None => Ok(RelayKeySource::Unconfigured),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_source_follows_the_settings_in_order() {
        let mut r = RelaySettings::default();
        assert_eq!(r.key_source(), Ok(RelayKeySource::Unconfigured));
        r.url = Some("ftp://relay".into());
        assert_eq!(r.key_source(), Err(SettingsError::RelayUrl("ftp://relay".into())));
        r.url = Some("http://relay".into());
        assert_eq!(r.key_source(), Ok(RelayKeySource::Fetched { url: "http://relay".into(), plain_http: true }));
        r.public_key = Some("abcd".into());
        assert!(matches!(r.key_source(), Err(SettingsError::RelayPublicKey(_))));
        r.public_key = Some("11".repeat(32));
        assert!(matches!(r.key_source(), Ok(RelayKeySource::Configured(_))));
        r.validate_signatures = false;
        assert_eq!(r.key_source(), Ok(RelayKeySource::Off));
    }
}
