//! The push providers the settings name: files read, settings turned into each adapter's own
//! configuration, and every refusal worded after the setting an operator has to fix. Beside the
//! adapter module declarations, this is where the `apns` and `fcm` features are looked at.

use std::{path::Path, sync::Arc};

use tracing::warn;

use super::StartError;
#[cfg(any(feature = "apns", feature = "fcm"))]
use crate::adapters::push::pool::PoolLimits;
use crate::{
    adapters::push::{log_sink::LogSink, retry::RetryPolicy},
    app::Providers,
    cli::settings::{ProviderSettings, Settings},
    domain::PushType,
};

/// The providers for every push type: APNS and FCM when their credentials are set, and the log sink
/// for the other types while it is on (by default only when no real provider is configured).
pub fn providers(settings: &Settings) -> Result<Providers, StartError> {
    #[allow(unused_mut)]
    let mut providers = Providers::default();
    if let Some(source) = settings.apns.credentials()? {
        #[cfg(feature = "apns")]
        {
            // One provider for both types: it picks the production or sandbox endpoint by the
            // delivery's push type and shares one provider token between them.
            let limits = pool_limits(settings.apns.max_connections, &settings.provider);
            let apns = Arc::new(apns::provider(&settings.apns, source, retry_policy(&settings.provider), limits)?);
            providers = providers.with(PushType::Apns, apns.clone()).with(PushType::ApnsSandbox, apns);
        }
        #[cfg(not(feature = "apns"))]
        let _ = source;
        #[cfg(not(feature = "apns"))]
        return Err(StartError::NotCompiledIn { what: "APNS credentials are set", feature: "apns" });
    } else if settings.apns.topic.is_some() {
        warn!("APNS_TOPIC is set but no APNS credentials (APNS_KEY_PATH or APNS_CERT_PATH); APNS stays off");
    }
    if settings.fcm.is_configured() {
        #[cfg(feature = "fcm")]
        {
            let limits = pool_limits(settings.fcm.max_connections, &settings.provider);
            let fcm = fcm::provider(&settings.fcm, retry_policy(&settings.provider), limits)?;
            providers = providers.with(PushType::Fcm, Arc::new(fcm));
        }
        #[cfg(not(feature = "fcm"))]
        return Err(StartError::NotCompiledIn { what: "FCM_CREDENTIALS_PATH is set", feature: "fcm" });
    }
    let any_real = PushType::ALL.iter().any(|t| providers.supports(*t));
    if settings.log_sink.unwrap_or(!any_real) {
        let path = settings.log_sink_path.as_deref();
        let sink = LogSink::new(path, &settings.apns.placeholder_title)
            .map_err(|error| StartError::LogSink { path: path.unwrap_or(Path::new("")).to_owned(), error })?;
        let sink = Arc::new(sink);
        for t in PushType::ALL {
            if !providers.supports(t) {
                providers = providers.with(t, sink.clone());
            }
        }
    } else if settings.log_sink_path.is_some() {
        warn!(
            "LOG_SINK_PATH is set but the log sink is off (a real provider is configured; set LOG_SINK=true to keep it)"
        );
    }
    Ok(providers)
}

/// `PROVIDER_MAX_ATTEMPTS` attempts of at most `PROVIDER_TIMEOUT_MS` within
/// `PROVIDER_TOTAL_TIMEOUT_MS`.
#[allow(dead_code)] // without `apns` and `fcm` nothing retries
fn retry_policy(provider: &ProviderSettings) -> RetryPolicy {
    RetryPolicy::new(provider.max_attempts, provider.request_timeout, provider.total_timeout)
}

/// `{APNS,FCM}_MAX_CONNECTIONS` and `PROVIDER_MAX_PENDING` for one provider's pools.
#[cfg(any(feature = "apns", feature = "fcm"))]
fn pool_limits(max_connections: usize, provider: &ProviderSettings) -> PoolLimits {
    PoolLimits { max_connections, max_pending: provider.max_pending }
}

#[cfg(feature = "apns")]
mod apns {
    use std::path::Path;

    use super::StartError;
    use crate::{
        adapters::push::{
            apns::{
                ApnsAuth, ApnsConfig, ApnsConfigError, ApnsIdentity, ApnsProvider, Environment, IdField,
                certificate::IdentityError,
            },
            pool::PoolLimits,
            retry::RetryPolicy,
        },
        cli::settings::{ApnsAuthSource, ApnsSettings, ApnsSource},
    };

    /// What an operator checks when APNS refuses the credentials.
    const ORIGIN: &str = "APNS_KEY_PATH/APNS_KEY_ID/APNS_TEAM_ID (or APNS_CERT_PATH), APNS_TOPIC and the endpoints";

