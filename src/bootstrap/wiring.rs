//! Builds the adapters that the settings name and plugs them into the ports. Together with
//! `providers` and the `adapters` module declarations, this is the only place where cargo features
//! are looked at: a setting that needs an adapter this binary lacks is a start-up error naming the
//! feature.

use std::{future::Future, pin::Pin, sync::Arc};

use tracing::warn;

use super::{
    defaults,
    providers::providers,
    settings::{DedupBackend, Settings},
};
use crate::{
    adapters::store::credentials_cipher::CredentialsCipher,
    adapters::{
        clock::SystemClock,
        dedup::memory::MemoryDedupStore,
        relay_key::{FetchedKey, FetchedKeyConfig, StaticKey},
    },
    app::{App, CatalogTimings, ProjectCatalog, RelayAuth, RelayCheck},
    bootstrap::project_providers::ProjectProviderFactory,
    domain::{ProjectId, RelayPublicKey},
    ports::{ClientRepository, DedupStore, ProjectRepository},
    telemetry::{
        Metrics,
        instrumented::{
            InstrumentedClientRepository, InstrumentedDedupStore, InstrumentedProjectRepository,
            InstrumentedPushProvider,
        },
    },
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
    pub metrics: Arc<Metrics>,
    pub auth: RelayAuth,
    pub closers: Vec<Closer>,
    /// What was chosen, for the start-up log: `(what, choice)`.
    pub summary: Vec<(&'static str, String)>,
}

pub async fn build(settings: &Settings) -> Result<Wired, StartError> {
    check_replay_window(settings)?;
    let mut summary = Vec::new();
    let mut closers = Vec::new();
    let (auth, described) = relay_auth(settings)?;
    summary.push(("signatures", described));
    let cipher = credentials_cipher(settings)?;
    let (clients, shared, project_store) = client_store(settings, cipher, &mut summary, &mut closers).await?;
    let dedup = dedup_store(settings, shared, &mut summary).await?;
    let providers = providers(settings)?;
    let described: Vec<String> = providers.describe().iter().map(|(t, p)| format!("{t} -> {p}")).collect();
    summary.push((
        "providers",
        if described.is_empty() { "NONE: every registration is refused".to_owned() } else { described.join(", ") },
    ));
    let metrics = Arc::new(Metrics::new(&compiled_features()));
    let catalog = match &project_store {
        Some(store) => {
            summary.push(("projects", describe_projects(store.port().as_ref()).await?));
            let repo: Arc<dyn ProjectRepository> =
                Arc::new(InstrumentedProjectRepository::new(store.port(), metrics.clone()));
            let factory = Arc::new(ProjectProviderFactory::new(settings, metrics.clone()));
            let p = &settings.projects;
            let timings = CatalogTimings { refresh: p.refresh, idle: p.idle, suspension: p.suspension };
            Some(Arc::new(ProjectCatalog::new(repo, factory, timings, Arc::new(SystemClock))))
        }
        None => {
            summary.push(("projects", "off (no CREDENTIALS_KEY): only the default project is served".to_owned()));
            None
        }
    };
    summary.push((
        "admin API",
        if settings.projects.admin_token.is_some() { "on (ADMIN_TOKEN)" } else { "off (no ADMIN_TOKEN)" }.to_owned(),
    ));
    let app = App::new(
        Arc::new(InstrumentedClientRepository::new(clients, metrics.clone())),
        Arc::new(InstrumentedDedupStore::new(dedup, metrics.clone())),
        providers.instrumented(|provider| Arc::new(InstrumentedPushProvider::new(provider, metrics.clone()))),
        settings.dedup_ttl,
    )
    .with_projects(catalog, default_project_id(settings)?);
    Ok(Wired { app: Arc::new(app), metrics, auth, closers, summary })
}

/// `CREDENTIALS_KEY` parsed; required with `ADMIN_TOKEN` (an admin API could not store anything).
fn credentials_cipher(settings: &Settings) -> Result<Option<CredentialsCipher>, StartError> {
    let p = &settings.projects;
    match (&p.credentials_key, &p.admin_token) {
        (None, Some(_)) => Err(StartError(
            "ADMIN_TOKEN is set but CREDENTIALS_KEY is not: projects' credentials could not be stored encrypted".into(),
        )),
        (None, None) => Ok(None),
        (Some(key), _) => {
            CredentialsCipher::parse(key.expose()).map(Some).map_err(|e| StartError(format!("CREDENTIALS_KEY: {e}")))
        }
    }
}

fn default_project_id(settings: &Settings) -> Result<Option<ProjectId>, StartError> {
    settings
        .projects
        .default_project_id
        .as_deref()
        .map(|id| ProjectId::parse(id).map_err(|e| StartError(format!("DEFAULT_PROJECT_ID: {e}"))))
        .transpose()
}

/// "3 projects; suspended: w1 (apns)", for the start-up log and `check-config`.
async fn describe_projects(repo: &dyn ProjectRepository) -> Result<String, StartError> {
    let census = repo.census().await.map_err(|e| StartError(format!("cannot read the projects: {e}")))?;
    let mut text = format!("{} project(s)", census.projects);
    if census.suspended.is_empty() {
        text.push_str("; none suspended");
    } else {
        let names: Vec<String> =
            census.suspended.iter().map(|(id, kind)| format!("{id} ({})", kind.as_str())).collect();
        text.push_str(&format!("; SUSPENDED (credentials refused): {}", names.join(", ")));
    }
    Ok(text)
}

/// The project store beside the client store, on the same database.
pub enum ProjectStore {
    #[cfg(feature = "sqlite")]
    Sqlite(Arc<crate::adapters::store::sqlite_projects::SqliteProjectRepository>),
    #[cfg(feature = "postgres")]
    Postgres(Arc<crate::adapters::store::postgres_projects::PostgresProjectRepository>),
}

impl ProjectStore {
    pub fn port(&self) -> Arc<dyn ProjectRepository> {
        match self {
            #[cfg(feature = "sqlite")]
            ProjectStore::Sqlite(r) => r.clone(),
            #[cfg(feature = "postgres")]
            ProjectStore::Postgres(r) => r.clone(),
        }
    }

    async fn rotate(&self) -> Result<usize, String> {
        match self {
            #[cfg(feature = "sqlite")]
            ProjectStore::Sqlite(r) => r.rotate().await,
            #[cfg(feature = "postgres")]
            ProjectStore::Postgres(r) => r.rotate().await,
        }
    }
}

/// Re-encrypts every project's credentials under the first `CREDENTIALS_KEY`: the
/// `rotate-credentials` command. Returns how many values were re-encrypted.
pub async fn rotate_credentials(settings: &Settings) -> Result<usize, StartError> {
    let Some(cipher) = credentials_cipher(settings)? else {
        return Err(StartError("CREDENTIALS_KEY is not set: there is nothing to re-encrypt with".into()));
    };
    let (mut summary, mut closers) = (Vec::new(), Vec::new());
    let (_, _, store) = client_store(settings, Some(cipher), &mut summary, &mut closers).await?;
    let rotated = match store {
        Some(store) => store.rotate().await.map_err(|e| StartError(format!("cannot re-encrypt: {e}"))),
        None => Ok(0),
    };
    for close in closers {
        close.await;
    }
    rotated
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
    client_store(&direct, None, &mut summary, &mut closers).await?;
    for close in closers {
        close.await;
    }
    Ok(summary.into_iter().map(|(_, choice)| choice).collect::<Vec<_>>().join(", "))
}

/// A signed request can be replayed as long as its timestamp is accepted (the skew, either side
/// of the server clock); dedup is what turns a replay into a harmless duplicate, so its window
/// must cover that whole span, or a captured request could be delivered again.
fn check_replay_window(settings: &Settings) -> Result<(), StartError> {
    let skew = settings.relay.max_clock_skew.as_secs();
    let cap = defaults::SIGNATURE_MAX_SKEW_SECS_CAP;
    if skew > cap {
        return Err(StartError(format!("SIGNATURE_MAX_SKEW_SECS is {skew}; at most {cap} is allowed")));
    }
    let ttl = settings.dedup_ttl.as_secs();
    if ttl < 2 * skew {
        return Err(StartError(format!(
            "DEDUP_TTL_SECS ({ttl}) must be at least twice SIGNATURE_MAX_SKEW_SECS ({skew}): a signed request stays \
             replayable that long, and only dedup stops a replay"
        )));
    }
    Ok(())
}

/// The Relay check the settings ask for, and one line for the start-up log.
fn relay_auth(settings: &Settings) -> Result<(RelayAuth, String), StartError> {
    let relay = &settings.relay;
    let (check, described) = if !relay.validate_signatures {
        (RelayCheck::Disabled, "OFF (VALIDATE_SIGNATURES=false): Relay requests are NOT authenticated".to_owned())
    } else if let Some(key) = &relay.public_key {
        let key = RelayPublicKey::parse(key).map_err(|e| StartError(format!("RELAY_PUBLIC_KEY: {e}")))?;
        (RelayCheck::Verify(Arc::new(StaticKey::new(key))), "on, key from RELAY_PUBLIC_KEY".to_owned())
    } else if let Some(url) = &relay.url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(StartError(format!("RELAY_URL must be an http:// or https:// URL, got '{url}'")));
        }
        if url.starts_with("http://") {
            warn!(
                "!!! RELAY_URL is plain http:// ({url}): anyone on the network path can substitute the Relay key and sign notifications; use https:// !!!"
            );
        }
        let config = FetchedKeyConfig { url: url.clone(), refresh: relay.key_refresh, timeout: relay.key_timeout };
        let key = FetchedKey::new(&config)?;
        let described = format!("on, key fetched from {}", key.url());
        (RelayCheck::Verify(Arc::new(key)), described)
    } else {
        (
            RelayCheck::Unconfigured,
            "on, but no RELAY_PUBLIC_KEY or RELAY_URL is set: every Relay request is refused with 401".to_owned(),
        )
    };
    Ok((RelayAuth::new(check, relay.max_clock_skew, Arc::new(SystemClock)), described))
}

/// The client store that `DATABASE_URL` names and, with a cipher, the project store beside it.
async fn client_store(
    settings: &Settings,
    cipher: Option<CredentialsCipher>,
    summary: &mut Vec<(&'static str, String)>,
    closers: &mut Vec<Closer>,
) -> Result<(Arc<dyn ClientRepository>, SharedDatabase, Option<ProjectStore>), StartError> {
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
            use crate::adapters::store::sqlite_projects::SqliteProjectRepository;
            let repo = Arc::new(SqliteClientRepository::connect(url, &options).await?);
            summary.push(("client store", format!("SQLite ({url})")));
            let closing = repo.clone();
            closers.push(Box::pin(async move { closing.close().await }));
            let projects =
                cipher.map(|c| ProjectStore::Sqlite(Arc::new(SqliteProjectRepository::new(repo.clone(), c))));
            return Ok((repo, SharedDatabase::default(), projects));
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
            use crate::adapters::store::postgres_projects::PostgresProjectRepository;
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
            let projects =
                cipher.map(|c| ProjectStore::Postgres(Arc::new(PostgresProjectRepository::new(repo.clone(), c))));
            return Ok((repo, shared, projects));
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
