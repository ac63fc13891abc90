//! Finds the PostgreSQL and Redis that the backend test suites run against, and gives each test
//! its own isolated piece of them.
//!
//! Convention, relied on by scripts and CI: `PUSH_TEST_DATABASE_URL` (a `postgres://` URL whose
//! user may create databases) and `PUSH_TEST_REDIS_URL`. When one is unset or does not answer, the
//! tests that need it print a notice and pass without running, so a plain `cargo test` works on any
//! machine; with `PUSH_TEST_REQUIRE_SERVICES=1` the same situation is a failure, so a CI run can
//! never skip them silently.

use std::time::Duration;

pub const DATABASE_URL_VAR: &str = "PUSH_TEST_DATABASE_URL";
pub const REDIS_URL_VAR: &str = "PUSH_TEST_REDIS_URL";
pub const REQUIRE_VAR: &str = "PUSH_TEST_REQUIRE_SERVICES";

/// How long a test waits for a service to answer before it counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

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
#[allow(unused_imports)]
pub use postgres::{TestDatabase, fresh_database};

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
        admin_url: String,
        schema: String,
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
                Some(TestDatabase { url, admin_url, schema })
            }
            Ok(Err(e)) => unavailable(&format!("Postgres at {DATABASE_URL_VAR} refused a test schema: {e}"))
                .map(|never| match never {}),
            Err(_) => unavailable(&format!("Postgres at {DATABASE_URL_VAR} did not answer within {PROBE_TIMEOUT:?}"))
                .map(|never| match never {}),
        }
    }

    impl TestDatabase {
        /// Runs one statement directly, past the adapter (to plant rows it would never write).
        pub async fn execute(&self, sql: &'static str) {
            let mut conn = PgConnection::connect(&self.url).await.expect("connect to the test database");
            sqlx::query(sql).execute(&mut conn).await.expect("statement runs");
            conn.close().await.ok();
        }

        pub async fn drop_database(self) {
            if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema)))
                    .execute(&mut admin)
                    .await;
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
