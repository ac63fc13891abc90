//! `push-server rotate-credentials`: re-encrypts every project's stored credentials under the
//! first `CREDENTIALS_KEY`, so that an old key can then be dropped from the list.

use std::process::ExitCode;

use super::{fail, prepare, settings::Settings};
use crate::{bootstrap::wiring, telemetry::LogTarget};

pub fn run(settings: &Settings) -> ExitCode {
    let (_telemetry, runtime) = match prepare(settings, LogTarget::Stderr, "warn", false) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    match runtime.block_on(wiring::rotate_credentials(settings)) {
        Ok(n) => {
            println!("credentials re-encrypted under the first CREDENTIALS_KEY: {n} value(s) changed");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
