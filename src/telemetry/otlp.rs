//! Trace export over OTLP (HTTP/protobuf), configured by the standard `OTEL_*` variables, and
//! W3C `traceparent` propagation from incoming requests.
//!
//! Export is on only when an endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), so a build with the feature costs nothing when no
//! collector is set up. Spans are handed to the SDK's batch processor, which exports from its own
//! thread with a bounded queue: a slow or unreachable collector drops spans, never requests.

use std::time::Duration;

use opentelemetry::{
    KeyValue,
    propagation::{Extractor, TextMapPropagator},
    trace::TracerProvider as _,
};
use opentelemetry_otlp::SpanExporter;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use poem::http::HeaderMap;
use tracing::Span;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};
use tracing_subscriber::registry::LookupSpan;

const SERVICE: &str = "push-server";
/// How long the exit may wait for the last spans to reach the collector.
const SHUTDOWN_BUDGET: Duration = Duration::from_secs(3);

/// Trace export, when configured.
pub struct Traces {
    export: Option<(SdkTracerProvider, String)>,
}

impl Traces {
    pub fn describe(&self) -> String {
        match &self.export {
            Some((_, endpoint)) => format!("OTLP http/protobuf to {endpoint}"),
            None => "off (set OTEL_EXPORTER_OTLP_ENDPOINT to export over OTLP)".to_owned(),
        }
    }

    pub fn shutdown(self) {
        if let Some((provider, _)) = self.export
            && let Err(e) = provider.shutdown_with_timeout(SHUTDOWN_BUDGET)
        {
            eprintln!("push-server: trace export did not shut down cleanly: {e}");
        }
    }
}

fn non_empty(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// The endpoint the environment asks to export to, honouring the standard off switches.
fn configured_endpoint() -> Result<Option<String>, String> {
    if non_empty("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    if let Some(exporter) = non_empty("OTEL_TRACES_EXPORTER") {
        match exporter.to_ascii_lowercase().as_str() {
            "none" => return Ok(None),
            "otlp" => {}
            other => return Err(format!("OTEL_TRACES_EXPORTER={other} is not supported; use otlp or none")),
        }
    }
    for var in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        if let Some(protocol) = non_empty(var)
            && protocol != "http/protobuf"
        {
            return Err(format!("{var}={protocol} is not supported; this build exports http/protobuf"));
        }
    }
    let endpoint = non_empty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| non_empty("OTEL_EXPORTER_OTLP_ENDPOINT"));
    if let Some(url) = &endpoint
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(format!("the OTLP endpoint must be an http:// or https:// URL, got '{url}'"));
    }
    Ok(endpoint)
}

/// `service.name` from `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` when given, else
/// `push-server`; `service.version` is the crate version.
fn resource() -> Resource {
    let named = non_empty("OTEL_SERVICE_NAME").is_some()
        || non_empty("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="));
    let builder = Resource::builder().with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if named { builder.build() } else { builder.with_service_name(SERVICE).build() }
}

fn exporter() -> Result<SpanExporter, String> {
    // The builder reads the endpoint, headers, timeout and compression from the environment.
    SpanExporter::builder().with_http().build().map_err(|e| format!("cannot set up OTLP trace export: {e}"))
}

pub fn check() -> Result<String, String> {
    match configured_endpoint()? {
        Some(endpoint) => {
            exporter()?;
            Ok(format!("OTLP http/protobuf to {endpoint}"))
        }
        None => Ok(Traces { export: None }.describe()),
    }
}

/// The layer that turns tracing spans into OpenTelemetry spans, when export is configured.
#[allow(clippy::type_complexity)]
/// Without `export`, only checks the settings.
pub fn layer<S>(
    export: bool,
) -> Result<(Option<OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>>, Traces), String>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    if !export {
        check()?;
        return Ok((None, Traces { export: None }));
    }
    let Some(endpoint) = configured_endpoint()? else {
        return Ok((None, Traces { export: None }));
    };
    // Sampler, batch sizes and delays come from OTEL_TRACES_SAMPLER and OTEL_BSP_* as usual.
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter()?).with_resource(resource()).build();
    let tracer = provider.tracer(SERVICE);
    let layer = tracing_opentelemetry::layer().with_tracer(tracer).with_tracked_inactivity(false);
    Ok((Some(layer), Traces { export: Some((provider, endpoint)) }))
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Makes `span` a child of the trace named by an incoming W3C `traceparent` (and `tracestate`),
/// so a caller's trace continues through this server. A missing or malformed header leaves the
/// span as the root of a new trace.
pub fn continue_trace(span: &Span, headers: &HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    // Fails only when the span is disabled or export is off: then there is nothing to link.
    let _ = span.set_parent(parent);
}
