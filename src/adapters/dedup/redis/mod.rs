//! `DedupStore` on Redis (one node, a Cluster, or a Sentinel-managed master), shared by every
//! server instance.
//!
//! A claim is one key, `push:dedup:...` (see `key`), whose value says its state: `inflight:<token>`
//! with the lease as its expiry (`PX`), or `done:<token>` with the dedup window as its expiry. A
//! value of any other form is a claim written before claims had states, which was only ever
//! written for a delivery under way or made: it counts as done, as it did then. Every transition
//! is one Lua script over that one key (`CLAIM`, `COMPLETE`, `RELEASE`; `PEEK` reads), which Redis
//! runs atomically: of any number of servers claiming at once exactly one takes the key, and
//! completing or releasing compares the token first, so a late call can only settle its own
//! claim. A claim is one key, so in a Cluster it lives in one slot on one master and every script
//! about it (each names the key in `KEYS`) is routed there, following MOVED/ASK redirections.
//!
//! Each script is idempotent for its token (claiming again finds its own in-flight claim,
//! completing again its own done one), so when the connection broke under one, it is simply run
//! again: the first run may have landed with only its answer lost. The connections reconnect by
//! themselves after Redis went away (see `connection` and `sentinel`); every call is also bounded
//! by our own deadline, so a Redis that stopped answering costs a request at most the timeout and
//! never a hang.
//!
//! Waiting duplicates read the key through the shared watcher (`super::watch`): one `PEEK` per
//! watched id at once, then at most one a second, and none when the claim is completed or released
//! through this server.
//!
//! What Redis itself does not promise: replication is asynchronous, so when a master fails right
//! after acknowledging a transition and before its replica received it, the promoted replica does
//! not have it, and a retry of a delivered notification within the window can be delivered a
//! second time. With `ReplicaAcks` asked for (`replica_ack`), every transition that changed the key
//! waits until that many replicas have it, and fails (503) when they do not answer in time.

mod connection;
mod replica_ack;
mod sentinel;

use std::time::Duration;

use async_trait::async_trait;
use redis::FromRedisValue;
use tracing::{instrument, warn};

use self::connection::RedisConnection;
pub use self::{
    connection::{RedisConfig, RedisTopology},
    replica_ack::ReplicaAcks,
};
use super::watch::{Seen, Watchers};
use crate::{
    domain::{ClientId, NotificationId},
    ports::{Claim, ClaimToken, Completed, DedupError, DedupStore, Waited},
};

/// Takes the key in flight for `ARGV[2]` ms unless someone holds it; a retry finds its own claim
/// and writes it again (same value, same expiry): the first write went out on a connection that
/// broke, and a replica acknowledgement (`replica_ack`) covers only writes of the connection asking.
/// Answers `{1, pttl}` taken (by this token), `{2, 0}` done, `{3, pttl}` in flight for another.
const CLAIM: &str = "local held = redis.call('GET', KEYS[1])
local mine = 'inflight:' .. ARGV[1]
if not held then
  redis.call('SET', KEYS[1], mine, 'PX', ARGV[2])
  return {1, tonumber(ARGV[2])}
end
if held == mine then
  redis.call('SET', KEYS[1], mine, 'KEEPTTL')
  return {1, redis.call('PTTL', KEYS[1])}
end
if string.sub(held, 1, 9) == 'inflight:' then return {3, redis.call('PTTL', KEYS[1])} end
return {2, 0}";

/// Turns this token's in-flight claim (or its done one, for a retry) into a done one kept for
/// `ARGV[2]` ms. Answers 1 when done, 0 when the claim is not this token's.
const COMPLETE: &str = "local held = redis.call('GET', KEYS[1])
if held == 'inflight:' .. ARGV[1] or held == 'done:' .. ARGV[1] then
  redis.call('SET', KEYS[1], 'done:' .. ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0";

/// Deletes the key only while it holds this token's in-flight claim. Answers 1 when it did.
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == 'inflight:' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// `RELEASE`'s answer when it deleted the claim.
fn deleted(answer: &i64) -> bool {
    *answer == 1
}

/// The claim's value (empty when there is none) and the milliseconds it has left.
const PEEK: &str = "return {redis.call('GET', KEYS[1]) or '', redis.call('PTTL', KEYS[1])}";

/// Leases and windows Redis accepts: `PX 0` is refused, and so are expiry times past the end of
/// its clock, so below a millisecond is one and beyond a hundred thousand years is that.
fn px(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).clamp(1, 1 << 52)
}

pub struct RedisDedupStore {
    conn: RedisConnection,
    timeout: Duration,
    acks: ReplicaAcks,
    watchers: Watchers<String>,
}

impl RedisDedupStore {
    /// Connects to the Redis that `config` names. Fails, within the timeout, when Redis cannot be
    /// reached: a server that starts without its dedup store would only answer 503.
    pub async fn open(config: &RedisConfig) -> Result<Self, String> {
        let mut conn = RedisConnection::connect(config).await?;
        config.replica_acks.check_at_start(&config.topology, &mut conn).await?;
        Ok(Self { conn, timeout: config.timeout, acks: config.replica_acks, watchers: Watchers::default() })
    }

    /// One node at `url` (`redis[s]://[user:password@]host:port[/db]`).
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, String> {
        Self::open(&RedisConfig::single(url, timeout)).await
    }

    /// One transition of the claim under `key`: `script` run on the node that owns the key, held to
    /// the replica acknowledgement when `changed` says from its answer that it changed the claim.
    async fn write<T: FromRedisValue>(
        &self,
        script: &str,
        key: &str,
        args: &[u64],
        changed: fn(&T) -> bool,
    ) -> Result<T, DedupError> {
        run(self.conn.clone(), self.timeout, self.acks, Script { text: script, key, args, changed }).await
    }
}

