//! `push-server migrate`: applies the client store's migrations and exits, so a deployment can
//! migrate once before rolling out new instances.

use std::process::ExitCode;

use super::{fail, prepare, settings::Settings};
use crate::{
    bootstrap::{StartError, stores},
    telemetry::LogTarget,
};

pub fn run(settings: &Settings) -> ExitCode {
    // Stdout is for the result; warnings go to stderr.
    let (_telemetry, runtime) = match prepare(settings, LogTarget::Stderr, "warn", false) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    match runtime.block_on(migrate(settings)) {
        Ok(store) => {
            println!("migrations applied: {store} is at the latest schema");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// Connects the client store that `DATABASE_URL` names, which applies its migrations, and closes
/// it again; what was migrated, for the command's output. Postgres is always migrated on this
/// connection, whatever `DATABASE_STATEMENT_CACHE` says: behind PgBouncer the server does not
/// migrate, and this command with the direct URL is how it is done.
pub async fn migrate(settings: &Settings) -> Result<String, StartError> {
    let mut direct = settings.clone();
    direct.store.statement_cache = direct.store.statement_cache.max(1);
    let store = stores::client_store(&direct, None).await?;
    store.close.await;
    Ok(store.described)
}
