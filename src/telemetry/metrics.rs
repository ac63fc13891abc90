//! Prometheus metrics: what operators chart and alert on. One registry per server, so tests that
//! run several servers in one process do not mix their counts.
//!
//! Every label value is a `&'static str` from a fixed set (routes, push types, providers,
//! outcomes, operations), or is mapped onto one here (HTTP methods, status codes): a label that
//! took what a caller sent would let anyone grow the registry, and `/metrics`, without bound.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets from 0.5 ms to 10 s: the send path is sub-millisecond locally, providers take
/// tens to hundreds of milliseconds, and retries can take seconds.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    notifications: IntCounterVec,
    dedup_hits: IntCounter,
    provider_duration: HistogramVec,
    provider_retries: IntCounterVec,
    store_errors: IntCounterVec,
    dedup_errors: IntCounterVec,
    dedup_waits: IntCounterVec,
    suspensions: IntCounterVec,
    suspended: IntGaugeVec,
}

impl Metrics {
    /// A fresh registry; `features` (the cargo features compiled in) labels `push_build_info`.
    pub fn new(features: &str) -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("push_http_requests_total", "HTTP requests by route, method and status."),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new("push_http_request_duration_seconds", "HTTP request latency by route and status.")
                .buckets(BUCKETS.to_vec()),
            &["route", "status"],
        )
        .expect("valid metric");
        // Every label below takes values from a fixed set (push types, provider names, outcome
        // and operation names), so the number of series is bounded whatever callers send; the
        // project label only names projects that exist (`default` for the default project).
        let notifications = IntCounterVec::new(
            Opts::new("push_notifications_total", "Notifications by project, push type, provider and outcome."),
            &["project", "push_type", "provider", "outcome"],
        )
        .expect("valid metric");
        let dedup_hits =
            IntCounter::new("push_dedup_hits_total", "Notifications answered as duplicates.").expect("valid metric");
        let provider_duration = HistogramVec::new(
            HistogramOpts::new(
                "push_provider_duration_seconds",
                "Time a provider took to accept or refuse a delivery, retries included.",
            )
            .buckets(BUCKETS.to_vec()),
            &["provider", "outcome"],
        )
        .expect("valid metric");
        let provider_retries = IntCounterVec::new(
            Opts::new("push_provider_retries_total", "Provider calls retried after a transient failure."),
            &["provider"],
        )
        .expect("valid metric");
        let store_errors = IntCounterVec::new(
            Opts::new("push_store_errors_total", "Client-store calls that failed (unavailable, timed out)."),
            &["operation"],
        )
        .expect("valid metric");
        let dedup_errors = IntCounterVec::new(
            Opts::new("push_dedup_errors_total", "Dedup-store calls that failed (unavailable, timed out)."),
            &["operation"],
        )
        .expect("valid metric");
        let dedup_waits = IntCounterVec::new(
            Opts::new(
                "push_dedup_waits_total",
                "Duplicates that waited for an in-flight delivery of their id, by how the wait ended.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let suspensions = IntCounterVec::new(
            Opts::new(
                "push_project_suspensions_total",
                "Times a project's provider was suspended because it refused the project's credentials.",
            ),
            &["project", "provider"],
        )
        .expect("valid metric");
        let suspended = IntGaugeVec::new(
            Opts::new("push_project_suspended", "1 while a project's provider is suspended (credentials refused)."),
            &["project", "provider"],
        )
        .expect("valid metric");
        let build_info =
            IntGaugeVec::new(Opts::new("push_build_info", "Build information: always 1."), &["version", "features"])
                .expect("valid metric");
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION"), features]).set(1);

        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(notifications.clone()),
            Box::new(dedup_hits.clone()),
            Box::new(provider_duration.clone()),
            Box::new(provider_retries.clone()),
            Box::new(store_errors.clone()),
            Box::new(dedup_errors.clone()),
            Box::new(dedup_waits.clone()),
            Box::new(suspensions.clone()),
            Box::new(suspended.clone()),
            Box::new(build_info),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            notifications,
            dedup_hits,
            provider_duration,
            provider_retries,
            store_errors,
            dedup_errors,
            dedup_waits,
            suspensions,
            suspended,
        }
    }

    /// Counts one HTTP request. `method` is whatever the caller sent; it is labelled by
    /// [`method_label`], so made-up methods all count as `other`.
    pub fn observe_http(&self, route: &'static str, method: &str, status: u16, elapsed: Duration) {
        let mut buf = itoa_buf();
        let status = format_status(status, &mut buf);
        self.http_requests.with_label_values(&[route, method_label(method), status]).inc();
        self.http_duration.with_label_values(&[route, status]).observe(elapsed.as_secs_f64());
    }

    /// Counts one send by how it ended (`outcome` from the send use case's labels).
    /// `project` is `default` or the id of a project that exists, so its values are bounded by
    /// the number of projects.
    pub fn record_send(&self, project: &str, push_type: &'static str, provider: &'static str, outcome: &'static str) {
        if outcome == "duplicate" {
            self.dedup_hits.inc();
        }
        self.notifications.with_label_values(&[project, push_type, provider, outcome]).inc();
    }

    /// A project's provider was suspended (`true`) or its suspension lifted.
    pub fn record_suspension(&self, project: &str, provider: &str, suspended: bool) {
        if suspended {
            self.suspensions.with_label_values(&[project, provider]).inc();
        }
        self.suspended.with_label_values(&[project, provider]).set(i64::from(suspended));
    }

    pub fn observe_provider(&self, provider: &'static str, outcome: &'static str, elapsed: Duration, retries: u32) {
        self.provider_duration.with_label_values(&[provider, outcome]).observe(elapsed.as_secs_f64());
        if retries > 0 {
            self.provider_retries.with_label_values(&[provider]).inc_by(u64::from(retries));
        }
    }

    /// A client-store call failed; `operation` is the port method (`find`, `upsert`, ...).
    pub fn store_error(&self, operation: &'static str) {
        self.store_errors.with_label_values(&[operation]).inc();
    }

    /// A dedup-store call failed; `operation` is the port method (`try_claim`, `complete`,
    /// `release`, `wait`).
    pub fn dedup_error(&self, operation: &'static str) {
        self.dedup_errors.with_label_values(&[operation]).inc();
    }

    /// A duplicate's wait for an in-flight claim ended: `done`, `released`, `lease_ended`, or
    /// `in_flight` (its patience ran out first).
    pub fn record_dedup_wait(&self, outcome: &'static str) {
        self.dedup_waits.with_label_values(&[outcome]).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding cannot fail");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

/// The `method` label: the standard methods by name, anything else (HTTP allows any token as a
/// method, and hyper passes it on) as `other`.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

fn itoa_buf() -> [u8; 3] {
    [0; 3]
}

/// Formats a three-digit status code without allocating (this runs on every request). The
/// server picks every status itself, and the clamp keeps even a bug to at most 900 values.
fn format_status(status: u16, buf: &mut [u8; 3]) -> &str {
    let s = status.clamp(100, 999);
    buf[0] = b'0' + (s / 100) as u8;
    buf[1] = b'0' + (s / 10 % 10) as u8;
    buf[2] = b'0' + (s % 10) as u8;
    std::str::from_utf8(buf).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_with_labels() {
        let m = Metrics::new("");
        m.observe_http("send_notification", "POST", 200, Duration::from_millis(1));
        m.record_send("default", "apns", "apns", "duplicate");
        m.record_suspension("w1", "apns", true);
        m.observe_provider("fcm", "unavailable", Duration::from_millis(5), 2);
        m.store_error("find");
        m.dedup_error("try_claim");
        m.record_dedup_wait("lease_ended");
        let text = m.render();
        assert!(
            text.contains(r#"push_http_requests_total{method="POST",route="send_notification",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains("push_dedup_hits_total 1"));
        assert!(text.contains(
            r#"push_notifications_total{outcome="duplicate",project="default",provider="apns",push_type="apns"} 1"#
        ));
        assert!(text.contains(r#"push_project_suspensions_total{project="w1",provider="apns"} 1"#));
        assert!(text.contains(r#"push_project_suspended{project="w1",provider="apns"} 1"#));
        assert!(text.contains(r#"push_provider_duration_seconds_count{outcome="unavailable",provider="fcm"} 1"#));
        assert!(text.contains(r#"push_provider_retries_total{provider="fcm"} 2"#));
        assert!(text.contains(r#"push_store_errors_total{operation="find"} 1"#));
        assert!(text.contains(r#"push_dedup_errors_total{operation="try_claim"} 1"#));
        assert!(text.contains(r#"push_dedup_waits_total{outcome="lease_ended"} 1"#));
        assert!(text.contains(r#"push_build_info{features=""#), "{text}");
    }

    #[test]
    fn made_up_methods_share_one_series() {
        let m = Metrics::new("");
        for i in 0..50 {
            m.observe_http("unmatched", &format!("BREW{i}"), 405, Duration::from_millis(1));
        }
        m.observe_http("unmatched", "get", 405, Duration::from_millis(1));
        let text = m.render();
        assert!(
            text.contains(r#"push_http_requests_total{method="other",route="unmatched",status="405"} 51"#),
            "{text}"
        );
        assert!(!text.contains("BREW"), "{text}");
    }
}
