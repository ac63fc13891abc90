//! The provider factory for projects: stored credentials turned into each push adapter's own
//! configuration (with the endpoints, retries and placeholder title of this server's settings),
//! and every refusal worded after the uploaded field an operator has to fix. Beside
//! `providers.rs`, this is where the `apns` and `fcm` features are looked at for projects.

use std::sync::Arc;

#[allow(unused_imports)]
use crate::cli::settings::Settings;
use crate::{
    domain::{ApnsCredentials, FcmCredentials, ProjectId},
    ports::{ApnsFacts, CredentialProblem, ProviderFactory, PushProvider},
    telemetry::{Metrics, instrumented::InstrumentedPushProvider},
};

/// Builds every project's providers; each gets its own provider token or OAuth token and its
/// own connections, since the credentials differ.
pub struct ProjectProviderFactory {
    #[allow(dead_code)] // without `apns` and `fcm` nothing is built
    settings: Settings,
    metrics: Arc<Metrics>,
}

impl ProjectProviderFactory {
    pub fn new(settings: &Settings, metrics: Arc<Metrics>) -> Self {
        Self { settings: settings.clone(), metrics }
    }

    fn instrumented(&self, provider: Arc<dyn PushProvider>) -> Arc<dyn PushProvider> {
        Arc::new(InstrumentedPushProvider::new(provider, self.metrics.clone()))
    }
}

impl ProviderFactory for ProjectProviderFactory {
    fn check_apns(&self, credentials: &ApnsCredentials) -> Result<ApnsFacts, Vec<CredentialProblem>> {
        #[cfg(feature = "apns")]
        {
            apns::build(&self.settings, None, credentials).map(|(_, facts)| facts).map_err(|p| vec![p])
        }
        #[cfg(not(feature = "apns"))]
        {
            let _ = credentials;
            Err(vec![CredentialProblem::new("topic", "this server was built without the `apns` feature")])
        }
    }

    fn check_fcm(&self, credentials: &FcmCredentials) -> Result<(), Vec<CredentialProblem>> {
        #[cfg(feature = "fcm")]
        {
            fcm::build(&self.settings, None, credentials).map(drop).map_err(|p| vec![p])
        }
        #[cfg(not(feature = "fcm"))]
        {
            let _ = credentials;
            Err(vec![CredentialProblem::new("project_id", "this server was built without the `fcm` feature")])
        }
    }

    fn apns(&self, project: &ProjectId, credentials: &ApnsCredentials) -> Result<Arc<dyn PushProvider>, String> {
        #[cfg(feature = "apns")]
        {
            let (provider, _) = apns::build(&self.settings, Some(project), credentials).map_err(|p| p.description)?;
            Ok(self.instrumented(Arc::new(provider)))
        }
        #[cfg(not(feature = "apns"))]
        {
            let _ = (project, credentials, Self::instrumented);
            Err("this server was built without the `apns` feature".into())
        }
    }

    fn fcm(&self, project: &ProjectId, credentials: &FcmCredentials) -> Result<Arc<dyn PushProvider>, String> {
        #[cfg(feature = "fcm")]
        {
            let provider = fcm::build(&self.settings, Some(project), credentials).map_err(|p| p.description)?;
            Ok(self.instrumented(Arc::new(provider)))
        }
        #[cfg(not(feature = "fcm"))]
        {
            let _ = (project, credentials);
            Err("this server was built without the `fcm` feature".into())
        }
    }
}

/// Where the credentials came from, for the provider's error log.
#[allow(dead_code)]
fn origin(project: Option<&ProjectId>, what: &str) -> String {
    match project {
        Some(p) => format!("project '{p}' {what} (PUT /admin/projects/{p}/...)"),
        None => format!("uploaded {what}"),
    }
}

#[cfg(feature = "apns")]
mod apns {
    use super::{Settings, origin};
    use crate::{
        adapters::push::{
            apns::{
                ApnsAuth, ApnsConfig, ApnsConfigError, ApnsIdentity, ApnsProvider, IdField,
                certificate::{self, IdentityError},
            },
            pool::PoolLimits,
            retry::RetryPolicy,
        },
        domain::{ApnsCredentials, ApnsCredentialsAuth, ProjectId},
        ports::{ApnsFacts, CredentialProblem},
    };

