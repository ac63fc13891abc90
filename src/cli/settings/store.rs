//! Where clients and dedup claims live: the client store's pool and bounds, and which dedup store
//! serves (in memory, on Redis in one of its three set-ups, or on Postgres).

use std::{path::PathBuf, time::Duration};

use clap::{ArgAction, Args, builder::PossibleValuesParser, builder::TypedValueParser};

use super::{Settings, SettingsError, millis, secs};

#[derive(Debug, Clone, Args)]
pub struct StoreSettings {
    /// Client-store connection pool size (SQLite: readers; the writer is one connection).
    #[arg(long, id = "database_max_connections", env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_connections: u32,
    /// Postgres connections opened before the server reports ready and kept open (at most
    /// DATABASE_MAX_CONNECTIONS), so the first traffic does not wait for connections to open.
    #[arg(long, env = "DATABASE_MIN_CONNECTIONS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub min_connections: u32,
    /// Prepared statements cached per Postgres connection; `0` for PgBouncer in transaction
    /// pooling mode (unnamed statements, every call in a transaction, no migrations at start).
    #[arg(long, env = "DATABASE_STATEMENT_CACHE", default_value_t = 100)]
    pub statement_cache: usize,
    /// Bound on each store and dedup call, in milliseconds; past it the request gets 503.
    #[arg(long, env = "STORAGE_TIMEOUT_MS", default_value = "5000", value_parser = millis(1..))]
    pub timeout: Duration,
    /// SQLite `synchronous` mode: `normal` (durable through a server crash) or `full` (also
    /// through power loss, with an fsync per registration).
    //
    // NORMAL makes a commit durable through a crash of the server process, which is the
    // contract's promise, without an fsync per registration; FULL also syncs the WAL on every
    // commit, at about a third of the registration throughput.
    #[arg(long, env = "SQLITE_SYNCHRONOUS", default_value = "normal", ignore_case = true, action = ArgAction::Set,
          value_parser = PossibleValuesParser::new(["full", "normal"]).map(|m| m.eq_ignore_ascii_case("full")))]
    pub sqlite_synchronous_full: bool,
    /// The Postgres schema that holds push-server's tables and migration history, created when
    /// missing [default: the first schema of a `search_path` in DATABASE_URL's options; else
    /// `public` when push-server's tables are there already (a database from before this
    /// setting); else `push_server`]
    //
    // A schema of our own lets push-server share a database with another sqlx-migrated program
    // (WalletConnect's push server keeps its tables and `_sqlx_migrations` in `public`).
    #[arg(long, env = "DATABASE_SCHEMA")]
    pub schema: Option<String>,
}

