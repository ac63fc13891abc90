//! Measuring one run: the closed-loop load (and, for `mixed`, an open-loop side load) against the
//! target through the warm-up and the measured window, while the server's memory and CPU time and
//! the generator's CPU time are sampled every 100 ms; then what became of the server.

use std::{
    sync::{Arc, Mutex, atomic::AtomicU64},
    time::{Duration, Instant},
};

use crate::{
    common::{Common, Target, secs},
    load::{self, Outcome, Window},
    paced,
    requests::Source,
    server::{self, Memory, Spawned},
};

/// Requests at a steady rate beside the closed-loop load (see `paced`).
pub struct SideLoad {
    pub kind: SideKind,
    pub rate: f64,
    pub connections: usize,
    pub source: Source,
}

/// What the side load sends, which says what its answers must be.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SideKind {
    /// `mixed`'s registrations: every one must succeed.
    Registrations,
    /// `send --bad-signature-rate`: notifications with a wrong signature; every one must be refused.
    BadSignatures,
}

impl SideKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Registrations => "registrations",
            Self::BadSignatures => "bad signatures",
        }
    }
}

impl SideLoad {
    /// The rate and connections of a side load, checked before anything starts; the requests
    /// themselves need the run's shape. `flag` names the rate's option in the error.
    pub fn new(kind: SideKind, rate: f64, connections: usize, flag: &str) -> Result<Self, String> {
        if rate.is_nan() || rate <= 0.0 {
            return Err(format!("{flag} must be above 0"));
        }
        Ok(Self { kind, rate, connections, source: Arc::new(|_| None) })
    }
}

/// Samples of the server's memory and CPU time (and the generator's CPU time) during a run.
#[derive(Default)]
pub struct MemoryTrace {
    pub samples: Vec<Sample>,
}

#[derive(Clone, Copy)]
pub struct Sample {
    /// Seconds since the run started.
    pub at: f64,
    pub rss_kib: u64,
    pub server_cpu: f64,
    pub bench_cpu: f64,
}

/// Everything one run measured.
pub struct Measured {
    pub outcome: Outcome,
    pub side: Option<(SideKind, Outcome)>,
    pub trace: MemoryTrace,
    /// The server's memory at the end (its peak is `peak_kib`).
    pub memory: Option<Memory>,
    /// Why the server exited during the run, if it did.
    pub died: Option<String>,
    /// Warnings and errors the server logged.
    pub log_problems: Vec<String>,
}

/// Drives `source` (and `side`) against `target` for `common`'s warm-up and duration.
pub fn run(
    rt: &tokio::runtime::Runtime,
    common: &Common,
    target: &mut Target,
    source: Source,
    side: Option<SideLoad>,
) -> Measured {
    let started = Instant::now();
    let measure_from = started + secs(common.warmup);
    let window = Window { measure_from, end: measure_from + secs(common.duration) };
    let trace = Arc::new(Mutex::new(MemoryTrace::default()));
    let (outcome, side) = rt.block_on(async {
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
        let side = side.map(|side| {
            (side.kind, tokio::spawn(paced::run(target.addr, side.rate, side.connections, side.source, window)))
        });
        let outcome = load::run(target.addr, common.connections, source, Arc::new(AtomicU64::new(0)), window).await;
        let side = match side {
            Some((kind, task)) => Some((kind, task.await.expect("the side load does not panic"))),
            None => None,
        };
        if let Some(sampler) = sampler {
            sampler.abort();
        }
        (outcome, side)
    });
    let trace = std::mem::take(&mut *trace.lock().expect("trace lock"));
    Measured {
        outcome,
        side,
        trace,
        memory: target.pid.and_then(server::memory),
        died: target.spawned.as_mut().and_then(Spawned::exited),
        log_problems: target.spawned.as_ref().map(Spawned::unexpected_log_lines).unwrap_or_default(),
    }
}

/// What a `deliver` run measured: the Relay's side, and the server's CPU time when the window
/// opened and when it closed (so CPU per delivery covers exactly the measured deliveries).
pub struct Deliveries {
    pub outcome: Outcome,
    pub cpu_at_start: Option<f64>,
    pub cpu_at_end: Option<f64>,
    pub memory: Option<Memory>,
    pub died: Option<String>,
    pub log_problems: Vec<String>,
}

/// Drives `source` against `target` (the server with process id `pid`) for `common`'s warm-up
/// and duration.
pub fn deliveries(
    rt: &tokio::runtime::Runtime,
    common: &Common,
    target: &mut Target,
    pid: u32,
    source: Source,
) -> Deliveries {
    let started = Instant::now();
    let measure_from = started + secs(common.warmup);
    let window = Window { measure_from, end: measure_from + secs(common.duration) };
    let (outcome, cpu_at_start, cpu_at_end) = rt.block_on(async {
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
    Deliveries {
        outcome,
        cpu_at_start,
        cpu_at_end,
        memory: server::memory(pid),
        died: target.spawned.as_mut().and_then(Spawned::exited),
        log_problems: target.spawned.as_ref().map(Spawned::unexpected_log_lines).unwrap_or_default(),
    }
}
