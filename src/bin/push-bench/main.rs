//! `push-bench`: the load benchmark. It starts a push-server (or targets a running one), registers
//! clients, then drives Relay-signed notifications or registrations over keep-alive HTTP/1.1 at a
//! fixed concurrency for a fixed time, and reports throughput, latency percentiles, failures and
//! the server's memory. `mixed` adds a steady rate of registrations to full-speed sends, as in
//! production. `dedup-memory` measures the in-memory dedup store alone.
//!
//! `scripts/bench.sh` runs every scenario and prints the README table; see `--help`.

mod dedup_memory;
mod deliver;
mod fake_provider;
mod latency;
mod launcher;
mod load;
mod paced;
mod requests;
mod server;

use std::{
    fmt::Write as _,
    io::Write as _,
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    sync::{Arc, Mutex, atomic::AtomicU64},
    time::{Duration, Instant},
};

use clap::{Args, Parser, Subcommand};
use ed25519_dalek::SigningKey;

use load::{Outcome, Window};
use requests::{PayloadKind, Shape, Source};
use server::{Launch, Memory, Spawned};

#[derive(Parser)]
#[command(name = "push-bench", version, about = "Load benchmark for push-server")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Relay-signed notifications to registered clients, each with a fresh id.
    Send {
        #[command(flatten)]
        common: Common,
        /// Encrypted (forwarded as is) or cleartext (decoded and rendered) blobs.
        #[arg(long, value_enum, default_value = "encrypted")]
        payload: PayloadKind,
        /// Start the server with VALIDATE_SIGNATURES=false and send unsigned requests.
        #[arg(long)]
        no_signatures: bool,
        /// Clients registered before the run; notifications go to them round robin.
        #[arg(long, default_value_t = 1000)]
        clients: u32,
        /// Requests per second to sign ahead for (times warm-up plus duration). Signing happens
        /// before the timed phase; a run that uses them all up stops and says so.
        #[arg(long, default_value_t = 40_000)]
        rate_hint: u64,
        /// Hex Ed25519 secret key of the Relay, when `--url` names a server configured with its
        /// public half (a spawned server gets a fresh key pair).
        #[arg(long, env = "BENCH_RELAY_SECRET")]
        relay_secret: Option<String>,
    },
    /// Signed sends at full speed (as `send`, encrypted) while registrations arrive at a steady
    /// rate: half re-register a client being sent to (an app launch), half register a new client.
    /// The figures are the sends'; the registrations' rate and latency are printed beside them.
    Mixed {
        #[command(flatten)]
        common: Common,
        /// Registrations per second, sent open-loop (latency counted from when each was due).
        #[arg(long, default_value_t = 100.0)]
        register_rate: f64,
        /// Connections the registrations are spread over.
        #[arg(long, default_value_t = 8)]
        register_connections: usize,
        /// Clients registered before the run; notifications go to them round robin.
        #[arg(long, default_value_t = 1000)]
        clients: u32,
        /// As for `send`: sends per second to sign ahead for.
        #[arg(long, default_value_t = 40_000)]
        rate_hint: u64,
        /// As for `send`: the Relay's secret key, for a server given by `--url`.
        #[arg(long, env = "BENCH_RELAY_SECRET")]
        relay_secret: Option<String>,
    },
    /// Deliveries through APNS or FCM fakes (in this process, over h2c) with realistic latency and
    /// stream limits: deliveries/s, Relay latency, connections, streams in flight, CPU.
    /// The server must be built with `apns` (and `fcm` for `--provider fcm`).
    Deliver(Box<deliver::DeliverArgs>),
    /// Registrations of new clients (each a new client id and token).
    Register {
        #[command(flatten)]
        common: Common,
    },
    /// Ed25519 verification as the server does it (strict, one signed message of a send's size):
    /// the per-core ceiling that every other cost of the send path is measured against.
    Verify {
        #[arg(long, default_value_t = 20_000)]
        iterations: u32,
    },
    /// Prints the hex public key of a Relay secret key (for starting a server by hand).
    RelayPublicKey {
        #[arg(long, env = "BENCH_RELAY_SECRET")]
        relay_secret: String,
    },
    /// Claims in the in-memory dedup store, in this process: bytes per live entry and time per claim.
    DedupMemory {
        #[arg(long, default_value_t = 1_000_000)]
        entries: usize,
        /// Append a markdown table row to this file.
        #[arg(long)]
        markdown_out: Option<PathBuf>,
    },
}

