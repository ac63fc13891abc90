//! `push-server migrate`: applies the client store's migrations and exits, so a deployment can
//! migrate once before rolling out new instances.

use std::process::ExitCode;

use super::{Config, fail, prepare};
use crate::{bootstrap::wiring, telemetry::LogTarget};

pub fn run(config: &Config) -> ExitCode {
    // Stdout is for the result; warnings go to stderr.
    let (_telemetry, runtime) = match prepare(config, LogTarget::Stderr, "warn", false) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    match runtime.block_on(wiring::migrate(&config.settings())) {
        Ok(store) => {
            println!("migrations applied: {store} is at the latest schema");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
