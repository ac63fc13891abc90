//! The default project's push providers: the credentials the settings name (files read here), built
//! by the provider factory like every project's, and every refusal worded after the setting an
//! operator has to fix. Also the factory's defaults, from the settings. Beside the adapter module
//! declarations, this is where the `apns` and `fcm` features are looked at.

use std::path::Path;

use tracing::warn;

use super::StartError;
use crate::{
    adapters::{
        egress::Egress,
        push::{
            factory::{ApnsDefaults, Decorator, FcmDefaults, ProviderDefaults, PushProviderFactory, WebPushDefaults},
            pool_limits::PoolLimits,
            retry::RetryPolicy,
        },
    },
    app::Providers,
    cli::settings::Settings,
    domain::PushType,
};

/// The factory every provider of the server is built by, with this server's endpoints, retries,
/// pools, placeholder title and egress route, and `decorate` around each provider.
pub fn factory(settings: &Settings, egress: Egress, decorate: Decorator) -> PushProviderFactory {
    let (apns, fcm, webpush, provider) = (&settings.apns, &settings.fcm, &settings.webpush, &settings.provider);
    // Each provider, so each project's, has pools of its own, bounded alike.
    let pool = |max_connections| PoolLimits { max_connections, max_pending: provider.max_pending };
    let defaults = ProviderDefaults {
        apns: ApnsDefaults {
            endpoint: apns.endpoint.clone(),
            sandbox_endpoint: apns.sandbox_endpoint.clone(),
            placeholder_title: apns.placeholder_title.clone(),
            pool: pool(apns.max_connections),
        },
        fcm: FcmDefaults {
            endpoint: fcm.endpoint.clone(),
            cleartext_http2: fcm.cleartext_http2,
            pool: pool(fcm.max_connections),
        },
        webpush: WebPushDefaults {
            ttl_secs: webpush.ttl_secs,
            allowed_hosts: webpush.allowed_hosts(),
            pool: pool(webpush.max_connections),
        },
        retry: RetryPolicy::new(provider.max_attempts, provider.request_timeout, provider.total_timeout),
        egress,
    };
    PushProviderFactory::new(defaults, decorate)
}

