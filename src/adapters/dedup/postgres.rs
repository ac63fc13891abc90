//! `DedupStore` on Postgres, for deployments that share a Postgres but run no Redis.
//!
//! A claim is one row keyed by `(client_id, notification_id)` (migration 0003) with its token, its
//! state (`done`, migration 0020) and when it ends (`expires_at`: the lease's end while in flight,
//! the window's once done). Every transition is one statement. The claim is an `INSERT ... ON
//! CONFLICT DO UPDATE` that always updates: Postgres locks the conflicting row and evaluates the
//! update against its newest version, so of any number of concurrent claimers on any number of
//! servers exactly one inserts (or takes over a row whose lease or window has passed), and every
//! other one gets the row as it stands (done, or in flight with its lease) in the same statement,
//! with no second read that could race. Keeping the row as it was costs a row version per
//! duplicate (a HOT update: no indexed value changes). Completing and releasing are `UPDATE` and
//! `DELETE` that compare the token first. Time is the database's clock only, so servers whose
//! clocks disagree still agree on every lease and window.
//!
//! A claim whose answer was lost can be asked again with the same token and is recognised as ours;
//! completing again finds our own done row. Expired rows cost nothing to correctness (the next
//! claim takes them over) but would pile up, so each instance sweeps them in the background, in
//! small batches that skip rows another instance is sweeping. Waiting duplicates read their row
//! through the shared watcher (`super::watch`): about one `SELECT` a second per watched id.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{
    Postgres,
    postgres::PgArguments,
    query::{Query, QueryAs},
};
use tokio::task::JoinHandle;
use tracing::{debug, instrument, warn};

use super::watch::{Seen, Watchers};
use crate::{
    adapters::pg_database::PgDatabase,
    domain::{ClientId, NotificationId},
    ports::{Claim, ClaimToken, Completed, DedupError, DedupStore, Waited},
};

/// Inserts the claim in flight, takes over a row whose lease or window has passed, or (a retry of
/// this very claim) finds its own; any other row stays as it is. Returns the row as it now stands:
/// its token, whether it is done, and the milliseconds it has left.
const CLAIM: &str = "INSERT INTO dedup_claims AS held (client_id, notification_id, token, expires_at, done)
VALUES ($1, $2, $3, clock_timestamp() + make_interval(secs => $4::float8 / 1000), false)
ON CONFLICT (client_id, notification_id) DO UPDATE
SET token = CASE WHEN held.expires_at <= clock_timestamp() THEN excluded.token ELSE held.token END,
    done = CASE WHEN held.expires_at <= clock_timestamp() THEN false ELSE held.done END,
    expires_at = CASE WHEN held.expires_at <= clock_timestamp() THEN excluded.expires_at ELSE held.expires_at END
RETURNING token, done, (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::bigint";

/// Makes this token's live claim (in flight, or already done: a retry) done until the window ends.
const COMPLETE: &str = "UPDATE dedup_claims
SET done = true, expires_at = clock_timestamp() + make_interval(secs => $4::float8 / 1000)
WHERE client_id = $1 AND notification_id = $2 AND token = $3 AND expires_at > clock_timestamp()";

/// Deletes this token's in-flight claim; a done one stays.
const RELEASE: &str =
    "DELETE FROM dedup_claims WHERE client_id = $1 AND notification_id = $2 AND token = $3 AND NOT done";

/// The live claim, as a waiter's watcher reads it.
const PEEK: &str = "SELECT token, done, (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::bigint
FROM dedup_claims WHERE client_id = $1 AND notification_id = $2 AND expires_at > clock_timestamp()";

/// One batch of the background sweep. `SKIP LOCKED`: rows that another instance's sweep (or a
/// claim taking one over) holds are left to it.
const SWEEP: &str = "DELETE FROM dedup_claims WHERE (client_id, notification_id) IN (
    SELECT client_id, notification_id FROM dedup_claims
    WHERE expires_at <= clock_timestamp()
    LIMIT $1 FOR UPDATE SKIP LOCKED)";
const SWEEP_BATCH: i64 = 5000;

/// Leases and windows beyond this are this (about 140,000 years): the database's timestamps end
/// in 294276 AD. Under a millisecond is one millisecond, as with Redis.
fn stored_ms(d: Duration) -> i64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).clamp(1, 1 << 52) as i64
}

/// A claim's row: token, done, milliseconds left.
type Row = (i64, bool, i64);

/// What the Postgres dedup store needs besides its database.
#[derive(Debug, Clone)]
pub struct PostgresDedupOptions {
    /// How often expired claims are swept out.
    pub sweep_every: Duration,
}

pub struct PostgresDedupStore {
    db: PgDatabase,
    sweeper: JoinHandle<()>,
    watchers: Watchers<(String, String)>,
}

impl PostgresDedupStore {
    /// Dedup on `db`, whose migrations have been applied; starts the background sweep (stopped
    /// when the store is dropped).
    pub fn new(db: PgDatabase, options: &PostgresDedupOptions) -> Self {
        let sweeper = tokio::spawn(sweep_forever(db.clone(), options.sweep_every.max(Duration::from_millis(10))));
        Self { db, sweeper, watchers: Watchers::default() }
    }

    /// Deletes every expired claim now; returns how many went. The background sweep calls it.
    pub async fn sweep(&self) -> Result<u64, DedupError> {
        sweep_once(&self.db).await
    }

    /// A statement over one claim, with its client, id and token bound.
    fn on_claim<'q>(
        &self,
        sql: &'static str,
        client: &'q str,
        id: &'q str,
        token: ClaimToken,
    ) -> Query<'q, Postgres, PgArguments> {
        sqlx::query(sql).persistent(self.db.persistent()).bind(client).bind(id).bind(stored(token))
    }

    /// One statement that changes rows, bounded by the store's timeout; the rows it changed.
    async fn write(&self, query: Query<'_, Postgres, PgArguments>) -> Result<u64, DedupError> {
        bounded(self.db.timeout(), execute(&self.db, query)).await
    }
}

