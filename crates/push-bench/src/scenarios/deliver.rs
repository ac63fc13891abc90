//! The `deliver` scenario: Relay-signed notifications through the server to a fake APNS or FCM in
//! this process, which answers after a realistic latency and allows a chosen number of streams
//! per connection. What it measures is the delivery path under provider latency: deliveries/s,
//! the latency the Relay sees, how many connections the server opened and how many streams it
//! kept in flight, the server's memory and its CPU per delivery.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use clap::Args;
use ed25519_dalek::SigningKey;
use push_testkit::fake::{
    Answer, FakeProvider, Options, Recorded,
    apns::{self, Reply},
    fcm::{self, Google},
};

use crate::{
    common::{Common, Target, register_clients, run_id, runtime, should_pin},
    latency::{self, Latency},
    measure,
    report::{DeliveryReport, EXHAUSTED, verdict},
    requests::{PayloadKind, Shape},
    scenarios::send::{check_window, signed_source},
    server,
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
    check_window(&common)?;
    let streams = streams.unwrap_or(match provider {
        Provider::Apns => 500,
        Provider::Fcm => 100,
    });
    let latency = Latency::new(args.latency, args.median_ms, args.p99_ms)?;
    let rt = runtime()?;
    // Counted only, not recorded: a run sends hundreds of thousands of notifications.
    let options = Options::default().max_streams(streams).record(false);
    let answered = Arc::new(Answered::default());
    let respond = answers(provider, latency, args.gone_share, args.bad_share, answered.clone());
    let dir = std::env::temp_dir().join(format!("push-bench-deliver-{}-{}", std::process::id(), run_id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let _cleanup = RemoveOnDrop(dir.clone());
    let (apns_fake, google);
    let fake: &FakeProvider = match provider {
        Provider::Apns => {
            apns_fake = rt.block_on(FakeProvider::start_with(options));
            apns_fake.respond_with(respond);
            common.server_env.extend(apns_env(&dir, &apns_fake.url(), max_connections)?);
            &apns_fake
        }
        Provider::Fcm => {
            google = rt.block_on(Google::start_with(options));
            google.fcm.respond_with(respond);
            common.server_env.extend(fcm_env(&google, max_connections));
            &google.fcm
        }
    };

    let key = SigningKey::from_bytes(&std::array::from_fn(|_| fastrand::u8(..)));
    let pin = should_pin(&common);
    let mut target = Target::new(&common, Some(hex::encode(key.verifying_key().to_bytes())), true, pin)?;
    let pid = target.pid.ok_or("the deliver scenario needs the server's pid (start it here, or give --server-pid)")?;
    let mut shape = Shape::new(run_id(), args.clients, PayloadKind::Encrypted, &target.addr.to_string());
    shape.push_type = match provider {
        Provider::Apns => "apns",
        Provider::Fcm => "fcm",
    };
    let shape = Arc::new(shape);
    let registered = rt.block_on(register_clients(target.addr, &shape))?;
    let source = signed_source(&shape, &key, &common, args.rate_hint);
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

    let measured = measure::deliveries(&rt, &common, &mut target, pid, source);
    let outcome = &measured.outcome;
    // Non-2xx answers are the fake's dead-token and rejected-payload shares (and sends to the
    // clients those deleted); deliveries are the rest.
    let answered_count = outcome.latencies.len() as f64;
    let failed_share = if outcome.sent > 0 { outcome.non_2xx as f64 / outcome.sent as f64 } else { 0.0 };
    let deliveries = answered_count * (1.0 - failed_share);
    let per_second = if outcome.seconds > 0.0 { deliveries / outcome.seconds } else { 0.0 };
    let cpu_us = match (measured.cpu_at_start, measured.cpu_at_end) {
        (Some(a), Some(b)) if deliveries > 0.0 => Some((b - a) * 1e6 / deliveries),
        _ => None,
    };
    let connections = fake.connections();
    let report = DeliveryReport {
        label: common.labelled(common.label.clone().unwrap_or_else(|| {
            format!(
                "deliver {}, {streams} streams, {} connections max",
                shape.push_type,
                max_connections.map_or_else(|| "8".to_owned(), |n| n.to_string())
            )
        })),
        relay_connections: common.connections,
        per_second,
        p50: outcome.percentile_ms(50.0),
        p90: outcome.percentile_ms(90.0),
        p99: outcome.percentile_ms(99.0),
        non_2xx: outcome.non_2xx,
        errors: outcome.errors,
        connections_opened: connections.len() as u64,
        in_flight_peak: fake.peak_in_flight(),
        per_connection_peak: connections.iter().map(|c| c.peak).max().unwrap_or(0),
        rss_mib: measured.memory.map(|m| m.rss_kib as f64 / 1024.0),
        rss_peak_mib: measured.memory.map(|m| m.peak_kib as f64 / 1024.0),
        cpu_us,
        server_cores: match (measured.cpu_at_start, measured.cpu_at_end) {
            (Some(a), Some(b)) => Some((b - a) / common.duration.max(f64::MIN_POSITIVE)),
            _ => None,
        },
    };
    report.print(&common)?;

    let mut problems = Vec::new();
    if let Some(died) = measured.died {
        problems.push(died);
    }
    if report.per_connection_peak > streams as usize {
        problems.push(format!(
            "a connection carried {} streams at once; the fake allows {streams}",
            report.per_connection_peak
        ));
    }
    let expected_failures = answered.gone.load(Ordering::Relaxed) + answered.bad.load(Ordering::Relaxed);
    if outcome.errors > 0 || outcome.non_2xx > 3 * expected_failures + 10 {
        problems.push(format!(
            "{} non-2xx answers (the fake sent {expected_failures} failures) and {} transport errors; first: {}",
            outcome.non_2xx,
            outcome.errors,
            outcome.first_failure.as_deref().unwrap_or("-")
        ));
    }
    if outcome.exhausted {
        problems.push(EXHAUSTED.to_owned());
    }
    let errors_logged: Vec<_> = measured.log_problems.iter().filter(|l| l.contains("ERROR")).take(5).cloned().collect();
    if !errors_logged.is_empty() {
        problems.push(format!("the server logged errors:\n{}", errors_logged.join("\n")));
    }
    verdict(problems)
}

/// How many failures the fake answered.
#[derive(Default)]
struct Answered {
    gone: AtomicU64,
    bad: AtomicU64,
}

/// The fake's answers: after a latency drawn from `latency`, a dead-token answer for a
/// `gone_share` of requests, a rejected payload for a `bad_share`, success for the rest, each as
/// `provider` words it.
fn answers(
    provider: Provider,
    latency: Latency,
    gone_share: f64,
    bad_share: f64,
    answered: Arc<Answered>,
) -> impl Fn(&Recorded) -> Answer + Send + Sync + 'static {
    move |_| {
        let draw = fastrand::f64();
        let answer = if draw < gone_share {
            answered.gone.fetch_add(1, Ordering::Relaxed);
            match provider {
                Provider::Apns => apns::unregistered(),
                Provider::Fcm => fcm::fcm_error(404, "NOT_FOUND", Some("UNREGISTERED")),
            }
        } else if draw < gone_share + bad_share {
            answered.bad.fetch_add(1, Ordering::Relaxed);
            match provider {
                Provider::Apns => Reply::error(400, "PayloadEmpty").into(),
                Provider::Fcm => fcm::fcm_error(400, "INVALID_ARGUMENT", Some("INVALID_ARGUMENT")),
            }
        } else {
            match provider {
                Provider::Apns => Reply::Ok.into(),
                Provider::Fcm => fcm::fcm_ok(),
            }
        };
        answer.after(latency.sample())
    }
}

/// The server's APNS settings: a fresh provider key written to `dir`, both endpoints at the fake.
fn apns_env(dir: &Path, fake_url: &str, max_connections: Option<usize>) -> Result<Vec<String>, String> {
    let key = dir.join("AuthKey_BENCHKEY01.p8");
    std::fs::write(&key, apns::provider_key()).map_err(|e| format!("cannot write {}: {e}", key.display()))?;
    let mut env = vec![
        "APNS_TOPIC=com.example.bench".to_owned(),
        format!("APNS_KEY_PATH={}", key.display()),
        "APNS_KEY_ID=BENCHKEY01".to_owned(),
        "APNS_TEAM_ID=BENCHTEAM1".to_owned(),
        format!("APNS_ENDPOINT={fake_url}"),
        format!("APNS_SANDBOX_ENDPOINT={fake_url}"),
    ];
    if let Some(n) = max_connections {
        env.push(format!("APNS_MAX_CONNECTIONS={n}"));
    }
    Ok(env)
}

/// The server's FCM settings: the fakes' service account, FCM over HTTP/2 to the fake.
fn fcm_env(google: &Google, max_connections: Option<usize>) -> Vec<String> {
    let mut env = vec![
        format!("FCM_CREDENTIALS_PATH={}", google.credentials.display()),
        format!("FCM_ENDPOINT={}", google.fcm.url()),
        "FCM_CLEARTEXT_HTTP2=true".to_owned(),
    ];
    if let Some(n) = max_connections {
        env.push(format!("FCM_MAX_CONNECTIONS={n}"));
    }
    env
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
