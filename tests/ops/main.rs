//! Operating push-server: the real binary's command-line tools, its logs with request ids, its
//! trace export to a (fake) OTLP collector, the deployment files under `deploy/`, and a SIGTERM in
//! the middle of a delivery.

#[path = "../support/binary.rs"]
mod binary;
mod cli;
mod deploy;
mod docs_browser;
#[cfg(all(feature = "apns", feature = "redis"))]
#[path = "../support/fake_apns.rs"]
mod fake_apns;
mod logs;
#[cfg(feature = "otel")]
mod otlp_proto;
#[cfg(all(feature = "apns", feature = "redis"))]
#[path = "../support/services.rs"]
#[allow(dead_code)]
mod services;
#[cfg(all(feature = "apns", feature = "redis"))]
mod shutdown;
#[cfg(feature = "otel")]
mod traces;
