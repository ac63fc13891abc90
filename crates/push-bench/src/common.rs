//! What the load scenarios share: their common options, the server under test (started here or
//! given by `--url`), the one-thread runtime the generator runs on, and the unmeasured
//! registration of the clients before a run.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, atomic::AtomicU64},
    time::{Duration, Instant},
};

use clap::Args;
use ed25519_dalek::SigningKey;

use crate::{
    load::{self, Window},
    requests::{Shape, Source},
    server::{self, Launch, Spawned},
};

#[derive(Args, Clone)]
pub struct Common {
    /// Concurrent keep-alive connections (one request in flight on each).
    #[arg(long, short = 'c', default_value_t = 64)]
    pub connections: usize,
    /// Measured seconds.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Benchmark a running server instead of starting one (for example http://127.0.0.1:3000).
    #[arg(long)]
    pub url: Option<String>,
    /// PID of the `--url` server, to sample its memory.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// The push-server binary to start; defaults to the one next to this benchmark.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// DATABASE_URL for the started server (default: SQLite in a temporary directory).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// REDIS_URL for the started server (default: in-memory dedup).
    #[arg(long, env = "BENCH_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Extra KEY=VALUE environment for the started server (repeatable).
    #[arg(long)]
    pub server_env: Vec<String>,
    /// Don't pin the server and the generator to separate cores.
    #[arg(long)]
    pub no_pin: bool,
    /// Cores for the server when pinning (`taskset -c` list).
    #[arg(long, default_value = "0")]
    pub server_cpus: String,
    /// Cores for the generator when pinning.
    #[arg(long, default_value = "1")]
    pub bench_cpus: String,
    /// Name of the scenario in the report.
    #[arg(long)]
    pub label: Option<String>,
    /// Append a markdown table row to this file.
    #[arg(long)]
    pub markdown_out: Option<PathBuf>,
    /// Print the result as one JSON object as well.
    #[arg(long)]
    pub json: bool,
    /// Another push-server binary to measure beside this one (an earlier build): the scenario
    /// runs on each in turn, this build first, `--rounds` times each, every row labelled with its
    /// binary, so both see the same machine at nearly the same time.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Runs per binary with `--baseline`.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// Which binary a run of `--baseline` measures (set by push-bench itself for each run).
    #[arg(long, hide = true)]
    pub variant: Option<String>,
}

impl Common {
    /// A report's label: the scenario's, and with `--baseline` which binary ran.
    pub fn labelled(&self, scenario: String) -> String {
        match &self.variant {
            Some(variant) => format!("{scenario} [{variant}]"),
            None => scenario,
        }
    }
}

/// The server being measured, started here or given by `--url`.
pub struct Target {
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    pub spawned: Option<Spawned>,
}

impl Target {
    /// The server `common` names (`--url`), or one started here with the Relay's public key,
    /// signature checks on or off, and pinned to the server's cores when `pin`.
    pub fn new(
        common: &Common,
        relay_public_key: Option<String>,
        validate_signatures: bool,
        pin: bool,
    ) -> Result<Target, String> {
        if let Some(url) = &common.url {
            let authority = url.trim_start_matches("http://").trim_end_matches('/');
            let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)
                .map_err(|e| format!("--url {url}: {e}"))?
                .next()
                .ok_or_else(|| format!("--url {url}: no address"))?;
            return Ok(Target { addr, pid: common.server_pid, spawned: None });
        }
        let binary = match &common.server_bin {
            Some(path) => path.clone(),
            None => std::env::current_exe()
                .map_err(|e| e.to_string())?
                .with_file_name(format!("push-server{}", std::env::consts::EXE_SUFFIX)),
        };
        let spawned = Spawned::start(&Launch {
            binary: &binary,
            cpus: pin.then_some(common.server_cpus.as_str()),
            relay_public_key,
            validate_signatures,
            database_url: common.database_url.as_deref(),
            redis_url: common.redis_url.as_deref(),
            extra_env: &common.server_env,
        })?;
        Ok(Target { addr: spawned.addr, pid: Some(spawned.pid()), spawned: Some(spawned) })
    }
}

/// Whether the server and the generator get cores of their own: asked for, a server started
/// here, two cores at least, and `taskset` there.
pub fn should_pin(common: &Common) -> bool {
    !common.no_pin
        && common.url.is_none()
        && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && server::taskset_available()
}

pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    // One thread: the generator gets one core, and a single-threaded runtime spends it best.
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

/// Makes ids unique per run (see [`Shape::run`]).
pub fn run_id() -> String {
    format!("{:08x}", fastrand::u32(..))
}

pub fn parse_secret(hex_key: &str) -> Result<SigningKey, String> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut bytes).map_err(|_| "--relay-secret must be 64 hex digits")?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Registers every client of `shape`, unmeasured, before a run: every notification must find its
/// client.
pub async fn register_clients(addr: SocketAddr, shape: &Arc<Shape>) -> Result<u32, String> {
    let count = u64::from(shape.clients);
    let source_shape = shape.clone();
    let source: Source = Arc::new(move |k| (k < count).then(|| source_shape.register_request(k)));
    let now = Instant::now();
    let window = Window { measure_from: now, end: now + Duration::from_secs(600) };
    let outcome = load::run(addr, 8, source, Arc::new(AtomicU64::new(0)), window).await;
    if outcome.non_2xx > 0 || outcome.errors > 0 || outcome.latencies.len() as u64 != count {
        return Err(format!(
            "registering {count} clients failed: {} non-2xx, {} errors; first: {}",
            outcome.non_2xx,
            outcome.errors,
            outcome.first_failure.unwrap_or_default()
        ));
    }
    Ok(shape.clients)
}