/// Which `DedupStore` serves, and the Redis set-ups besides `REDIS_URL`.
#[derive(Debug, Clone, Args)]
pub struct DedupSettings {
    /// Where dedup lives: `memory`, `redis` or `postgres` [default: redis when a Redis is
    /// configured, memory otherwise]
    #[arg(long, env = "DEDUP_BACKEND", value_parser = DedupBackend::parse)]
    pub backend: Option<DedupBackend>,
    /// Comma-separated seed nodes (`redis://` or `rediss://`) of a Redis Cluster, instead of REDIS_URL.
    #[arg(long, env = "REDIS_CLUSTER_NODES", value_delimiter = ',')]
    pub redis_cluster_nodes: Vec<String>,
    /// Comma-separated Sentinels (`redis://host:port`, or `rediss://`), instead of REDIS_URL;
    /// needs REDIS_SENTINEL_MASTER.
    #[arg(long, env = "REDIS_SENTINELS", value_delimiter = ',')]
    pub redis_sentinels: Vec<String>,
    /// The name of the master that REDIS_SENTINELS watch.
    #[arg(long, env = "REDIS_SENTINEL_MASTER")]
    pub redis_sentinel_master: Option<String>,
    /// A PEM file of CA certificates that `rediss://` servers are checked against, instead of the
    /// system's trust store.
    #[arg(long, env = "REDIS_CA_PATH")]
    pub redis_ca_path: Option<PathBuf>,
    /// How often Postgres dedup deletes expired claims, in seconds.
    #[arg(long, env = "DEDUP_SWEEP_SECS", default_value = "60", value_parser = secs(1..))]
    pub sweep_every: Duration,
    /// Replicas that must acknowledge each claim on Redis (`WAIT`) before it counts; fewer within
    /// DEDUP_REPLICA_ACK_MS answer 503. With REDIS_URL only for a node that has replicas
    /// [default: 1 with REDIS_SENTINELS or REDIS_CLUSTER_NODES, 0 with REDIS_URL]
    #[arg(long, env = "DEDUP_MIN_REPLICA_ACKS", value_parser = clap::value_parser!(u32).range(0..=100))]
    pub min_replica_acks: Option<u32>,
    /// How long a claim on Redis waits for its replicas' acknowledgements, in milliseconds; below
    /// STORAGE_TIMEOUT_MS.
    #[arg(long, env = "DEDUP_REPLICA_ACK_MS", default_value = "200", value_parser = millis(1..))]
    pub replica_ack_wait: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedupBackend {
    Memory,
    Redis,
    Postgres,
}

impl DedupBackend {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "memory" => Ok(Self::Memory),
            "redis" => Ok(Self::Redis),
            "postgres" => Ok(Self::Postgres),
            _ => Err(format!("'{s}' is not a dedup backend; use memory, redis or postgres")),
        }
    }
}

/// The database `DATABASE_URL` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

/// The dedup store the settings choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DedupChoice {
    Memory,
    Redis { target: RedisTarget, acks: ReplicaAckRule },
    Postgres,
}

/// How many replicas must acknowledge each claim on Redis, and how long a claim waits for them.
///
/// Sentinel and Cluster exist to fail over, and a failover loses the claims the promoted replica
/// had not received yet (replication is asynchronous): there one acknowledgement is the default.
/// One node named by REDIS_URL is usually alone, so none is; asking for some is allowed for a node
/// that has replicas (promoted by hand, or by a managed service behind one address), and the start
/// checks that it has that many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaAckRule {
    pub min: u32,
    pub within: Duration,
}

impl ReplicaAckRule {
    /// For the start-up log and `check-config`: "1 within 200 ms", or why there is none.
    pub fn describe(&self, target: &RedisTarget) -> String {
        match (self.min, target) {
            (0, RedisTarget::Single(_)) => "none (one Redis node)".to_owned(),
            (0, _) => {
                "none (DEDUP_MIN_REPLICA_ACKS=0: a failover can lose the claims written just before it)".to_owned()
            }
            (min, _) => format!("{min} within {} ms", self.within.as_millis()),
        }
    }
}

/// How the dedup Redis is reached: exactly one of `REDIS_URL`, `REDIS_CLUSTER_NODES` and
/// `REDIS_SENTINELS` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    Single(String),
    Cluster(Vec<String>),
    Sentinel { sentinels: Vec<String>, master: String },
}

impl Settings {
    pub fn database(&self) -> Result<DatabaseKind, SettingsError> {
        let url = self.database_url.as_str();
        if url.starts_with("sqlite:") {
            Ok(DatabaseKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseKind::Postgres)
        } else {
            Err(SettingsError::DatabaseUrl)
        }
    }

    /// Whether any Redis is named; without `DEDUP_BACKEND` that chooses Redis for dedup.
    pub fn redis_configured(&self) -> bool {
        self.redis_url.is_some() || !self.dedup.cluster_nodes().is_empty() || !self.dedup.sentinels().is_empty()
    }

