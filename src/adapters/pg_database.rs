//! The Postgres database that the Postgres adapters share: its pool, its migrations, and how a
//! call reaches it directly or through PgBouncer in transaction pooling mode.
//!
//! PgBouncer's transaction mode hands a client's next transaction to whichever server connection
//! is free, so nothing that lives on a server connection survives a transaction: named prepared
//! statements (sqlx caches them per connection), session settings, session advisory locks. With
//! `statement_cache: false` this module therefore
//! - turns sqlx's statement cache off (`statement_cache_capacity(0)`) and the adapters mark every
//!   query `.persistent(false)`, so statements are unnamed;
//! - runs every call inside a transaction (`begin`), because even an unnamed statement is parsed
//!   in one round trip and bound in the next: outside a transaction PgBouncer may put those two
//!   on different server connections;
//! - sends no `options` at connect (PgBouncer refuses them) and sets the statement and
//!   idle-in-transaction timeouts with `SET LOCAL` inside that same first round trip instead;
//! - applies no migrations (they take a session-level advisory lock): it only checks that the
//!   schema is current, and asks for `push-server migrate` with the direct URL when it is not.
//!
//! Our tables live in a schema of their own (`pg_schema`): a direct connection is pointed at it
//! by a `search_path` option at connect, a PgBouncer transaction by `SET LOCAL search_path`.

use std::{str::FromStr, time::Duration};

use tracing::warn;

use sqlx::{
    AssertSqlSafe, Connection, PgPool, Postgres, Transaction,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgConnection, PgPoolOptions},
};

use super::pg_schema::{self, DEFAULT_SCHEMA};
pub use super::pg_schema::{SchemaName, SchemaSource};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Migrations may take long on a big table, and may wait for another instance migrating; they run
/// without the per-statement timeout but still cannot hold start-up forever.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(300);

/// How the Postgres adapters reach their database.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pub max_connections: u32,
    /// Connections opened before `connect` returns (so before the server reports ready) and kept
    /// open from then on; at most `max_connections`. Opening them under the first traffic stalls
    /// its requests for the time a connection takes to open.
    pub min_connections: u32,
    /// Bound on acquiring a connection, on each statement and on each whole call.
    pub timeout: Duration,
    /// Prepared statements cached per connection; `0` for PgBouncer in transaction pooling mode
    /// (see the module docs).
    pub statement_cache_capacity: usize,
}

/// A pool on one Postgres database, shareable by several adapters.
#[derive(Clone)]
pub struct PgDatabase {
    pool: PgPool,
    timeout: Duration,
    statement_cache: bool,
    /// `BEGIN` plus the per-transaction timeouts and search path, for the PgBouncer mode.
    begin: String,
    schema: SchemaName,
    schema_source: SchemaSource,
}

impl PgDatabase {
    /// Connects to `url` (`postgres://...`) and builds the pool; applies the migrations first
    /// (directly connected), or only checks that they were applied (through PgBouncer). Fails,
    /// within the timeout, when the database cannot be reached: a server that starts without its
    /// store would only answer 503.
    pub async fn connect(url: &str, options: &PostgresOptions) -> Result<Self, String> {
        Self::connect_in(url, options, None).await
    }

