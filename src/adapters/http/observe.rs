//! Per-request telemetry: the request span (with the request id, and continuing the caller's
//! trace), the request metrics labelled by operation, one log line per request, and the
//! `x-request-id` response header.

use std::{sync::Arc, time::Instant};

use poem::{Endpoint, IntoResponse, Request, Response, Result, http::HeaderValue};
use poem_openapi::OperationId;
use tracing::{Instrument, debug, field::Empty, info, info_span};

use super::request_id::{REQUEST_ID_HEADER, RequestId};
use crate::{telemetry, telemetry::Metrics};

/// The route label for requests outside the OpenAPI operations: a fixed set, so a scan of random
/// paths cannot blow up the metrics' cardinality.
fn route_label(path: &str) -> &'static str {
    match path {
        "/openapi.json" | "/openapi.yaml" => "openapi",
        "/metrics" => "metrics",
        p if p == "/docs" || p.starts_with("/docs/") => "docs",
        _ => "unmatched",
    }
}

/// Probes and scrapes arrive every few seconds; their lines would drown the traffic that matters.
fn is_routine(route: &str) -> bool {
    matches!(route, "health" | "metrics" | "docs" | "openapi")
}

pub async fn observe<E: Endpoint>(next: E, req: Request, metrics: Arc<Metrics>) -> Result<Response> {
    let started = Instant::now();
    let method = req.method().clone();
    let fallback_route = route_label(req.uri().path());
    let request_id = RequestId::from_headers(req.headers());
    let span = info_span!(
        "http",
        otel.kind = "server",
        method = %method,
        path = %req.uri().path(),
        request_id = %request_id,
        route = Empty,
        status = Empty,
    );
    telemetry::continue_trace(&span, req.headers());
    // Errors are already envelopes by now (see `fallback`); turning any left into a response
    // here keeps the request id and the metrics on every answer.
    let mut resp = match next.call(req).instrument(span.clone()).await {
        Ok(resp) => resp.into_response(),
        Err(err) => err.into_response(),
    };
    let route = resp.data::<OperationId>().map_or(fallback_route, |id| id.0);
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    span.record("route", route);
    span.record("status", status);
    span.in_scope(|| {
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        if is_routine(route) {
            debug!(status, latency_ms, "request finished");
        } else {
            info!(status, latency_ms, "request finished");
        }
    });
    metrics.observe_http(route, method.as_str(), status, elapsed);
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(resp)
}
