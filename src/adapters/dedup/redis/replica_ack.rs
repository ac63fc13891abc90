//! Claims acknowledged by replicas: a write of a claim (taking it, giving it back) counts only once
//! enough replicas of the node that owns its key have it, so that a failover cannot lose it.
//!
//! Redis replicates asynchronously: a master answers a write before any replica has it, and a
//! replica promoted after the master died lacks every write it had not received yet. A claim lost
//! that way turns the Relay's retry of a delivered notification into a second delivery. `WAIT n
//! ms` closes the gap: it returns once `n` replicas acknowledged everything the connection wrote
//! before it (or after `ms`, with the count reached so far). Sentinel and Cluster prefer the
//! replica with the most of the master's writes when they promote one, so a claim that one replica
//! acknowledged survives the failover.
//!
//! How a write is acknowledged: the write and `WAIT` go to Redis as one pipeline, so they travel on
//! one connection to one node, back to back.
//! - One connection matters: `WAIT` counts acknowledgements of the offset of the last write its own
//!   connection made. Sent on another connection (say, one opened after a reconnect) it would wait
//!   for that connection's writes, or for none, and could report a write acknowledged that no
//!   replica has. In a pipeline both commands go out on the same socket or fail together.
//! - The owning node: in a Cluster the pipeline is routed by its first key (the claim's), so
//!   `WAIT` runs on the slot's master (sent alone, with no key, the client would send it to every
//!   master); on a MOVED/ASK redirection the whole pipeline is sent again to the new owner. With
//!   Sentinel it runs on the current master's connection, like every command.
//! - The connections are multiplexed: other requests' writes may come between ours and our `WAIT`
//!   on the same connection. `WAIT` then waits for the offset after the last of them, which lies
//!   past ours, and a replica that acknowledged an offset has everything before it. So the count
//!   may wait a little longer than our write alone needs, and is never too high.
//! - Only a write that changed something is held to the count: when the key was already claimed
//!   (a duplicate), or a release found the claim gone, this connection may have written nothing
//!   and `WAIT` says nothing about the state the caller saw; that state was acknowledged by the
//!   write that made it. A script that answers "yours" for a claim an earlier, broken connection
//!   wrote must therefore write it again, so that this `WAIT` covers it.
//!
//! What it costs: each write holds its connection until the replicas answered (about one round
//! trip to the replica; Redis asks them at once when a client waits). A client blocked in `WAIT`
//! has its next commands wait behind it, so the writes on one connection are acknowledged one after
//! another: at most one per replica round trip (about 5,000 a second at 0.2 ms). A duplicate
//! waits too: `WAIT` is sent before the write's answer tells that it changed nothing. While fewer
//! replicas answer, every write waits the whole `within` and fails: claims answer 503 until
//! replication is back, which is the point.

use std::time::Duration;

use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, RedisResult};

use super::connection::{RedisConnection, RedisTopology};

/// How many replicas must acknowledge each write of a claim, and how long a write waits for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaAcks {
    /// Replicas that must have a write before it counts; `0` sends no `WAIT` at all (a write
    /// counts once the master has it).
    pub min: u32,
    /// `WAIT`'s timeout. Keep it well below the dedup call's own timeout, or a write whose
    /// replicas are slow fails as "no answer" instead of "too few acknowledgements" (both 503).
    pub within: Duration,
}

impl ReplicaAcks {
    /// No acknowledgement asked for: a write counts once the master has it.
    pub const NONE: Self = Self { min: 0, within: Duration::from_millis(200) };

    /// Runs `write` (a command or script naming the claim's key) on the node that owns the key
    /// and, when `changed` says from its answer that it changed the claim, requires `min` replicas
    /// to acknowledge it within `within`. Fewer is an error, after which the write may or may not
    /// be on the replicas: the caller gives the claim back as far as it can and answers 503.
    pub(super) async fn write<T: FromRedisValue>(
        &self,
        conn: &mut RedisConnection,
        write: &Cmd,
        changed: impl FnOnce(&T) -> bool,
    ) -> RedisResult<T> {
        if self.min == 0 {
            return write.query_async(conn).await;
        }
        let mut pipeline = redis::pipe();
        pipeline.add_command(write.clone()).cmd("WAIT").arg(self.min).arg(self.wait_ms());
        let (answer, acknowledged): (T, u32) = pipeline.query_async(conn).await?;
        if changed(&answer) && acknowledged < self.min {
            return Err(self.too_few(acknowledged));
        }
        Ok(answer)
    }

    /// `WAIT`'s timeout in whole milliseconds, at least one (`WAIT n 0` blocks forever).
    fn wait_ms(&self) -> u64 {
        u64::try_from(self.within.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// Not a connection error (so nobody retries the write on it): the write reached the master,
    /// and asking again would only wait as long again.
    fn too_few(&self, acknowledged: u32) -> RedisError {
        let detail = format!("{acknowledged} of {} acknowledged within {} ms", self.min, self.wait_ms());
        RedisError::from((ErrorKind::Client, "too few replicas have the claim", detail))
    }

    /// At start, with one node named: asking for acknowledgements of a node that has fewer
    /// replicas than that would refuse every claim, so the start is refused instead. (With
    /// Sentinel or Cluster, replicas come and go with failovers; there a missing one is a 503.)
    pub(super) async fn check_at_start(
        &self,
        topology: &RedisTopology,
        conn: &mut RedisConnection,
    ) -> Result<(), String> {
        if self.min == 0 || !matches!(topology, RedisTopology::Single(_)) {
            return Ok(());
        }
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(conn)
            .await
            .map_err(|e| format!("cannot ask Redis for its replicas: {e}"))?;
        let replicas = connected_replicas(&info);
        if replicas < self.min {
            return Err(format!(
                "DEDUP_MIN_REPLICA_ACKS is {}, but the Redis node at REDIS_URL has {replicas} replica(s) connected: \
                 every claim would be refused",
                self.min
            ));
        }
        Ok(())
    }
}

/// `connected_slaves` of `INFO replication` (0 when absent: a replica reports none).
fn connected_replicas(info: &str) -> u32 {
    info.lines().find_map(|l| l.trim().strip_prefix("connected_slaves:")).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_few_acknowledgements_is_no_reason_to_retry_on_the_connection() {
        let e = ReplicaAcks { min: 2, within: Duration::from_millis(150) }.too_few(1);
        assert!(!super::super::sentinel::master_may_have_moved(&e), "{e}");
        assert!(e.to_string().contains("1 of 2 acknowledged within 150 ms"), "{e}");
    }

    #[test]
    fn the_wait_never_blocks_forever() {
        assert_eq!(ReplicaAcks { min: 1, within: Duration::from_micros(10) }.wait_ms(), 1);
        assert_eq!(ReplicaAcks { min: 1, within: Duration::from_millis(200) }.wait_ms(), 200);
    }

    #[test]
    fn replicas_are_read_from_info() {
        let master = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=1\r\n";
        assert_eq!(connected_replicas(master), 2);
        assert_eq!(connected_replicas("# Replication\r\nrole:slave\r\n"), 0);
    }
}