/// The providers for every push type of the default project: APNS and FCM when their credentials
/// are set, and the log sink for the other types while it is on (by default only when no real
/// provider is configured).
pub fn default_project(settings: &Settings, factory: &PushProviderFactory) -> Result<Providers, StartError> {
    let mut providers = Providers::default();
    if let Some(source) = settings.apns.credentials()? {
        #[cfg(feature = "apns")]
        {
            // One provider for both types: it picks the production or sandbox endpoint by the
            // delivery's push type and shares one provider token between them.
            let apns = apns::provider(factory, source)?;
            providers = providers.with(PushType::Apns, apns.clone()).with(PushType::ApnsSandbox, apns);
        }
        #[cfg(not(feature = "apns"))]
        {
            let _ = source;
            return Err(StartError::NotCompiledIn { what: "APNS credentials are set", feature: "apns" });
        }
    } else if settings.apns.topic.is_some() {
        warn!("APNS_TOPIC is set but no APNS credentials (APNS_KEY_PATH or APNS_CERT_PATH); APNS stays off");
    }
    if let Some(source) = settings.fcm.source()? {
        #[cfg(feature = "fcm")]
        {
            providers = providers.with(PushType::Fcm, fcm::provider(factory, source, settings.fcm.project_id())?);
        }
        #[cfg(not(feature = "fcm"))]
        {
            let _ = source;
            return Err(StartError::NotCompiledIn { what: "FCM credentials are set", feature: "fcm" });
        }
    }
    if let Some((key, subject)) = settings.webpush.credentials()? {
        #[cfg(feature = "webpush")]
        {
            let (provider, public_key) = webpush::provider(factory, key, subject)?;
            providers = providers.with(PushType::WebPush, provider).with_vapid_public_key(public_key);
        }
        #[cfg(not(feature = "webpush"))]
        {
            let _ = (key, subject);
            return Err(StartError::NotCompiledIn { what: "WEBPUSH_VAPID_PRIVATE_KEY is set", feature: "webpush" });
        }
    }
    let any_real = PushType::ALL.iter().any(|t| providers.supports(*t));
    if settings.log_sink.unwrap_or(!any_real) {
        let path = settings.log_sink_path.as_deref();
        let sink = factory
            .log_sink(path)
            .map_err(|error| StartError::LogSink { path: path.unwrap_or(Path::new("")).to_owned(), error })?;
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

#[cfg(feature = "apns")]
mod apns {
    use std::{path::Path, sync::Arc};

    use base64::{Engine, engine::general_purpose::STANDARD};

    use super::StartError;
    use crate::{
        adapters::push::{
            apns::{ApnsAuth, ApnsConfigError, ApnsIdentity, Environment, IdField, certificate::IdentityError},
            factory::PushProviderFactory,
        },
        cli::settings::{ApnsAuthSource, ApnsSource, pem_text},
        ports::PushProvider,
    };

    /// What an operator checks when APNS refuses the credentials.
    const ORIGIN: &str = "APNS_KEY_PATH/APNS_KEY_ID/APNS_TEAM_ID (or APNS_CERT_PATH), APNS_TOPIC and the endpoints";

    /// The provider of the credentials `source` names (the settings' rules already hold).
    pub fn provider(
        factory: &PushProviderFactory,
        source: ApnsSource<'_>,
    ) -> Result<Arc<dyn PushProvider>, StartError> {
        // `from`: the setting the key or certificate came from, for the reasons (never its value).
        let (auth, from) = match source.auth {
            ApnsAuthSource::Token { key_path, key_id, team_id } => {
                let key_pem = read("APNS_KEY_PATH", key_path)?;
                let from = format!("APNS_KEY_PATH {}", key_path.display());
                (ApnsAuth::Token { key_pem, key_id: key_id.to_owned(), team_id: team_id.to_owned() }, from)
            }
            ApnsAuthSource::TokenInline { key, key_id, team_id } => {
                let key_pem = pem_text(key.expose()).ok_or_else(|| {
                    StartError::Provider("APNS_PKCS8_PEM is neither base64 of a .p8 file nor PEM text".into())
                })?;
                let auth = ApnsAuth::Token {
                    key_pem: key_pem.into_bytes(),
                    key_id: key_id.to_owned(),
                    team_id: team_id.to_owned(),
                };
                (auth, "APNS_PKCS8_PEM".to_owned())
            }
            ApnsAuthSource::Certificate { cert_path, password } => {
                let password = password.map(|p| p.expose().as_str());
                let identity = ApnsIdentity::detect(read("APNS_CERT_PATH", cert_path)?, password);
                (ApnsAuth::Certificate(identity), format!("APNS_CERT_PATH {}", cert_path.display()))
            }
            ApnsAuthSource::CertificateInline { certificate, password } => {
                let p12 = STANDARD
                    .decode(certificate.expose().trim())
                    .map_err(|_| StartError::Provider("APNS_CERTIFICATE is not base64 (of the .p12 file)".into()))?;
                let password = password.map(|p| p.expose().as_str());
                (ApnsAuth::Certificate(ApnsIdentity::detect(p12, password)), "APNS_CERTIFICATE".to_owned())
            }
        };
        factory
            .apns_provider(source.topic.to_owned(), auth, ORIGIN.to_owned())
            .map_err(|e| StartError::Provider(reason(e, &from)))
    }

    /// A credentials file, or the reason worded after the setting that names it.
    fn read(name: &str, path: &Path) -> Result<Vec<u8>, StartError> {
        std::fs::read(path).map_err(|e| StartError::Provider(format!("{name} {}: cannot be read: {e}", path.display())))
    }

    /// The adapter's reason, worded after the setting that holds the fault (`file`: the setting,
    /// with the file's path when it names one).
    fn reason(error: ApnsConfigError, file: &str) -> String {
        match error {
            ApnsConfigError::Topic(topic) => format!("APNS_TOPIC '{topic}' is not a bundle id"),
            ApnsConfigError::Id { field, value } => {
                let name = match field {
                    IdField::KeyId => "APNS_KEY_ID",
                    IdField::TeamId => "APNS_TEAM_ID",
                };
                format!("{name} '{value}' must be letters and digits (Apple's 10-character id)")
            }
            ApnsConfigError::Key(reason) => format!("{file}: {reason}"),
            ApnsConfigError::Certificate(IdentityError::Pkcs12(detail)) => format!(
                "{file}: is neither PEM nor a PKCS#12 file this server can open with \
                 its password ({detail})"
            ),
            ApnsConfigError::Certificate(IdentityError::EncryptedPem) => format!(
                "{file}: holds an encrypted PEM key; use the .p12 with APNS_CERT_PASSWORD, or \
                 decrypt the key (openssl pkcs8 -in key.pem -out plain.pem)"
            ),
            ApnsConfigError::Certificate(other) => format!("{file}: {other}"),
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
    use std::sync::Arc;

    use super::StartError;
    use crate::{
        adapters::push::{
            factory::PushProviderFactory,
            fcm::{FcmConfigError, ServiceAccount},
        },
        cli::settings::FcmSource,
        ports::PushProvider,
    };

    /// Refuses (with a one-line reason) credentials that cannot work: an unreadable file, one
    /// that is not service-account JSON or whose key is not an RSA PKCS#8 key, no project id, a
    /// malformed endpoint.
    pub fn provider(
        factory: &PushProviderFactory,
        source: FcmSource<'_>,
        project_id: Option<&str>,
    ) -> Result<Arc<dyn PushProvider>, StartError> {
        let (text, at) = match source {
            FcmSource::Path(path) => {
                let at = format!("FCM_CREDENTIALS_PATH {}", path.display());
                let text = std::fs::read_to_string(path)
                    .map_err(|e| StartError::Provider(format!("{at}: cannot read the file: {e}")))?;
                (text, at)
            }
            FcmSource::Inline(json) => (json.expose().clone(), "FCM_V1_CREDENTIALS".to_owned()),
        };
        // The parser's reasons name fields, never their values (the JSON holds a private key).
        let account = ServiceAccount::parse(&text).map_err(|e| StartError::Provider(format!("{at}: {e}")))?;
        let Some(project) = project_id.or(account.project_id.as_deref()).map(str::to_owned) else {
            return Err(StartError::Provider(
                "FCM project unknown: set FCM_PROJECT_ID or use a service-account JSON with a project_id".into(),
            ));
        };
        let origin = "FCM_CREDENTIALS_PATH (or FCM_V1_CREDENTIALS) and FCM_PROJECT_ID".to_owned();
        factory.fcm_provider(account, project, origin).map_err(|e| {
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

#[cfg(feature = "webpush")]
mod webpush {
    use std::sync::Arc;

    use super::StartError;
    use crate::{adapters::push::factory::PushProviderFactory, cli::settings::VapidKeySource, ports::PushProvider};

    /// What an operator checks when push services refuse the VAPID authorization.
    const ORIGIN: &str = "WEBPUSH_VAPID_PRIVATE_KEY and WEBPUSH_SUBJECT";

    /// The provider and its public key, or a one-line reason naming the setting at fault.
    pub fn provider(
        factory: &PushProviderFactory,
        key: VapidKeySource<'_>,
        subject: &str,
    ) -> Result<(Arc<dyn PushProvider>, String), StartError> {
        let pem = match key {
            // One line with `\n` escapes is how a PEM fits an environment variable.
            VapidKeySource::Inline(pem) => pem.replace("\\n", "\n").into_bytes(),
            VapidKeySource::Path(path) => std::fs::read(path)
                .map_err(|e| StartError::Provider(format!("WEBPUSH_VAPID_PRIVATE_KEY {path}: cannot be read: {e}")))?,
        };
        factory.webpush_provider(&pem, subject, ORIGIN.to_owned()).map_err(|e| {
            StartError::Provider(format!(
                "Web Push (WEBPUSH_VAPID_PRIVATE_KEY, WEBPUSH_SUBJECT, WEBPUSH_ALLOWED_HOSTS): {e}"
            ))
        })
    }
}
