//! Builds the adapters that the settings name and plugs them into the ports. Together with the
//! `adapters` module declarations, this is the only place where cargo features are looked at: a
//! setting that needs an adapter this binary lacks is a start-up error naming the feature.

use std::{future::Future, pin::Pin, sync::Arc};

use tracing::warn;

use super::settings::Settings;
use crate::{
    adapters::{
        dedup::memory::MemoryDedupStore,
        http::{
            relay_auth::{KeySource, RelayAuth, RemoteKey},
            signature::parse_public_key,
        },
        push::log_sink::LogSink,
    },
    app::{App, Providers},
    domain::PushType,
    telemetry::Metrics,
    ports::{ClientRepository, DedupStore},
};

/// Why the server cannot start, in one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

impl From<String> for StartError {
    fn from(s: String) -> Self {
        Self(s)
    }
}

/// Closes a backend (pools, connections) at shutdown.
pub type Closer = Pin<Box<dyn Future<Output = ()> + Send>>;

pub struct Wired {
    pub app: Arc<App>,
    pub auth: RelayAuth,
    pub closers: Vec<Closer>,
    /// What was chosen, for the start-up log: `(what, choice)`.
    pub summary: Vec<(&'static str, String)>,
}

pub async fn build(settings: &Settings) -> Result<Wired, StartError> {
    let mut summary = Vec::new();
    let mut closers = Vec::new();
    let auth = relay_auth(settings)?;
    summary.push(("signatures", auth.describe()));
    let clients = client_store(settings, &mut summary, &mut closers).await?;
    let dedup = dedup_store(settings, &mut summary).await?;
    let providers = providers(settings)?;
    let described: Vec<String> = providers.describe().iter().map(|(t, p)| format!("{t} -> {p}")).collect();
    summary.push((
        "providers",
        if described.is_empty() { "NONE: every registration is refused".to_owned() } else { described.join(", ") },
    ));
    let app = App::new(clients, dedup, providers, settings.dedup_ttl, Arc::new(Metrics::new(&compiled_features())));
    Ok(Wired { app: Arc::new(app), auth, closers, summary })
}

/// The cargo features this binary was built with, for `push_build_info` and the start-up log.
pub fn compiled_features() -> String {
    let all = [
        ("sqlite", cfg!(feature = "sqlite")),
        ("postgres", cfg!(feature = "postgres")),
        ("redis", cfg!(feature = "redis")),
        ("apns", cfg!(feature = "apns")),
        ("fcm", cfg!(feature = "fcm")),
        ("otel", cfg!(feature = "otel")),
    ];
    all.iter().filter(|(_, on)| *on).map(|(name, _)| *name).collect::<Vec<_>>().join(",")
}

/// Connects the client store that `DATABASE_URL` names, which applies its migrations, and closes
/// it again: the `migrate` command. Returns what was migrated, for the command's output.
pub async fn migrate(settings: &Settings) -> Result<String, StartError> {
    let mut summary = Vec::new();
    let mut closers = Vec::new();
    client_store(settings, &mut summary, &mut closers).await?;
    for close in closers {
        close.await;
    }
    Ok(summary.into_iter().map(|(_, choice)| choice).collect::<Vec<_>>().join(", "))
}

fn relay_auth(settings: &Settings) -> Result<RelayAuth, StartError> {
    let relay = &settings.relay;
    let source = if !relay.validate_signatures {
        KeySource::Disabled
    } else if let Some(key) = &relay.public_key {
        KeySource::Static(parse_public_key(key).map_err(|e| StartError(format!("RELAY_PUBLIC_KEY: {e}")))?)
    } else if let Some(url) = &relay.url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(StartError(format!("RELAY_URL must be an http:// or https:// URL, got '{url}'")));
        }
        KeySource::Remote(RemoteKey::new(url, relay.key_refresh, settings.store.timeout)?)
    } else {
        KeySource::Unconfigured
    };
    Ok(RelayAuth::new(source, relay.max_clock_skew))
}

