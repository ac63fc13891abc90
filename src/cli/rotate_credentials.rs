//! `push-server rotate-credentials`: re-encrypts every project's stored credentials under the
//! first `CREDENTIALS_KEY`, so that an old key can then be dropped from the list.

use std::process::ExitCode;

use super::{fail, prepare, settings::Settings};
use crate::{
    bootstrap::{StartError, stores},
    ports::ProjectStoreError,
    telemetry::LogTarget,
};

pub fn run(settings: &Settings) -> ExitCode {
    let (_telemetry, runtime) = match prepare(settings, LogTarget::Stderr, "warn", false) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    match runtime.block_on(rotate(settings)) {
        Ok(n) => {
            println!("credentials re-encrypted under the first CREDENTIALS_KEY: {n} value(s) changed");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// Why the credentials could not be re-encrypted.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("CREDENTIALS_KEY is not set: there is nothing to re-encrypt with")]
    NoKey,
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot re-encrypt: {0}")]
    Rotate(ProjectStoreError),
}

/// Re-encrypts every project's credentials under the first `CREDENTIALS_KEY`; how many values
/// were re-encrypted.
pub async fn rotate(settings: &Settings) -> Result<usize, RotateError> {
    let cipher = settings.projects.cipher().map_err(StartError::from)?.ok_or(RotateError::NoKey)?;
    let store = stores::client_store(settings, Some(cipher)).await?;
    let rotated = match &store.projects {
        Some(projects) => projects.rotate().await.map_err(RotateError::Rotate),
        None => Ok(0),
    };
    store.close.await;
    rotated
}
