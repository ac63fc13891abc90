//! Operating push-server: the real binary as an operator runs it (start-up errors, `--help`,
//! durability across a hard kill, a SIGTERM in the middle of a delivery), its command-line tools,
//! its logs with request ids and without secrets, its trace export to a (fake) OTLP collector, its
//! memory under a bounded soak, a smoke run of the load benchmark against it, and the deployment
//! files under `deploy/`.

#[path = "../support/mod.rs"]
mod support;

// The submodules reach the launcher and the tiny HTTP client as `super::binary`.
use support::binary;
#[cfg(all(feature = "apns", feature = "redis"))]
use support::services;

mod bench_smoke;
mod cli;
mod deploy;
mod docs_browser;
#[cfg(all(feature = "apns", feature = "redis"))]
#[path = "../support/fake_apns.rs"]
mod fake_apns;
mod logs;
#[cfg(feature = "otel")]
mod otlp_proto;
mod process;
mod secrets;
#[cfg(all(feature = "apns", feature = "redis"))]
mod shutdown;
mod soak;
#[cfg(feature = "otel")]
mod traces;
