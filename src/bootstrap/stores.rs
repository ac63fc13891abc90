//! The stores the settings name: the client store on SQLite or Postgres (opening it applies its
//! migrations), the projects beside it on the same database, and the dedup store. Beside the
//! adapter module declarations, this is where the `sqlite`, `postgres` and `redis` features are
//! looked at. The server and the maintenance commands (`migrate`, `rotate-credentials`) open the
//! stores here alike.

use std::{future::Future, pin::Pin, sync::Arc};

use tracing::warn;

use super::StartError;
use crate::{
    adapters::{dedup::memory::MemoryDedupStore, store::credentials_cipher::CredentialsCipher},
    cli::settings::{DatabaseKind, DedupBackend, DedupChoice, Settings},
    ports::{ClientRepository, DedupStore, ProjectRepository, WalletConnectSource},
};

/// Closes a backend (pools, connections) at shutdown.
pub type Closer = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The client store and what lives beside it on its database.
pub struct ClientStore {
    pub clients: Arc<dyn ClientRepository>,
    /// The projects, when a credentials cipher was given to seal them with.
    pub projects: Option<Arc<dyn ProjectRepository>>,
    /// Which database, for the start-up log and the `migrate` command.
    pub described: String,
    /// Closes the database's pool.
    pub close: Closer,
    /// The Postgres pool, which dedup on Postgres shares.
    #[cfg(feature = "postgres")]
    postgres: Option<crate::adapters::pg_database::PgDatabase>,
}

/// The client store that `DATABASE_URL` names and, with a cipher, the project repository beside it.
pub async fn client_store(settings: &Settings, cipher: Option<CredentialsCipher>) -> Result<ClientStore, StartError> {
    let url = settings.database_url.as_str();
    let store = &settings.store;
    match settings.database()? {
        DatabaseKind::Sqlite => {
            #[cfg(feature = "sqlite")]
            {
                use crate::adapters::store::{
                    sqlite::{SqliteClientRepository, SqliteOptions},
                    sqlite_projects::SqliteProjectRepository,
                };
                let options = SqliteOptions {
                    max_readers: store.max_connections,
                    timeout: store.timeout,
                    synchronous_full: store.sqlite_synchronous_full,
                };
                let repo = Arc::new(SqliteClientRepository::connect(url, &options).await.map_err(StartError::Store)?);
                let projects = cipher
                    .map(|c| Arc::new(SqliteProjectRepository::new(repo.clone(), c)) as Arc<dyn ProjectRepository>);
                let closing = repo.clone();
                Ok(ClientStore {
                    clients: repo,
                    projects,
                    described: format!("SQLite ({url})"),
                    close: Box::pin(async move { closing.close().await }),
                    #[cfg(feature = "postgres")]
                    postgres: None,
                })
            }
            #[cfg(not(feature = "sqlite"))]
            {
                let _ = (url, store, cipher);
                Err(StartError::NotCompiledIn { what: "DATABASE_URL names SQLite", feature: "sqlite" })
            }
        }
        DatabaseKind::Postgres => {
            #[cfg(feature = "postgres")]
            {
                use crate::adapters::{
                    pg_database::{PgDatabase, SchemaName, SchemaSource},
                    store::{
                        postgres::{PostgresClientRepository, PostgresOptions},
                        postgres_projects::PostgresProjectRepository,
                    },
                };
                let options = PostgresOptions {
                    max_connections: store.max_connections,
                    min_connections: store.min_connections,
                    timeout: store.timeout,
                    statement_cache_capacity: store.statement_cache,
                };
                let schema = store.schema.as_deref().map(SchemaName::parse).transpose().map_err(StartError::Store)?;
                let db = PgDatabase::connect_in(url, &options, schema.as_ref()).await.map_err(StartError::Store)?;
                let (schema, source) = db.schema();
                let why = match source {
                    SchemaSource::Configured => "DATABASE_SCHEMA",
                    SchemaSource::Url => "search_path of DATABASE_URL",
                    SchemaSource::Legacy => "kept where an earlier push-server made them",
                    SchemaSource::Default => "default",
                };
                let schema = format!("tables in schema {} ({why})", schema.as_str());
                let repo = Arc::new(PostgresClientRepository::new(db));
                let mode = if store.statement_cache == 0 {
                    " (statement cache off, for PgBouncer: schema checked, not migrated)"
                } else {
                    ""
                };
                let projects = cipher
                    .map(|c| Arc::new(PostgresProjectRepository::new(repo.clone(), c)) as Arc<dyn ProjectRepository>);
                let closing = repo.clone();
                Ok(ClientStore {
                    postgres: Some(repo.database().clone()),
                    clients: repo,
                    projects,
                    described: format!("Postgres, {schema}{mode}"),
                    close: Box::pin(async move { closing.close().await }),
                })
            }
            #[cfg(not(feature = "postgres"))]
            {
                let _ = (url, store, cipher);
                Err(StartError::NotCompiledIn { what: "DATABASE_URL names Postgres", feature: "postgres" })
            }
        }
    }
}