    /// The dedup store: `DEDUP_BACKEND`, or Redis when one is configured and memory otherwise;
    /// on Redis with the replica acknowledgement its claims wait for.
    pub fn dedup_choice(&self) -> Result<DedupChoice, SettingsError> {
        let default = if self.redis_configured() { DedupBackend::Redis } else { DedupBackend::Memory };
        let choice = match self.dedup.backend.unwrap_or(default) {
            DedupBackend::Memory => DedupChoice::Memory,
            DedupBackend::Redis => {
                let target = self.redis_target()?;
                let acks = self.replica_acks(&target)?;
                DedupChoice::Redis { target, acks }
            }
            DedupBackend::Postgres if self.database()? == DatabaseKind::Postgres => DedupChoice::Postgres,
            DedupBackend::Postgres => return Err(SettingsError::PostgresDedupWithoutPostgres),
        };
        // Asked for acknowledgements and given none would be a silent loss of what was asked.
        if self.dedup.min_replica_acks.is_some() && !matches!(choice, DedupChoice::Redis { .. }) {
            return Err(SettingsError::ReplicaAcksWithoutRedis);
        }
        Ok(choice)
    }

    /// `DEDUP_MIN_REPLICA_ACKS`, or its default for the set-up (see [`ReplicaAckRule`]), and the
    /// wait, which must end before the dedup call's own timeout does: a claim that outwaits it
    /// fails as "no answer", and its waiting holds the connection for the calls behind it.
    fn replica_acks(&self, target: &RedisTarget) -> Result<ReplicaAckRule, SettingsError> {
        let default = match target {
            RedisTarget::Single(_) => 0,
            RedisTarget::Cluster(_) | RedisTarget::Sentinel { .. } => 1,
        };
        let rule =
            ReplicaAckRule { min: self.dedup.min_replica_acks.unwrap_or(default), within: self.dedup.replica_ack_wait };
        if rule.min > 0 && rule.within >= self.store.timeout {
            return Err(SettingsError::ReplicaAckWait {
                wait: rule.within.as_millis(),
                timeout: self.store.timeout.as_millis(),
            });
        }
        Ok(rule)
    }

    fn redis_target(&self) -> Result<RedisTarget, SettingsError> {
        let (cluster, sentinels) = (self.dedup.cluster_nodes(), self.dedup.sentinels());
        let named = [self.redis_url.is_some(), !cluster.is_empty(), !sentinels.is_empty()];
        if named.iter().filter(|n| **n).count() > 1 {
            return Err(SettingsError::RedisAmbiguous);
        }
        let redis_url = |url: &String| url.starts_with("redis://") || url.starts_with("rediss://");
        if let Some(url) = &self.redis_url {
            return if redis_url(url) { Ok(RedisTarget::Single(url.clone())) } else { Err(SettingsError::RedisUrl) };
        }
        if !cluster.is_empty() {
            return if cluster.iter().all(redis_url) {
                Ok(RedisTarget::Cluster(cluster))
            } else {
                Err(SettingsError::RedisClusterNodes)
            };
        }
        if !sentinels.is_empty() {
            if !sentinels.iter().all(redis_url) {
                return Err(SettingsError::RedisSentinels);
            }
            let Some(master) = self.dedup.redis_sentinel_master.clone().filter(|m| !m.trim().is_empty()) else {
                return Err(SettingsError::RedisSentinelMaster);
            };
            return Ok(RedisTarget::Sentinel { sentinels, master });
        }
        Err(SettingsError::RedisUnset)
    }
}

impl DedupSettings {
    /// `REDIS_CLUSTER_NODES` without empty entries (`a,,b,` is `a`, `b`).
    fn cluster_nodes(&self) -> Vec<String> {
        non_empty(&self.redis_cluster_nodes)
    }

    fn sentinels(&self) -> Vec<String> {
        non_empty(&self.redis_sentinels)
    }
}

