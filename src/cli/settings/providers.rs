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
    /// WalletConnect's name: `certificate` or `token`, which of the two sets of credentials is
    /// used when both are set.
    #[arg(long, env = "APNS_TYPE", ignore_case = true, value_parser = ["certificate", "token"])]
    pub apns_type: Option<String>,
    /// WalletConnect's name: base64 of the `.p12` (APNS_CERT_PATH's content, inline).
    #[arg(long, env = "APNS_CERTIFICATE", hide_env_values = true, value_parser = secret)]
    pub certificate: Option<Secret<String>>,
    /// WalletConnect's name for APNS_CERT_PASSWORD.
    #[arg(long, env = "APNS_CERTIFICATE_PASSWORD", hide_env_values = true, value_parser = secret)]
    pub certificate_password: Option<Secret<String>>,
    /// WalletConnect's name: base64 of the `.p8` key, or its PEM text (APNS_KEY_PATH's content,
    /// inline).
    #[arg(long, env = "APNS_PKCS8_PEM", hide_env_values = true, value_parser = secret)]
    pub pkcs8_pem: Option<Secret<String>>,
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
    /// `APNS_PKCS8_PEM` (base64 of the `.p8`, or PEM text) with `APNS_KEY_ID` and `APNS_TEAM_ID`.
    TokenInline { key: &'a Secret<String>, key_id: &'a str, team_id: &'a str },
    /// `APNS_CERT_PATH` with `APNS_CERT_PASSWORD`.
    Certificate { cert_path: &'a Path, password: Option<&'a Secret<String>> },
    /// `APNS_CERTIFICATE` (base64 of the `.p12`) with its password.
    CertificateInline { certificate: &'a Secret<String>, password: Option<&'a Secret<String>> },
}

/// A secret setting that is set to something.
fn set(value: &Option<Secret<String>>) -> Option<&Secret<String>> {
    value.as_ref().filter(|v| !v.expose().trim().is_empty())
}

/// One thing by our name or by WalletConnect's (each: whether it is set), never both.
fn one_of(ours: (&'static str, bool), theirs: (&'static str, bool)) -> Result<(), SettingsError> {
    match (ours, theirs) {
        ((ours, true), (theirs, true)) => Err(SettingsError::BothNames { ours, theirs }),
        _ => Ok(()),
    }
}

impl ApnsSettings {
    /// True when any credential is set: the operator means to use APNS.
    pub fn is_configured(&self) -> bool {
        self.key_path.is_some()
            || self.cert_path.is_some()
            || set(&self.certificate).is_some()
            || set(&self.pkcs8_pem).is_some()
    }

    /// The credentials, `None` when none are set. Token auth and certificate auth exclude each
    /// other unless `APNS_TYPE` says which: with both set, which one is in force would be a
    /// guess, so the settings are refused. Our name and WalletConnect's for one thing (the key,
    /// the certificate, its password) are refused together.
    pub fn credentials(&self) -> Result<Option<ApnsSource<'_>>, SettingsError> {
        let (key_inline, cert_inline) = (set(&self.pkcs8_pem), set(&self.certificate));
        one_of(("APNS_KEY_PATH", self.key_path.is_some()), ("APNS_PKCS8_PEM", key_inline.is_some()))?;
        one_of(("APNS_CERT_PATH", self.cert_path.is_some()), ("APNS_CERTIFICATE", cert_inline.is_some()))?;
        one_of(
            ("APNS_CERT_PASSWORD", self.cert_password.is_some()),
            ("APNS_CERTIFICATE_PASSWORD", self.certificate_password.is_some()),
        )?;
        let password = self.cert_password.as_ref().or(self.certificate_password.as_ref());
        let token = self.key_path.is_some() || key_inline.is_some();
        let certificate = self.cert_path.is_some() || cert_inline.is_some();
        let use_token = match (self.apns_type.as_deref().map(str::to_ascii_lowercase).as_deref(), token, certificate) {
            (Some("token"), false, _) => return Err(SettingsError::ApnsTypeWithoutCredentials("token")),
            (Some("certificate"), _, false) => return Err(SettingsError::ApnsTypeWithoutCredentials("certificate")),
            (Some(chosen), _, _) => chosen == "token",
            (None, false, false) => return Ok(None),
            (None, true, true) => return Err(SettingsError::ApnsAuthAmbiguous),
            (None, token, _) => token,
        };
        let topic = non_blank(&self.topic).ok_or(SettingsError::ApnsTopicMissing)?;
        let auth = if use_token {
            let (Some(key_id), Some(team_id)) = (non_blank(&self.key_id), non_blank(&self.team_id)) else {
                return Err(SettingsError::ApnsKeyIdsMissing);
            };
            match (&self.key_path, key_inline) {
                (Some(key_path), _) => ApnsAuthSource::Token { key_path, key_id, team_id },
                (None, Some(key)) => ApnsAuthSource::TokenInline { key, key_id, team_id },
                (None, None) => unreachable!("token credentials are set"),
            }
        } else {
            match (&self.cert_path, cert_inline) {
                (Some(cert_path), _) => ApnsAuthSource::Certificate { cert_path, password },
                (None, Some(certificate)) => ApnsAuthSource::CertificateInline { certificate, password },
                (None, None) => unreachable!("certificate credentials are set"),
            }
        };
        Ok(Some(ApnsSource { topic, auth }))
    }
}