#[derive(Args, Clone)]
struct Common {
    /// Concurrent keep-alive connections (one request in flight on each).
    #[arg(long, short = 'c', default_value_t = 64)]
    connections: usize,
    /// Measured seconds.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Benchmark a running server instead of starting one (for example http://127.0.0.1:3000).
    #[arg(long)]
    url: Option<String>,
    /// PID of the `--url` server, to sample its memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The push-server binary to start; defaults to the one next to this benchmark.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// DATABASE_URL for the started server (default: SQLite in a temporary directory).
    #[arg(long, env = "BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// REDIS_URL for the started server (default: in-memory dedup).
    #[arg(long, env = "BENCH_REDIS_URL")]
    redis_url: Option<String>,
    /// Extra KEY=VALUE environment for the started server (repeatable).
    #[arg(long)]
    server_env: Vec<String>,
    /// Don't pin the server and the generator to separate cores.
    #[arg(long)]
    no_pin: bool,
    /// Cores for the server when pinning (`taskset -c` list).
    #[arg(long, default_value = "0")]
    server_cpus: String,
    /// Cores for the generator when pinning.
    #[arg(long, default_value = "1")]
    bench_cpus: String,
    /// Name of the scenario in the report.
    #[arg(long)]
    label: Option<String>,
    /// Append a markdown table row to this file.
    #[arg(long)]
    markdown_out: Option<PathBuf>,
    /// Print the result as one JSON object as well.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.scenario {
        Scenario::Send { common, payload, no_signatures, clients, rate_hint, relay_secret } => {
            run_send(&common, payload, !no_signatures, clients, rate_hint, relay_secret.as_deref())
        }
        Scenario::Mixed { common, register_rate, register_connections, clients, rate_hint, relay_secret } => {
            SideLoad::registrations(register_rate, register_connections)
                .and_then(|side| run_mixed(&common, side, clients, rate_hint, relay_secret.as_deref()))
        }
        Scenario::Register { common } => run_register(&common),
        Scenario::Deliver(args) => deliver::run(*args),
        Scenario::DedupMemory { entries, markdown_out } => run_dedup_memory(entries, markdown_out.as_deref()),
        Scenario::RelayPublicKey { relay_secret } => parse_secret(&relay_secret).map(|key| {
            println!("{}", hex::encode(key.verifying_key().to_bytes()));
        }),
        Scenario::Verify { iterations } => {
            run_verify(iterations);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("push-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The server being measured, started here or given by `--url`.
struct Target {
    addr: SocketAddr,
    pid: Option<u32>,
    spawned: Option<Spawned>,
}

fn target(
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

fn should_pin(common: &Common) -> bool {
    !common.no_pin
        && common.url.is_none()
        && std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
        && server::taskset_available()
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    // One thread: the generator gets one core, and a single-threaded runtime spends it best.
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn run_id() -> String {
    format!("{:08x}", fastrand::u32(..))
}

fn parse_secret(hex_key: &str) -> Result<SigningKey, String> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut bytes).map_err(|_| "--relay-secret must be 64 hex digits")?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// A server with `clients` registered and the requests to send them, signed ahead when `signed`.
struct SendSetup {
    rt: tokio::runtime::Runtime,
    target: Target,
    shape: Arc<Shape>,
    source: Source,
    pin: bool,
}

fn prepare_send(
    common: &Common,
    payload: PayloadKind,
    signed: bool,
    clients: u32,
    rate_hint: u64,
    relay_secret: Option<&str>,
) -> Result<SendSetup, String> {
    if common.warmup + common.duration > 240.0 {
        // Every request is signed over one timestamp taken before the run; the server accepts
        // timestamps up to 300 s old.
        return Err("warm-up plus duration must stay within 240 s (the signatures' timestamp window)".into());
    }
    let key = match relay_secret {
        Some(hex_key) => parse_secret(hex_key)?,
        None => SigningKey::from_bytes(&std::array::from_fn(|_| fastrand::u8(..))),
    };
    let pin = should_pin(common);
    let target = target(common, Some(hex::encode(key.verifying_key().to_bytes())), signed, pin)?;
    let shape = Arc::new(Shape::new(run_id(), clients, payload, &target.addr.to_string()));
    let rt = runtime()?;

    // Registration goes first, unmeasured: every notification must find its client.
    let registered = rt.block_on(register_clients(target.addr, &shape))?;
    let source: Source = if signed {
        let count = (rate_hint as f64 * (common.warmup + common.duration)).ceil() as usize;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let pool = requests::sign_pool(&shape, &key, count, threads);
        println!("signed {count} requests ahead on {threads} threads in {:.1} s", pool.took.as_secs_f64());
        let pool = Arc::new(pool);
        let shape = shape.clone();
        Arc::new(move |i| {
            let signature = pool.signatures.get(i as usize)?;
            Some(shape.send_request(i, Some((&pool.timestamp, signature))))
        })
    } else {
        let shape = shape.clone();
        Arc::new(move |i| Some(shape.send_request(i, None)))
    };
    if pin {
        server::pin_self(&common.bench_cpus)?;
    }
    println!(
        "registered {registered} clients; sending for {:.0}+{:.0} s on {} connections",
        common.warmup, common.duration, common.connections
    );
    Ok(SendSetup { rt, target, shape, source, pin })
}

fn run_send(
    common: &Common,
    payload: PayloadKind,
    signed: bool,
    clients: u32,
    rate_hint: u64,
    relay_secret: Option<&str>,
) -> Result<(), String> {
    let setup = prepare_send(common, payload, signed, clients, rate_hint, relay_secret)?;
    let label = common.label.clone().unwrap_or_else(|| {
        format!(
            "send, {}, signatures {}",
            match payload {
                PayloadKind::Encrypted => "encrypted",
                PayloadKind::Cleartext => "cleartext",
            },
            if signed { "on" } else { "off" }
        )
    });
    measure(&setup.rt, common, setup.target, setup.source, None, &label, setup.pin)
}

fn run_mixed(
    common: &Common,
    side: SideLoad,
    clients: u32,
    rate_hint: u64,
    relay_secret: Option<&str>,
) -> Result<(), String> {
    let setup = prepare_send(common, PayloadKind::Encrypted, true, clients, rate_hint, relay_secret)?;
    let shape = setup.shape.clone();
    let side = SideLoad {
        source: Arc::new(move |k| {
            // Even: the app of a client being sent to launched and registers again (same token).
            // Odd: a new install (ids and tokens past the pre-registered ones).
            let clients = u64::from(shape.clients);
            Some(shape.register_request(if k % 2 == 0 { (k / 2) % clients } else { clients + k / 2 }))
        }),
        ..side
    };
    let label = common.label.clone().unwrap_or_else(|| format!("mixed, sends + {:.0} registrations/s", side.rate));
    println!("and registering {:.0}/s on {} connections", side.rate, side.connections);
    measure(&setup.rt, common, setup.target, setup.source, Some(side), &label, setup.pin)
}

async fn register_clients(addr: SocketAddr, shape: &Arc<Shape>) -> Result<u32, String> {
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

fn run_register(common: &Common) -> Result<(), String> {
    let pin = should_pin(common);
    let target = target(common, None, true, pin)?;
    let shape = Arc::new(Shape::new(run_id(), 1, PayloadKind::Encrypted, &target.addr.to_string()));
    let rt = runtime()?;
    if pin {
        server::pin_self(&common.bench_cpus)?;
    }
    let source: Source = Arc::new(move |k| Some(shape.register_request(k)));
    let label = common.label.clone().unwrap_or_else(|| "register".to_owned());
    println!(
        "registering new clients for {:.0}+{:.0} s on {} connections",
        common.warmup, common.duration, common.connections
    );
    measure(&rt, common, target, source, None, &label, pin)
}

/// Samples of the server's memory and CPU time (and the generator's CPU time) during a run.
#[derive(Default)]
struct MemoryTrace {
    samples: Vec<Sample>,
}

#[derive(Clone, Copy)]
struct Sample {
    /// Seconds since the run started.
    at: f64,
    rss_kib: u64,
    server_cpu: f64,
    bench_cpu: f64,
}

/// Requests at a steady rate beside the closed-loop load (see `paced`).
struct SideLoad {
    rate: f64,
    connections: usize,
    source: Source,
}

impl SideLoad {
    /// The rate and connections of `mixed`'s registrations, checked before anything starts; the
    /// requests themselves need the run's shape.
    fn registrations(rate: f64, connections: usize) -> Result<Self, String> {
        if rate.is_nan() || rate <= 0.0 {
            return Err("--register-rate must be above 0".into());
        }
        Ok(Self { rate, connections, source: Arc::new(|_| None) })
    }
}

fn measure(
    rt: &tokio::runtime::Runtime,
    common: &Common,
    mut target: Target,
    source: Source,
    side: Option<SideLoad>,
    label: &str,
    pinned: bool,
) -> Result<(), String> {
    let started = Instant::now();
    let measure_from = started + secs(common.warmup);
    let window = Window { measure_from, end: measure_from + secs(common.duration) };
    let trace = Arc::new(Mutex::new(MemoryTrace::default()));
    let outcome = rt.block_on(async {
        let sampler = target.pid.map(|pid| {
            let trace = trace.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                loop {
                    tick.tick().await;
                    let own = std::process::id();
                    if let (Some(m), Some(server_cpu), Some(bench_cpu)) =
                        (server::memory(pid), server::cpu_seconds(pid), server::cpu_seconds(own))
                    {
                        let at = started.elapsed().as_secs_f64();
                        let sample = Sample { at, rss_kib: m.rss_kib, server_cpu, bench_cpu };
                        trace.lock().expect("trace lock").samples.push(sample);
                    }
                }
            })
        });
        let side =
            side.map(|side| tokio::spawn(paced::run(target.addr, side.rate, side.connections, side.source, window)));
        let outcome = load::run(target.addr, common.connections, source, Arc::new(AtomicU64::new(0)), window).await;
        let side = match side {
            Some(task) => Some(task.await.expect("the side load does not panic")),
            None => None,
        };
        if let Some(sampler) = sampler {
            sampler.abort();
        }
        (outcome, side)
    });
    let (outcome, side) = outcome;
    let peak = target.pid.and_then(server::memory);
    let died = target.spawned.as_mut().and_then(Spawned::exited);
    let log_problems = target.spawned.as_ref().map(Spawned::unexpected_log_lines).unwrap_or_default();
    let trace = trace.lock().expect("trace lock");
    let mut report = Report::new(label, common, &outcome, &trace, peak, pinned);
    if let Some(side) = &side {
        report.label = format!(
            "{} ({:.0} registrations/s done, p99 {:.2} ms)",
            report.label,
            side.requests_per_second(),
            side.percentile_ms(99.0)
        );
    }
    report.print(common)?;
    if let Some(side) = &side {
        println!(
            "registrations {:.0}/s   latency ms p50 {:.2}   p99 {:.2}   max {:.2}   non-2xx {}   errors {}",
            side.requests_per_second(),
            side.percentile_ms(50.0),
            side.percentile_ms(99.0),
            side.max_ms(),
            side.non_2xx,
            side.errors
        );
    }

    let mut problems = Vec::new();
    if let Some(died) = died {
        problems.push(died);
    }
    if let Some(side) = side.as_ref().filter(|side| side.non_2xx > 0 || side.errors > 0) {
        problems.push(format!(
            "registrations: {} non-2xx answers and {} transport errors; first: {}",
            side.non_2xx,
            side.errors,
            side.first_failure.as_deref().unwrap_or("-")
        ));
    }
    if outcome.non_2xx > 0 || outcome.errors > 0 {
        problems.push(format!(
            "{} non-2xx answers and {} transport errors; first: {}",
            outcome.non_2xx,
            outcome.errors,
            outcome.first_failure.as_deref().unwrap_or("-")
        ));
    }
    if outcome.exhausted {
        problems.push("the pre-signed requests ran out before the end of the run; raise --rate-hint".to_owned());
    }
    if outcome.latencies.is_empty() {
        problems.push("no request completed in the measured window".to_owned());
    }
    if !log_problems.is_empty() {
        let shown: Vec<_> = log_problems.iter().take(5).cloned().collect();
        problems.push(format!("the server logged {} warnings or errors:\n{}", log_problems.len(), shown.join("\n")));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

struct Report {
    label: String,
    connections: usize,
    rps: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    requests: usize,
    non_2xx: u64,
    errors: u64,
    /// RSS when measuring started, at the end, and the process's peak (VmHWM), MiB.
    rss_start: Option<f64>,
    rss_end: Option<f64>,
    rss_peak: Option<f64>,
    /// CPU time (user + system) per request in the measured window, µs.
    server_cpu_us: Option<f64>,
    bench_cpu_us: Option<f64>,
    /// Cores' worth of CPU the server got during the window (below 1 on a shared core).
    server_cores: Option<f64>,
    /// (seconds since start, RSS MiB) across the measured window.
    rss_trace: Vec<(f64, f64)>,
    pinned: bool,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Report {
    fn new(label: &str, common: &Common, o: &Outcome, trace: &MemoryTrace, peak: Option<Memory>, pinned: bool) -> Self {
        let first = trace.samples.iter().find(|s| s.at >= common.warmup).copied();
        let last = trace.samples.last().copied();
        let rss_start = first.map(|s| mib(s.rss_kib));
        let rss_end = last.map(|s| mib(s.rss_kib));
        // Ten points across the measured window, to see whether memory levels off.
        let window: Vec<&Sample> = trace.samples.iter().filter(|s| s.at >= common.warmup).collect();
        let rss_trace = (0..10)
            .filter_map(|k| window.get(k * window.len() / 10))
            .chain(window.last())
            .map(|s| (s.at, mib(s.rss_kib)))
            .collect();
        // CPU per request: the CPU time used between two samples over the requests answered in
        // between, which does not depend on how much of the core other processes took.
        let (server_cpu_us, bench_cpu_us, server_cores) = match (first, last) {
            (Some(a), Some(b)) if b.at > a.at && o.requests_per_second() > 0.0 => {
                let requests = o.requests_per_second() * (b.at - a.at);
                (
                    Some((b.server_cpu - a.server_cpu) * 1e6 / requests),
                    Some((b.bench_cpu - a.bench_cpu) * 1e6 / requests),
                    Some((b.server_cpu - a.server_cpu) / (b.at - a.at)),
                )
            }
            _ => (None, None, None),
        };
        Self {
            label: label.to_owned(),
            connections: common.connections,
            rps: o.requests_per_second(),
            p50: o.percentile_ms(50.0),
            p90: o.percentile_ms(90.0),
            p99: o.percentile_ms(99.0),
            max: o.max_ms(),
            requests: o.latencies.len(),
            non_2xx: o.non_2xx,
            errors: o.errors,
            rss_start,
            rss_end,
            rss_peak: peak.map(|m| mib(m.peak_kib)),
            server_cpu_us,
            bench_cpu_us,
            server_cores,
            rss_trace,
            pinned,
        }
    }

    fn rss_text(&self) -> String {
        match (self.rss_start, self.rss_end, self.rss_peak) {
            (Some(s), Some(e), Some(p)) => format!("{s:.1} → {e:.1} (peak {p:.1})"),
            (_, _, Some(p)) => format!("peak {p:.1}"),
            _ => "-".to_owned(),
        }
    }

    fn print(&self, common: &Common) -> Result<(), String> {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "== {} ({} connections{})",
            self.label,
            self.connections,
            if self.pinned { ", server and generator pinned to separate cores" } else { "" }
        );
        let _ = writeln!(
            text,
            "requests/s   {:>10.0}   ({} requests in {:.1} s)",
            self.rps, self.requests, common.duration
        );
        let _ = writeln!(
            text,
            "latency ms   p50 {:.2}   p90 {:.2}   p99 {:.2}   max {:.2}",
            self.p50, self.p90, self.p99, self.max
        );
        let _ = writeln!(text, "non-2xx      {:>10}   errors {}", self.non_2xx, self.errors);
        let _ = writeln!(text, "server RSS   {} MiB (measured window start → end)", self.rss_text());
        if !self.rss_trace.is_empty() {
            let points: Vec<String> = self.rss_trace.iter().map(|(t, mib)| format!("{t:.0}s {mib:.1}")).collect();
            let _ = writeln!(text, "RSS trace    {}", points.join(", "));
        }
        if let (Some(server), Some(bench), Some(cores)) = (self.server_cpu_us, self.bench_cpu_us, self.server_cores) {
            let _ = writeln!(
                text,
                "CPU/request  server {server:.1} µs (one core's worth: {:.0} requests/s), generator {bench:.1} µs",
                1e6 / server
            );
            let _ = writeln!(text, "server CPU   {cores:.2} cores used during the window");
        }
        print!("{text}");
        if common.json {
            let json = serde_json::json!({
                "scenario": self.label, "connections": self.connections, "requests_per_second": self.rps.round(),
                "p50_ms": self.p50, "p90_ms": self.p90, "p99_ms": self.p99, "max_ms": self.max,
                "requests": self.requests, "non_2xx": self.non_2xx, "errors": self.errors,
                "rss_start_mib": self.rss_start, "rss_end_mib": self.rss_end, "rss_peak_mib": self.rss_peak,
                "server_cpu_us_per_request": self.server_cpu_us, "generator_cpu_us_per_request": self.bench_cpu_us,
                "server_cores_used": self.server_cores,
            });
            println!("{json}");
        }
        if let Some(path) = &common.markdown_out {
            let row = format!(
                "| {} | {} | {:.0} | {:.2} / {:.2} / {:.2} / {:.2} | {} | {} | {} | {} |\n",
                self.label,
                self.connections,
                self.rps,
                self.p50,
                self.p90,
                self.p99,
                self.max,
                self.non_2xx,
                self.errors,
                self.rss_text(),
                self.server_cpu_us.map_or_else(|| "-".to_owned(), |us| format!("{us:.0}"))
            );
            append(path, &row)?;
        }
        Ok(())
    }
}

fn append(path: &std::path::Path, text: &str) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn run_dedup_memory(entries: usize, markdown_out: Option<&std::path::Path>) -> Result<(), String> {
    let report = dedup_memory::run(entries)?;
    println!("== in-memory dedup, {} claims ({} live)", report.entries, report.live);
    println!(
        "RSS {:.1} → {:.1} MiB: {:.0} bytes per live entry; {:.0} ns per claim",
        mib(report.rss_before_kib),
        mib(report.rss_after_kib),
        report.bytes_per_entry(),
        report.claim_ns
    );
    if let Some(path) = markdown_out {
        append(
            path,
            &format!(
                "| dedup memory, {} live claims | - | {:.0} claims/s | {:.2} µs per claim | - | - | +{:.1} MiB = {:.0} B/entry | - |\n",
                report.live,
                1e9 / report.claim_ns,
                report.claim_ns / 1000.0,
                mib(report.rss_after_kib.saturating_sub(report.rss_before_kib)),
                report.bytes_per_entry()
            ),
        )?;
    }
    if report.live != entries {
        return Err(format!("expected {entries} live entries, found {}", report.live));
    }
    Ok(())
}

fn run_verify(iterations: u32) {
    use ed25519_dalek::Signer;
    let key = SigningKey::from_bytes(&[7; 32]);
    let public = key.verifying_key();
    let shape = Shape::new(run_id(), 1, PayloadKind::Encrypted, "127.0.0.1");
    let message = push_server::domain::signed_message("1700000000", &shape.notification_body(1));
    let signature = key.sign(&message);
    let started = Instant::now();
    for _ in 0..iterations {
        assert!(public.verify_strict(std::hint::black_box(&message), &signature).is_ok());
    }
    let verify = started.elapsed() / iterations;
    let started = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(key.sign(std::hint::black_box(&message)));
    }
    let sign = started.elapsed() / iterations;
    println!(
        "ed25519 over {} bytes: verify_strict {:.1} µs ({:.0}/s per core), sign {:.1} µs",
        message.len(),
        verify.as_secs_f64() * 1e6,
        1.0 / verify.as_secs_f64(),
        sign.as_secs_f64() * 1e6
    );
}
