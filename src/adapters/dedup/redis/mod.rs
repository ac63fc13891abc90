//! `DedupStore` on Redis (one node, a Cluster, or a Sentinel-managed master), shared by every
//! server instance.
//!
//! A claim is one `SET key token NX PX ttl`: Redis executes it atomically, so of any number of
//! servers asking at once exactly one gets the key. A claim is one key, so in a Cluster it lives in
//! one slot on one master and every command about it (the scripts included, which name the key
//! in `KEYS`) is routed there, following MOVED/ASK redirections. The value is the claim token, and `release` is
//! a compare-and-delete script, so a late release can only remove the claim it made. When the
//! connection broke under a claim, the retry is an idempotent script that recognises the claim's
//! own token, because the first `SET` may have landed with only its answer lost.
//!
//! The connections reconnect by themselves after Redis went away (see `connection` and
//! `sentinel`); every call is also bounded by our own deadline, so a Redis that stopped answering
//! costs a request at most the timeout and never a hang.
//!
//! What Redis itself does not promise: replication is asynchronous, so when a master fails right
//! after acknowledging a claim and before its replica received it, the promoted replica does not
//! have it, and a retry of that notification within the window can be delivered a second time.
//! With `ReplicaAcks` asked for (`replica_ack`), every write of a claim waits until that many
//! replicas have it, and fails (503) when they do not answer in time.

mod connection;
mod replica_ack;
mod sentinel;

use std::time::Duration;

use async_trait::async_trait;
use tracing::{instrument, warn};

use self::connection::RedisConnection;
pub use self::{
    connection::{RedisConfig, RedisTopology},
    replica_ack::ReplicaAcks,
};

use crate::{
    domain::{ClientId, NotificationId},
    ports::{Claim, ClaimToken, DedupError, DedupStore},
};

/// Deletes the key only while it still holds this claim's token.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

pub struct RedisDedupStore {
    conn: RedisConnection,
    timeout: Duration,
    acks: ReplicaAcks,
}

impl RedisDedupStore {
    /// Connects to the Redis that `config` names. Fails, within the timeout, when Redis cannot be
    /// reached: a server that starts without its dedup store would only answer 503.
    pub async fn open(config: &RedisConfig) -> Result<Self, String> {
        let mut conn = RedisConnection::connect(config).await?;
        config.replica_acks.check_at_start(&config.topology, &mut conn).await?;
        Ok(Self { conn, timeout: config.timeout, acks: config.replica_acks })
    }

    /// One node at `url` (`redis[s]://[user:password@]host:port[/db]`).
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, String> {
        Self::open(&RedisConfig::single(url, timeout)).await
    }

    async fn bounded<T>(&self, work: impl Future<Output = redis::RedisResult<T>>) -> Result<T, DedupError> {
        bounded(self.timeout, work).await
    }
}

async fn bounded<T>(limit: Duration, work: impl Future<Output = redis::RedisResult<T>>) -> Result<T, DedupError> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(|e| DedupError::Unavailable(e.to_string())),
        Err(_) => Err(DedupError::Unavailable(format!("no answer within {limit:?}"))),
    }
}

/// The key of one `(client, id)` pair. The client id's length makes the split unambiguous: ids may
/// contain `:`, and `("a:b", "c")` must not meet `("a", "b:c")`.
fn key(client: &ClientId, id: &NotificationId) -> String {
    // A named project's keys carry `{project}/` (a project id holds neither `/` nor `:`); the
    // default project's keep their old form, so claims made before projects existed still count.
    let (project, client) = (client.project().storage_key(), client.as_str());
    format!("push:dedup:{project}{}{}:{client}:{id}", if project.is_empty() { "" } else { "/" }, client.len())
}

fn token_value(token: ClaimToken) -> String {
    token.0.to_string()
}

async fn release_claim(
    conn: &mut RedisConnection,
    acks: ReplicaAcks,
    key: &str,
    token: ClaimToken,
) -> redis::RedisResult<i64> {
    let mut release = redis::cmd("EVAL");
    release.arg(RELEASE).arg(1).arg(key).arg(token_value(token));
    acks.write(conn, &release, |deleted: &i64| *deleted == 1).await
}

