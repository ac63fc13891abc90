//! The `push-server` binary: parses the command line and runs the chosen command.

use std::process::ExitCode;

use clap::Parser;
use push_server::cli::{self, Cli, Command};

// mimalloc: fewer cycles per request than the system allocator (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("push-server: cannot read .env: {e}");
        return ExitCode::from(2);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: the reason, without clap's usage block.
            let text = e.render().to_string();
            let reason = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid arguments");
            eprintln!("push-server: {}", reason.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => cli::serve::run(&cli.settings),
        Command::Openapi { format } => cli::openapi::run(&format),
        Command::Migrate => cli::migrate::run(&cli.settings),
        Command::CheckConfig => cli::check_config::run(&cli.settings),
        Command::Keygen { client, vapid: false } => cli::keygen::run(client),
        Command::Keygen { vapid: true, .. } => cli::keygen::run_vapid(),
        Command::Send(args) => cli::send::run(&args),
        Command::RotateCredentials => cli::rotate_credentials::run(&cli.settings),
        Command::ClientJwt(args) => cli::client_jwt::run(&args),
        Command::ImportWalletconnect(args) => cli::import_walletconnect::run(&cli.settings, &args),
    }
}
