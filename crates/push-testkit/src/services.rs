//! Finds the PostgreSQL and Redis that the backend test suites run against, and gives each test
//! its own isolated piece of them.
//!
//! Convention, relied on by scripts and CI: `PUSH_TEST_DATABASE_URL` (a `postgres://` URL whose
//! user may create databases) and `PUSH_TEST_REDIS_URL`. When one is unset or does not answer, the
//! tests that need it print a notice and pass without running, so a plain `cargo test` works on any
//! machine; with `PUSH_TEST_REQUIRE_SERVICES=1` the same situation is a failure, so a CI run can
//! never skip them silently.

pub const DATABASE_URL_VAR: &str = "PUSH_TEST_DATABASE_URL";
/// PgBouncer in transaction pooling mode in front of `PUSH_TEST_DATABASE_URL`'s server, passing
/// any database name through.
pub const PGBOUNCER_URL_VAR: &str = "PUSH_TEST_PGBOUNCER_URL";
pub const REDIS_URL_VAR: &str = "PUSH_TEST_REDIS_URL";
/// A TLS-only Redis (`rediss://`) and the PEM of the CA that signed its certificate.
pub const REDIS_TLS_URL_VAR: &str = "PUSH_TEST_REDIS_TLS_URL";
pub const REDIS_CA_PATH_VAR: &str = "PUSH_TEST_REDIS_CA_PATH";
/// Comma-separated seed nodes of a Redis Cluster, in the clear and over TLS (same CA).
pub const REDIS_CLUSTER_NODES_VAR: &str = "PUSH_TEST_REDIS_CLUSTER_NODES";
pub const REDIS_CLUSTER_TLS_NODES_VAR: &str = "PUSH_TEST_REDIS_CLUSTER_TLS_NODES";
/// Comma-separated Sentinels and the name of the master they watch.
pub const REDIS_SENTINELS_VAR: &str = "PUSH_TEST_REDIS_SENTINELS";
pub const REDIS_SENTINEL_MASTER_VAR: &str = "PUSH_TEST_REDIS_SENTINEL_MASTER";
pub const REQUIRE_VAR: &str = "PUSH_TEST_REQUIRE_SERVICES";

/// How long a test waits for a service to answer before it counts as unreachable.
#[cfg(any(feature = "postgres", feature = "redis"))]
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn services_required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Skips (with a notice) or fails, as `PUSH_TEST_REQUIRE_SERVICES` says.
pub fn unavailable(why: &str) -> Option<std::convert::Infallible> {
    if services_required() {
        panic!("{why}, and {REQUIRE_VAR}=1 says the backend suites must run");
    }
    notice(why);
    None
}

/// Prints `skipping: {why}` once per test binary. It goes straight to the process's stderr:
/// `eprintln!` would be captured by the test harness and never shown for a passing test.
fn notice(why: &str) {
    use std::{collections::HashSet, io::Write, sync::Mutex};
    static SAID: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
    if said.get_or_insert_with(HashSet::new).insert(why.to_owned()) {
        let _ = writeln!(std::io::stderr(), "skipping: {why}");
    }
}

/// The URL in `var`, or `None` after a notice.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => unavailable(&format!("{var} not set")).map(|never| match never {}),
    }
}

/// The test servers' client ids and notification ids start with this, so that tests sharing one
/// Redis never meet.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{:016x}", std::process::id(), fastrand::u64(..))
}

/// The notice for backend suites that this build leaves out (their cargo features are off).
pub fn features_missing(features: &[&str]) {
    let _ = unavailable(&format!("backend suite not compiled: build with --features {} to run it", features.join(",")));
}

/// Where the authority (`user@host:port`) of `url` starts and ends.
fn authority_span(url: &str) -> (usize, usize) {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find(['/', '?']).map_or(url.len(), |i| start + i);
    (start, end)
}

