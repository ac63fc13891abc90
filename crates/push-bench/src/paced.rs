//! The open-loop side load: requests at a steady rate (registrations arriving while the closed-loop
//! sends run at full speed), spread over a few keep-alive connections, each latency measured from
//! when the request was due, so a server that falls behind shows it in the latencies instead of
//! silently lowering the rate. A connection sends one request at a time: when the server is so far
//! behind that every connection is busy, the achieved rate drops below the asked one, and the
//! report says so (it prints the rate reached, not the rate asked).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use http_body_util::BodyExt;

use crate::{
    load::{Outcome, Window, handshake},
    requests::Source,
};

/// Sends request `i` of `source` at `start + i / rate` until `window.end`, on `connections`
/// connections (request `i` on connection `i % connections`).
pub async fn run(addr: SocketAddr, rate: f64, connections: usize, source: Source, window: Window) -> Outcome {
    let start = Instant::now();
    let connections = connections.max(1);
    let tasks: Vec<_> = (0..connections)
        .map(|k| tokio::spawn(connection(addr, rate, k as u64, connections as u64, source.clone(), start, window)))
        .collect();
    let mut outcome = Outcome::default();
    for task in tasks {
        let part = task.await.expect("a paced connection does not panic");
        outcome.latencies.extend(part.latencies);
        outcome.non_2xx += part.non_2xx;
        outcome.errors += part.errors;
        outcome.sent += part.sent;
        if outcome.first_failure.is_none() {
            outcome.first_failure = part.first_failure;
        }
    }
    outcome.seconds = Instant::now().min(window.end).saturating_duration_since(window.measure_from).as_secs_f64();
    outcome.latencies.sort_unstable();
    outcome
}

async fn connection(
    addr: SocketAddr,
    rate: f64,
    first: u64,
    stride: u64,
    source: Source,
    start: Instant,
    window: Window,
) -> Outcome {
    let mut part = Outcome::default();
    let mut sender = None;
    let mut i = first;
    loop {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due >= window.end {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let Some(request) = source(i) else { break };
        i += stride;
        let ready = match sender.take() {
            Some(s) => Ok(s),
            None => handshake(addr).await,
        };
        let mut s = match ready {
            Ok(s) => s,
            Err(e) => {
                part.errors += 1;
                part.first_failure.get_or_insert_with(|| format!("connect: {e}"));
                continue;
            }
        };
        if s.ready().await.is_err() {
            part.errors += 1;
            continue;
        }
        part.sent += 1;
        let answer = match s.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                response.into_body().collect().await.map(|body| (status, body.to_bytes()))
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok((status, body)) => {
                let done = Instant::now();
                if !status.is_success() {
                    part.non_2xx += 1;
                    part.first_failure
                        .get_or_insert_with(|| format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
                }
                // Counted when answered inside the window, even if it was due before (a server
                // behind schedule carries its backlog into the figures, as it should).
                if done >= window.measure_from && done <= window.end {
                    part.latencies.push((done - due).as_nanos() as u64);
                }
                sender = Some(s);
            }
            Err(e) => {
                part.errors += 1;
                part.first_failure.get_or_insert_with(|| format!("request: {e}"));
            }
        }
    }
    part
}
