//! The `deliver` scenario: Relay-signed notifications through the server to a fake APNS or FCM in
//! this process, which answers after a realistic latency and allows a chosen number of streams
//! per connection. What it measures is the delivery path under provider latency: deliveries/s,
//! the latency the Relay sees, how many connections the server opened and how many streams it
//! kept in flight, the server's memory and its CPU per delivery.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    rsa::{KeyPair as RsaKeyPair, KeySize},
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use clap::Args;
use ed25519_dalek::SigningKey;

use crate::{
    Common,
    fake_provider::{FakeConfig, FakeProvider, Flavour},
    latency::{self, Latency},
    load::{self, Window},
    register_clients,
    requests::{self, PayloadKind, Shape, Source},
    run_id, runtime, secs, server, should_pin, target,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    Apns,
    Fcm,
}

#[derive(Args)]
pub struct DeliverArgs {
    #[command(flatten)]
    pub common: Common,
    /// Which provider the notifications go to.
    #[arg(long, value_enum, default_value = "apns")]
    pub provider: Provider,
    /// SETTINGS_MAX_CONCURRENT_STREAMS the fake advertises [default: 500 for APNS, 100 for FCM]
    #[arg(long)]
    pub streams: Option<u32>,
    /// APNS_MAX_CONNECTIONS / FCM_MAX_CONNECTIONS for the server [default: the server's, 8]
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// The fake's latency distribution.
    #[arg(long, value_enum, default_value = "log-normal")]
    pub latency: latency::Shape,
    /// Median of the fake's latency, ms.
    #[arg(long, default_value_t = 150.0)]
    pub median_ms: f64,
    /// 99th percentile of the fake's latency, ms (log-normal only).
    #[arg(long, default_value_t = 600.0)]
    pub p99_ms: f64,
    /// Share of answers saying the token is dead (410 / UNREGISTERED; the server deletes the client).
    #[arg(long, default_value_t = 0.001)]
    pub gone_share: f64,
    /// Share of answers rejecting the payload (400).
    #[arg(long, default_value_t = 0.001)]
    pub bad_share: f64,
    /// Clients registered before the run; notifications go to them round robin. Many, so the few
    /// that dead-token answers delete are rarely sent to again.
    #[arg(long, default_value_t = 20_000)]
    pub clients: u32,
    /// Requests per second to sign ahead for (times warm-up plus duration).
    #[arg(long, default_value_t = 15_000)]
    pub rate_hint: u64,
}

