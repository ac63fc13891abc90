//! Operating push-server: the real binary's command-line tools, its logs with request ids, its
//! trace export to a (fake) OTLP collector, and the deployment files under `deploy/`.

#[path = "../support/binary.rs"]
mod binary;
mod cli;
mod deploy;
mod docs_browser;
mod logs;
#[cfg(feature = "otel")]
mod otlp_proto;
#[cfg(feature = "otel")]
mod traces;
