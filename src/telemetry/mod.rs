//! Logs and traces: the tracing subscriber (readable text or JSON lines, filtered by `RUST_LOG`)
//! and, with the `otel` feature, span export over OTLP and W3C trace-context propagation.
//!
//! Everything that depends on the `otel` feature sits behind one module declaration below: the
//! rest of the code calls [`continue_trace`] and [`init`] the same way in every build.

pub mod instrumented;
mod metrics;
#[cfg(feature = "otel")]
mod otlp;
#[cfg(not(feature = "otel"))]
#[path = "otlp_off.rs"]
mod otlp;
mod text_fields;

use std::io::{IsTerminal, Write};

use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

pub use metrics::Metrics;
pub use otlp::{Traces, continue_trace};
use text_fields::TextFields;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One readable line per event, with the fields of the spans it happened in.
    Text,
    /// One JSON object per line; `span` and `spans` carry the span fields (the request id among
    /// them), so a log pipeline can group a request's lines.
    Json,
}

/// Where log lines go: the server logs to stdout (the container convention); the one-shot
/// commands keep stdout for their output and log to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    Stderr,
}

/// The installed telemetry. Call [`Telemetry::shutdown`] before exiting so buffered spans are
/// flushed (bounded: an unreachable collector cannot hold the exit up for long).
pub struct Telemetry {
    traces: Traces,
}

/// Installs the global subscriber. `default_filter` applies when `RUST_LOG` is unset or invalid.
/// With `export_traces` (the server), trace export starts when the environment asks for it (see
/// [`Traces`]); the one-shot commands pass `false`, as their few spans are not worth an exporter,
/// but the trace settings are checked all the same. A setting that cannot work is an error, in
/// one line.
pub fn init(
    format: LogFormat,
    target: LogTarget,
    default_filter: &str,
    export_traces: bool,
) -> Result<Telemetry, String> {
    let (otel_layer, traces) = otlp::layer(export_traces)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let writer = move || -> Box<dyn Write> {
        match target {
            LogTarget::Stdout => Box::new(std::io::stdout()),
            LogTarget::Stderr => Box::new(std::io::stderr()),
        }
    };
    // Colours only for a person at a terminal; piped logs (containers, files) stay plain text.
    let ansi = match target {
        LogTarget::Stdout => std::io::stdout().is_terminal(),
        LogTarget::Stderr => std::io::stderr().is_terminal(),
    };
    let text = (format == LogFormat::Text)
        .then(|| tracing_subscriber::fmt::layer().fmt_fields(TextFields).with_ansi(ansi).with_writer(writer));
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(true).with_writer(writer)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .with(otel_layer)
        .try_init()
        .map_err(|e| format!("cannot install the log subscriber: {e}"))?;
    Ok(Telemetry { traces })
}

impl Telemetry {
    /// One line for the start-up log: where traces go.
    pub fn describe(&self) -> String {
        self.traces.describe()
    }

    /// Flushes and stops trace export.
    pub fn shutdown(self) {
        self.traces.shutdown();
    }
}

/// Checks the trace settings without installing anything: the `check-config` command.
pub fn check_traces() -> Result<String, String> {
    otlp::check()
}
