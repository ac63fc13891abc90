//! `push-server check-config`: builds everything the server would, without listening, and says
//! what would be used; exits non-zero with the one-line reason when a setting cannot work.
//!
//! It connects to the configured backends (and so applies the client store's migrations), which
//! is the point: a check that passes means the server would start.

use std::process::ExitCode;

use super::{fail, prepare, settings::Settings};
use crate::{bootstrap::wiring, telemetry::LogTarget};

pub fn run(settings: &Settings) -> ExitCode {
    let (_telemetry, runtime) = match prepare(settings, LogTarget::Stderr, "warn", false) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let traces = match crate::telemetry::check_traces() {
        Ok(traces) => traces,
        Err(e) => return fail(e),
    };
    runtime.block_on(async {
        let wired = match wiring::build(settings).await {
            Ok(wired) => wired,
            Err(e) => return fail(e),
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
