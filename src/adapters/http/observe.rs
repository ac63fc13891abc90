//! Per-request telemetry: a tracing span and the request metrics, labelled by operation.

use std::{sync::Arc, time::Instant};

use poem::{Endpoint, IntoResponse, Request, Response, Result};
use poem_openapi::OperationId;
use tracing::{Instrument, info_span};

use crate::app::Metrics;

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

pub async fn observe<E: Endpoint>(next: E, req: Request, metrics: Arc<Metrics>) -> Result<Response> {
    let started = Instant::now();
    let method = req.method().clone();
    let fallback_route = route_label(req.uri().path());
    let span = info_span!("http", method = %method, path = %req.uri().path(), status = tracing::field::Empty);
    let resp = next.call(req).instrument(span.clone()).await?.into_response();
    let route = resp.data::<OperationId>().map_or(fallback_route, |id| id.0);
    span.record("status", resp.status().as_u16());
    metrics.observe_http(route, method.as_str(), resp.status().as_u16(), started.elapsed());
    Ok(resp)
}
