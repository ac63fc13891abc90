//! `push-server import-walletconnect`: copies a WalletConnect push server's data (clients,
//! tenants, the notification ids of the dedup window) into this server's stores, so wallets keep
//! their registrations across the switch and a Relay retry across the cut-over is not delivered
//! twice.
//!
//! - `client_row`, `tenant_row`: one of their rows as our domain values, or why not;
//! - `importer`: the import over ports (their rows in, our stores out), idempotent, bounded;
//! - `summary`: what it did, with a reason per skipped row;
//! - `progress`: the progress line on a terminal.
//!
//! Their side is read through `WalletConnectSource` in read-only transactions: the import never
//! writes to their tables.

use std::{process::ExitCode, sync::Arc};

use clap::Args;

use super::{fail, prepare, settings::Settings};
use crate::{
    adapters::egress::Egress,
    bootstrap::{StartError, providers, stores},
    cli::settings::DedupChoice,
    ports::{DedupStore, ProviderFactory},
    telemetry::LogTarget,
};

mod client_row;
mod importer;
mod progress;
mod summary;
mod tenant_row;

pub use importer::{ImportError, Importer, Targets};
pub use progress::Progress;
pub use summary::{Counts, Kind, Outcome, Summary};

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Their database (`postgres://...`, their DATABASE_URL): `public.clients`,
    /// `public.notifications` and, unless --tenants-from says otherwise, `public.tenants`.
    #[arg(long, value_name = "POSTGRES_URL")]
    pub from: String,
    /// Their tenant database (their TENANT_DATABASE_URL) when it is not the same as --from.
    #[arg(long, value_name = "POSTGRES_URL")]
    pub tenants_from: Option<String>,
    /// Read everything and print the same summary, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(settings: &Settings, args: &ImportArgs) -> ExitCode {
    // Stdout is for the summary; warnings and the progress line go to stderr.
    let (_telemetry, runtime) = match prepare(settings, LogTarget::Stderr, "warn", false) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    match runtime.block_on(import(settings, args, &mut Progress::on_terminal())) {
        Ok(summary) => {
            print!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportCommandError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("import stopped (what was written stays; run it again to finish): {0}")]
    Import(#[from] ImportError),
}

/// Opens this server's stores as the server would (migrating them), opens their database, and
/// imports.
pub async fn import(
    settings: &Settings,
    args: &ImportArgs,
    progress: &mut Progress,
) -> Result<Summary, ImportCommandError> {
    let timeout = settings.store.timeout;
    let mut source = stores::walletconnect_source(&args.from, args.tenants_from.as_deref(), timeout).await?;
    let store = stores::client_store(settings, settings.projects.cipher().map_err(StartError::from)?).await?;
    let dedup: Option<Arc<dyn DedupStore>> = match settings.dedup_choice().map_err(StartError::from)? {
        DedupChoice::Memory => None,
        _ => Some(stores::dedup_store(settings, &store).await?.0),
    };
    // Used to check the tenants' credentials, which needs no connection; built as the server's.
    let egress = Egress::new(settings.egress.config().map_err(StartError::from)?);
    let factory: Arc<dyn ProviderFactory> =
        Arc::new(providers::factory(settings, egress, Arc::new(|provider| provider)));
    let targets = Targets {
        clients: store.clients.clone(),
        projects: store.projects.clone(),
        dedup,
        factory,
        window: settings.dedup_ttl,
    };
    let done = Importer::new(targets, args.dry_run).run(source.as_mut(), progress).await;
    source.close().await;
    store.close.await;
    Ok(done?)
}
