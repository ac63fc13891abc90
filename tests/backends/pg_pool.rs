//! The Postgres pool at start-up: its floor of connections (`DATABASE_MIN_CONNECTIONS`) is open
//! when `PgDatabase::connect` returns, which is before the server binds and reports ready, so the
//! first requests never wait for a connection to open.

use std::time::Duration;

use push_server::adapters::pg_database::{PgDatabase, PostgresOptions};

const TIMEOUT: Duration = Duration::from_secs(5);

fn options(max_connections: u32, min_connections: u32) -> PostgresOptions {
    PostgresOptions { max_connections, min_connections, timeout: TIMEOUT, statement_cache_capacity: 100 }
}

#[tokio::test]
async fn the_floor_is_open_when_connect_returns_and_serves_the_first_requests() {
    let Some(db) = push_testkit::services::fresh_database().await else { return };
    let database = PgDatabase::connect(&db.url, &options(6, 3)).await.expect("connects");
    assert_eq!(database.pool().size(), 3, "the floor is open before connect returns");
    assert_eq!(database.pool().num_idle(), 3, "and idle, waiting for the first requests");
    // Three requests at once find the three open: none opens a connection of its own.
    let held: Vec<_> = push_testkit::join_all((0..3).map(|_| database.pool().acquire())).await;
    assert!(held.iter().all(Result::is_ok));
    assert_eq!(database.pool().size(), 3, "the first requests used the warm connections");
    drop(held);
    database.close().await;

    // A floor above the pool's size opens the whole pool, no more.
    let capped = PgDatabase::connect(&db.url, &options(2, 5)).await.expect("connects");
    assert_eq!(capped.pool().size(), 2);
    capped.close().await;
    // Zero keeps the pool lazy: nothing open until a call needs it.
    let lazy = PgDatabase::connect(&db.url, &options(2, 0)).await.expect("connects");
    assert_eq!(lazy.pool().size(), 0);
    lazy.close().await;
    db.drop_database().await;
}