/// The claim again, for a retry after the connection broke: the first `SET` may have landed with
/// only its answer lost, and then the key holds this very claim's token, which is ours. Atomic like
/// `SET NX`, and idempotent, so retrying it is safe. Finding its own token it writes the claim
/// again (same value, same expiry): the first write went out on a connection that broke, and a
/// replica acknowledgement (`replica_ack`) only covers writes made on the connection asking.
const CLAIM_AGAIN: &str = "local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') return 1 end
if held then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1";

async fn claim_once(
    conn: &mut RedisConnection,
    acks: ReplicaAcks,
    key: &str,
    token: ClaimToken,
    ttl_ms: u64,
    again: bool,
) -> redis::RedisResult<bool> {
    if again {
        let mut claim = redis::cmd("EVAL");
        claim.arg(CLAIM_AGAIN).arg(1).arg(key).arg(token_value(token)).arg(ttl_ms);
        let won: i64 = acks.write(conn, &claim, |won: &i64| *won == 1).await?;
        return Ok(won == 1);
    }
    let mut claim = redis::cmd("SET");
    claim.arg(key).arg(token_value(token)).arg("NX").arg("PX").arg(ttl_ms);
    let set: Option<String> = acks.write(conn, &claim, Option::is_some).await?;
    Ok(set.is_some())
}

/// True when the connection broke (or, with Sentinel, the master moved), so a second try may
/// work. The connections reconnect only after a command failed on a dead one; without a second
/// try the first request after Redis came back would still fail.
fn worth_retrying<T>(result: &redis::RedisResult<T>) -> bool {
    matches!(result, Err(e) if sentinel::master_may_have_moved(e) && !e.is_timeout())
}

#[async_trait]
impl DedupStore for RedisDedupStore {
    #[instrument(name = "dedup.try_claim", skip_all, fields(client_id = %client, notification_id = %id))]
    async fn try_claim(&self, client: &ClientId, id: &NotificationId, ttl: Duration) -> Result<Claim, DedupError> {
        let key = key(client, id);
        let token = ClaimToken::random();
        // Redis refuses `PX 0` and expiry times past the end of its clock: a window below a
        // millisecond is one millisecond, and one beyond a hundred thousand years is that.
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).clamp(1, 1 << 52);
        let (mut conn, acks) = (self.conn.clone(), self.acks);
        let claimed = self
            .bounded(async {
                let first = claim_once(&mut conn, acks, &key, token, ttl_ms, false).await;
                if worth_retrying(&first) {
                    claim_once(&mut conn, acks, &key, token, ttl_ms, true).await
                } else {
                    first
                }
            })
            .await;
        match claimed {
            Ok(true) => Ok(Claim::New(token)),
            Ok(false) => Ok(Claim::Duplicate),
            Err(e) => {
                // The SET may have reached Redis with only its answer lost, or too few replicas
                // acknowledged it. The caller answers 503 and the Relay will retry; a claim left
                // behind would make that retry a silent duplicate, so take it back if it is there
                // (it can only be ours).
                let limit = self.timeout;
                tokio::spawn(async move {
                    if let Err(e) = bounded(limit, release_claim(&mut conn, acks, &key, token)).await {
                        warn!(error = %e, "could not take back a refused claim everywhere; it may hold to its window's end");
                    }
                });
                Err(e)
            }
        }
    }

    #[instrument(name = "dedup.release", skip_all, fields(client_id = %client, notification_id = %id))]
    async fn release(&self, client: &ClientId, id: &NotificationId, token: ClaimToken) -> Result<(), DedupError> {
        let key = key(client, id);
        let (mut conn, acks) = (self.conn.clone(), self.acks);
        self.bounded(async {
            let first = release_claim(&mut conn, acks, &key, token).await;
            // Compare-and-delete is idempotent, so the second try is safe.
            if worth_retrying(&first) { release_claim(&mut conn, acks, &key, token).await } else { first }
        })
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_pairs_apart() {
        let k = |c: &str, n: &str| key(&ClientId::parse(c).unwrap(), &NotificationId::parse(n).unwrap());
        assert_ne!(k("a:b", "c"), k("a", "b:c"));
        assert_eq!(k("abc", "n"), "push:dedup:3:abc:n");
    }
}
