//! `ClientRepository` on an SQLite file (sqlx), the embedded default.
//!
//! SQLite allows one writer at a time. Rather than let concurrent registrations race for the write
//! lock (and fail with `SQLITE_BUSY`), all writes go through a pool of exactly one connection,
//! which queues them in order; reads use their own pool and run beside the writer thanks to WAL.
//!
//! Lookups go through a `ClientCache`, exact because this server is the database's only writer
//! (the embedded default serves one process; run several servers on Postgres instead).

use std::{str::FromStr, sync::Arc, time::Duration};

use async_trait::async_trait;
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use tracing::instrument;

use super::{ClientRow, DELETE_CLIENT, DELETE_CLIENT_IF_TOKEN, FIND_CLIENT, client_cache::ClientCache};
use crate::{
    domain::{Client, ClientId},
    ports::{ClientRepository, StoreError},
};

pub struct SqliteClientRepository {
    writer: SqlitePool,
    readers: SqlitePool,
    timeout: Duration,
    cache: Arc<ClientCache>,
}

/// What the SQLite store needs from the settings.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub max_readers: u32,
    pub timeout: Duration,
    pub synchronous_full: bool,
}

impl SqliteClientRepository {
    /// Opens (creating if needed) the database at `url` (`sqlite://PATH`) and applies migrations.
    pub async fn connect(url: &str, options: &SqliteOptions) -> Result<Self, String> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| format!("invalid DATABASE_URL for SQLite: {e}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if options.synchronous_full { SqliteSynchronous::Full } else { SqliteSynchronous::Normal })
            .busy_timeout(options.timeout)
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| format!("cannot open the SQLite database {url}: {e}"))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| format!("cannot migrate the SQLite database {url}: {e}"))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_readers.max(1))
            .acquire_timeout(options.timeout)
            .connect_with(connect.read_only(true))
            .await
            .map_err(|e| format!("cannot open the SQLite database {url}: {e}"))?;
        Ok(Self { writer, readers, timeout: options.timeout, cache: Arc::new(ClientCache::new()) })
    }

    /// Closes both pools, waiting for queries in flight.
    pub async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }

    /// Runs a write and tells the cache: stale from now on if it committed; if it failed (or timed
    /// out, when its COMMIT may still be queued on the writer connection), bypassed until that
    /// connection has been handed back, which means the queued statements are done.
    async fn write<T>(&self, work: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, StoreError> {
        let result = self.bounded(work).await;
        if result.is_ok() {
            self.cache.invalidate();
        } else {
            self.cache.unsettle();
            let (writer, cache) = (self.writer.clone(), self.cache.clone());
            tokio::spawn(async move {
                loop {
                    match writer.acquire().await {
                        Ok(_) | Err(sqlx::Error::PoolClosed) => break,
                        Err(_) => continue,
                    }
                }
                cache.settled();
            });
        }
        result
    }

    /// Bounds a store call: SQLite has no statement timeout of its own.
    async fn bounded<T>(&self, work: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result.map_err(unavailable),
            Err(_) => Err(StoreError::Unavailable(format!("no answer within {:?}", self.timeout))),
        }
    }
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[async_trait]
impl ClientRepository for SqliteClientRepository {
    #[instrument(name = "store.upsert", skip_all, fields(client_id = %client.id))]
    async fn upsert(&self, client: &Client) -> Result<(), StoreError> {
        self.write(async {
            let mut tx = self.writer.begin().await?;
            // The token moves: whoever held it before is no longer registered.
            sqlx::query("DELETE FROM clients WHERE token = $1 AND client_id <> $2")
                .bind(client.token.expose())
                .bind(client.id.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO clients (client_id, push_type, token, always_raw) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (client_id) DO UPDATE
                 SET push_type = excluded.push_type, token = excluded.token, always_raw = excluded.always_raw,
                     updated_at = unixepoch()",
            )
            .bind(client.id.as_str())
            .bind(client.push_type.as_str())
            .bind(client.token.expose())
            .bind(client.always_raw)
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })
        .await
    }

    #[instrument(name = "store.find", skip_all, fields(client_id = %id))]
    async fn find(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let ticket = match self.cache.get(id) {
            Ok(client) => return Ok(Some(client)),
            Err(ticket) => ticket,
        };
        let row = self
            .bounded(sqlx::query_as::<_, ClientRow>(FIND_CLIENT).bind(id.as_str()).fetch_optional(&self.readers))
            .await?;
        let client = row.map(Client::try_from).transpose()?;
        if let Some(client) = &client {
            self.cache.put(ticket, client);
        }
        Ok(client)
    }

    #[instrument(name = "store.delete", skip_all, fields(client_id = %id))]
    async fn delete(&self, id: &ClientId) -> Result<bool, StoreError> {
        let done = self.write(sqlx::query(DELETE_CLIENT).bind(id.as_str()).execute(&self.writer)).await?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(name = "store.delete_if_token", skip_all, fields(client_id = %client.id))]
    async fn delete_if_token(&self, client: &Client) -> Result<bool, StoreError> {
        let done = self
            .write(
                sqlx::query(DELETE_CLIENT_IF_TOKEN)
                    .bind(client.id.as_str())
                    .bind(client.token.expose())
                    .execute(&self.writer),
            )
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