impl Drop for PostgresDedupStore {
    fn drop(&mut self) {
        self.sweeper.abort();
    }
}

/// One statement that returns at most one row: straight on the pool, or (PgBouncer) in a
/// transaction of its own.
async fn fetch_row(
    db: &PgDatabase,
    query: QueryAs<'_, Postgres, Row, PgArguments>,
) -> Result<Option<Row>, sqlx::Error> {
    if db.single_statements_in_transactions() {
        let mut tx = db.begin().await?;
        let row = query.fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(row)
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

/// The live claim on `(client, id)`, as a waiter's watcher sees it.
async fn peek(db: &PgDatabase, client: &str, id: &str) -> Result<Seen, DedupError> {
    let query = sqlx::query_as::<_, Row>(PEEK).persistent(db.persistent()).bind(client).bind(id);
    Ok(match bounded(db.timeout(), fetch_row(db, query)).await? {
        None => Seen::Free,
        Some((_, true, _)) => Seen::Done,
        Some((token, false, left)) => Seen::InFlight { holder: token as u64, lease_left: millis_left(left) },
    })
}

fn millis_left(ms: i64) -> Duration {
    Duration::from_millis(ms.max(0).unsigned_abs())
}

/// The token as stored: the same 64 bits, as Postgres has no unsigned integers.
fn stored(token: ClaimToken) -> i64 {
    token.0 as i64
}

/// The stored client of a claim: a named project's clients carry `{project} ` in front (neither a
/// project id nor a client id holds a space), so projects' claims never meet and the default
/// project's keep their form.
fn scoped(client: &ClientId) -> String {
    match client.project().storage_key() {
        "" => client.as_str().to_owned(),
        project => format!("{project} {}", client.as_str()),
    }
}

fn is_connection_error(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_))
}

#[async_trait]
impl DedupStore for PostgresDedupStore {
    #[instrument(name = "dedup.try_claim", skip_all, fields(client_id = %client, notification_id = %id))]
    async fn try_claim(&self, client: &ClientId, id: &NotificationId, lease: Duration) -> Result<Claim, DedupError> {
        let (client, token) = (&scoped(client), ClaimToken::random());
        let claim = || {
            sqlx::query_as::<_, Row>(CLAIM)
                .persistent(self.db.persistent())
                .bind(client.as_str())
                .bind(id.as_str())
                .bind(stored(token))
                .bind(stored_ms(lease))
        };
        let claimed = bounded(self.db.timeout(), async {
            match fetch_row(&self.db, claim()).await {
                // The connection broke under the statement; it may have committed with only its
                // answer lost. Asking again with the same token is safe: our own row is
                // recognised as ours.
                Err(e) if is_connection_error(&e) => fetch_row(&self.db, claim()).await,
                result => result,
            }
        })
        .await;
        match claimed {
            Ok(Some((held, false, _))) if held == stored(token) => Ok(Claim::Claimed(token)),
            Ok(Some((_, false, left))) => Ok(Claim::InFlight { lease_left: millis_left(left) }),
            // An insert or update always returns its row; `None` cannot happen, and would not be a
            // claim of ours.
            Ok(Some((_, true, _)) | None) => Ok(Claim::Done),
            Err(e) => {
                // The insert may have committed with its answer lost. The caller answers 503 and
                // the Relay will retry; a claim left behind would make that retry wait out the
                // lease, so take it back if it is there (it can only be ours).
                let (db, client, id) = (self.db.clone(), client.as_str().to_owned(), id.as_str().to_owned());
                tokio::spawn(async move {
                    let query =
                        sqlx::query(RELEASE).persistent(db.persistent()).bind(client).bind(id).bind(stored(token));
                    if let Err(e) = bounded(db.timeout(), execute(&db, query)).await {
                        warn!(error = %e, "could not take back a claim whose answer was lost; its lease ends it");
                    }
                });
                Err(e)
            }
        }
    }

    #[instrument(name = "dedup.complete", skip_all, fields(client_id = %client, notification_id = %id))]
    async fn complete(
        &self,
        client: &ClientId,
        id: &NotificationId,
        token: ClaimToken,
        window: Duration,
    ) -> Result<Completed, DedupError> {
        let client = scoped(client);
        let query = self.on_claim(COMPLETE, &client, id.as_str(), token).bind(stored_ms(window));
        if self.write(query).await? == 0 {
            return Ok(Completed::NotHeld);
        }
        self.watchers.settled(&(client, id.as_str().to_owned()), Waited::Done);
        Ok(Completed::Done)
    }

    #[instrument(name = "dedup.release", skip_all, fields(client_id = %client, notification_id = %id))]
    async fn release(&self, client: &ClientId, id: &NotificationId, token: ClaimToken) -> Result<(), DedupError> {
        let client = scoped(client);
        if self.write(self.on_claim(RELEASE, &client, id.as_str(), token)).await? > 0 {
            self.watchers.settled(&(client, id.as_str().to_owned()), Waited::Released);
        }
        Ok(())
    }

    #[instrument(name = "dedup.wait", skip_all, fields(client_id = %client, notification_id = %id))]
    async fn wait(&self, client: &ClientId, id: &NotificationId, patience: Duration) -> Result<Waited, DedupError> {
        let key = (scoped(client), id.as_str().to_owned());
        let (db, watched) = (self.db.clone(), key.clone());
        self.watchers
            .wait(key, patience, move || {
                let (db, (client, id)) = (db.clone(), watched.clone());
                async move { peek(&db, &client, &id).await }
            })
            .await
    }
}