pub fn run(args: DeliverArgs) -> Result<(), String> {
    let DeliverArgs { mut common, provider, streams, max_connections, .. } = args;
    if common.warmup + common.duration > 240.0 {
        return Err("warm-up plus duration must stay within 240 s (the signatures' timestamp window)".into());
    }
    let (flavour, streams) = match provider {
        Provider::Apns => (Flavour::Apns, streams.unwrap_or(500)),
        Provider::Fcm => (Flavour::Fcm, streams.unwrap_or(100)),
    };
    let latency = Latency::new(args.latency, args.median_ms, args.p99_ms)?;
    let config =
        FakeConfig { flavour, max_streams: streams, latency, gone_share: args.gone_share, bad_share: args.bad_share };
    let rt = runtime()?;
    let fake = rt.block_on(FakeProvider::start(config))?;
    let oauth = match provider {
        Provider::Fcm => Some(rt.block_on(crate::fake_provider::start_oauth())?),
        Provider::Apns => None,
    };

    let dir = std::env::temp_dir().join(format!("push-bench-deliver-{}-{}", std::process::id(), run_id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let _cleanup = RemoveOnDrop(dir.clone());
    common.server_env.extend(provider_env(provider, &dir, &fake.url(), oauth, max_connections)?);

    let key = SigningKey::from_bytes(&std::array::from_fn(|_| fastrand::u8(..)));
    let pin = should_pin(&common);
    let target = target(&common, Some(hex::encode(key.verifying_key().to_bytes())), true, pin)?;
    let pid = target.pid.ok_or("the deliver scenario needs the server's pid (start it here, or give --server-pid)")?;
    let mut shape = Shape::new(run_id(), args.clients, PayloadKind::Encrypted, &target.addr.to_string());
    shape.push_type = match provider {
        Provider::Apns => "apns",
        Provider::Fcm => "fcm",
    };
    let shape = Arc::new(shape);
    let registered = rt.block_on(register_clients(target.addr, &shape))?;
    let count = (args.rate_hint as f64 * (common.warmup + common.duration)).ceil() as usize;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pool = Arc::new(requests::sign_pool(&shape, &key, count, threads));
    let source: Source = {
        let shape = shape.clone();
        Arc::new(move |i| {
            let signature = pool.signatures.get(i as usize)?;
            Some(shape.send_request(i, Some((&pool.timestamp, signature))))
        })
    };
    if pin {
        server::pin_self(&common.bench_cpus)?;
    }
    println!(
        "registered {registered} {} clients; fake allows {streams} streams per connection, latency {:?} median {} ms \
         p99 {} ms (mean {:.0} ms); {} Relay connections for {:.0}+{:.0} s",
        shape.push_type,
        args.latency,
        args.median_ms,
        args.p99_ms,
        latency.mean_secs() * 1e3,
        common.connections,
        common.warmup,
        common.duration
    );

    let started = Instant::now();
    let measure_from = started + secs(common.warmup);
    let window = Window { measure_from, end: measure_from + secs(common.duration) };
    let (outcome, at_start, at_end) = rt.block_on(async {
        let sampler = tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            let at_start = server::cpu_seconds(pid);
            tokio::time::sleep_until(window.end.into()).await;
            (at_start, server::cpu_seconds(pid))
        });
        let outcome = load::run(target.addr, common.connections, source, Arc::new(AtomicU64::new(0)), window).await;
        let (at_start, at_end) = sampler.await.unwrap_or((None, None));
        (outcome, at_start, at_end)
    });
    let memory = server::memory(pid);
    let mut target = target;
    let died = target.spawned.as_mut().and_then(crate::Spawned::exited);
    let errors_logged = target
        .spawned
        .as_ref()
        .map(|s| s.unexpected_log_lines().into_iter().filter(|l| l.contains("ERROR")).collect::<Vec<_>>())
        .unwrap_or_default();

    // Non-2xx answers are the fake's dead-token and rejected-payload shares (and sends to the
    // clients those deleted); deliveries are the rest.
    let answered = outcome.latencies.len() as f64;
    let failed_share = if outcome.sent > 0 { outcome.non_2xx as f64 / outcome.sent as f64 } else { 0.0 };
    let deliveries = answered * (1.0 - failed_share);
    let per_second = if outcome.seconds > 0.0 { deliveries / outcome.seconds } else { 0.0 };
    let cpu_us = match (at_start, at_end) {
        (Some(a), Some(b)) if deliveries > 0.0 => Some((b - a) * 1e6 / deliveries),
        _ => None,
    };
    let stats = &fake.stats;
    let report = Report {
        label: common.label.clone().unwrap_or_else(|| {
            format!(
                "deliver {}, {streams} streams, {} connections max",
                shape.push_type,
                max_connections.map_or_else(|| "8".to_owned(), |n| n.to_string())
            )
        }),
        relay_connections: common.connections,
        per_second,
        p50: outcome.percentile_ms(50.0),
        p90: outcome.percentile_ms(90.0),
        p99: outcome.percentile_ms(99.0),
        non_2xx: outcome.non_2xx,
        errors: outcome.errors,
        connections_opened: stats.connections.load(Ordering::Relaxed),
        in_flight_peak: stats.in_flight_peak.load(Ordering::Relaxed),
        per_connection_peak: stats.per_connection_peak.load(Ordering::Relaxed),
        rss_mib: memory.map(|m| m.rss_kib as f64 / 1024.0),
        rss_peak_mib: memory.map(|m| m.peak_kib as f64 / 1024.0),
        cpu_us,
        server_cores: match (at_start, at_end) {
            (Some(a), Some(b)) => Some((b - a) / common.duration.max(f64::MIN_POSITIVE)),
            _ => None,
        },
    };
    report.print(&common)?;

    let mut problems = Vec::new();
    if let Some(died) = died {
        problems.push(died);
    }
    if report.per_connection_peak > streams as usize {
        problems.push(format!(
            "a connection carried {} streams at once; the fake allows {streams}",
            report.per_connection_peak
        ));
    }
    let expected_failures = stats.gone.load(Ordering::Relaxed) + stats.bad.load(Ordering::Relaxed);
    if outcome.errors > 0 || outcome.non_2xx > 3 * expected_failures + 10 {
        problems.push(format!(
            "{} non-2xx answers (the fake sent {expected_failures} failures) and {} transport errors; first: {}",
            outcome.non_2xx,
            outcome.errors,
            outcome.first_failure.as_deref().unwrap_or("-")
        ));
    }
    if outcome.exhausted {
        problems.push("the pre-signed requests ran out before the end of the run; raise --rate-hint".to_owned());
    }
    if !errors_logged.is_empty() {
        problems.push(format!(
            "the server logged errors:\n{}",
            errors_logged.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
        ));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n")) }
}

/// The server's provider settings: key material written to `dir`, endpoints at the fakes.
fn provider_env(
    provider: Provider,
    dir: &Path,
    fake_url: &str,
    oauth: Option<std::net::SocketAddr>,
    max_connections: Option<usize>,
) -> Result<Vec<String>, String> {
    let write = |name: &str, bytes: &[u8]| -> Result<PathBuf, String> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    };
    let mut env = Vec::new();
    match provider {
        Provider::Apns => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| "cannot generate a P-256 key")?;
            let key = write("AuthKey_BENCHKEY01.p8", pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())?;
            env.extend([
                "APNS_TOPIC=com.example.bench".to_owned(),
                format!("APNS_KEY_PATH={}", key.display()),
                "APNS_KEY_ID=BENCHKEY01".to_owned(),
                "APNS_TEAM_ID=BENCHTEAM1".to_owned(),
                format!("APNS_ENDPOINT={fake_url}"),
                format!("APNS_SANDBOX_ENDPOINT={fake_url}"),
            ]);
            if let Some(n) = max_connections {
                env.push(format!("APNS_MAX_CONNECTIONS={n}"));
            }
        }
        Provider::Fcm => {
            let oauth = oauth.ok_or("FCM needs the fake token endpoint")?;
            let key = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| "cannot generate an RSA key")?;
            let der = key.as_der().map_err(|_| "cannot encode the RSA key")?;
            let account = serde_json::json!({
                "type": "service_account",
                "project_id": "bench-project",
                "private_key_id": "bench",
                "private_key": pem("PRIVATE KEY", der.as_ref()),
                "client_email": "push-server@bench-project.iam.gserviceaccount.com",
                "token_uri": format!("http://{oauth}/token"),
            });
            let path = write("service-account.json", account.to_string().as_bytes())?;
            env.extend([
                format!("FCM_CREDENTIALS_PATH={}", path.display()),
                format!("FCM_ENDPOINT={fake_url}"),
                "FCM_CLEARTEXT_HTTP2=true".to_owned(),
            ]);
            if let Some(n) = max_connections {
                env.push(format!("FCM_MAX_CONNECTIONS={n}"));
            }
        }
    }
    Ok(env)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Report {
    label: String,
    relay_connections: usize,
    per_second: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    non_2xx: u64,
    errors: u64,
    connections_opened: u64,
    in_flight_peak: usize,
    per_connection_peak: usize,
    rss_mib: Option<f64>,
    rss_peak_mib: Option<f64>,
    cpu_us: Option<f64>,
    server_cores: Option<f64>,
}