    /// The provider of the credentials `source` names (the settings' rules already hold).
    pub fn provider(
        settings: &ApnsSettings,
        source: ApnsSource<'_>,
        retry: RetryPolicy,
        pool: PoolLimits,
    ) -> Result<ApnsProvider, StartError> {
        let topic = source.topic;
        let (auth, file) = match source.auth {
            ApnsAuthSource::Token { key_path, key_id, team_id } => {
                let key_pem = read("APNS_KEY_PATH", key_path)?;
                (ApnsAuth::Token { key_pem, key_id: key_id.to_owned(), team_id: team_id.to_owned() }, key_path)
            }
            ApnsAuthSource::Certificate { cert_path, password } => {
                let password = password.map(|p| p.expose().as_str());
                (ApnsAuth::Certificate(ApnsIdentity::detect(read("APNS_CERT_PATH", cert_path)?, password)), cert_path)
            }
        };
        let mut config = ApnsConfig::new(topic.to_owned(), auth, settings.placeholder_title.clone(), retry);
        if let Some(endpoint) = &settings.endpoint {
            config.endpoint.clone_from(endpoint);
        }
        if let Some(endpoint) = &settings.sandbox_endpoint {
            config.sandbox_endpoint.clone_from(endpoint);
        }
        config.origin = ORIGIN.to_owned();
        config.pool = pool;
        ApnsProvider::new(config).map_err(|e| StartError::Provider(reason(e, file)))
    }

    fn read(name: &str, path: &Path) -> Result<Vec<u8>, StartError> {
        std::fs::read(path).map_err(|e| StartError::Provider(format!("{name} {}: cannot be read: {e}", path.display())))
    }

    /// The adapter's reason, worded after the setting that holds the fault.
    fn reason(error: ApnsConfigError, file: &Path) -> String {
        let file = file.display();
        match error {
            ApnsConfigError::Topic(topic) => format!("APNS_TOPIC '{topic}' is not a bundle id"),
            ApnsConfigError::Id { field, value } => {
                let name = match field {
                    IdField::KeyId => "APNS_KEY_ID",
                    IdField::TeamId => "APNS_TEAM_ID",
                };
                format!("{name} '{value}' must be letters and digits (Apple's 10-character id)")
            }
            ApnsConfigError::Key(reason) => format!("APNS_KEY_PATH {file}: {reason}"),
            ApnsConfigError::Certificate(IdentityError::Pkcs12(detail)) => format!(
                "APNS_CERT_PATH {file}: is neither PEM nor a PKCS#12 file this server can open with \
                 APNS_CERT_PASSWORD ({detail})"
            ),
            ApnsConfigError::Certificate(IdentityError::EncryptedPem) => format!(
                "APNS_CERT_PATH {file}: holds an encrypted PEM key; use the .p12 with APNS_CERT_PASSWORD, or \
                 decrypt the key (openssl pkcs8 -in key.pem -out plain.pem)"
            ),
            ApnsConfigError::Certificate(other) => format!("APNS_CERT_PATH {file}: {other}"),
            ApnsConfigError::Endpoint { environment, reason } => {
                let name = match environment {
                    Environment::Production => "APNS_ENDPOINT",
                    Environment::Sandbox => "APNS_SANDBOX_ENDPOINT",
                };
                format!("{name}: {reason}")
            }
        }
    }
}

#[cfg(feature = "fcm")]
mod fcm {
    use super::StartError;
    use crate::{
        adapters::push::{
            fcm::{FcmConfig, FcmConfigError, FcmProvider, ServiceAccount},
            pool::PoolLimits,
            retry::RetryPolicy,
        },
        cli::settings::FcmSettings,
    };

    /// Refuses (with a one-line reason) settings that cannot work: an unreadable credentials file,
    /// one that is not service-account JSON or whose key is not an RSA PKCS#8 key, no project id,
    /// a malformed endpoint.
    pub fn provider(settings: &FcmSettings, retry: RetryPolicy, pool: PoolLimits) -> Result<FcmProvider, StartError> {
        let Some(path) = settings.credentials_path.as_deref() else {
            return Err(StartError::Provider("FCM_CREDENTIALS_PATH is not set".into()));
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            StartError::Provider(format!("FCM_CREDENTIALS_PATH {}: cannot read the file: {e}", path.display()))
        })?;
        let account = ServiceAccount::parse(&text)
            .map_err(|e| StartError::Provider(format!("FCM_CREDENTIALS_PATH {}: {e}", path.display())))?;
        let Some(project) = settings.project_id().or(account.project_id.as_deref()).map(str::to_owned) else {
            return Err(StartError::Provider(
                "FCM project unknown: set FCM_PROJECT_ID or use a service-account JSON with a project_id".into(),
            ));
        };
        let mut config = FcmConfig::new(account, project, retry);
        if let Some(endpoint) = &settings.endpoint {
            config.endpoint.clone_from(endpoint);
        }
        config.origin = "FCM_CREDENTIALS_PATH and FCM_PROJECT_ID".to_owned();
        config.pool = pool;
        config.cleartext_http2 = settings.cleartext_http2;
        FcmProvider::new(config).map_err(|e| {
            StartError::Provider(match e {
                FcmConfigError::Endpoint(url) => {
                    format!("FCM_ENDPOINT must be an http:// or https:// URL, got '{url}'")
                }
                FcmConfigError::Pool(reason) => format!("FCM_ENDPOINT: {reason}"),
                other => other.to_string(),
            })
        })
    }
}