async fn client_store(
    settings: &Settings,
    summary: &mut Vec<(&'static str, String)>,
    closers: &mut Vec<Closer>,
) -> Result<Arc<dyn ClientRepository>, StartError> {
    let url = settings.database_url.as_str();
    if url.starts_with("sqlite:") {
        #[cfg(feature = "sqlite")]
        {
            use crate::adapters::store::sqlite::{SqliteClientRepository, SqliteOptions};
            let options = SqliteOptions {
                max_readers: settings.store.max_connections,
                timeout: settings.store.timeout,
                synchronous_full: settings.store.sqlite_synchronous_full,
            };
            let repo = Arc::new(SqliteClientRepository::connect(url, &options).await?);
            summary.push(("client store", format!("SQLite ({url})")));
            let closing = repo.clone();
            closers.push(Box::pin(async move { closing.close().await }));
            return Ok(repo);
        }
        #[cfg(not(feature = "sqlite"))]
        return Err(StartError(
            "DATABASE_URL names SQLite, but this binary was built without the `sqlite` feature".into(),
        ));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            use crate::adapters::store::postgres::{PostgresClientRepository, PostgresOptions};
            let options =
                PostgresOptions {
                max_connections: settings.store.max_connections,
                timeout: settings.store.timeout,
                statement_cache: true,
            };
            let repo = Arc::new(PostgresClientRepository::connect(url, &options).await?);
            summary.push(("client store", "Postgres".to_owned()));
            let closing = repo.clone();
            closers.push(Box::pin(async move { closing.close().await }));
            return Ok(repo);
        }
        #[cfg(not(feature = "postgres"))]
        return Err(StartError(
            "DATABASE_URL names Postgres, but this binary was built without the `postgres` feature".into(),
        ));
    }
    Err(StartError("DATABASE_URL must start with sqlite:// or postgres://".into()))
}

async fn dedup_store(
    settings: &Settings,
    summary: &mut Vec<(&'static str, String)>,
) -> Result<Arc<dyn DedupStore>, StartError> {
    let ttl = settings.dedup_ttl.as_secs();
    match &settings.redis_url {
        None => {
            let max = settings.dedup_max_entries;
            summary.push(("dedup", format!("in memory (window {ttl} s, at most {max} claims; this server only)")));
            Ok(Arc::new(MemoryDedupStore::with_max_entries(max)))
        }
        #[cfg(feature = "redis")]
        Some(url) => {
            use crate::adapters::dedup::redis::RedisDedupStore;
            let store = RedisDedupStore::connect(url, settings.store.timeout).await?;
            summary.push(("dedup", format!("Redis (window {ttl} s; shared)")));
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "redis"))]
        Some(_) => Err(StartError("REDIS_URL is set, but this binary was built without the `redis` feature".into())),
    }
}

fn providers(settings: &Settings) -> Result<Providers, StartError> {
    #[allow(unused_mut)]
    let mut providers = Providers::default();
    if settings.apns.is_configured() {
        #[cfg(feature = "apns")]
        {
            use crate::adapters::push::apns::ApnsProvider;
            // One provider for both types: it picks the production or sandbox endpoint by the
            // delivery's push type and shares one provider token between them.
            let apns = Arc::new(ApnsProvider::from_settings(&settings.apns, &settings.provider)?);
            providers = providers.with(PushType::Apns, apns.clone()).with(PushType::ApnsSandbox, apns);
        }
        #[cfg(not(feature = "apns"))]
        return Err(StartError(
            "APNS credentials are set, but this binary was built without the `apns` feature".into(),
        ));
    } else if settings.apns.topic.is_some() {
        warn!("APNS_TOPIC is set but no APNS credentials (APNS_KEY_PATH or APNS_CERT_PATH); APNS stays off");
    }
    if settings.fcm.is_configured() {
        #[cfg(feature = "fcm")]
        {
            use crate::adapters::push::fcm::FcmProvider;
            providers =
                providers.with(PushType::Fcm, Arc::new(FcmProvider::from_settings(&settings.fcm, &settings.provider)?));
        }
        #[cfg(not(feature = "fcm"))]
        return Err(StartError(
            "FCM_CREDENTIALS_PATH is set, but this binary was built without the `fcm` feature".into(),
        ));
    }
    let any_real = PushType::ALL.iter().any(|t| providers.supports(*t));
    if settings.log_sink.unwrap_or(!any_real) {
        let sink = Arc::new(LogSink::new(settings.log_sink_path.as_deref(), &settings.apns.placeholder_title)?);
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