/// The `host:port` that a service URL points at, `default_port` when it names none.
pub fn host_port(url: &str, default_port: u16) -> String {
    let (start, end) = authority_span(url);
    let authority = &url[start..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.contains(':') { host.to_owned() } else { format!("{host}:{default_port}") }
}

/// `url` pointed at `addr` (a proxy, say), credentials and everything else kept.
pub fn via(url: &str, addr: std::net::SocketAddr) -> String {
    let (start, end) = authority_span(url);
    let user = url[start..end].rsplit_once('@').map_or(String::new(), |(u, _)| format!("{u}@"));
    format!("{}{user}{addr}{}", &url[..start], &url[end..])
}

#[cfg(feature = "postgres")]
pub use postgres::{TestDatabase, fresh_bouncer_database, fresh_database};

#[cfg(feature = "postgres")]
mod postgres {
    use sqlx::{Connection, PgConnection};

    use super::*;

    /// A fresh, empty schema of its own on the test Postgres, so tests run in parallel without
    /// seeing each other's rows. `url` reaches it through `search_path` in the connection
    /// options, so the store (migrations included) works there unaware. A schema costs a
    /// millisecond where a database costs a checkpoint. `drop_database` removes it; a test that
    /// panics leaves it behind for the throwaway cluster to take away.
    pub struct TestDatabase {
        pub url: String,
        /// The same database without PgBouncer in between (for migrations); `url` otherwise.
        pub direct_url: String,
        admin_url: String,
        /// A schema of its own on the direct server, or (through PgBouncer, which passes no
        /// `search_path` option) a database of its own.
        schema: Option<String>,
        database: Option<String>,
    }

    /// `None` (after a notice) when no test Postgres is configured or reachable.
    pub async fn fresh_database() -> Option<TestDatabase> {
        let admin_url = service_url(DATABASE_URL_VAR)?;
        let schema = format!("push_test_{}_{:016x}", std::process::id(), fastrand::u64(..));
        let created = tokio::time::timeout(PROBE_TIMEOUT, async {
            let mut admin = PgConnection::connect(&admin_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut admin).await?;
            admin.close().await
        })
        .await;
        match created {
            Ok(Ok(())) => {
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
                Some(TestDatabase { direct_url: url.clone(), url, admin_url, schema: Some(schema), database: None })
            }
            Ok(Err(e)) => unavailable(&format!("Postgres at {DATABASE_URL_VAR} refused a test schema: {e}"))
                .map(|never| match never {}),
            Err(_) => unavailable(&format!("Postgres at {DATABASE_URL_VAR} did not answer within {PROBE_TIMEOUT:?}"))
                .map(|never| match never {}),
        }
    }

    /// A fresh, empty database reached through PgBouncer (`url`) and directly (`direct_url`);
    /// `None` (after a notice) when either is not configured or not reachable.
    pub async fn fresh_bouncer_database() -> Option<TestDatabase> {
        let admin_url = service_url(DATABASE_URL_VAR)?;
        let bouncer_url = service_url(PGBOUNCER_URL_VAR)?;
        let name = format!("push_test_{}_{:016x}", std::process::id(), fastrand::u64(..));
        let created = tokio::time::timeout(PROBE_TIMEOUT * 3, async {
            let mut admin = PgConnection::connect(&admin_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
            admin.close().await
        })
        .await;
        match created {
            Ok(Ok(())) => Some(TestDatabase {
                url: with_database(&bouncer_url, &name),
                direct_url: with_database(&admin_url, &name),
                admin_url,
                schema: None,
                database: Some(name),
            }),
            Ok(Err(e)) => unavailable(&format!("Postgres at {DATABASE_URL_VAR} refused a test database: {e}"))
                .map(|never| match never {}),
            Err(_) => unavailable(&format!("Postgres at {DATABASE_URL_VAR} did not answer within {PROBE_TIMEOUT:?}"))
                .map(|never| match never {}),
        }
    }

    /// `url` naming database `name` (its path), everything else kept.
    fn with_database(url: &str, name: &str) -> String {
        let (start, end) = authority_span(url);
        let rest = &url[end..];
        let query = rest.find('?').map_or("", |i| &rest[i..]);
        format!("{}{}/{name}{query}", &url[..start], &url[start..end])
    }

    impl TestDatabase {
        /// Runs one statement directly, past the adapter (to plant rows it would never write).
        pub async fn execute(&self, sql: &'static str) {
            let mut conn = PgConnection::connect(&self.direct_url).await.expect("connect to the test database");
            if self.schema.is_none() {
                // A database of its own: the server keeps its tables in its default schema there.
                sqlx::query("SET search_path TO push_server").execute(&mut conn).await.expect("search path set");
            }
            sqlx::query(sql).execute(&mut conn).await.expect("statement runs");
            conn.close().await.ok();
        }

        pub async fn drop_database(self) {
            if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
                let sql = match (&self.schema, &self.database) {
                    (Some(schema), _) => format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
                    // PgBouncer may still hold server connections to it.
                    (None, Some(name)) => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    (None, None) => return,
                };
                let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await;
                admin.close().await.ok();
            }
        }
    }
}

/// The test Redis's URL, or `None` (after a notice) when none is configured or reachable.
#[cfg(feature = "redis")]
pub async fn redis_url() -> Option<String> {
    let url = service_url(REDIS_URL_VAR)?;
    let probe = tokio::time::timeout(PROBE_TIMEOUT, async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    })
    .await;
    match probe {
        Ok(Ok(_)) => Some(url),
        Ok(Err(e)) => {
            unavailable(&format!("Redis at {REDIS_URL_VAR} does not answer: {e}")).map(|never| match never {})
        }
        Err(_) => unavailable(&format!("Redis at {REDIS_URL_VAR} did not answer within {PROBE_TIMEOUT:?}"))
            .map(|never| match never {}),
    }
}

