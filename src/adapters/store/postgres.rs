//! `ClientRepository` on Postgres (sqlx), the store that several server instances share.
//!
//! Semantics match the SQLite store exactly (the same contract tests run against both); what
//! differs is that Postgres has many concurrent writers, possibly on different servers. A token
//! move is one transaction (delete the token's other owner, upsert by client id) under a
//! transaction-scoped advisory lock on the token, so registrations of one token queue instead of
//! colliding, and with the rows it touches locked in a fixed order, so registrations that cross
//! do not deadlock. The unique index on the token's hash still guards the rule (a plain index on
//! the token cannot hold the 4,096-byte tokens the contract accepts), and should a conflict slip
//! through anyway (a unique violation, a deadlock) the whole transaction is retried.
//!
//! Every call is bounded three ways: the pool's acquire timeout, the server-side
//! `statement_timeout`, and a client-side deadline over the whole call, which is the one that
//! also covers a server that stopped answering altogether. Behind PgBouncer in transaction mode
//! the shared `PgDatabase` changes how statements are sent; the SQL stays the same.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Postgres, postgres::PgArguments, query::Query};
use tracing::{debug, instrument};

use super::{ClientRow, DELETE_CLIENT, DELETE_CLIENT_IF_TOKEN, FIND_CLIENT, row::stored_unless_project_gone};
pub use crate::adapters::pg_database::PostgresOptions;
use crate::{
    adapters::pg_database::PgDatabase,
    domain::{Client, ClientId},
    ports::{ClientRepository, StoreError},
};

/// Attempts of one registration when concurrent ones conflict with it.
const MAX_ATTEMPTS: u32 = 8;
/// The first of the two advisory-lock keys ("push" in ASCII): a namespace of our own, so token
/// locks cannot meet other users of advisory locks, sqlx's migration lock included.
const TOKEN_LOCK_SPACE: i32 = 0x7075_7368;

pub struct PostgresClientRepository {
    db: PgDatabase,
}

impl PostgresClientRepository {
    /// Connects to `url` (`postgres://...`), applies migrations (or, through PgBouncer, checks
    /// them) and builds the pool. Fails, within the timeout, when the database cannot be
    /// reached: a server that starts without its store would only answer 503.
    pub async fn connect(url: &str, options: &PostgresOptions) -> Result<Self, String> {
        Ok(Self::new(PgDatabase::connect(url, options).await?))
    }

