//! `push-server serve` (the default): logs and traces up, the server started, and a graceful
//! stop on SIGTERM or Ctrl-C.

use std::process::ExitCode;

use tracing::info;

use super::{fail, prepare, settings::Settings};
use crate::{bootstrap::server, telemetry::LogTarget};

pub fn run(settings: &Settings) -> ExitCode {
    let (telemetry, runtime) = match prepare(settings, LogTarget::Stdout, "info", true) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    info!("traces: {}", telemetry.describe());
    let code = runtime.block_on(async {
        let stop_requested = match shutdown_signal() {
            Ok(signal) => signal,
            Err(e) => return fail(format!("cannot install the signal handlers: {e}")),
        };
        let running = match server::start(settings).await {
            Ok(running) => running,
            Err(e) => {
                tracing::error!("cannot start: {e}");
                return fail(e);
            }
        };
        stop_requested.await;
        info!("shutdown requested; finishing in-flight requests");
        running.shutdown().await;
        ExitCode::SUCCESS
    });
    // After the runtime's work is done, so the last request spans are in the batch.
    telemetry.shutdown();
    code
}

/// Installs the SIGTERM and Ctrl-C handlers now, before the server accepts anything, so that a
/// stop requested right after start-up is a graceful stop rather than the signal's default
/// (immediate death); returns the future that resolves on either signal.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
