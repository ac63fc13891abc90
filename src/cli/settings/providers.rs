//! The push providers of the default project: APNS and FCM credentials and endpoints, their
//! connection pools, and how every provider (the projects' too) retries and times out.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use clap::Args;

use super::{SettingsError, count, millis, non_blank, parse_switch, secret};
use crate::domain::Secret;

#[derive(Debug, Clone, Args)]
pub struct ApnsSettings {
    /// The app's bundle id, sent as `apns-topic`.
    #[arg(long, env = "APNS_TOPIC")]
    pub topic: Option<String>,
    /// APNS token auth: the `.p8` key file.
    #[arg(long, env = "APNS_KEY_PATH")]
    pub key_path: Option<PathBuf>,
    /// APNS token auth: the key's id.
    #[arg(long, env = "APNS_KEY_ID")]
    pub key_id: Option<String>,
    /// APNS token auth: the team id.
    #[arg(long, env = "APNS_TEAM_ID")]
    pub team_id: Option<String>,
    /// APNS certificate auth: a `.p12` file, or PEM with certificate and key.
    #[arg(long, env = "APNS_CERT_PATH")]
    pub cert_path: Option<PathBuf>,
    /// Password of the `.p12` file.
    #[arg(long, env = "APNS_CERT_PASSWORD", hide_env_values = true, value_parser = secret)]
    pub cert_password: Option<Secret<String>>,
    /// Base URL for `apns` clients [default: https://api.push.apple.com]
    #[arg(long, id = "apns_endpoint", env = "APNS_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Base URL for `apns-sandbox` clients [default: https://api.sandbox.push.apple.com]
    #[arg(long, env = "APNS_SANDBOX_ENDPOINT")]
    pub sandbox_endpoint: Option<String>,
    /// Alert title for encrypted notifications.
    #[arg(long, env = "APNS_PLACEHOLDER_TITLE", default_value = "You have new notifications")]
    pub placeholder_title: String,
    /// HTTP/2 connections per APNS endpoint (production, sandbox), per set of credentials.
    #[arg(long, id = "apns_max_connections", env = "APNS_MAX_CONNECTIONS", default_value_t = 8, value_parser = count(1..=256))]
    pub max_connections: usize,
}

/// The default project's APNS credentials as the settings name them: the topic and where the
/// key or the certificate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApnsSource<'a> {
    pub topic: &'a str,
    pub auth: ApnsAuthSource<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApnsAuthSource<'a> {
    /// `APNS_KEY_PATH` with `APNS_KEY_ID` and `APNS_TEAM_ID`.
    Token { key_path: &'a Path, key_id: &'a str, team_id: &'a str },
    /// `APNS_CERT_PATH` with `APNS_CERT_PASSWORD`.
    Certificate { cert_path: &'a Path, password: Option<&'a Secret<String>> },
}

impl ApnsSettings {
    /// True when any credential is set: the operator means to use APNS.
    pub fn is_configured(&self) -> bool {
        self.key_path.is_some() || self.cert_path.is_some()
    }

    /// The credentials, `None` when none are set. Token auth and certificate auth exclude each
    /// other: with both set, which one is in force would be a guess, so the settings are refused.
    pub fn credentials(&self) -> Result<Option<ApnsSource<'_>>, SettingsError> {
        if !self.is_configured() {
            return Ok(None);
        }
        if self.key_path.is_some() && self.cert_path.is_some() {
            return Err(SettingsError::ApnsAuthAmbiguous);
        }
        let topic = non_blank(&self.topic).ok_or(SettingsError::ApnsTopicMissing)?;
        let auth = match (&self.key_path, &self.cert_path) {
            (Some(key_path), _) => {
                let (Some(key_id), Some(team_id)) = (non_blank(&self.key_id), non_blank(&self.team_id)) else {
                    return Err(SettingsError::ApnsKeyIdsMissing);
                };
                ApnsAuthSource::Token { key_path, key_id, team_id }
            }
            (None, Some(cert_path)) => ApnsAuthSource::Certificate { cert_path, password: self.cert_password.as_ref() },
            (None, None) => unreachable!("is_configured"),
        };
        Ok(Some(ApnsSource { topic, auth }))
    }
}

