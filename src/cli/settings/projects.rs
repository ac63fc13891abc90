//! Several apps on one server: the admin API's token, the key that seals projects' credentials,
//! the default project's id and how long projects are cached.

use std::time::Duration;

use clap::Args;

use super::{SettingsError, secret, secs};
use crate::{
    adapters::store::credentials_cipher::CredentialsCipher,
    domain::{ProjectId, Secret},
};

/// An empty `ADMIN_TOKEN`, `CREDENTIALS_KEY` or `DEFAULT_PROJECT_ID` means unset (a variable left
/// empty in a compose file), so the fields are read through the methods below.
#[derive(Debug, Clone, Args)]
pub struct ProjectSettings {
    /// Bearer token of the admin API (`/admin/...`); unset switches the admin API off. Needs
    /// CREDENTIALS_KEY.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true, value_parser = secret)]
    pub admin_token: Option<Secret<String>>,
    /// AES-256 keys (64 hex characters each, comma-separated) that encrypt projects' credentials;
    /// the first encrypts, any decrypts. Unset: no projects are served.
    #[arg(long, env = "CREDENTIALS_KEY", hide_env_values = true, value_parser = secret)]
    pub credentials_key: Option<Secret<String>>,
    /// The default project's id: `/{id}/clients...` then reaches the environment-configured
    /// providers too.
    #[arg(long, env = "DEFAULT_PROJECT_ID")]
    pub default_project_id: Option<String>,
    /// How old a project's cached credentials may get before they are read again, in seconds.
    #[arg(long, id = "project_refresh_secs", env = "PROJECT_REFRESH_SECS", default_value = "30", value_parser = secs(1..))]
    pub refresh: Duration,
    /// How long a project's provider that refused its credentials stays suspended, in seconds
    /// (the contract's 600; shorter values are for tests).
    #[arg(long, env = "PROJECT_SUSPENSION_SECS", default_value = "600", value_parser = secs(1..=600), hide = true)]
    pub suspension: Duration,
    /// Projects unused this long are dropped with their providers and connections, in seconds.
    #[arg(long, env = "PROJECT_IDLE_SECS", default_value = "900", value_parser = secs(1..))]
    pub idle: Duration,
}

impl ProjectSettings {
    /// The admin API's bearer token; `None` switches the admin API off.
    pub fn admin_token(&self) -> Option<&Secret<String>> {
        self.admin_token.as_ref().filter(|t| !t.expose().is_empty())
    }

    /// The cipher of projects' credentials; `None` when no key is set (no named projects are
    /// served). An admin API without it could not store anything, so `ADMIN_TOKEN` needs it.
    pub fn cipher(&self) -> Result<Option<CredentialsCipher>, SettingsError> {
        match (self.credentials_key.as_ref().filter(|k| !k.expose().is_empty()), self.admin_token()) {
            (None, Some(_)) => Err(SettingsError::AdminTokenWithoutKey),
            (None, None) => Ok(None),
            (Some(key), _) => CredentialsCipher::parse(key.expose()).map(Some).map_err(SettingsError::CredentialsKey),
        }
    }

    /// The id the default project is also reachable under.
    pub fn default_project(&self) -> Result<Option<ProjectId>, SettingsError> {
        let id = self.default_project_id.as_deref().filter(|id| !id.is_empty());
        id.map(|id| ProjectId::parse(id).map_err(SettingsError::DefaultProjectId)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "8f1c2d3e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3";

    #[test]
    fn the_admin_api_needs_a_credentials_key_and_empty_means_unset() {
        let mut p = ProjectSettings::default();
        assert!(matches!(p.cipher(), Ok(None)));
        p.admin_token = Some(Secret::new("t".into()));
        assert_eq!(p.cipher().unwrap_err(), SettingsError::AdminTokenWithoutKey);
        p.credentials_key = Some(Secret::new(String::new()));
        assert_eq!(p.cipher().unwrap_err(), SettingsError::AdminTokenWithoutKey);
        p.credentials_key = Some(Secret::new(KEY.into()));
        assert!(matches!(p.cipher(), Ok(Some(_))));
        p.admin_token = Some(Secret::new(String::new()));
        assert!(p.admin_token().is_none());
    }

    #[test]
    fn a_malformed_key_is_named_without_repeating_it() {
        let p = ProjectSettings { credentials_key: Some(Secret::new(format!("{KEY},zz"))), ..Default::default() };
        let e = p.cipher().unwrap_err();
        assert!(matches!(e, SettingsError::CredentialsKey(_)), "{e:?}");
        assert!(e.to_string().starts_with("CREDENTIALS_KEY: ") && !e.to_string().contains(KEY), "{e}");
    }

    #[test]
    fn the_default_project_id_is_a_project_id() {
        let mut p = ProjectSettings::default();
        assert_eq!(p.default_project(), Ok(None));
        p.default_project_id = Some(String::new());
        assert_eq!(p.default_project(), Ok(None));
        p.default_project_id = Some("w1".into());
        assert_eq!(p.default_project(), Ok(Some(ProjectId::parse("w1").unwrap())));
        p.default_project_id = Some("a.b".into());
        assert!(matches!(p.default_project(), Err(SettingsError::DefaultProjectId(_))));
    }
}