    /// The store on a database that is already connected (and shared, say with Postgres dedup).
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }

    pub fn database(&self) -> &PgDatabase {
        &self.db
    }

    /// Closes the pool, waiting for queries in flight.
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// Bounds a whole store call, however many round trips it makes.
    pub(super) async fn bounded<T>(&self, work: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, StoreError> {
        let limit = self.db.timeout();
        match tokio::time::timeout(limit, work).await {
            Ok(result) => result.map_err(unavailable),
            Err(_) => Err(StoreError::Unavailable(format!("no answer within {limit:?}"))),
        }
    }

    /// A statement, named and cached unless the database sits behind PgBouncer.
    fn query<'q>(&self, sql: &'static str) -> Query<'q, Postgres, PgArguments> {
        sqlx::query(sql).persistent(self.db.persistent())
    }

    /// Runs one statement: straight on the pool, or (PgBouncer) in a transaction of its own.
    async fn execute(&self, query: Query<'_, Postgres, PgArguments>) -> Result<u64, sqlx::Error> {
        if self.db.single_statements_in_transactions() {
            let mut tx = self.db.begin().await?;
            let done = query.execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        } else {
            Ok(query.execute(self.db.pool()).await?.rows_affected())
        }
    }

    async fn find_row(&self, id: &ClientId) -> Result<Option<ClientRow>, sqlx::Error> {
        let query = sqlx::query_as::<_, ClientRow>(FIND_CLIENT)
            .persistent(self.db.persistent())
            .bind(id.project().storage_key())
            .bind(id.as_str());
        if self.db.single_statements_in_transactions() {
            let mut tx = self.db.begin().await?;
            let row = query.fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            Ok(row)
        } else {
            query.fetch_optional(self.db.pool()).await
        }
    }

    /// One attempt at a registration; `Ok(false)` when the client's project does not exist.
    async fn upsert_once(&self, client: &Client) -> Result<bool, sqlx::Error> {
        let mut tx = self.db.begin().await?;
        self.query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(TOKEN_LOCK_SPACE)
            .bind(client.token.expose())
            .execute(&mut *tx)
            .await?;
        // Both rows this transaction may change, the client's own and the token's current
        // owner's, locked up front in one global order: two registrations that swap tokens
        // would otherwise each lock one row and wait for the other's, a deadlock that Postgres
        // breaks only after `deadlock_timeout` (a second by default). The token is found by its
        // hash (the unique index; see migrations 0002 and 0004) and then compared exactly; both
        // within the client's project, the scope of ids and tokens.
        self.query(
            "SELECT client_id FROM clients
             WHERE project = $1 AND (client_id = $2 OR (token_hash = push_token_hash($3) AND token = $3))
             ORDER BY client_id FOR UPDATE",
        )
        .bind(client.id.project().storage_key())
        .bind(client.id.as_str())
        .bind(client.token.expose())
        .execute(&mut *tx)
        .await?;
        // The token moves: whoever held it before in this project is no longer registered.
        self.query(
            "DELETE FROM clients
             WHERE project = $1 AND token_hash = push_token_hash($2) AND token = $2 AND client_id <> $3",
        )
        .bind(client.id.project().storage_key())
        .bind(client.token.expose())
        .bind(client.id.as_str())
        .execute(&mut *tx)
        .await?;
        // The foreign key on the project locks the project's row until this commits: a delete of
        // the project waits for it and then takes this client along, or went first and this
        // insert finds no project.
        let stored = self
            .query(
                "INSERT INTO clients (project, client_id, push_type, token, always_raw) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (project, client_id) DO UPDATE
                 SET push_type = excluded.push_type, token = excluded.token, always_raw = excluded.always_raw,
                     updated_at = now()",
            )
            .bind(client.id.project().storage_key())
            .bind(client.id.as_str())
            .bind(client.push_type.as_str())
            .bind(client.token.expose())
            .bind(client.always_raw)
            .execute(&mut *tx)
            .await;
        commit_unless_project_gone(tx, stored).await
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
    async fn upsert(&self, client: &Client) -> Result<bool, StoreError> {
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
        let row = self.bounded(self.find_row(id)).await?;
        row.map(Client::try_from).transpose()
    }

    #[instrument(name = "store.delete", skip_all, fields(client_id = %id))]
    async fn delete(&self, id: &ClientId) -> Result<bool, StoreError> {
        let query = self.query(DELETE_CLIENT).bind(id.project().storage_key()).bind(id.as_str());
        let deleted = self.bounded(self.execute(query)).await?;
        Ok(deleted > 0)
    }

    #[instrument(name = "store.delete_if_token", skip_all, fields(client_id = %client.id))]
    async fn delete_if_token(&self, client: &Client) -> Result<bool, StoreError> {
        let query = self
            .query(DELETE_CLIENT_IF_TOKEN)
            .bind(client.id.project().storage_key())
            .bind(client.id.as_str())
            .bind(client.token.expose());
        let deleted = self.bounded(self.execute(query)).await?;
        Ok(deleted > 0)
    }
}

/// Ends a registration's transaction after its insert, `stored`: commits it (`Ok(true)`), or,
/// when the insert failed because the client's project does not exist (the clients' foreign key
/// on the projects, migrations `0012`), rolls it back and answers `Ok(false)`.
async fn commit_unless_project_gone<T>(
    tx: sqlx::Transaction<'_, Postgres>,
    stored: Result<T, sqlx::Error>,
) -> Result<bool, sqlx::Error> {
    match stored_unless_project_gone(stored) {
        Ok(false) => tx.rollback().await.map(|()| false),
        Ok(true) => tx.commit().await.map(|()| true),
        Err(e) => Err(e),
    }
}
