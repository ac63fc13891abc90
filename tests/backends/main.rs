//! The storage backends: the client-store and dedup-store contracts, each written once and run
//! against every adapter (SQLite, Postgres directly and through PgBouncer; memory, Redis as one
//! node, over TLS, as a Cluster and behind Sentinels); the SQLite store's client cache; the
//! Postgres pool's warm floor; and the backends under a running server: faults injected on the line, two instances sharing them, a
//! Sentinel failover, claims acknowledged by replicas (on Redis sets the tests start themselves).
//! Backends the test services do not provide are skipped with a notice (or fail, with
//! `PUSH_TEST_REQUIRE_SERVICES=1`).

/// The server binary cargo built for these tests (the scale-out and failover tests run it).
#[cfg(feature = "redis")]
const SERVER: push_testkit::binary::Binary = push_testkit::binary::Binary::new(env!("CARGO_BIN_EXE_push-server"));

mod client_cache;
mod dedup_contract;
mod faults;
#[cfg(feature = "postgres")]
mod pg_pool;
mod replica_acks;
mod scale_out;
mod sentinel_failover;
mod store_contract;
