//! `push-server check-config`: builds everything the server would, without listening, and says
//! what would be used; exits non-zero with the one-line reason when a setting cannot work.
//!
//! It connects to the configured backends (and so applies the client store's migrations), which
//! is the point: a check that passes means the server would start.

use std::process::ExitCode;

use super::Config;
use crate::{
    app::wiring,
    telemetry::{self, LogFormat, LogTarget},
};

pub fn run(config: &Config) -> ExitCode {
    let format = if config.json_logs() { LogFormat::Json } else { LogFormat::Text };
    if let Err(e) = telemetry::init(format, LogTarget::Stderr, "warn", false) {
        eprintln!("push-server: {e}");
        return ExitCode::FAILURE;
    }
    let traces = match telemetry::check_traces() {
        Ok(traces) => traces,
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
    let settings = config.settings();
    runtime.block_on(async {
        let wired = match wiring::build(&settings).await {
            Ok(wired) => wired,
            Err(e) => {
                eprintln!("push-server: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("listen: {}:{}", settings.host, settings.port);
        for (what, choice) in &wired.summary {
            println!("{what}: {choice}");
        }
        println!("traces: {traces}");
        if wired.auth.is_disabled() {
            println!("WARNING: signature checks are off (VALIDATE_SIGNATURES=false)");
        }
        for close in wired.closers {
            close.await;
        }
        println!("configuration OK");
        ExitCode::SUCCESS
    })
}
