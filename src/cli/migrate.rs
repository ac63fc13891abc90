//! `push-server migrate`: applies the client store's migrations and exits, so a deployment can
//! migrate once before rolling out new instances.

use std::process::ExitCode;

use super::{fail, prepare, settings::Settings};
use crate::{bootstrap::wiring, telemetry::LogTarget};

pub fn run(settings: &Settings) -> ExitCode {
    // Stdout is for the result; warnings go to stderr.
    let (_telemetry, runtime) = match prepare(settings, LogTarget::Stderr, "warn", false) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    match runtime.block_on(wiring::migrate(settings)) {
        Ok(store) => {
            println!("migrations applied: {store} is at the latest schema");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