/// The Redis set-ups the tests run against.
#[cfg(feature = "redis")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisKind {
    Single,
    Tls,
    Cluster,
    ClusterTls,
    Sentinel,
}

/// The server's environment for one Redis set-up (`REDIS_URL`, `REDIS_CLUSTER_NODES`, ...), or
/// `None` (after a notice) when the test services do not provide it.
///
/// The test Cluster's masters have no replicas, so no claim there could be acknowledged by one:
/// its servers ask for none (`DEDUP_MIN_REPLICA_ACKS=0`; the default there is 1). The Sentinel
/// set's master has a replica, so its servers keep the default and every claim waits for it.
#[cfg(feature = "redis")]
pub fn redis_env(kind: RedisKind) -> Option<Vec<(&'static str, String)>> {
    let no_replicas = || ("DEDUP_MIN_REPLICA_ACKS", "0".to_owned());
    Some(match kind {
        RedisKind::Single => vec![("REDIS_URL", service_url(REDIS_URL_VAR)?)],
        RedisKind::Tls => {
            vec![("REDIS_URL", service_url(REDIS_TLS_URL_VAR)?), ("REDIS_CA_PATH", service_url(REDIS_CA_PATH_VAR)?)]
        }
        RedisKind::Cluster => vec![("REDIS_CLUSTER_NODES", service_url(REDIS_CLUSTER_NODES_VAR)?), no_replicas()],
        RedisKind::ClusterTls => vec![
            ("REDIS_CLUSTER_NODES", service_url(REDIS_CLUSTER_TLS_NODES_VAR)?),
            ("REDIS_CA_PATH", service_url(REDIS_CA_PATH_VAR)?),
            no_replicas(),
        ],
        RedisKind::Sentinel => vec![
            ("REDIS_SENTINELS", service_url(REDIS_SENTINELS_VAR)?),
            ("REDIS_SENTINEL_MASTER", service_url(REDIS_SENTINEL_MASTER_VAR)?),
        ],
    })
}

/// The Sentinel set is one for all the tests of a binary, and the failover test kills its master:
/// a test that uses it holds [`sentinel_shared`] throughout, the failover holds
/// [`sentinel_exclusive`], so no other test ever sees the failover (tests run on parallel threads).
#[cfg(feature = "redis")]
static SENTINEL: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Use of the Sentinel set beside other tests that use it; see `SENTINEL`.
#[cfg(feature = "redis")]
pub async fn sentinel_shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    SENTINEL.read().await
}

/// The Sentinel set alone, to fail it over; see `SENTINEL`.
#[cfg(feature = "redis")]
pub async fn sentinel_exclusive() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    SENTINEL.write().await
}

/// The Redis dedup store's configuration for one set-up, checked to answer; `None` (after a
/// notice) when it is not configured or not reachable. Like the server's (`redis_env`), claims on
/// the Sentinel set wait for its replica's acknowledgement, and on the others for none.
#[cfg(feature = "redis")]
pub async fn redis_config(kind: RedisKind) -> Option<push_server::adapters::dedup::redis::RedisConfig> {
    use push_server::adapters::dedup::redis::{RedisConfig, RedisDedupStore, RedisTopology, ReplicaAcks};
    let env = redis_env(kind)?;
    let get = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
    let list = |v: String| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect();
    let topology = match kind {
        RedisKind::Single | RedisKind::Tls => RedisTopology::Single(get("REDIS_URL")?),
        RedisKind::Cluster | RedisKind::ClusterTls => RedisTopology::Cluster(list(get("REDIS_CLUSTER_NODES")?)),
        RedisKind::Sentinel => {
            RedisTopology::Sentinel { sentinels: list(get("REDIS_SENTINELS")?), master: get("REDIS_SENTINEL_MASTER")? }
        }
    };
    let replica_acks = match kind {
        RedisKind::Sentinel => ReplicaAcks { min: 1, within: std::time::Duration::from_millis(200) },
        _ => ReplicaAcks::NONE,
    };
    let config = RedisConfig {
        topology,
        timeout: PROBE_TIMEOUT,
        ca_path: get("REDIS_CA_PATH").map(std::path::PathBuf::from),
        replica_acks,
    };
    match RedisDedupStore::open(&config).await {
        Ok(_) => Some(config),
        Err(e) => unavailable(&format!("Redis ({kind:?}) from the PUSH_TEST_REDIS_* variables does not answer: {e}"))
            .map(|never| match never {}),
    }
}