    /// As [`connect`](Self::connect), with our tables in `schema` (`DATABASE_SCHEMA`) instead of
    /// the one `pg_schema` would choose.
    pub async fn connect_in(url: &str, options: &PostgresOptions, schema: Option<&SchemaName>) -> Result<Self, String> {
        let statement_cache = options.statement_cache_capacity > 0;
        let base = connect_options(url, options.statement_cache_capacity)?;
        let mut first = bounded_start(options.timeout, "connect to", PgConnection::connect_with(&base)).await?;
        let (schema, schema_source) =
            bounded_start(options.timeout, "inspect", choose_schema(&mut first, &base, schema)).await?;
        if statement_cache {
            bounded_start(MIGRATION_TIMEOUT, "migrate", migrate_on(&mut first, &schema)).await?;
        } else {
            check_schema(&mut first, options.timeout, &schema).await?;
        }
        let _ = first.close().await;

        let ms = options.timeout.as_millis().max(1);
        let idle_ms = (2 * ms).max(1000);
        let mut connect = base;
        if statement_cache {
            // The server cancels a statement that outlives the timeout, and ends a transaction
            // left idle by a call that was abandoned mid-way, so neither holds locks after the
            // caller gave up.
            connect = connect.options([
                ("statement_timeout", ms.to_string()),
                ("idle_in_transaction_session_timeout", idle_ms.to_string()),
                ("search_path", schema.as_str().to_owned()),
            ]);
        }
        let max = options.max_connections.max(1);
        let floor = options.min_connections.min(max);
        let pool = PgPoolOptions::new()
            .max_connections(max)
            // The pool's maintenance opens connections again when idle ones are closed (their
            // lifetime ended, the database dropped them), so the floor holds after start-up too.
            .min_connections(floor)
            .acquire_timeout(options.timeout)
            // After an outage the idle connections are dead; testing them on acquire lets the
            // pool replace them, so the store recovers by itself.
            .test_before_acquire(true)
            .connect_lazy_with(connect);
        bounded_start(options.timeout, "open the pool's first connections to", warm(&pool, floor)).await?;
        let begin = format!(
            "BEGIN; SET LOCAL statement_timeout = {ms}; SET LOCAL idle_in_transaction_session_timeout = {idle_ms}; \
             SET LOCAL search_path TO {}",
            schema.as_str()
        );
        Ok(Self { pool, timeout: options.timeout, statement_cache, begin, schema, schema_source })
    }

    /// Applies the migrations on a direct connection to `url` and returns: the `migrate` command,
    /// which is how a database behind PgBouncer gets its schema.
    pub async fn migrate(url: &str, timeout: Duration) -> Result<(), String> {
        let options = connect_options(url, 100)?;
        let mut conn = bounded_start(timeout, "connect to", PgConnection::connect_with(&options)).await?;
        let (schema, _) = bounded_start(timeout, "inspect", choose_schema(&mut conn, &options, None)).await?;
        bounded_start(MIGRATION_TIMEOUT, "migrate", migrate_on(&mut conn, &schema)).await?;
        let _ = conn.close().await;
        Ok(())
    }

    /// The schema our tables live in, and why that one.
    pub fn schema(&self) -> (&SchemaName, SchemaSource) {
        (&self.schema, self.schema_source)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether queries may be named prepared statements (`.persistent(..)` takes this).
    pub fn persistent(&self) -> bool {
        self.statement_cache
    }

    /// Whether every call must run in a transaction of its own (the PgBouncer mode).
    pub fn single_statements_in_transactions(&self) -> bool {
        !self.statement_cache
    }

    /// Starts a transaction; in the PgBouncer mode it carries the timeouts that the connection
    /// could not.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        if self.statement_cache {
            self.pool.begin().await
        } else {
            self.pool.begin_with(AssertSqlSafe(self.begin.clone())).await
        }
    }

    /// Closes the pool, waiting for queries in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Opens `floor` connections and returns them to the pool idle. The pool's own maintenance would
