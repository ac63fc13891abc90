//! The one factory of push providers: every provider this server sends through is built here,
//! from (defaults, credentials). The defaults are this server's endpoints, retry policy, pool
//! limits, placeholder title and egress route, a plain configuration composition builds from the settings; the
//! credentials are the default project's (read from the files the environment names) or a
//! project's (stored through the admin API). Both go through the same builder, so the two cannot
//! drift apart, and every provider leaves through the one decorator composition hands in (the
//! instrumentation), applied exactly once.
//!
//! The factory is also the `ProviderFactory` port the project catalog and the admin use cases
//! call: uploads are checked without building anything, stored credentials are built.
//!
//! Everything that depends on the `apns`, `fcm` and `webpush` features sits behind the module declarations
//! below: a binary built without one refuses that provider's credentials, saying why.

#[cfg(feature = "apns")]
mod apns;
#[cfg(not(feature = "apns"))]
#[path = "apns_off.rs"]
mod apns;
#[cfg(feature = "fcm")]
mod fcm;
#[cfg(not(feature = "fcm"))]
#[path = "fcm_off.rs"]
mod fcm;
#[cfg(feature = "webpush")]
mod webpush;
#[cfg(not(feature = "webpush"))]
#[path = "webpush_off.rs"]
mod webpush;

use std::{io, path::Path, sync::Arc};

use super::{log_sink::LogSink, pool_limits::PoolLimits, retry::RetryPolicy};
use crate::{
    adapters::egress::Egress,
    domain::{ApnsCredentials, FcmCredentials, ProjectId, Secret, WebPushCredentials},
    ports::{ApnsFacts, CredentialProblem, ProviderFactory, PushProvider},
};

/// What every provider of this server is built with, whoever's credentials it holds.
#[derive(Debug, Clone)]
pub struct ProviderDefaults {
    pub apns: ApnsDefaults,
    pub fcm: FcmDefaults,
    pub webpush: WebPushDefaults,
    pub retry: RetryPolicy,
    /// How every provider's connections leave the machine (the egress proxy, or direct).
    pub egress: Egress,
}

#[derive(Debug, Clone)]
pub struct WebPushDefaults {
    /// The `TTL` header of every message.
    pub ttl_secs: u64,
    /// `host` or `host:port` entries the endpoint guard restricts endpoints to (empty: any
    /// public https:// host).
    pub allowed_hosts: Vec<String>,
    /// Each push service origin's connections, per provider.
    pub pool: PoolLimits,
}

#[derive(Debug, Clone)]
pub struct ApnsDefaults {
    /// Base URLs for `apns` and `apns-sandbox`; `None`: Apple's.
    pub endpoint: Option<String>,
    pub sandbox_endpoint: Option<String>,
    /// The alert title of encrypted notifications (the log sink shows it too).
    pub placeholder_title: String,
    /// Each endpoint's pool, per provider.
    pub pool: PoolLimits,
}

#[derive(Debug, Clone)]
pub struct FcmDefaults {
    /// Base URL of the FCM v1 API; `None`: Google's.
    pub endpoint: Option<String>,
    /// HTTP/2 with prior knowledge to an `http://` endpoint (benchmark fakes).
    pub cleartext_http2: bool,
    /// The pool, per provider.
    pub pool: PoolLimits,
}

/// Wraps each provider the factory builds; composition hands in the instrumenting decorator.
pub type Decorator = Arc<dyn Fn(Arc<dyn PushProvider>) -> Arc<dyn PushProvider> + Send + Sync>;

pub struct PushProviderFactory {
    defaults: ProviderDefaults,
    decorate: Decorator,
}

impl PushProviderFactory {
    pub fn new(defaults: ProviderDefaults, decorate: Decorator) -> Self {
        Self { defaults, decorate }
    }

    /// The log sink, writing JSON lines to `path` (standard output without one), decorated like
    /// every provider.
    pub fn log_sink(&self, path: Option<&Path>) -> io::Result<Arc<dyn PushProvider>> {
        let sink = LogSink::new(path, &self.defaults.apns.placeholder_title)?;
        Ok(self.decorated(Arc::new(sink)))
    }

    fn decorated(&self, provider: Arc<dyn PushProvider>) -> Arc<dyn PushProvider> {
        (self.decorate)(provider)
    }
}

/// Where a project's credentials come from, for the provider's error log when the provider
/// refuses them.
fn origin(project: &ProjectId, what: &str) -> String {
    format!("project '{project}' {what} (PUT /admin/projects/{project}/...)")
}

impl ProviderFactory for PushProviderFactory {
    fn check_apns(&self, credentials: &ApnsCredentials) -> Result<ApnsFacts, Vec<CredentialProblem>> {
        apns::check(credentials)
    }

    fn check_fcm(&self, credentials: &FcmCredentials) -> Result<(), Vec<CredentialProblem>> {
        fcm::check(credentials)
    }

    fn check_webpush(
        &self,
        subject: &str,
        private_key_pem: Option<Secret<String>>,
    ) -> Result<WebPushCredentials, Vec<CredentialProblem>> {
        webpush::check(subject, private_key_pem)
    }

    fn webpush(&self, project: &ProjectId, credentials: &WebPushCredentials) -> Result<Arc<dyn PushProvider>, String> {
        webpush::stored(self, origin(project, "VAPID key"), credentials)
    }

    fn apns(&self, project: &ProjectId, credentials: &ApnsCredentials) -> Result<Arc<dyn PushProvider>, String> {
        apns::stored(self, origin(project, "APNS credentials"), credentials)
    }

    fn fcm(&self, project: &ProjectId, credentials: &FcmCredentials) -> Result<Arc<dyn PushProvider>, String> {
        fcm::stored(self, origin(project, "FCM service account"), credentials)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use super::*;

    /// Defaults as the settings give them, with `endpoint` for both providers.
    pub(crate) fn defaults(endpoint: Option<&str>) -> ProviderDefaults {
        let pool = PoolLimits { max_connections: 2, max_pending: 10 };
        ProviderDefaults {
            apns: ApnsDefaults {
                endpoint: endpoint.map(str::to_owned),
                sandbox_endpoint: endpoint.map(str::to_owned),
                placeholder_title: "New".into(),
                pool,
            },
            fcm: FcmDefaults { endpoint: endpoint.map(str::to_owned), cleartext_http2: false, pool },
            webpush: WebPushDefaults { ttl_secs: 60, allowed_hosts: Vec::new(), pool },
            retry: RetryPolicy::new(3, Duration::from_secs(1), Duration::from_secs(4)),
            egress: Egress::direct(),
        }
    }

    /// A factory whose decorator counts the providers it wraps.
    pub(crate) fn counting(defaults: ProviderDefaults) -> (PushProviderFactory, Arc<AtomicUsize>) {
        let wrapped = Arc::new(AtomicUsize::new(0));
        let count = wrapped.clone();
        let decorate: Decorator = Arc::new(move |provider| {
            count.fetch_add(1, Ordering::SeqCst);
            provider
        });
        (PushProviderFactory::new(defaults, decorate), wrapped)
    }

    #[test]
    fn the_log_sink_is_decorated_once() {
        let (factory, wrapped) = counting(defaults(None));
        let dir = tempfile::tempdir().unwrap();
        let sink = factory.log_sink(Some(&dir.path().join("sink.jsonl"))).unwrap();
        assert_eq!((sink.name(), wrapped.load(Ordering::SeqCst)), ("log_sink", 1));
        assert!(factory.log_sink(Some(&dir.path().join("missing/sink.jsonl"))).is_err());
    }
}
