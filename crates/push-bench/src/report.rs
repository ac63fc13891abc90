//! Reporting: what a run's figures are (throughput, latency percentiles, the server's memory and
//! CPU per request), printed for a person, as JSON and as a markdown table row; and the verdict,
//! a run that failed requests or saw the server misbehave being an error.

use std::{fmt::Write as _, io::Write as _, path::Path};

use crate::{
    common::Common,
    load::Outcome,
    measure::{Measured, MemoryTrace, Sample, SideKind},
    scenarios::dedup_memory::DedupMemory,
    server::Memory,
};

/// Prints the report of a load run (with the side load's figures beside it) and says whether the
/// run counts: no failed request, no exhausted pre-signed pool, the server alive and quiet.
pub fn conclude(label: &str, common: &Common, measured: &Measured, pinned: bool) -> Result<(), String> {
    let Measured { outcome, side, trace, memory, died, log_problems } = measured;
    let label = common.labelled(label.to_owned());
    let mut report = Report::new(&label, common, outcome, trace, *memory, pinned);
    if let Some((kind, side)) = side {
        report.label = format!(
            "{} ({:.0} {}/s done, p99 {:.2} ms)",
            report.label,
            side.requests_per_second(),
            kind.name(),
            side.percentile_ms(99.0)
        );
    }
    report.print(common)?;
    if let Some((kind, side)) = side {
        println!(
            "{} {:.0}/s   latency ms p50 {:.2}   p99 {:.2}   max {:.2}   non-2xx {}   errors {}",
            kind.name(),
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
        problems.push(died.clone());
    }
    if let Some((kind, side)) = side {
        // Registrations must all succeed; bad signatures must all be refused.
        let wrong = match kind {
            SideKind::Registrations => side.non_2xx,
            SideKind::BadSignatures => side.sent - side.non_2xx - side.errors,
        };
        if wrong > 0 || side.errors > 0 {
            problems.push(format!(
                "{}: {wrong} wrong answers and {} transport errors; first failure: {}",
                kind.name(),
                side.errors,
                side.first_failure.as_deref().unwrap_or("-")
            ));
        }
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
        problems.push(EXHAUSTED.to_owned());
    }
    if outcome.latencies.is_empty() {
        problems.push("no request completed in the measured window".to_owned());
    }
    if !log_problems.is_empty() {
        let shown: Vec<_> = log_problems.iter().take(5).cloned().collect();
        problems.push(format!("the server logged {} warnings or errors:\n{}", log_problems.len(), shown.join("\n")));
    }
    verdict(problems)
}

/// The problem of a run that used up its pre-signed requests.
pub const EXHAUSTED: &str = "the pre-signed requests ran out before the end of the run; raise --rate-hint";

/// `Ok` when nothing went wrong, else every problem on its own line.
pub fn verdict(problems: Vec<String>) -> Result<(), String> {
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

pub fn append(path: &Path, text: &str) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Prints the in-memory dedup measurement (and appends its table row).
pub fn dedup_memory(report: &DedupMemory, markdown_out: Option<&Path>) -> Result<(), String> {
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
    Ok(())
}

/// The `deliver` scenario's figures: deliveries rather than requests, and what the fake provider
/// saw of the server's connection pool.
pub struct DeliveryReport {
    pub label: String,
    pub relay_connections: usize,
    pub per_second: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub non_2xx: u64,
    pub errors: u64,
    pub connections_opened: u64,
    pub in_flight_peak: usize,
    pub per_connection_peak: usize,
    pub rss_mib: Option<f64>,
    pub rss_peak_mib: Option<f64>,
    pub cpu_us: Option<f64>,
    pub server_cores: Option<f64>,
}

impl DeliveryReport {
    pub fn print(&self, common: &Common) -> Result<(), String> {
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
            append(path, &row)?;
        }
        Ok(())
    }
}
