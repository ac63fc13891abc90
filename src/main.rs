//! The `push-server` binary: parses the command line and runs the chosen command.

use std::process::ExitCode;

use clap::Parser;
use push_server::{
    adapters::http,
    app::server,
    cli::{Cli, Command, Config},
};
use tracing_subscriber::{EnvFilter, fmt};

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
        Command::Serve => serve(&cli.config),
        Command::Openapi { format } => {
            let service = http::openapi_service();
            println!("{}", if format == "yaml" { service.spec_yaml() } else { service.spec() });
            ExitCode::SUCCESS
        }
    }
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if config.json_logs() {
        fmt().json().with_env_filter(filter).with_current_span(true).init();
    } else {
        fmt().with_env_filter(filter).init();
    }
}

fn serve(config: &Config) -> ExitCode {
    init_logging(config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("push-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let running = match server::start(&config.settings()).await {
            Ok(running) => running,
            Err(e) => {
                tracing::error!("cannot start: {e}");
                eprintln!("push-server: {e}");
                return ExitCode::FAILURE;
            }
        };
        shutdown_signal().await;
        tracing::info!("shutdown requested; finishing in-flight requests");
        running.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
