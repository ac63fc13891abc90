//! `push-server migrate`: applies the client store's migrations and exits, so a deployment can
//! migrate once before rolling out new instances.

use std::process::ExitCode;

use super::Config;
use crate::{
    app::wiring,
    telemetry::{self, LogFormat, LogTarget},
};

pub fn run(config: &Config) -> ExitCode {
    let format = if config.json_logs() { LogFormat::Json } else { LogFormat::Text };
    // Stdout is for the result; warnings go to stderr.
    if let Err(e) = telemetry::init(format, LogTarget::Stderr, "warn", false) {
        eprintln!("push-server: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("push-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(wiring::migrate(&config.settings())) {
        Ok(store) => {
            println!("migrations applied: {store} is at the latest schema");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("push-server: {e}");
            ExitCode::FAILURE
        }
    }
}
