//! The command line: subcommands, and every setting as a flag or environment variable (a `.env`
//! file in the working directory adds to the environment), declared once in [`settings`]. Each
//! command's implementation is its own file under `cli/`.

use std::{fmt::Display, process::ExitCode};

use clap::{Parser, Subcommand};
use tokio::runtime::Runtime;

use crate::telemetry::{self, LogTarget, Telemetry};

pub mod check_config;
pub mod client_jwt;
pub mod import_walletconnect;
pub mod keygen;
pub mod migrate;
pub mod openapi;
pub mod rotate_credentials;
pub mod send;
pub mod serve;
pub mod settings;

use self::settings::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "push-server",
    version,
    about = "Push-notification gateway: Relay-signed requests in, APNS and FCM deliveries out."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Print the OpenAPI document.
    Openapi {
        /// `json` or `yaml`.
        #[arg(long, default_value = "json", value_parser = ["json", "yaml"])]
        format: String,
    },
    /// Apply the client store's migrations (DATABASE_URL) and exit.
    Migrate,
    /// Build everything the server would (store, dedup, providers, Relay key, traces) without
    /// listening; print what would be used, or exit non-zero with the reason.
    CheckConfig,
    /// Print a fresh Ed25519 key pair for a test Relay (RELAY_PRIVATE_KEY and RELAY_PUBLIC_KEY),
    /// or with `--client` a test wallet's key and client id (CLIENT_PRIVATE_KEY and CLIENT_ID),
    /// or with `--vapid` a Web Push VAPID key (WEBPUSH_VAPID_PRIVATE_KEY, PEM) and its public key.
    Keygen {
        /// A wallet's key instead of the Relay's.
        #[arg(long, conflicts_with = "vapid")]
        client: bool,
        /// A VAPID key pair (P-256) for Web Push instead of the Relay's.
        #[arg(long)]
        vapid: bool,
    },
    /// Sign a test notification with a Relay key and send it to a running server.
    Send(send::SendArgs),
    /// Re-encrypt every project's stored credentials under the first CREDENTIALS_KEY (after a
    /// new key was put first), then exit.
    RotateCredentials,
    /// Print a wallet's client id (did:key) and a client JWT signed with its key, for the
    /// `Authorization` header of a registration or unregistration.
    ClientJwt(client_jwt::ClientJwtArgs),
    /// Copy a WalletConnect push server's clients, tenants (as projects) and recent notification
    /// ids into this server's stores; never writes to theirs.
    ImportWalletconnect(import_walletconnect::ImportArgs),
}

/// How a command ends when it cannot do its job: the one-line reason on stderr, exit code 1.
pub(crate) fn fail(reason: impl Display) -> ExitCode {
    eprintln!("push-server: {reason}");
    ExitCode::FAILURE
}

/// What every long-running command starts with: logging (in the configured format, to `target`,
/// `default_filter` unless `RUST_LOG` says otherwise; trace export when asked) and a runtime.
pub(crate) fn prepare(
    settings: &Settings,
    target: LogTarget,
    default_filter: &str,
    export_traces: bool,
) -> Result<(Telemetry, Runtime), ExitCode> {
    // WalletConnect's LOG_LEVEL stands for RUST_LOG; both set is refused.
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = settings.walletconnect.log_filter(rust_log.as_deref(), default_filter).map_err(fail)?;
    let telemetry = telemetry::init(settings.log_format, target, filter, export_traces).map_err(fail)?;
    let runtime = Runtime::new().map_err(|e| fail(format!("cannot start the async runtime: {e}")))?;
    Ok((telemetry, runtime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