#[derive(Debug, Clone, Args)]
pub struct FcmSettings {
    /// The FCM service-account JSON.
    #[arg(long, env = "FCM_CREDENTIALS_PATH")]
    pub credentials_path: Option<PathBuf>,
    /// WalletConnect's name: the service-account JSON itself (FCM_CREDENTIALS_PATH's content,
    /// inline).
    #[arg(long, env = "FCM_V1_CREDENTIALS", hide_env_values = true, value_parser = secret)]
    pub v1_credentials: Option<Secret<String>>,
    /// WalletConnect's legacy FCM server key: refused (Google shut the legacy API down).
    #[arg(long, env = "FCM_API_KEY", hide_env_values = true, value_parser = secret)]
    pub api_key: Option<Secret<String>>,
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

/// Where the default project's service account comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FcmSource<'a> {
    /// `FCM_CREDENTIALS_PATH`.
    Path(&'a Path),
    /// `FCM_V1_CREDENTIALS`.
    Inline(&'a Secret<String>),
}

impl FcmSettings {
    pub fn is_configured(&self) -> bool {
        self.credentials_path.is_some() || set(&self.v1_credentials).is_some()
    }

    /// The service account, `None` when none is set; `FCM_API_KEY` (legacy FCM) is refused, and
    /// so are both names for it.
    pub fn source(&self) -> Result<Option<FcmSource<'_>>, SettingsError> {
        if set(&self.api_key).is_some() {
            return Err(SettingsError::FcmApiKey);
        }
        let path = ("FCM_CREDENTIALS_PATH", self.credentials_path.is_some());
        one_of(path, ("FCM_V1_CREDENTIALS", set(&self.v1_credentials).is_some()))?;
        Ok(match (&self.credentials_path, set(&self.v1_credentials)) {
            (Some(path), _) => Some(FcmSource::Path(path)),
            (None, Some(json)) => Some(FcmSource::Inline(json)),
            (None, None) => None,
        })
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

    #[test]
    fn walletconnect_names_are_accepted_and_never_beside_ours() {
        let parse = |args: &[&str]| super::super::tests::parse(args);
        let base = ["--apns-topic", "com.example", "--apns-key-id", "K", "--apns-team-id", "T"];
        let inline = parse(&[&base[..], &["--apns-pkcs8-pem", "a2V5"]].concat());
        assert!(matches!(
            inline.apns.credentials(),
            Ok(Some(ApnsSource { auth: ApnsAuthSource::TokenInline { key_id: "K", .. }, .. }))
        ));
        let both = parse(&[&base[..], &["--apns-pkcs8-pem", "a2V5", "--apns-key-path", "/k.p8"]].concat());
        assert_eq!(
            both.apns.credentials(),
            Err(SettingsError::BothNames { ours: "APNS_KEY_PATH", theirs: "APNS_PKCS8_PEM" })
        );
        let passwords =
            parse(&["--apns-certificate", "cDEy", "--apns-cert-password", "a", "--apns-certificate-password", "b"]);
        assert!(
            passwords
                .apns
                .credentials()
                .unwrap_err()
                .to_string()
                .starts_with("APNS_CERT_PASSWORD and APNS_CERTIFICATE_PASSWORD")
        );
        // APNS_TYPE picks one of two sets, as their server does, and must find the one it names.
        let two = [&base[..], &["--apns-pkcs8-pem", "a2V5", "--apns-certificate", "cDEy"]].concat();
        assert_eq!(parse(&two).apns.credentials(), Err(SettingsError::ApnsAuthAmbiguous));
        let chosen = parse(&[&two[..], &["--apns-type", "certificate"]].concat());
        assert!(matches!(
            chosen.apns.credentials(),
            Ok(Some(ApnsSource { auth: ApnsAuthSource::CertificateInline { .. }, .. }))
        ));
        let missing = parse(&[&base[..], &["--apns-certificate", "cDEy", "--apns-type", "token"]].concat());
        assert_eq!(missing.apns.credentials(), Err(SettingsError::ApnsTypeWithoutCredentials("token")));
    }

    #[test]
    fn fcm_by_either_name_and_the_legacy_key_refused() {
        let parse = |args: &[&str]| super::super::tests::parse(args);
        assert!(matches!(parse(&["--fcm-v1-credentials", "{}"]).fcm.source(), Ok(Some(FcmSource::Inline(_)))));
        let both = parse(&["--fcm-v1-credentials", "{}", "--fcm-credentials-path", "/sa.json"]);
        assert_eq!(
            both.fcm.source(),
            Err(SettingsError::BothNames { ours: "FCM_CREDENTIALS_PATH", theirs: "FCM_V1_CREDENTIALS" })
        );
        let legacy = parse(&["--fcm-api-key", "AAAA-server-key"]);
        let reason = legacy.fcm.source().unwrap_err().to_string();
        assert!(reason.starts_with("FCM_API_KEY is set") && !reason.contains("AAAA"), "{reason}");
        assert_eq!(parse(&["--fcm-api-key", " "]).fcm.source(), Ok(None), "their example file leaves it empty");
    }
}
