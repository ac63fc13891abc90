//! Builds the adapters that the settings name and plugs them into the ports. Together with
//! `providers` and the `adapters` module declarations, this is the only place where cargo features
//! are looked at: a setting that needs an adapter this binary lacks is a start-up error naming the
//! feature.

use std::{future::Future, pin::Pin, sync::Arc};

use tracing::warn;

use super::providers::providers;
use crate::{
    adapters::store::credentials_cipher::CredentialsCipher,
    adapters::{
        dedup::memory::MemoryDedupStore,
        relay_key::{FetchedKey, FetchedKeyConfig, StaticKey},
    },
    app::{App, CatalogTimings, ProjectCatalog, RelayAuth, RelayCheck},
    bootstrap::project_providers::ProjectProviderFactory,
    cli::settings::{DatabaseKind, DedupChoice, RelayKeySource, Settings, SettingsError},
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

impl From<SettingsError> for StartError {
    fn from(e: SettingsError) -> Self {
        Self(e.to_string())
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
    settings.validate()?;
    let mut summary = Vec::new();
    let mut closers = Vec::new();
    let (auth, described) = relay_auth(settings)?;
    summary.push(("signatures", described));
    let cipher = settings.projects.cipher()?;
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
            Some(Arc::new(ProjectCatalog::new(repo, factory, timings)))
        }
        None => {
            summary.push(("projects", "off (no CREDENTIALS_KEY): only the default project is served".to_owned()));
            None
        }
    };
    summary.push((
        "admin API",
        if settings.projects.admin_token().is_some() { "on (ADMIN_TOKEN)" } else { "off (no ADMIN_TOKEN)" }.to_owned(),
    ));
    let app = App::new(
        Arc::new(InstrumentedClientRepository::new(clients, metrics.clone())),
        Arc::new(InstrumentedDedupStore::new(dedup, metrics.clone())),
        providers.instrumented(|provider| Arc::new(InstrumentedPushProvider::new(provider, metrics.clone()))),
        settings.dedup_ttl,
    )
    .with_projects(catalog, settings.projects.default_project()?);
    Ok(Wired { app: Arc::new(app), metrics, auth, closers, summary })
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
    let Some(cipher) = settings.projects.cipher()? else {
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

/// The Relay check the settings ask for, and one line for the start-up log.
fn relay_auth(settings: &Settings) -> Result<(RelayAuth, String), StartError> {
    let relay = &settings.relay;
    let (check, described) = match relay.key_source()? {
        RelayKeySource::Off => {
            (RelayCheck::Disabled, "OFF (VALIDATE_SIGNATURES=false): Relay requests are NOT authenticated".to_owned())
        }
        RelayKeySource::Configured(key) => {
            (RelayCheck::Verify(Arc::new(StaticKey::new(key))), "on, key from RELAY_PUBLIC_KEY".to_owned())
        }
        RelayKeySource::Fetched { url, plain_http } => {
            if plain_http {
                warn!(
                    "!!! RELAY_URL is plain http:// ({url}): anyone on the network path can substitute the Relay key and sign notifications; use https:// !!!"
                );
            }
            let config = FetchedKeyConfig { url, refresh: relay.key_refresh, timeout: relay.key_timeout };
            let key = FetchedKey::new(&config)?;
            let described = format!("on, key fetched from {}", key.url());
            (RelayCheck::Verify(Arc::new(key)), described)
        }
        RelayKeySource::Unconfigured => (
            RelayCheck::Unconfigured,
            "on, but no RELAY_PUBLIC_KEY or RELAY_URL is set: every Relay request is refused with 401".to_owned(),
        ),
    };
    Ok((RelayAuth::new(check, relay.max_clock_skew), described))
}

/// The client store that `DATABASE_URL` names and, with a cipher, the project store beside it.
async fn client_store(
    settings: &Settings,
    cipher: Option<CredentialsCipher>,
    summary: &mut Vec<(&'static str, String)>,
    closers: &mut Vec<Closer>,
) -> Result<(Arc<dyn ClientRepository>, SharedDatabase, Option<ProjectStore>), StartError> {
    let url = settings.database_url.as_str();
    match settings.database()? {
        DatabaseKind::Sqlite => {
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
                Ok((repo, SharedDatabase::default(), projects))
            }
            #[cfg(not(feature = "sqlite"))]
            Err(StartError("DATABASE_URL names SQLite, but this binary was built without the `sqlite` feature".into()))
        }
        DatabaseKind::Postgres => {
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
                Ok((repo, shared, projects))
            }
            #[cfg(not(feature = "postgres"))]
            Err(StartError(
                "DATABASE_URL names Postgres, but this binary was built without the `postgres` feature".into(),
            ))
        }
    }
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
    let choice = settings.dedup_choice()?;
    if !matches!(choice, DedupChoice::Redis(_)) && settings.redis_configured() {
        warn!(
            "a Redis is configured (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS) but DEDUP_BACKEND is not redis; it is not used"
        );
    }
    match choice {
        DedupChoice::Memory => {
            let max = settings.dedup_max_entries;
            summary.push(("dedup", format!("in memory (window {ttl} s, at most {max} claims; this server only)")));
            Ok(Arc::new(MemoryDedupStore::with_max_entries(max)))
        }
        DedupChoice::Redis(target) => {
            #[cfg(feature = "redis")]
            {
                use crate::adapters::dedup::redis::{RedisConfig, RedisDedupStore, RedisTopology};
                use crate::cli::settings::RedisTarget;
                let topology = match target {
                    RedisTarget::Single(url) => RedisTopology::Single(url),
                    RedisTarget::Cluster(nodes) => RedisTopology::Cluster(nodes),
                    RedisTarget::Sentinel { sentinels, master } => RedisTopology::Sentinel { sentinels, master },
                };
                let config = RedisConfig {
                    topology,
                    timeout: settings.store.timeout,
                    ca_path: settings.dedup.redis_ca_path.clone(),
                };
                let store = RedisDedupStore::open(&config).await?;
                summary.push(("dedup", format!("Redis, {} (window {ttl} s; shared)", config.describe())));
                Ok(Arc::new(store))
            }
            #[cfg(not(feature = "redis"))]
            {
                let _ = target;
                Err(StartError("dedup in Redis needs the `redis` feature, which this binary was built without".into()))
            }
        }
        DedupChoice::Postgres => {
            #[cfg(feature = "postgres")]
            {
                use crate::adapters::dedup::postgres::{PostgresDedupOptions, PostgresDedupStore};
                let Some(db) = shared.postgres else {
                    return Err(SettingsError::PostgresDedupWithoutPostgres.into());
                };
                let options = PostgresDedupOptions { sweep_every: settings.dedup.sweep_every };
                let store = PostgresDedupStore::new(db, &options);
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
