//! A stream-aware pool of HTTP/2 connections to one provider endpoint, shared by APNS and FCM.
//!
//! Each connection carries at most as many streams as its peer allows (the peer's
//! SETTINGS_MAX_CONCURRENT_STREAMS, which Apple varies); a new connection is opened only when
//! every open one is full, up to `max_connections`; a send that finds them all full waits for a
//! stream, and past `max_pending` waiting sends a send is refused at once (`PoolError::Busy`)
//! instead of queueing without bound. A GOAWAY drains its connection (streams already open
//! finish) while new sends move to another; a dropped connection is forgotten and replaced on
//! demand; a connection whose peer grants no stream at all (SETTINGS_MAX_CONCURRENT_STREAMS = 0)
//! for a couple of seconds is retired like a GOAWAY'd one, and a new connection that grants none
//! holds off the next dial as a failed dial does, so such a peer never fills the pool for good.
//!
//! Layout: `tls` builds the rustls configuration, `dial` opens and drives one connection,
//! `connections` keeps the books; this file is the public face and one request/response exchange.

mod connections;
mod dial;
mod tls;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use h2::Reason;
use http::{HeaderMap, Method, Request, Uri};
use rustls_pki_types::ServerName;

pub use self::tls::{ClientIdentity, TlsOptions, client_config};
use self::{
    connections::{Acquired, Shared, Stream},
    dial::{Dialer, Security},
};
pub use super::pool_limits::{DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PENDING, PoolLimits};
use crate::adapters::egress::Egress;

/// Provider answers worth reading are small JSON documents; a larger body is cut here.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A snapshot of one pool, for tests, logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub connections_opened: u64,
    pub open_connections: usize,
    pub in_flight: usize,
    pub in_flight_peak: usize,
    pub waiting: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// `max_pending` sends are already waiting for a stream.
    #[error("too many sends are waiting for a connection")]
    Busy,
    /// Connecting failed, or the exchange broke (reset, closed); the request may or may not have
    /// reached the provider.
    #[error("{0}")]
    Transport(String),
}

/// A provider's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    /// At most `MAX_BODY_BYTES`.
    pub body: Bytes,
}

pub struct Pool {
    shared: Arc<Shared>,
    /// `scheme://authority[/prefix]`, without a trailing slash.
    base: String,
}

impl Pool {
    /// A pool for `base` (an `http://` or `https://` URL, optionally with a path prefix); no
    /// connection is opened until the first send. `connect_timeout` bounds each dial; `egress`
    /// is how each connection leaves the machine (directly, or tunnelled through a proxy).
    pub fn new(
        base: &str,
        tls: &TlsOptions,
        limits: PoolLimits,
        connect_timeout: std::time::Duration,
        egress: Egress,
    ) -> Result<Self, String> {
        let uri: Uri = base.parse().map_err(|e| format!("'{base}' is not a URL: {e}"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(format!("'{base}' must be an http:// or https:// URL with a host"));
        };
        if base.contains('?') || base.contains('#') {
            return Err(format!("'{base}' must not have a query or fragment"));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        if host.is_empty() {
            return Err(format!("'{base}' must be an http:// or https:// URL with a host"));
        }
        let (security, default_port) = match scheme {
            "http" => (Security::Cleartext, 80),
            "https" => {
                let name = ServerName::try_from(host.clone()).map_err(|e| format!("'{base}': {e}"))?;
                (Security::Tls { config: tls::client_config(tls)?, name }, 443)
            }
            _ => return Err(format!("'{base}' must be an http:// or https:// URL with a host")),
        };
        // A send waits in the queue while its connection is dialled, so a bound of 0 would refuse
        // every send before the first connection exists.
        if limits.max_connections == 0 || limits.max_pending == 0 {
            return Err("at least one connection and one waiting send are needed".to_owned());
        }
        let port = authority.port_u16().unwrap_or(default_port);
        let dialer = Dialer { host, port, security, timeout: connect_timeout, egress };
        Ok(Self { shared: Arc::new(Shared::new(dialer, limits)), base: base.trim_end_matches('/').to_owned() })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }

    /// `POST {base}{path}` with `headers` and `body` on a pooled stream. Not bounded in time: the
    /// caller's attempt timeout is, and dropping this future gives the stream back (h2 resets it).
    pub async fn post(&self, path: &str, headers: &HeaderMap, body: Bytes) -> Result<Answer, PoolError> {
        let uri: Uri = format!("{}{path}", self.base)
            .parse()
            .map_err(|_| PoolError::Transport("the request path is not a valid URI".to_owned()))?;
        // A request that a GOAWAY or REFUSED_STREAM turned away never reached the provider, so it
        // moves to another connection without counting as an attempt. Each turn retires a
        // connection, so this ends.
        let mut turns = self.shared.limits.max_connections + 2;
        loop {
            let stream = match self.shared.acquire() {
                Acquired::Ready(stream) => stream,
                Acquired::Busy => return Err(PoolError::Busy),
                Acquired::Wait(grant) => match grant.await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(reason)) => return Err(PoolError::Transport(reason)),
                    Err(_) => return Err(PoolError::Transport("the connection pool shut down".to_owned())),
                },
            };
            let request = request(&uri, headers);
            match exchange(&stream, request, body.clone()).await {
                Ok(answer) => return Ok(answer),
                Err(Failure::NotSent { reason, go_away }) => {
                    if go_away {
                        self.shared.drain(stream.connection);
                    }
                    turns -= 1;
                    if turns == 0 {
                        return Err(PoolError::Transport(reason));
                    }
                }
                Err(Failure::Broken(reason)) => return Err(PoolError::Transport(reason)),
            }
        }
    }
}

