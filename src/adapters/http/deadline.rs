//! A bound on the whole request: past it the client gets `503 request_timeout` in the envelope.
//! Handlers whose work must not be cut in half (the send use case settles its dedup claim) run
//! that work in a task of its own, so this deadline only ends the wait, never the work.

use std::time::Duration;

use poem::{Endpoint, IntoResponse, Request, Response, Result, http::StatusCode};

use super::envelope::Envelope;

pub async fn deadline<E: Endpoint>(next: E, req: Request, limit: Duration) -> Result<Response> {
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(result) => result.map(IntoResponse::into_response),
        Err(_) => Ok(Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .content_type("application/json; charset=utf-8")
            .body(
                Envelope::error(
                    "request_timeout",
                    format!("the request did not complete within {} s", limit.as_secs()),
                )
                .json(),
            )),
    }
}
