//! Trace export when the binary is built without the `otel` feature: nothing is exported, and an
//! `OTEL_*` endpoint setting is refused rather than silently ignored.

use poem::http::HeaderMap;
use tracing::Span;
use tracing_subscriber::layer::Identity;

const ENDPOINT_VARS: [&str; 2] = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"];

/// No trace export in this build.
pub struct Traces;

impl Traces {
    pub fn describe(&self) -> String {
        "not compiled in (build with the `otel` feature to export traces over OTLP)".to_owned()
    }

    pub fn shutdown(self) {}
}

/// Without the feature an endpoint names a backend this binary lacks: a start-up error, like
/// `REDIS_URL` without `redis`.
pub fn check() -> Result<String, String> {
    for var in ENDPOINT_VARS {
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            return Err(format!("{var} is set, but this binary was built without the `otel` feature"));
        }
    }
    Ok(Traces.describe())
}

pub fn layer(_export: bool) -> Result<(Option<Identity>, Traces), String> {
    check()?;
    Ok((None, Traces))
}

/// Nothing to continue without trace export.
#[inline]
pub fn continue_trace(_span: &Span, _headers: &HeaderMap) {}
