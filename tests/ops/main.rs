//! Operating push-server: the real binary as an operator runs it (start-up errors, `--help`,
//! durability across a hard kill), its command-line tools, its logs with request ids and without
//! secrets, its trace export to a (fake) OTLP collector, its memory under a bounded soak, a smoke
//! run of the load benchmark against it, and the deployment files under `deploy/`.

#[path = "../support/mod.rs"]
mod support;

// The submodules reach the launcher and the tiny HTTP client as `super::binary`.
use support::binary;

mod bench_smoke;
mod cli;
mod deploy;
mod docs_browser;
mod logs;
#[cfg(feature = "otel")]
mod otlp_proto;
mod process;
mod secrets;
mod soak;
#[cfg(feature = "otel")]
mod traces;