fn request(uri: &Uri, headers: &HeaderMap) -> Request<()> {
    let mut request = Request::new(());
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.clone();
    *request.headers_mut() = headers.clone();
    request
}

enum Failure {
    /// The peer did not process the request (GOAWAY before the stream opened, REFUSED_STREAM);
    /// `go_away` when the whole connection takes no more streams.
    NotSent {
        reason: String,
        go_away: bool,
    },
    Broken(String),
}

/// One request and its whole response on `stream`, which is held until the body is read.
async fn exchange(stream: &Stream, request: Request<()>, body: Bytes) -> Result<Answer, Failure> {
    let opened = |e: h2::Error| {
        if e.is_go_away() || e.reason() == Some(Reason::REFUSED_STREAM) {
            Failure::NotSent { reason: describe(&e), go_away: e.is_go_away() }
        } else {
            Failure::Broken(describe(&e))
        }
    };
    let mut send = stream.send.clone().ready().await.map_err(opened)?;
    let (response, mut outgoing) = send.send_request(request, body.is_empty()).map_err(opened)?;
    if !body.is_empty() {
        outgoing.send_data(body, true).map_err(opened)?;
    }
    // Once the stream is open a GOAWAY may have come after the peer processed it, so only
    // REFUSED_STREAM (RFC 9113 §8.7: not processed) still counts as not sent.
    let broken = |e: h2::Error| {
        if e.reason() == Some(Reason::REFUSED_STREAM) && !e.is_go_away() {
            Failure::NotSent { reason: describe(&e), go_away: false }
        } else {
            Failure::Broken(describe(&e))
        }
    };
    let response = response.await.map_err(broken)?;
    let (parts, mut incoming) = response.into_parts();
    let mut collected = BytesMut::new();
    while let Some(chunk) = incoming.data().await {
        let chunk = chunk.map_err(|e| Failure::Broken(describe(&e)))?;
        let _ = incoming.flow_control().release_capacity(chunk.len());
        if collected.len() + chunk.len() <= MAX_BODY_BYTES {
            collected.extend_from_slice(&chunk);
        }
    }
    Ok(Answer { status: parts.status.as_u16(), headers: parts.headers, body: collected.freeze() })
}

/// An h2 error in one line, worded like the other transport errors ("connection failed: ...").
fn describe(e: &h2::Error) -> String {
    if e.is_go_away() {
        format!("connection failed: the provider closed the connection (GOAWAY {e})")
    } else {
        format!("connection failed: {e}")
    }
}