/// One script call: its text, the claim's key, its arguments, and which answers say it changed the
/// key (those a replica acknowledgement must cover).
struct Script<'a, T> {
    text: &'a str,
    key: &'a str,
    args: &'a [u64],
    changed: fn(&T) -> bool,
}

/// A script that only reads.
fn reads<T>(_: &T) -> bool {
    false
}

/// `script` bounded by `limit`, run again once when the connection broke (or, with Sentinel, the
/// master moved): the connections reconnect only after a command failed on a dead one, so without
/// a second try the first call after Redis came back would still fail. Safe because every script
/// is idempotent for its arguments.
async fn run<T: FromRedisValue>(
    mut conn: RedisConnection,
    limit: Duration,
    acks: ReplicaAcks,
    script: Script<'_, T>,
) -> Result<T, DedupError> {
    let mut eval = redis::cmd("EVAL");
    eval.arg(script.text).arg(1).arg(script.key).arg(script.args);
    let work = async {
        let first = acks.write(&mut conn, &eval, script.changed).await;
        if worth_retrying(&first) { acks.write(&mut conn, &eval, script.changed).await } else { first }
    };
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(|e| DedupError::Unavailable(e.to_string())),
        Err(_) => Err(DedupError::Unavailable(format!("no answer within {limit:?}"))),
    }
}

/// The claim under `key` as a waiter's watcher sees it.
async fn peek(conn: RedisConnection, limit: Duration, key: &str) -> Result<Seen, DedupError> {
    let peek = Script { text: PEEK, key, args: &[], changed: reads };
    let (held, pttl): (String, i64) = run(conn, limit, ReplicaAcks::NONE, peek).await?;
    let lease_left = Duration::from_millis(pttl.max(0).unsigned_abs());
    Ok(match held.strip_prefix("inflight:") {
        _ if held.is_empty() => Seen::Free,
        Some(token) => Seen::InFlight { holder: token.parse().unwrap_or(0), lease_left },
        None => Seen::Done,
    })
}

/// The key of one `(client, id)` pair. The client id's length makes the split unambiguous: ids may
/// contain `:`, and `("a:b", "c")` must not meet `("a", "b:c")`.
fn key(client: &ClientId, id: &NotificationId) -> String {
    // A named project's keys carry `{project}/` (a project id holds neither `/` nor `:`); the
    // default project's keep their old form, so claims made before projects existed still count.
    let (project, client) = (client.project().storage_key(), client.as_str());
    format!("push:dedup:{project}{}{}:{client}:{id}", if project.is_empty() { "" } else { "/" }, client.len())
}

/// True when the connection broke (or, with Sentinel, the master moved), so a second try may
/// work.
fn worth_retrying<T>(result: &redis::RedisResult<T>) -> bool {
    matches!(result, Err(e) if sentinel::master_may_have_moved(e) && !e.is_timeout())
}

#[async_trait]
impl DedupStore for RedisDedupStore {
    #[instrument(name = "dedup.try_claim", skip_all, fields(client_id = %client, notification_id = %id))]
    async fn try_claim(&self, client: &ClientId, id: &NotificationId, lease: Duration) -> Result<Claim, DedupError> {
        let key = key(client, id);
        let token = ClaimToken::random();
        match self.write::<(i64, i64)>(CLAIM, &key, &[token.0, px(lease)], |(taken, _)| *taken == 1).await {
            Ok((1, _)) => Ok(Claim::Claimed(token)),
            Ok((3, pttl)) => Ok(Claim::InFlight { lease_left: Duration::from_millis(pttl.max(0).unsigned_abs()) }),
            Ok(_) => Ok(Claim::Done),
            Err(e) => {
                // The claim may have reached Redis with only its answer lost, or too few replicas
                // acknowledged it. The caller answers 503 and the Relay will retry; a claim left
                // behind would make that retry wait out the lease, so take it back if it is there
                // (it can only be ours).
                let (conn, limit, acks) = (self.conn.clone(), self.timeout, self.acks);
                tokio::spawn(async move {
                    let release = Script { text: RELEASE, key: &key, args: &[token.0], changed: deleted };
                    if let Err(e) = run::<i64>(conn, limit, acks, release).await {
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
        let key = key(client, id);
        if self.write::<i64>(COMPLETE, &key, &[token.0, px(window)], |done| *done == 1).await? == 1 {
            self.watchers.settled(&key, Waited::Done);
            Ok(Completed::Done)
        } else {
            Ok(Completed::NotHeld)
        }
    }

    #[instrument(name = "dedup.release", skip_all, fields(client_id = %client, notification_id = %id))]
    async fn release(&self, client: &ClientId, id: &NotificationId, token: ClaimToken) -> Result<(), DedupError> {
        let key = key(client, id);
        if self.write::<i64>(RELEASE, &key, &[token.0], deleted).await? == 1 {
            self.watchers.settled(&key, Waited::Released);
        }
        Ok(())
    }

    #[instrument(name = "dedup.wait", skip_all, fields(client_id = %client, notification_id = %id))]
    async fn wait(&self, client: &ClientId, id: &NotificationId, patience: Duration) -> Result<Waited, DedupError> {
        let key = key(client, id);
        let (conn, limit, watched) = (self.conn.clone(), self.timeout, key.clone());
        self.watchers
            .wait(key, patience, move || {
                let (conn, key) = (conn.clone(), watched.clone());
                async move { peek(conn, limit, &key).await }
            })
            .await
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