    pub fn build(
        settings: &Settings,
        project: Option<&ProjectId>,
        credentials: &ApnsCredentials,
    ) -> Result<(ApnsProvider, ApnsFacts), CredentialProblem> {
        let mut facts = ApnsFacts::default();
        let auth = match &credentials.auth {
            ApnsCredentialsAuth::Token { key_id, team_id, key_pem } => ApnsAuth::Token {
                key_pem: key_pem.expose().as_bytes().to_vec(),
                key_id: key_id.clone(),
                team_id: team_id.clone(),
            },
            ApnsCredentialsAuth::Certificate { p12, password, .. } => {
                let identity = ApnsIdentity::Pkcs12 { der: p12.expose().clone(), password: password.expose().clone() };
                facts.certificate_not_after = certificate::not_after(&identity);
                ApnsAuth::Certificate(identity)
            }
        };
        let p = &settings.provider;
        let retry = RetryPolicy::new(p.max_attempts, p.request_timeout, p.total_timeout);
        let mut config =
            ApnsConfig::new(credentials.topic.clone(), auth, settings.apns.placeholder_title.clone(), retry);
        if let Some(endpoint) = &settings.apns.endpoint {
            config.endpoint.clone_from(endpoint);
        }
        if let Some(endpoint) = &settings.apns.sandbox_endpoint {
            config.sandbox_endpoint.clone_from(endpoint);
        }
        config.origin = origin(project, "APNS credentials");
        // Each project's provider has pools of its own, bounded like the default project's.
        config.pool = PoolLimits { max_connections: settings.apns.max_connections, max_pending: p.max_pending };
        let provider = ApnsProvider::new(config).map_err(|e| match e {
            ApnsConfigError::Topic(_) => CredentialProblem::new("topic", e.to_string()),
            ApnsConfigError::Id { field: IdField::KeyId, .. } => CredentialProblem::new("key_id", e.to_string()),
            ApnsConfigError::Id { field: IdField::TeamId, .. } => CredentialProblem::new("team_id", e.to_string()),
            ApnsConfigError::Key(reason) => {
                CredentialProblem::new("key", format!("the key {reason}; expected a P-256 PKCS#8 .p8 key (PEM)"))
            }
            ApnsConfigError::Certificate(IdentityError::Pkcs12(detail)) => CredentialProblem::new(
                "certificate",
                format!("is not a .p12 file that opens with the password given ({detail})"),
            ),
            ApnsConfigError::Certificate(other) => CredentialProblem::new("certificate", format!("the .p12 {other}")),
            // The endpoints are this server's settings, not the upload's; say so.
            ApnsConfigError::Endpoint { .. } => {
                CredentialProblem::new("topic", format!("this server's APNS endpoint settings are unusable: {e}"))
            }
        })?;
        Ok((provider, facts))
    }
}

#[cfg(feature = "fcm")]
mod fcm {
    use super::{Settings, origin};
    use crate::{
        adapters::push::{
            fcm::{FcmConfig, FcmConfigError, FcmProvider, ServiceAccount},
            pool::PoolLimits,
            retry::RetryPolicy,
        },
        domain::{FcmCredentials, ProjectId},
        ports::CredentialProblem,
    };

    pub fn build(
        settings: &Settings,
        project: Option<&ProjectId>,
        credentials: &FcmCredentials,
    ) -> Result<FcmProvider, CredentialProblem> {
        let account = ServiceAccount::parse(credentials.service_account.expose()).map_err(|e| {
            let text = e.to_string();
            // The reason names the field at fault; the key is the usual suspect.
            let field = ["type", "client_email", "token_uri", "project_id"]
                .into_iter()
                .find(|f| text.contains(&format!("\"{f}\"")) || text.starts_with(f) || text.contains(&format!("{f} ")))
                .unwrap_or("private_key");
            CredentialProblem::new(field, text)
        })?;
        let p = &settings.provider;
        let retry = RetryPolicy::new(p.max_attempts, p.request_timeout, p.total_timeout);
        let mut config = FcmConfig::new(account, credentials.project_id.clone(), retry);
        if let Some(endpoint) = &settings.fcm.endpoint {
            config.endpoint.clone_from(endpoint);
        }
        config.origin = origin(project, "FCM service account");
        config.pool = PoolLimits { max_connections: settings.fcm.max_connections, max_pending: p.max_pending };
        config.cleartext_http2 = settings.fcm.cleartext_http2;
        FcmProvider::new(config).map_err(|e| match e {
            FcmConfigError::ProjectId(_) => CredentialProblem::new("project_id", e.to_string()),
            other => CredentialProblem::new("project_id", format!("this server's FCM settings are unusable: {other}")),
        })
    }
}