/// Refuses settings that name a Redis this binary cannot speak before their own rules are
/// checked: with the `redis` feature missing, the feature is the one thing to fix, whatever else
/// the Redis settings lack.
pub fn redis_compiled_in(settings: &Settings) -> Result<(), StartError> {
    let wants_redis = settings.redis_configured() || settings.dedup.backend == Some(DedupBackend::Redis);
    if wants_redis && !cfg!(feature = "redis") {
        return Err(StartError::NotCompiledIn { what: "dedup in Redis is configured", feature: "redis" });
    }
    Ok(())
}

/// The dedup store the settings choose, and its lines for the start-up log (`(what, choice)`: the
/// store, and on Redis the replica acknowledgement in force).
pub async fn dedup_store(
    settings: &Settings,
    client_store: &ClientStore,
) -> Result<(Arc<dyn DedupStore>, Vec<(&'static str, String)>), StartError> {
    let ttl = settings.dedup_ttl.as_secs();
    let choice = settings.dedup_choice()?;
    if !matches!(choice, DedupChoice::Redis { .. }) && settings.redis_configured() {
        warn!(
            "a Redis is configured (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS) but DEDUP_BACKEND is not redis; it is not used"
        );
    }
    match choice {
        DedupChoice::Memory => {
            let max = settings.dedup_max_entries;
            let described = format!("in memory (window {ttl} s, at most {max} claims; this server only)");
            Ok((Arc::new(MemoryDedupStore::with_max_entries(max)), vec![("dedup", described)]))
        }
        DedupChoice::Redis { target, acks } => {
            #[cfg(feature = "redis")]
            {
                use crate::{
                    adapters::dedup::redis::{RedisConfig, RedisDedupStore, RedisTopology, ReplicaAcks},
                    cli::settings::RedisTarget,
                };
                let acks_described = acks.describe(&target);
                let topology = match target {
                    RedisTarget::Single(url) => RedisTopology::Single(url),
                    RedisTarget::Cluster(nodes) => RedisTopology::Cluster(nodes),
                    RedisTarget::Sentinel { sentinels, master } => RedisTopology::Sentinel { sentinels, master },
                };
                let config = RedisConfig {
                    topology,
                    timeout: settings.store.timeout,
                    ca_path: settings.dedup.redis_ca_path.clone(),
                    replica_acks: ReplicaAcks { min: acks.min, within: acks.within },
                };
                let store = RedisDedupStore::open(&config).await.map_err(StartError::Dedup)?;
                let described = format!("Redis, {} (window {ttl} s; shared)", config.describe());
                Ok((Arc::new(store), vec![("dedup", described), ("replica acks", acks_described)]))
            }
            #[cfg(not(feature = "redis"))]
            {
                let _ = (target, acks);
                Err(StartError::NotCompiledIn { what: "dedup in Redis is configured", feature: "redis" })
            }
        }
        DedupChoice::Postgres => {
            #[cfg(feature = "postgres")]
            {
                use crate::{
                    adapters::dedup::postgres::{PostgresDedupOptions, PostgresDedupStore},
                    cli::settings::SettingsError,
                };
                // The choice is Postgres only with a postgres:// DATABASE_URL, which opened the pool.
                let db = client_store.postgres.clone().ok_or(SettingsError::PostgresDedupWithoutPostgres)?;
                let store =
                    PostgresDedupStore::new(db, &PostgresDedupOptions { sweep_every: settings.dedup.sweep_every });
                Ok((Arc::new(store), vec![("dedup", format!("Postgres (window {ttl} s; shared)"))]))
            }
            #[cfg(not(feature = "postgres"))]
            {
                let _ = client_store;
                Err(StartError::NotCompiledIn { what: "DEDUP_BACKEND=postgres is set", feature: "postgres" })
            }
        }
    }
}

/// A WalletConnect push server's database (and its tenant database, when apart), for
/// `import-walletconnect`; read in read-only snapshots.
pub async fn walletconnect_source(
    url: &str,
    tenants_url: Option<&str>,
    timeout: std::time::Duration,
) -> Result<Box<dyn WalletConnectSource>, StartError> {
    #[cfg(feature = "postgres")]
    {
        use crate::adapters::walletconnect_source::PostgresWalletConnectSource;
        let source = PostgresWalletConnectSource::open(url, tenants_url, timeout)
            .await
            .map_err(|e| StartError::Store(e.to_string()))?;
        Ok(Box::new(source))
    }
    #[cfg(not(feature = "postgres"))]
    {
        let _ = (url, tenants_url, timeout);
        Err(StartError::NotCompiledIn { what: "import-walletconnect reads Postgres", feature: "postgres" })
    }
}
