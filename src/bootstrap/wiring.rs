//! Builds the adapters that the settings name and plugs them into the ports. Together with the
//! `adapters` module declarations, this is the only place where cargo features are looked at: a
//! setting that needs an adapter this binary lacks is a start-up error naming the feature.

use std::{future::Future, pin::Pin, sync::Arc};

use tracing::warn;

use super::settings::{DedupBackend, Settings};
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
    ports::{ClientRepository, DedupStore},
    telemetry::Metrics,
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
    let (clients, shared) = client_store(settings, &mut summary, &mut closers).await?;
    let dedup = dedup_store(settings, shared, &mut summary).await?;
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
/// it again: the `migrate` command. Returns what was migrated, for the command's output. Postgres
/// is always migrated on this connection, whatever `DATABASE_STATEMENT_CACHE` says: behind
/// PgBouncer the server does not migrate, and this command with the direct URL is how it is done.
pub async fn migrate(settings: &Settings) -> Result<String, StartError> {
    let mut summary = Vec::new();
    let mut closers = Vec::new();
    let mut direct = settings.clone();
    direct.store.statement_cache = direct.store.statement_cache.max(1);
    client_store(&direct, &mut summary, &mut closers).await?;
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
) -> Result<(Arc<dyn ClientRepository>, SharedDatabase), StartError> {
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
            return Ok((repo, SharedDatabase::default()));
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
            let options = PostgresOptions {
                max_connections: settings.store.max_connections,
                timeout: settings.store.timeout,
                statement_cache_capacity: settings.store.statement_cache,
            };
            let repo = Arc::new(PostgresClientRepository::connect(url, &options).await?);
            let mode = if settings.store.statement_cache == 0 {
                " (statement cache off, for PgBouncer: schema checked, not migrated)"
            } else {
                ""
            };
            summary.push(("client store", format!("Postgres{mode}")));
            let closing = repo.clone();
            closers.push(Box::pin(async move { closing.close().await }));
            let shared = SharedDatabase { postgres: Some(repo.database().clone()) };
            return Ok((repo, shared));
        }
        #[cfg(not(feature = "postgres"))]
        return Err(StartError(
            "DATABASE_URL names Postgres, but this binary was built without the `postgres` feature".into(),
        ));
    }
    Err(StartError("DATABASE_URL must start with sqlite:// or postgres://".into()))
}

/// What the client store shares with the dedup store: its Postgres pool, when it has one.
#[derive(Default)]
struct SharedDatabase {
    #[cfg(feature = "postgres")]
    postgres: Option<crate::adapters::pg_database::PgDatabase>,
}

async fn dedup_store(
    settings: &Settings,
    shared: SharedDatabase,
    summary: &mut Vec<(&'static str, String)>,
) -> Result<Arc<dyn DedupStore>, StartError> {
    let ttl = settings.dedup_ttl.as_secs();
    let dedup = &settings.dedup;
    let redis_configured =
        settings.redis_url.is_some() || !dedup.redis_cluster_nodes.is_empty() || !dedup.redis_sentinels.is_empty();
    let backend = dedup.backend.unwrap_or(if redis_configured { DedupBackend::Redis } else { DedupBackend::Memory });
    if backend != DedupBackend::Redis && redis_configured {
        warn!(
            "a Redis is configured (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS) but DEDUP_BACKEND is not redis; it is not used"
        );
    }
    match backend {
        DedupBackend::Memory => {
            let max = settings.dedup_max_entries;
            summary.push(("dedup", format!("in memory (window {ttl} s, at most {max} claims; this server only)")));
            Ok(Arc::new(MemoryDedupStore::with_max_entries(max)))
        }
        DedupBackend::Redis => {
            #[cfg(feature = "redis")]
            {
                use crate::adapters::dedup::redis::{RedisConfig, RedisDedupStore};
                let config = RedisConfig {
                    topology: redis_topology(settings)?,
                    timeout: settings.store.timeout,
                    ca_path: dedup.redis_ca_path.clone(),
                };
                let store = RedisDedupStore::open(&config).await?;
                summary.push(("dedup", format!("Redis, {} (window {ttl} s; shared)", config.describe())));
                Ok(Arc::new(store))
            }
            #[cfg(not(feature = "redis"))]
            Err(StartError("dedup in Redis needs the `redis` feature, which this binary was built without".into()))
        }
        DedupBackend::Postgres => {
            #[cfg(feature = "postgres")]
            {
                use crate::adapters::dedup::postgres::{PostgresDedupOptions, PostgresDedupStore};
                let Some(db) = shared.postgres else {
                    return Err(StartError("DEDUP_BACKEND=postgres needs a postgres:// DATABASE_URL".into()));
                };
                let store = PostgresDedupStore::new(db, &PostgresDedupOptions { sweep_every: dedup.sweep_every });
                summary.push(("dedup", format!("Postgres (window {ttl} s; shared)")));
                Ok(Arc::new(store))
            }
            #[cfg(not(feature = "postgres"))]
            {
                let _ = shared;
                Err(StartError(
                    "DEDUP_BACKEND=postgres needs the `postgres` feature, which this binary was built without".into(),
                ))
            }
        }
    }
}

/// Exactly one of `REDIS_URL`, `REDIS_CLUSTER_NODES` and `REDIS_SENTINELS` names the Redis.
#[cfg(feature = "redis")]
fn redis_topology(settings: &Settings) -> Result<crate::adapters::dedup::redis::RedisTopology, StartError> {
    use crate::adapters::dedup::redis::RedisTopology;
    let dedup = &settings.dedup;
    let named =
        [settings.redis_url.is_some(), !dedup.redis_cluster_nodes.is_empty(), !dedup.redis_sentinels.is_empty()];
    if named.iter().filter(|n| **n).count() > 1 {
        return Err(StartError("set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS".into()));
    }
    let scheme_ok = |url: &String| url.starts_with("redis://") || url.starts_with("rediss://");
    if let Some(url) = &settings.redis_url {
        if !scheme_ok(url) {
            return Err(StartError("REDIS_URL must start with redis:// or rediss://".into()));
        }
        return Ok(RedisTopology::Single(url.clone()));
    }
    if !dedup.redis_cluster_nodes.is_empty() {
        if !dedup.redis_cluster_nodes.iter().all(scheme_ok) {
            return Err(StartError("REDIS_CLUSTER_NODES must be redis:// or rediss:// URLs".into()));
        }
        return Ok(RedisTopology::Cluster(dedup.redis_cluster_nodes.clone()));
    }
    if !dedup.redis_sentinels.is_empty() {
        if !dedup.redis_sentinels.iter().all(scheme_ok) {
            return Err(StartError("REDIS_SENTINELS must be redis:// or rediss:// URLs".into()));
        }
        let Some(master) = dedup.redis_sentinel_master.clone().filter(|m| !m.trim().is_empty()) else {
            return Err(StartError("REDIS_SENTINELS needs REDIS_SENTINEL_MASTER, the name of the master".into()));
        };
        return Ok(RedisTopology::Sentinel { sentinels: dedup.redis_sentinels.clone(), master });
    }
    Err(StartError("DEDUP_BACKEND=redis needs REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS".into()))
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
