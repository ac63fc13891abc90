//! `DedupStore` on Postgres, for deployments that share a Postgres but run no Redis.
//!
//! A claim is one row keyed by `(client_id, notification_id)` (migration 0003), written by one
//! statement: `INSERT ... ON CONFLICT DO UPDATE ... WHERE expired`. Postgres locks the conflicting
//! row and re-checks the condition on its newest version, so of any number of concurrent
//! claimers on any number of servers exactly one inserts (or takes over an expired row), and the
//! others see a live claim and get `Duplicate`. Expiry uses the database's clock only, so servers
//! whose clocks disagree still agree on every window.
//!
//! The row carries the claim's token: `release` deletes only a row with its own token, and a
//! claim whose answer was lost can be asked again with the same token and recognised as ours.
//! Expired rows cost nothing to correctness (the next claim takes them over) but would pile up,
//! so each instance sweeps them in the background, in small batches that skip rows another
//! instance is sweeping.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{
    Postgres,
    postgres::PgArguments,
    query::{Query, QueryScalar},
};
use tokio::task::JoinHandle;
use tracing::{debug, instrument, warn};

use crate::{
    adapters::pg_database::PgDatabase,
    domain::{ClientId, NotificationId},
    ports::{Claim, ClaimToken, DedupError, DedupStore},
};

/// Inserts the claim, or takes over a row whose window has passed, or (a retry of this very
/// claim) recognises its own token. Returns the token when the claim is ours, no row otherwise.
const CLAIM: &str = "INSERT INTO dedup_claims AS held (client_id, notification_id, token, expires_at)
VALUES ($1, $2, $3, clock_timestamp() + make_interval(secs => $4::float8 / 1000))
ON CONFLICT (client_id, notification_id) DO UPDATE
SET token = excluded.token, expires_at = excluded.expires_at
WHERE held.expires_at <= clock_timestamp() OR held.token = excluded.token
RETURNING token";

const RELEASE: &str = "DELETE FROM dedup_claims WHERE client_id = $1 AND notification_id = $2 AND token = $3";

/// One batch of the background sweep. `SKIP LOCKED`: rows that another instance's sweep (or a
/// claim taking one over) holds are left to it.
const SWEEP: &str = "DELETE FROM dedup_claims WHERE (client_id, notification_id) IN (
    SELECT client_id, notification_id FROM dedup_claims
    WHERE expires_at <= clock_timestamp()
    LIMIT $1 FOR UPDATE SKIP LOCKED)";
const SWEEP_BATCH: i64 = 5000;

/// Windows beyond this are this (about 140,000 years): the database's timestamps end in 294276 AD.
const MAX_TTL_MS: u64 = 1 << 52;

/// What the Postgres dedup store needs besides its database.
#[derive(Debug, Clone)]
pub struct PostgresDedupOptions {
    /// How often expired claims are swept out.
    pub sweep_every: Duration,
}

pub struct PostgresDedupStore {
    db: PgDatabase,
    sweeper: JoinHandle<()>,
}

impl PostgresDedupStore {
    /// Dedup on `db`, whose migrations have been applied; starts the background sweep (stopped
    /// when the store is dropped).
    pub fn new(db: PgDatabase, options: &PostgresDedupOptions) -> Self {
        let sweeper = tokio::spawn(sweep_forever(db.clone(), options.sweep_every.max(Duration::from_millis(10))));
        Self { db, sweeper }
    }

    /// Deletes every expired claim now; returns how many went. The background sweep calls it.
    pub async fn sweep(&self) -> Result<u64, DedupError> {
        sweep_once(&self.db).await
    }

    async fn bounded<T>(&self, work: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, DedupError> {
        bounded(self.db.timeout(), work).await
    }

    /// One statement that returns at most one value: straight on the pool, or (PgBouncer) in a
    /// transaction of its own.
    async fn fetch<'q>(&self, query: QueryScalar<'q, Postgres, i64, PgArguments>) -> Result<Option<i64>, sqlx::Error> {
        run_scalar(&self.db, query).await
    }
}

impl Drop for PostgresDedupStore {
    fn drop(&mut self) {
        self.sweeper.abort();
    }
}

async fn run_scalar(
    db: &PgDatabase,
    query: QueryScalar<'_, Postgres, i64, PgArguments>,
) -> Result<Option<i64>, sqlx::Error> {
    if db.single_statements_in_transactions() {
        let mut tx = db.begin().await?;
        let value = query.fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(value)
    } else {
        query.fetch_optional(db.pool()).await
    }
}