/// The entries of a comma-separated list, trimmed, without empty ones.
fn non_empty(items: &[String]) -> Vec<String> {
    items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dedup on Redis at `target`, its claims waiting for `min` replicas for the default 200 ms.
    fn on_redis(target: RedisTarget, min: u32) -> DedupChoice {
        DedupChoice::Redis { target, acks: ReplicaAckRule { min, within: Duration::from_millis(200) } }
    }

    #[test]
    fn sqlite_synchronous_is_normal_unless_full() {
        assert!(!Settings::default().store.sqlite_synchronous_full);
        assert!(super::super::tests::parse(&["--sqlite-synchronous", "FULL"]).store.sqlite_synchronous_full);
    }

    #[test]
    fn the_database_url_names_sqlite_or_postgres() {
        let mut s = Settings::default();
        assert_eq!(s.database(), Ok(DatabaseKind::Sqlite));
        s.database_url = "postgresql://db/x".into();
        assert_eq!(s.database(), Ok(DatabaseKind::Postgres));
        s.database_url = "mysql://x".into();
        assert_eq!(s.database(), Err(SettingsError::DatabaseUrl));
    }

    #[test]
    fn dedup_defaults_to_redis_when_one_is_named_and_memory_otherwise() {
        let mut s = Settings::default();
        assert_eq!(s.dedup_choice(), Ok(DedupChoice::Memory));
        s.dedup.redis_cluster_nodes = vec![" ".into(), String::new()];
        assert_eq!(s.dedup_choice(), Ok(DedupChoice::Memory), "blank entries name nothing");
        s.redis_url = Some("redis://r:6379".into());
        assert_eq!(s.dedup_choice(), Ok(on_redis(RedisTarget::Single("redis://r:6379".into()), 0)));
        s.dedup.backend = Some(DedupBackend::Memory);
        assert_eq!(s.dedup_choice(), Ok(DedupChoice::Memory), "an explicit backend wins");
        s.dedup.backend = Some(DedupBackend::Postgres);
        assert_eq!(s.dedup_choice(), Err(SettingsError::PostgresDedupWithoutPostgres));
        s.database_url = "postgres://db/x".into();
        assert_eq!(s.dedup_choice(), Ok(DedupChoice::Postgres));
    }

    #[test]
    fn exactly_one_redis_is_named_with_redis_urls() {
        let redis = |adjust: fn(&mut Settings)| {
            let mut s = Settings::default();
            s.dedup.backend = Some(DedupBackend::Redis);
            adjust(&mut s);
            s.dedup_choice()
        };
        assert_eq!(redis(|_| {}), Err(SettingsError::RedisUnset));
        assert_eq!(redis(|s| s.redis_url = Some("http://r".into())), Err(SettingsError::RedisUrl));
        assert_eq!(
            redis(|s| {
                s.redis_url = Some("redis://r".into());
                s.dedup.redis_sentinels = vec!["redis://s".into()];
            }),
            Err(SettingsError::RedisAmbiguous)
        );
        assert_eq!(
            redis(|s| s.dedup.redis_cluster_nodes = vec!["redis://a".into(), " rediss://b ".into(), String::new()]),
            Ok(on_redis(RedisTarget::Cluster(vec!["redis://a".into(), "rediss://b".into()]), 1))
        );
        assert_eq!(
            redis(|s| s.dedup.redis_cluster_nodes = vec!["http://a".into()]),
            Err(SettingsError::RedisClusterNodes)
        );
        assert_eq!(
            redis(|s| s.dedup.redis_sentinels = vec!["redis://s".into()]),
            Err(SettingsError::RedisSentinelMaster)
        );
        assert_eq!(
            redis(|s| {
                s.dedup.redis_sentinels = vec!["redis://s".into()];
                s.dedup.redis_sentinel_master = Some(" ".into());
            }),
            Err(SettingsError::RedisSentinelMaster)
        );
        assert_eq!(redis(|s| s.dedup.redis_sentinels = vec!["tcp://s".into()]), Err(SettingsError::RedisSentinels));
        assert_eq!(
            redis(|s| {
                s.dedup.redis_sentinels = vec!["redis://s".into()];
                s.dedup.redis_sentinel_master = Some("mymaster".into());
            }),
            Ok(on_redis(RedisTarget::Sentinel { sentinels: vec!["redis://s".into()], master: "mymaster".into() }, 1))
        );
    }

    #[test]
    fn claims_wait_for_a_replica_with_sentinel_or_cluster_and_for_none_on_one_node() {
        let mut s = Settings::default();
        s.dedup.redis_sentinels = vec!["redis://s".into()];
        s.dedup.redis_sentinel_master = Some("m".into());
        let sentinel = || RedisTarget::Sentinel { sentinels: vec!["redis://s".into()], master: "m".into() };
        assert_eq!(s.dedup_choice(), Ok(on_redis(sentinel(), 1)));
        s.dedup.min_replica_acks = Some(0);
        assert_eq!(s.dedup_choice(), Ok(on_redis(sentinel(), 0)), "an explicit 0 turns the wait off");
        s.dedup.min_replica_acks = Some(2);
        s.dedup.replica_ack_wait = Duration::from_millis(50);
        let acks = ReplicaAckRule { min: 2, within: Duration::from_millis(50) };
        assert_eq!(s.dedup_choice(), Ok(DedupChoice::Redis { target: sentinel(), acks }));
        assert_eq!(acks.describe(&sentinel()), "2 within 50 ms");

        let single = RedisTarget::Single("redis://r".into());
        let mut s = Settings { redis_url: Some("redis://r".into()), ..Default::default() };
        assert_eq!(s.dedup_choice(), Ok(on_redis(single.clone(), 0)));
        let Ok(DedupChoice::Redis { acks, .. }) = s.dedup_choice() else { unreachable!() };
        assert_eq!(acks.describe(&single), "none (one Redis node)");
        s.dedup.min_replica_acks = Some(1);
        assert_eq!(s.dedup_choice(), Ok(on_redis(single, 1)), "allowed; the start checks the node's replicas");
    }

    #[test]
    fn replica_acks_need_redis_and_a_wait_within_the_storage_timeout() {
        for backend in [None, Some(DedupBackend::Memory)] {
            let mut s = Settings::default();
            s.dedup.backend = backend;
            s.dedup.min_replica_acks = Some(0);
            let e = s.dedup_choice().unwrap_err();
            assert_eq!(e, SettingsError::ReplicaAcksWithoutRedis, "even 0: what was asked would mean nothing");
            assert!(e.to_string().starts_with("DEDUP_MIN_REPLICA_ACKS is set but dedup is not on Redis"), "{e}");
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
        let mut s = Settings { database_url: "postgres://db/x".into(), ..Default::default() };
        s.dedup.backend = Some(DedupBackend::Postgres);
        s.dedup.min_replica_acks = Some(1);
        assert_eq!(s.validate(), Err(SettingsError::ReplicaAcksWithoutRedis), "validate checks it");

        let mut s = Settings::default();
        s.dedup.redis_cluster_nodes = vec!["redis://a".into()];
        s.store.timeout = Duration::from_millis(200);
        let e = s.dedup_choice().unwrap_err();
        assert_eq!(e, SettingsError::ReplicaAckWait { wait: 200, timeout: 200 });
        assert_eq!(
            e.to_string(),
            "DEDUP_REPLICA_ACK_MS (200) must be below STORAGE_TIMEOUT_MS (200), which bounds each claim"
        );
        s.dedup.replica_ack_wait = Duration::from_millis(199);
        assert!(s.dedup_choice().is_ok());
        s.dedup.replica_ack_wait = Duration::from_millis(500);
        s.dedup.min_replica_acks = Some(0);
        assert!(s.dedup_choice().is_ok(), "no wait, no bound to respect");
    }

    #[test]
    fn replica_ack_settings_parse_from_their_variables() {
        let s = super::super::tests::parse(&["--dedup-min-replica-acks", "2", "--dedup-replica-ack-ms", "75"]);
        assert_eq!((s.dedup.min_replica_acks, s.dedup.replica_ack_wait), (Some(2), Duration::from_millis(75)));
        let d = Settings::default();
        assert_eq!((d.dedup.min_replica_acks, d.dedup.replica_ack_wait), (None, Duration::from_millis(200)));
    }
}
