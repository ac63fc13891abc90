//! Operating push-server: the real binary as an operator runs it (start-up errors, `--help`,
//! durability across a hard kill, a SIGTERM and a SIGKILL in the middle of a delivery), its
//! command-line tools, its logs with request ids and without secrets, its trace export to a (fake)
//! OTLP collector, its memory under a bounded soak, a smoke run of the load benchmark against it,
//! and the deployment files under `deploy/`.

use push_testkit::binary::Binary;

/// The server binary cargo built for these tests.
const SERVER: Binary = Binary::new(env!("CARGO_BIN_EXE_push-server"));

mod bench_smoke;
mod cli;
mod deploy;
mod docs_browser;
mod logs;
#[cfg(feature = "otel")]
mod otlp_proto;
mod process;
mod secrets;
#[cfg(all(feature = "apns", feature = "redis"))]
mod shutdown;
#[cfg(all(feature = "apns", feature = "redis", feature = "postgres"))]
mod sigkill;
mod soak;
#[cfg(feature = "otel")]
mod traces;
