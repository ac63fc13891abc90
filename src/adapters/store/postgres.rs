//! `ClientRepository` on Postgres (sqlx), the store that several server instances share.
//!
//! Semantics match the SQLite store exactly (the same contract tests run against both); what
//! differs is that Postgres has many concurrent writers, possibly on different servers. A token
//! move is one transaction (delete the token's other owner, upsert by client id) under a
//! transaction-scoped advisory lock on the token, so registrations of one token queue instead of
//! colliding, and with the rows it touches locked in a fixed order, so registrations that cross
//! do not deadlock. The UNIQUE constraint on `token` still guards the rule, and should a conflict
//! slip through anyway (a unique violation, a deadlock) the whole transaction is retried.
//!
//! Every call is bounded three ways: the pool's acquire timeout, the server-side
//! `statement_timeout`, and a client-side deadline over the whole call, which is the one that
//! also covers a server that stopped answering altogether.

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use sqlx::{
    Connection, PgPool,
    postgres::{PgConnectOptions, PgConnection, PgPoolOptions},
};
use tracing::{debug, instrument};

use super::{ClientRow, DELETE_CLIENT, DELETE_CLIENT_IF_TOKEN, FIND_CLIENT};
use crate::{
    domain::{Client, ClientId},
    ports::{ClientRepository, StoreError},
};

/// Attempts of one registration when concurrent ones conflict with it.
const MAX_ATTEMPTS: u32 = 8;
/// The first of the two advisory-lock keys ("push" in ASCII): a namespace of our own, so token
/// locks cannot meet other users of advisory locks, sqlx's migration lock included.
const TOKEN_LOCK_SPACE: i32 = 0x7075_7368;
/// Migrations may take long on a big table, and may wait for another instance migrating; they run
/// without the per-statement timeout but still cannot hold start-up forever.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(300);

pub struct PostgresClientRepository {
    pub(super) pool: PgPool,
    timeout: Duration,
}

/// What the Postgres store needs from the settings.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pub max_connections: u32,
    /// Bound on acquiring a connection, on each statement and on each whole call.
    pub timeout: Duration,
}

impl PostgresClientRepository {
    /// Connects to `url` (`postgres://...`), applies migrations and builds the pool. Fails, within
    /// the timeout, when the database cannot be reached: a server that starts without its store
    /// would only answer 503.
    pub async fn connect(url: &str, options: &PostgresOptions) -> Result<Self, String> {
        let base = PgConnectOptions::from_str(url)
            .map_err(|e| format!("invalid DATABASE_URL for Postgres: {e}"))?
            .application_name("push-server");

        let mut migrating = bounded_start(options.timeout, "connect to", PgConnection::connect_with(&base)).await?;
        bounded_start(MIGRATION_TIMEOUT, "migrate", sqlx::migrate!("./migrations/postgres").run(&mut migrating))
            .await?;
        let _ = migrating.close().await;

        let ms = options.timeout.as_millis().max(1);
        // The server cancels a statement that outlives the timeout, and ends a transaction left
        // idle by a call that was abandoned mid-way, so neither holds locks after the caller gave
        // up.
        let limited = base.options([
            ("statement_timeout", ms.to_string()),
            ("idle_in_transaction_session_timeout", (2 * ms).max(1000).to_string()),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(options.timeout)
            // After an outage the idle connections are dead; testing them on acquire lets the
            // pool replace them, so the store recovers by itself.
            .test_before_acquire(true)
            .connect_lazy_with(limited);
        Ok(Self { pool, timeout: options.timeout })
    }

    /// Closes the pool, waiting for queries in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Bounds a whole store call, however many round trips it makes.
    pub(super) async fn bounded<T>(&self, work: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result.map_err(unavailable),
            Err(_) => Err(StoreError::Unavailable(format!("no answer within {:?}", self.timeout))),
        }
    }

    async fn upsert_once(&self, client: &Client) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(TOKEN_LOCK_SPACE)
            .bind(client.token.expose())
            .execute(&mut *tx)
            .await?;
        // Both rows this transaction may change, the client's own and the token's current
        // owner's, locked up front in one global order: two registrations that swap tokens
        // would otherwise each lock one row and wait for the other's, a deadlock that Postgres
        // breaks only after `deadlock_timeout` (a second by default).
        sqlx::query(
            "SELECT client_id FROM clients WHERE project = $1 AND (client_id = $2 OR token = $3) \
             ORDER BY client_id FOR UPDATE",
        )
        .bind(client.id.project().storage_key())
        .bind(client.id.as_str())
        .bind(client.token.expose())
        .fetch_all(&mut *tx)
        .await?;
        // The token moves: whoever held it before is no longer registered.
        sqlx::query("DELETE FROM clients WHERE project = $1 AND token = $2 AND client_id <> $3")
            .bind(client.id.project().storage_key())
            .bind(client.token.expose())
            .bind(client.id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO clients (project, client_id, push_type, token) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project, client_id) DO UPDATE
             SET push_type = excluded.push_type, token = excluded.token, updated_at = now()",
        )
        .bind(client.id.project().storage_key())
        .bind(client.id.as_str())
        .bind(client.push_type.as_str())
        .bind(client.token.expose())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
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

/// Conflicts with a concurrent transaction, which a fresh attempt resolves: unique violation,
/// serialization failure, deadlock.
fn is_conflict(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|code| matches!(&*code, "23505" | "40001" | "40P01"))
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[async_trait]
impl ClientRepository for PostgresClientRepository {
    #[instrument(name = "store.upsert", skip_all, fields(client_id = %client.id))]
    async fn upsert(&self, client: &Client) -> Result<(), StoreError> {
        self.bounded(async {
            let mut attempt = 1;
            loop {
                match self.upsert_once(client).await {
                    Err(e) if attempt < MAX_ATTEMPTS && is_conflict(&e) => {
                        debug!(attempt, error = %e, "registration conflicted with a concurrent one; retrying");
                        attempt += 1;
                        // A little jitter, so that the same two callers do not collide again.
                        tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=10 * u64::from(attempt)))).await;
                    }
                    result => return result,
                }
            }
        })
        .await
    }

    #[instrument(name = "store.find", skip_all, fields(client_id = %id))]
    async fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let row = self
            .bounded(
                sqlx::query_as::<_, ClientRow>(FIND_CLIENT)
                    .bind(id.project().storage_key())
                    .bind(id.as_str())
                    .fetch_optional(&self.pool),
            )
            .await?;
        row.map(Client::try_from).transpose()
    }

    #[instrument(name = "store.delete", skip_all, fields(client_id = %id))]
    async fn delete(&self, id: &ClientId) -> Result<bool, StoreError> {
        let done = self
            .bounded(sqlx::query(DELETE_CLIENT).bind(id.project().storage_key()).bind(id.as_str()).execute(&self.pool))
            .await?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(name = "store.delete_if_token", skip_all, fields(client_id = %client.id))]
    async fn delete_if_token(&self, client: &Client) -> Result<bool, StoreError> {
        let done = self
            .bounded(
                sqlx::query(DELETE_CLIENT_IF_TOKEN)
                    .bind(client.id.project().storage_key())
                    .bind(client.id.as_str())
                    .bind(client.token.expose())
                    .execute(&self.pool),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