/// One statement without a result: straight on the pool, or (PgBouncer) in a transaction of its
/// own. Returns the rows it affected.
async fn execute(db: &PgDatabase, query: Query<'_, Postgres, PgArguments>) -> Result<u64, sqlx::Error> {
    if db.single_statements_in_transactions() {
        let mut tx = db.begin().await?;
        let done = query.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    } else {
        Ok(query.execute(db.pool()).await?.rows_affected())
    }
}

async fn bounded<T>(limit: Duration, work: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, DedupError> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(|e| DedupError::Unavailable(e.to_string())),
        Err(_) => Err(DedupError::Unavailable(format!("no answer within {limit:?}"))),
    }
}

async fn sweep_once(db: &PgDatabase) -> Result<u64, DedupError> {
    let mut total = 0;
    loop {
        let sweep = sqlx::query(SWEEP).persistent(db.persistent()).bind(SWEEP_BATCH);
        let deleted = bounded(db.timeout(), execute(db, sweep)).await?;
        total += deleted;
        if deleted < SWEEP_BATCH as u64 {
            return Ok(total);
        }
    }
}

async fn sweep_forever(db: PgDatabase, every: Duration) {
    // Instances started together should not sweep in lockstep.
    tokio::time::sleep(every.mul_f64(fastrand::f64())).await;
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match sweep_once(&db).await {
            Ok(0) => {}
            Ok(n) => debug!(expired = n, "swept expired dedup claims"),
            Err(e) => warn!(error = %e, "could not sweep expired dedup claims; will try again"),
        }
    }
}

/// The token as stored: the same 64 bits, as Postgres has no unsigned integers.
fn stored(token: ClaimToken) -> i64 {
    token.0 as i64
}

fn is_connection_error(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_))
}

#[async_trait]
impl DedupStore for PostgresDedupStore {
    #[instrument(name = "dedup.try_claim", skip_all, fields(client_id = %client, notification_id = %id))]
    async fn try_claim(&self, client: &ClientId, id: &NotificationId, ttl: Duration) -> Result<Claim, DedupError> {
        let token = ClaimToken::random();
        // A window under a millisecond is one millisecond, as with Redis.
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).clamp(1, MAX_TTL_MS) as i64;
        let claim = || {
            sqlx::query_scalar::<_, i64>(CLAIM)
                .persistent(self.db.persistent())
                .bind(client.as_str())
                .bind(id.as_str())
                .bind(stored(token))
                .bind(ttl_ms)
        };
        let claimed = self
            .bounded(async {
                match self.fetch(claim()).await {
                    // The connection broke under the statement; it may have committed with only
                    // its answer lost. Asking again with the same token is safe: our own row is
                    // recognised as ours.
                    Err(e) if is_connection_error(&e) => self.fetch(claim()).await,
                    result => result,
                }
            })
            .await;
        match claimed {
            Ok(Some(_)) => Ok(Claim::New(token)),
            Ok(None) => Ok(Claim::Duplicate),
            Err(e) => {
                // The insert may have committed with its answer lost. The caller answers 503 and
                // the Relay will retry; a claim left behind would make that retry a silent
                // duplicate, so take it back if it is there (it can only be ours).
                let (db, client, id) = (self.db.clone(), client.as_str().to_owned(), id.as_str().to_owned());
                tokio::spawn(async move {
                    let query =
                        sqlx::query(RELEASE).persistent(db.persistent()).bind(client).bind(id).bind(stored(token));
                    if let Err(e) = bounded(db.timeout(), execute(&db, query)).await {
                        warn!(error = %e, "could not take back a claim whose answer was lost; it expires with its window");
                    }
                });
                Err(e)
            }
        }
    }

    #[instrument(name = "dedup.release", skip_all, fields(client_id = %client, notification_id = %id))]
    async fn release(&self, client: &ClientId, id: &NotificationId, token: ClaimToken) -> Result<(), DedupError> {
        let query = sqlx::query(RELEASE)
            .persistent(self.db.persistent())
            .bind(client.as_str())
            .bind(id.as_str())
            .bind(stored(token));
        self.bounded(execute(&self.db, query)).await.map(|_| ())
    }
}
