//! Switching from WalletConnect's push server: push-server on a database their migrations built
//! (our tables in a schema of our own, theirs untouched), and `import-walletconnect` copying
//! their clients, tenants and recent notification ids so that sends reach every imported client.
//!
//! Their real migrations are applied from `fixtures/walletconnect/` (a copy of
//! reown-com/push-server's `migrations/` and `tenant_migrations/`, test data only). Every test
//! needs the test Postgres (and a database of its own: their migrations write to `public`) and
//! skips with a notice without it.

use push_testkit::binary::Binary;

mod import;
mod schema;
mod settings;
mod their_database;

const SERVER: Binary = Binary::new(env!("CARGO_BIN_EXE_push-server"));