impl Report {
    fn print(&self, common: &Common) -> Result<(), String> {
        let opt = |v: Option<f64>, digits: usize| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"));
        println!("== {} ({} Relay connections)", self.label, self.relay_connections);
        println!("deliveries/s {:>10.0}", self.per_second);
        println!("latency ms   p50 {:.1}   p90 {:.1}   p99 {:.1} (as the Relay sees it)", self.p50, self.p90, self.p99);
        println!(
            "provider     {} connections opened, {} streams in flight at peak ({} on one connection)",
            self.connections_opened, self.in_flight_peak, self.per_connection_peak
        );
        println!("non-2xx      {:>10}   errors {}", self.non_2xx, self.errors);
        println!("server RSS   {} MiB (peak {})", opt(self.rss_mib, 1), opt(self.rss_peak_mib, 1));
        println!("server CPU   {} µs per delivery, {} cores used", opt(self.cpu_us, 1), opt(self.server_cores, 2));
        if common.json {
            println!(
                "{}",
                serde_json::json!({
                    "scenario": self.label, "relay_connections": self.relay_connections,
                    "deliveries_per_second": self.per_second.round(), "p50_ms": self.p50, "p90_ms": self.p90,
                    "p99_ms": self.p99, "non_2xx": self.non_2xx, "errors": self.errors,
                    "connections_opened": self.connections_opened, "in_flight_peak": self.in_flight_peak,
                    "per_connection_peak": self.per_connection_peak, "rss_mib": self.rss_mib,
                    "rss_peak_mib": self.rss_peak_mib, "server_cpu_us_per_delivery": self.cpu_us,
                    "server_cores_used": self.server_cores,
                })
            );
        }
        if let Some(path) = &common.markdown_out {
            let row = format!(
                "| {} | {} | {:.0} | {:.0} / {:.0} / {:.0} | {} | {} | {} | {} |\n",
                self.label,
                self.relay_connections,
                self.per_second,
                self.p50,
                self.p90,
                self.p99,
                self.connections_opened,
                self.in_flight_peak,
                opt(self.rss_peak_mib, 1),
                opt(self.cpu_us, 1),
            );
            crate::append(path, &row)?;
        }
        Ok(())
    }
}
