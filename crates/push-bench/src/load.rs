//! The closed-loop load driver: one keep-alive HTTP/1.1 connection per concurrency slot, each
//! sending its next request as soon as the previous answer is read, with every latency recorded.
//!
//! `hyper::client::conn::http1` is used directly (no pool, no per-request connection lookup), so
//! the client side costs as little as possible of the generator's core.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::requests::Source;

/// When the run starts counting and when it stops sending.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Requests started before this are warm-up: checked, but not part of the figures.
    pub measure_from: Instant,
    pub end: Instant,
}

#[derive(Debug, Default)]
pub struct Outcome {
    /// Latency in nanoseconds of every request measured in the window, sorted.
    pub latencies: Vec<u64>,
    /// Seconds over which `latencies` were collected.
    pub seconds: f64,
    /// Non-2xx answers and transport errors over the whole run, warm-up included.
    pub non_2xx: u64,
    pub errors: u64,
    pub sent: u64,
    /// The request source ran dry before the end of the window.
    pub exhausted: bool,
    /// The first non-2xx answer, for diagnosis.
    pub first_failure: Option<String>,
}

impl Outcome {
    pub fn requests_per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.latencies.len() as f64 / self.seconds } else { 0.0 }
    }

    /// Nearest-rank percentile in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil().max(1.0) as usize;
        self.latencies[rank.min(self.latencies.len()) - 1] as f64 / 1e6
    }

    pub fn max_ms(&self) -> f64 {
        self.latencies.last().map_or(0.0, |&n| n as f64 / 1e6)
    }
}

#[derive(Default)]
struct ConnectionStats {
    latencies: Vec<u64>,
    non_2xx: u64,
    errors: u64,
    sent: u64,
    first_failure: Option<String>,
}

/// Runs `connections` connections against `addr` until `window.end` or until `source` runs dry,
/// taking request numbers from `next` (shared, so every request is sent once).
pub async fn run(
    addr: SocketAddr,
    connections: usize,
    source: Source,
    next: Arc<AtomicU64>,
    window: Window,
) -> Outcome {
    let exhausted = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(connection(addr, source.clone(), next.clone(), window, exhausted.clone())))
        .collect();
    let mut outcome = Outcome::default();
    for task in tasks {
        let stats = task.await.expect("a connection task does not panic");
        outcome.latencies.extend(stats.latencies);
        outcome.non_2xx += stats.non_2xx;
        outcome.errors += stats.errors;
        outcome.sent += stats.sent;
        if outcome.first_failure.is_none() {
            outcome.first_failure = stats.first_failure;
        }
    }
    let stopped = Instant::now().min(window.end);
    outcome.seconds = stopped.saturating_duration_since(window.measure_from).as_secs_f64();
    outcome.exhausted = exhausted.load(Ordering::Relaxed);
    outcome.latencies.sort_unstable();
    outcome
}

async fn connection(
    addr: SocketAddr,
    source: Source,
    next: Arc<AtomicU64>,
    window: Window,
    exhausted: Arc<AtomicBool>,
) -> ConnectionStats {
    let mut stats = ConnectionStats::default();
    'connect: while Instant::now() < window.end {
        let mut sender = match handshake(addr).await {
            Ok(sender) => sender,
            Err(e) => {
                stats.errors += 1;
                note(&mut stats.first_failure, || format!("connect: {e}"));
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        loop {
            if Instant::now() >= window.end {
                break 'connect;
            }
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(request) = source(i) else {
                exhausted.store(true, Ordering::Relaxed);
                break 'connect;
            };
            if sender.ready().await.is_err() {
                stats.errors += 1;
                continue 'connect;
            }
            let started = Instant::now();
            stats.sent += 1;
            let response = match sender.send_request(request).await {
                Ok(response) => response,
                Err(e) => {
                    stats.errors += 1;
                    note(&mut stats.first_failure, || format!("request: {e}"));
                    continue 'connect;
                }
            };
            let status = response.status();
            let body = match response.into_body().collect().await {
                Ok(body) => body.to_bytes(),
                Err(e) => {
                    stats.errors += 1;
                    note(&mut stats.first_failure, || format!("response body: {e}"));
                    continue 'connect;
                }
            };
            let done = Instant::now();
            if !status.is_success() {
                stats.non_2xx += 1;
                note(&mut stats.first_failure, || format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
            }
            if started >= window.measure_from && done <= window.end {
                stats.latencies.push((done - started).as_nanos() as u64);
            }
        }
    }
    stats
}

fn note(slot: &mut Option<String>, what: impl FnOnce() -> String) {
    if slot.is_none() {
        *slot = Some(what());
    }
}

pub type Sender = hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>;

pub async fn handshake(addr: SocketAddr) -> Result<Sender, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
