//! Switching from WalletConnect's push server: push-server on a database their migrations built
//! (our tables in a schema of our own, theirs untouched), and `import-walletconnect` copying
//! their clients, tenants and recent notification ids so that sends reach every imported client.
//!
//! Their real migrations are applied from `fixtures/walletconnect/` (a copy of
//! reown-com/push-server's `migrations/` and `tenant_migrations/`, test data only). Every test
//! needs the test Postgres (and a database of its own: their migrations write to `public`) and
//! skips with a notice without it.

#[cfg(all(feature = "postgres", feature = "apns", feature = "fcm"))]
mod import;
#[cfg(feature = "postgres")]
mod schema;
#[cfg(all(feature = "apns", feature = "fcm"))]
mod settings;
#[cfg(feature = "postgres")]
mod their_database;

/// The server binary cargo built for these tests (their settings as an operator sets them).
#[cfg(all(feature = "apns", feature = "fcm"))]
const SERVER: push_testkit::binary::Binary = push_testkit::binary::Binary::new(env!("CARGO_BIN_EXE_push-server"));

#[cfg(not(all(feature = "postgres", feature = "apns", feature = "fcm")))]
#[test]
fn switch_suite() {
    push_testkit::services::features_missing(&["postgres", "apns", "fcm"]);
}