/// open them too, but in the background, after the server already reports ready.
async fn warm(pool: &PgPool, floor: u32) -> Result<(), sqlx::Error> {
    // Held until all are open, so each acquire opens a new one rather than reusing the last.
    let mut held = Vec::with_capacity(floor as usize);
    for _ in 0..floor {
        held.push(pool.acquire().await?);
    }
    drop(held);
    // sqlx hands a dropped connection back in a task of its own: until that ran, a request would
    // find no idle connection and open one more. Ready means the floor is idle.
    while pool.num_idle() < floor as usize {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

fn connect_options(url: &str, statement_cache_capacity: usize) -> Result<PgConnectOptions, String> {
    // With the cache at 0 sqlx also keeps no statement that a query left `persistent` by mistake.
    Ok(PgConnectOptions::from_str(url)
        .map_err(|e| format!("invalid DATABASE_URL for Postgres: {e}"))?
        .application_name("push-server")
        .statement_cache_capacity(statement_cache_capacity))
}

/// The schema for our tables (see `pg_schema` for the order of the rules).
async fn choose_schema(
    conn: &mut PgConnection,
    options: &PgConnectOptions,
    configured: Option<&SchemaName>,
) -> Result<(SchemaName, SchemaSource), sqlx::Error> {
    if let Some(schema) = configured {
        return Ok((schema.clone(), SchemaSource::Configured));
    }
    if let Some(schema) = pg_schema::search_path_in_options(options.get_options()) {
        return Ok((schema, SchemaSource::Url));
    }
    let default = SchemaName::parse(DEFAULT_SCHEMA).expect("the default schema name is plain");
    // In a transaction: behind PgBouncer the parse and the bind of an unnamed statement could
    // otherwise reach two different server connections.
    let mut tx = conn.begin().await?;
    let ours = pg_schema::has_history(&mut tx, &default).await?;
    let first = MIGRATOR.iter().min_by_key(|m| m.version).expect("the build has migrations");
    let legacy = !ours && pg_schema::public_holds_our_history(&mut tx, (first.version, &first.checksum)).await?;
    tx.commit().await?;
    if legacy {
        warn!(
            "push-server's tables are in the schema public (from before DATABASE_SCHEMA); they are used there. \
             Set DATABASE_SCHEMA=public to say so and silence this warning"
        );
        return Ok((SchemaName::parse("public").expect("plain"), SchemaSource::Legacy));
    }
    Ok((default, SchemaSource::Default))
}

/// Creates the schema and applies the migrations there, on a direct connection.
async fn migrate_on(conn: &mut PgConnection, schema: &SchemaName) -> Result<(), String> {
    pg_schema::enter(conn, schema).await.map_err(|e| format!("cannot create schema {}: {e}", schema.as_str()))?;
    MIGRATOR.run(conn).await.map_err(|e| e.to_string())
}

/// Refuses to serve on a schema older than this binary's migrations (PgBouncer mode, where the
/// server cannot migrate by itself). The table is named with its schema: a PgBouncer connection
/// carries no search path outside a transaction.
async fn check_schema(conn: &mut PgConnection, timeout: Duration, schema: &SchemaName) -> Result<(), String> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let sql = format!("SELECT coalesce(max(version), 0) FROM {}._sqlx_migrations WHERE success", schema.as_str());
    // In a transaction: PgBouncer may hand each message of a lone statement to another server
    // connection, where its unnamed prepared statement does not exist.
    let read = async {
        let mut tx = conn.begin().await?;
        let version = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).persistent(false).fetch_one(&mut *tx).await;
        let _ = tx.rollback().await;
        version
    };
    let applied = match tokio::time::timeout(timeout, read).await {
        Ok(Ok(version)) => version,
        // No migrations table: a database that was never migrated.
        Ok(Err(e)) if e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "42P01") => 0,
        Ok(Err(e)) => return Err(format!("cannot read the schema version of the Postgres database: {e}")),
        Err(_) => {
            return Err(format!(
                "cannot read the schema version of the Postgres database: no answer within {timeout:?}"
            ));
        }
    };
    if applied >= latest {
        return Ok(());
    }
    Err(format!(
        "the Postgres schema is at migration {applied}, this server needs {latest}: with DATABASE_STATEMENT_CACHE=0 \
         (PgBouncer) the server does not migrate by itself; run `push-server migrate` with DATABASE_URL set to \
         the direct (not PgBouncer) URL first"
    ))
}

async fn bounded_start<T>(
    limit: Duration,
    what: &str,
    work: impl Future<Output = Result<T, impl std::fmt::Display>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(|e| format!("cannot {what} the Postgres database: {e}")),
        Err(_) => Err(format!("cannot {what} the Postgres database: no answer within {limit:?}")),
    }
}