#[derive(Debug, Clone, Args)]
pub struct FcmSettings {
    /// The FCM service-account JSON.
    #[arg(long, env = "FCM_CREDENTIALS_PATH")]
    pub credentials_path: Option<PathBuf>,
    /// The Firebase project [default: project_id from the credentials]
    #[arg(long, env = "FCM_PROJECT_ID")]
    pub project_id: Option<String>,
    /// Base URL of the FCM v1 API [default: https://fcm.googleapis.com]
    #[arg(long, id = "fcm_endpoint", env = "FCM_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Speak HTTP/2 with prior knowledge to an http:// FCM_ENDPOINT (benchmark fakes) instead of HTTP/1.1.
    #[arg(long, env = "FCM_CLEARTEXT_HTTP2", default_value = "false", value_parser = parse_switch)]
    pub cleartext_http2: bool,
    /// HTTP/2 connections to FCM, per set of credentials.
    #[arg(long, id = "fcm_max_connections", env = "FCM_MAX_CONNECTIONS", default_value_t = 8, value_parser = count(1..=256))]
    pub max_connections: usize,
}

impl FcmSettings {
    pub fn is_configured(&self) -> bool {
        self.credentials_path.is_some()
    }

    /// `FCM_PROJECT_ID` when set to something.
    pub fn project_id(&self) -> Option<&str> {
        non_blank(&self.project_id)
    }
}

/// How real providers retry, time out and queue; every provider of the server, the projects'
/// too, is built with these.
#[derive(Debug, Clone, Args)]
pub struct ProviderSettings {
    /// Sends waiting for a provider stream (per provider) before further ones get 503 provider_busy.
    #[arg(long, env = "PROVIDER_MAX_PENDING", default_value_t = 10_000, value_parser = count(1..=10_000_000))]
    pub max_pending: usize,
    /// Bound on one provider HTTP request, in milliseconds.
    #[arg(long, id = "provider_timeout", env = "PROVIDER_TIMEOUT_MS", default_value = "5000", value_parser = millis(100..=15_000))]
    pub request_timeout: Duration,
    /// Attempts for transient provider failures (3 to 6).
    #[arg(long, env = "PROVIDER_MAX_ATTEMPTS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(3..=6))]
    pub max_attempts: u32,
    /// Bound on all attempts of one delivery together: a 502 comes well within the contract's
    /// 15 s. Not a flag; tests shorten it.
    #[arg(skip = Duration::from_millis(14_000))]
    pub total_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(dir: &Path) -> ApnsSettings {
        ApnsSettings {
            topic: Some(" com.example ".into()),
            key_path: Some(dir.join("k.p8")),
            key_id: Some("K".into()),
            team_id: Some("T".into()),
            ..Default::default()
        }
    }

    #[test]
    fn pools_and_retries_parse_from_their_flags() {
        let s = super::super::tests::parse(&["--apns-max-connections", "3", "--provider-timeout-ms", "250"]);
        assert_eq!((s.apns.max_connections, s.fcm.max_connections), (3, 8));
        assert_eq!(s.provider.request_timeout, Duration::from_millis(250));
        assert_eq!(s.provider.total_timeout, Duration::from_millis(14_000), "a default that is no flag");
        assert_eq!(ApnsSettings::default().max_connections, 8);
    }

    #[test]
    fn apns_credentials_need_a_topic_one_auth_and_the_key_ids() {
        let dir = Path::new("/keys");
        assert_eq!(ApnsSettings::default().credentials(), Ok(None));
        let s = token(dir);
        assert_eq!(
            s.credentials(),
            Ok(Some(ApnsSource {
                topic: "com.example",
                auth: ApnsAuthSource::Token { key_path: &dir.join("k.p8"), key_id: "K", team_id: "T" }
            }))
        );
        let both = ApnsSettings { cert_path: Some(dir.join("c.p12")), ..token(dir) };
        assert_eq!(both.credentials(), Err(SettingsError::ApnsAuthAmbiguous));
        let no_topic = ApnsSettings { topic: Some(" ".into()), ..token(dir) };
        assert_eq!(no_topic.credentials(), Err(SettingsError::ApnsTopicMissing));
        let no_team = ApnsSettings { team_id: None, ..token(dir) };
        assert_eq!(no_team.credentials(), Err(SettingsError::ApnsKeyIdsMissing));
        let cert = ApnsSettings { key_path: None, cert_path: Some(dir.join("c.p12")), ..token(dir) };
        assert!(matches!(
            cert.credentials(),
            Ok(Some(ApnsSource { auth: ApnsAuthSource::Certificate { password: None, .. }, .. }))
        ));
    }
}
