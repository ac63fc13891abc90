//! Web Push / UnifiedPush for the default project: the VAPID key and subject, the message TTL,
//! the hosts the endpoint guard lets through, and the connections per push service.

use clap::Args;

use super::{SettingsError, count, non_blank, secret};
use crate::domain::Secret;

#[derive(Debug, Clone, Args)]
pub struct WebPushSettings {
    /// The default project's VAPID private key: a PEM file's path, or the PEM text itself
    /// (`push-server keygen --vapid` writes one). Setting it turns Web Push on.
    #[arg(long, env = "WEBPUSH_VAPID_PRIVATE_KEY", hide_env_values = true, value_parser = secret)]
    pub vapid_private_key: Option<Secret<String>>,
    /// Who push services can reach about this server's messages: `mailto:` or an `https://` URL.
    #[arg(long, env = "WEBPUSH_SUBJECT")]
    pub subject: Option<String>,
    /// How long (seconds) a push service keeps a message for a device that is offline.
    #[arg(long, env = "WEBPUSH_TTL_SECS", default_value_t = 2_419_200, value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    pub ttl_secs: u64,
    /// Comma-separated `host` or `host:port`: endpoints are restricted to these hosts, which may
    /// then be private, loopback or `http://` (a self-hosted push service) [default: any public
    /// https:// host]
    #[arg(long, env = "WEBPUSH_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// HTTP/1.1 connections per push service origin (an HTTP/2 origin multiplexes this many
    /// times 100 streams on one), per project.
    #[arg(long, id = "webpush_max_connections", env = "WEBPUSH_MAX_CONNECTIONS", default_value_t = 8, value_parser = count(1..=256))]
    pub max_connections: usize,
}

/// The default project's VAPID key as the settings give it.
#[derive(Debug, Clone, Copy)]
pub enum VapidKeySource<'a> {
    /// PEM text given inline.
    Inline(&'a str),
    /// A file holding the PEM.
    Path(&'a str),
}

impl WebPushSettings {
    pub fn is_configured(&self) -> bool {
        self.vapid_private_key.is_some()
    }

    /// The key and the subject, `None` when no key is set; a key without a subject is refused
    /// (push services may refuse a sender they cannot reach).
    pub fn credentials(&self) -> Result<Option<(VapidKeySource<'_>, &str)>, SettingsError> {
        let Some(key) = &self.vapid_private_key else { return Ok(None) };
        let subject = non_blank(&self.subject).ok_or(SettingsError::WebPushSubjectMissing)?;
        let key = key.expose().trim();
        let source =
            if key.starts_with("-----BEGIN") { VapidKeySource::Inline(key) } else { VapidKeySource::Path(key) };
        Ok(Some((source, subject)))
    }

    /// The allowed hosts, trimmed, blanks dropped.
    pub fn allowed_hosts(&self) -> Vec<String> {
        self.allowed_hosts.iter().map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_needs_a_subject_and_is_inline_pem_or_a_path() {
        let mut s = WebPushSettings::default();
        assert!(s.credentials().unwrap().is_none());
        s.vapid_private_key = Some(Secret::new("/etc/vapid.pem".into()));
        assert!(matches!(s.credentials(), Err(SettingsError::WebPushSubjectMissing)));
        s.subject = Some("mailto:ops@example.com".into());
        assert!(matches!(
            s.credentials().unwrap(),
            Some((VapidKeySource::Path("/etc/vapid.pem"), "mailto:ops@example.com"))
        ));
        s.vapid_private_key = Some(Secret::new("\n-----BEGIN PRIVATE KEY-----\n...".into()));
        assert!(matches!(s.credentials().unwrap(), Some((VapidKeySource::Inline(_), _))));
        s.allowed_hosts = vec![" a:1".into(), "".into(), "b".into()];
        assert_eq!(s.allowed_hosts(), ["a:1", "b"]);
    }
}
