//! `push-server serve` (the default): logs and traces up, the server started, and a graceful
//! stop on SIGTERM or Ctrl-C.

use std::process::ExitCode;

use tracing::info;

use super::Config;
use crate::{
    app::server,
    telemetry::{self, LogFormat, LogTarget},
};

pub fn run(config: &Config) -> ExitCode {
    let format = if config.json_logs() { LogFormat::Json } else { LogFormat::Text };
    let telemetry = match telemetry::init(format, LogTarget::Stdout, "info") {
        Ok(t) => t,
        Err(e) => {
            eprintln!("push-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("push-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    info!("traces: {}", telemetry.describe());
    let code = runtime.block_on(async {
        let running = match server::start(&config.settings()).await {
            Ok(running) => running,
            Err(e) => {
                tracing::error!("cannot start: {e}");
                eprintln!("push-server: {e}");
                return ExitCode::FAILURE;
            }
        };
        shutdown_signal().await;
        info!("shutdown requested; finishing in-flight requests");
        running.shutdown().await;
        ExitCode::SUCCESS
    });
    // After the runtime's work is done, so the last request spans are in the batch.
    telemetry.shutdown();
    code
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
