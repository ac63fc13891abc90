//! `push-bench`: the load benchmark. It starts a push-server (or targets a running one), registers
//! clients, then drives Relay-signed notifications or registrations over keep-alive HTTP/1.1 at a
//! fixed concurrency for a fixed time, and reports throughput, latency percentiles, failures and
//! the server's memory. `mixed` adds a steady rate of registrations to full-speed sends, as in
//! production. `deliver` sends through fake APNS and FCM providers in this process.
//! `dedup-memory` measures the in-memory dedup store alone.
//!
//! This file only parses the command line: each command is a file of `scenarios/`, the load
//! generators are `load` (closed loop) and `paced` (open loop), `measure` runs and samples, and
//! `report` prints the figures and the verdict; `alternate` runs a scenario on this build and a
//! `--baseline` binary in turn. `scripts/bench.sh` runs every scenario and prints
//! the table of docs/benchmarks.md; see `--help`.

mod alternate;
mod common;
mod latency;
mod load;
mod measure;
mod paced;
mod report;
mod requests;
mod scenarios;
mod server;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use scenarios::{
    dedup_memory::DedupMemoryArgs, deliver::DeliverArgs, mixed::MixedArgs, register::RegisterArgs,
    relay_public_key::RelayPublicKeyArgs, send::SendArgs, verify::VerifyArgs,
};

#[derive(Parser)]
#[command(name = "push-bench", version, about = "Load benchmark for push-server")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Relay-signed notifications to registered clients, each with a fresh id.
    Send(SendArgs),
    /// Signed sends at full speed (as `send`, encrypted) while registrations arrive at a steady
    /// rate: half re-register a client being sent to (an app launch), half register a new client.
    /// The figures are the sends'; the registrations' rate and latency are printed beside them.
    Mixed(MixedArgs),
    /// Deliveries through APNS or FCM fakes (in this process, over h2c) with realistic latency and
    /// stream limits: deliveries/s, Relay latency, connections, streams in flight, CPU.
    /// The server must be built with `apns` (and `fcm` for `--provider fcm`).
    Deliver(Box<DeliverArgs>),
    /// Registrations of new clients (each a new client id and token).
    Register(RegisterArgs),
    /// Ed25519 verification of one signed message of a send's size: `verify_strict`, and the
    /// server's batches of 1 to 64: the per-core ceiling that every other cost of the send path
    /// is measured against.
    Verify(VerifyArgs),
    /// Prints the hex public key of a Relay secret key (for starting a server by hand).
    RelayPublicKey(RelayPublicKeyArgs),
    /// Claims in the in-memory dedup store, in this process: bytes per live entry and time per claim.
    DedupMemory(DedupMemoryArgs),
}

impl Scenario {
    /// The options of a scenario that starts a server.
    fn common(&self) -> Option<&common::Common> {
        match self {
            Self::Send(args) => Some(&args.common),
            Self::Mixed(args) => Some(&args.common),
            Self::Deliver(args) => Some(&args.common),
            Self::Register(args) => Some(&args.common),
            Self::Verify(_) | Self::RelayPublicKey(_) | Self::DedupMemory(_) => None,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(common) = cli.scenario.common().filter(|common| common.baseline.is_some()) {
        return alternate::run(common);
    }
    let result = match cli.scenario {
        Scenario::Send(args) => scenarios::send::run(args),
        Scenario::Mixed(args) => scenarios::mixed::run(args),
        Scenario::Deliver(args) => scenarios::deliver::run(*args),
        Scenario::Register(args) => scenarios::register::run(args),
        Scenario::Verify(args) => scenarios::verify::run(args),
        Scenario::RelayPublicKey(args) => scenarios::relay_public_key::run(args),
        Scenario::DedupMemory(args) => scenarios::dedup_memory::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("push-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
