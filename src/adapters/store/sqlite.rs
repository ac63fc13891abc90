//! `ClientRepository` on an SQLite file (sqlx), the embedded default.
//!
//! SQLite allows one writer at a time. Rather than let concurrent registrations race for the write
//! lock (and fail with `SQLITE_BUSY`), all writes go through a pool of exactly one connection,
//! which queues them in order; reads use their own pool and run beside the writer thanks to WAL.
//!
//! Lookups go through a `ClientCache`, exact because this server is the database's only writer
//! (the embedded default serves one process; run several servers on Postgres instead). Each write
//! runs in a task of its own, so the cache learns its outcome even when the caller has gone.

use std::{str::FromStr, sync::Arc, time::Duration};

use async_trait::async_trait;
use sqlx::{
    ConnectOptions, Connection, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use tracing::{Instrument, instrument};

use super::{
    ClientRow, DELETE_CLIENT, DELETE_CLIENT_IF_TOKEN, FIND_CLIENT, client_cache::ClientCache,
    row::stored_unless_project_gone,
};
use crate::{
    domain::{Client, ClientId, DeviceToken},
    ports::{ClientRepository, StoreError},
};

/// How long opening and migrating the database may wait for SQLite's lock at start.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);

pub struct SqliteClientRepository {
    pub(super) writer: SqlitePool,
    pub(super) readers: SqlitePool,
    pub(super) timeout: Duration,
    pub(super) cache: Arc<ClientCache>,
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
        // Opened and migrated on a connection of its own, so a busy machine's slow start is not
        // held to the per-call timeout; the pools then open their connections when first used.
        let mut opening = connect
            .clone()
            .busy_timeout(options.timeout.max(OPEN_TIMEOUT))
            .connect()
            .await
            .map_err(|e| format!("cannot open the SQLite database {url}: {e}"))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut opening)
            .await
            .map_err(|e| format!("cannot migrate the SQLite database {url}: {e}"))?;
        opening.close().await.map_err(|e| format!("cannot open the SQLite database {url}: {e}"))?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.timeout)
            .connect_lazy_with(connect.clone());
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_readers.max(1))
            .acquire_timeout(options.timeout)
            .connect_lazy_with(connect.read_only(true));
        Ok(Self { writer, readers, timeout: options.timeout, cache: Arc::new(ClientCache::new()) })
    }

    /// Closes both pools, waiting for queries in flight.
    pub async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }

    /// Runs a write in a task of its own and waits for it at most `timeout`.
    ///
    /// The cache is told before the write starts which clients it may change (`client`, and with
    /// `token` whoever holds that token), and when it is over. Because the task runs the write to
    /// completion whatever the caller does, a caller that hangs up (its future dropped) or stops
    /// waiting cannot leave a committed change that the cache does not know about: the clients stay
    /// out of the cache until the task has seen the outcome. A caller that timed out is told
    /// `Unavailable`; the write may still complete after that.
    ///
    /// There is no retry loop: the write ends when its statements end (bounded by the pool's
    /// acquire timeout and SQLite's busy timeout), and its outcome is then known, committed or not
    /// (a failed transaction is rolled back on its connection before anyone else can use it).
    async fn write<T: Send + 'static>(
        &self,
        client: &ClientId,
        token: Option<&DeviceToken>,
        work: impl Future<Output = Result<T, sqlx::Error>> + Send + 'static,
    ) -> Result<T, StoreError> {
        // Marked and spawned in the same poll: either both happen or neither.
        let marks = self.cache.writing(client, token);
        let cache = self.cache.clone();
        let task = tokio::spawn(
            async move {
                let result = work.await;
                cache.written(marks);
                result
            }
            .in_current_span(),
        );
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(result)) => result.map_err(unavailable),
            // The task panicked: its clients stay out of the cache (see `ClientCache`).
            Ok(Err(e)) => Err(StoreError::Unavailable(format!("the write failed: {e}"))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {:?} (the write may still complete)",
                self.timeout
            ))),
        }
    }

    /// Bounds a store call: SQLite has no statement timeout of its own.
    pub(super) async fn bounded<T>(&self, work: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, StoreError> {
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
    async fn upsert(&self, client: &Client) -> Result<bool, StoreError> {
        let writer = self.writer.clone();
        let (project, id) = (client.id.project().storage_key().to_owned(), client.id.as_str().to_owned());
        let (push_type, token) = (client.push_type.as_str(), client.token.expose().to_owned());
        let always_raw = client.always_raw;
        self.write(&client.id, Some(&client.token), async move {
            // One statement, so one hand-off to the connection's thread instead of four (begin,
            // delete, insert, commit). REPLACE removes every row the new one conflicts with: this
            // client's previous row (the key) and whoever held the token before in this project
            // (the unique token), so the token moves; the statement is atomic on its own, and a
            // missing project fails it whole on the foreign key.
            let stored = sqlx::query(
                "INSERT OR REPLACE INTO clients (project, client_id, push_type, token, always_raw)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&project)
            .bind(&id)
            .bind(push_type)
            .bind(&token)
            .bind(always_raw)
            .execute(&writer)
            .await;
            stored_unless_project_gone(stored)
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
            .bounded(
                sqlx::query_as::<_, ClientRow>(FIND_CLIENT)
                    .bind(id.project().storage_key())
                    .bind(id.as_str())
                    .fetch_optional(&self.readers),
            )
            .await?;
        let client = row.map(Client::try_from).transpose()?;
        if let Some(client) = &client {
            self.cache.put(ticket, client);
        }
        Ok(client)
    }

    #[instrument(name = "store.delete", skip_all, fields(client_id = %id))]
    async fn delete(&self, id: &ClientId) -> Result<bool, StoreError> {
        let query = sqlx::query(DELETE_CLIENT).bind(id.project().storage_key().to_owned()).bind(id.as_str().to_owned());
        let writer = self.writer.clone();
        let done = self.write(id, None, async move { query.execute(&writer).await }).await?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(name = "store.delete_if_token", skip_all, fields(client_id = %client.id))]
    async fn delete_if_token(&self, client: &Client) -> Result<bool, StoreError> {
        let writer = self.writer.clone();
        let query = sqlx::query(DELETE_CLIENT_IF_TOKEN)
            .bind(client.id.project().storage_key().to_owned())
            .bind(client.id.as_str().to_owned())
            .bind(client.token.expose().to_owned());
        let done = self.write(&client.id, None, async move { query.execute(&writer).await }).await?;
        Ok(done.rows_affected() > 0)
    }
}
