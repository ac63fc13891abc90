//! The HTTP transport: accepts TCP connections and serves them with hyper (HTTP/1.1 and h2c).
//!
//! Poem's own `Server` has no header-read timeout and no connection cap, and those are what keep
//! a slow or greedy client from starving everybody else, so the accept loop lives here:
//! - at most `max_connections` connections are served at once; further ones wait in the kernel's
//!   backlog until a slot frees (they are not accepted and dropped);
//! - a client has `header_read_timeout` to send its first bytes (enough to tell HTTP/1 from
//!   HTTP/2, see `preface`) and then a request's headers;
//! - the same `header_read_timeout` is the idle limit for both protocols: hyper closes an HTTP/1
//!   keep-alive connection that starts no request within it, and this transport closes an HTTP/2
//!   connection that has had no open stream for that long (a client that answers pings would
//!   otherwise keep it, and its slot, forever);
//! - body reads and whole requests are bounded by the HTTP adapter (`json_body`, `deadline`);
//! - what a handler left of an HTTP/1 request body is read (bounded) before the answer goes out,
//!   or the answer says `Connection: close` (`unread_body`): the connection never closes
//!   behind an answer that promised keep-alive.

use std::{
    convert::Infallible,
    future::Future,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, combinators::BoxBody};
use hyper::{
    body::{Body, Frame, Incoming, SizeHint},
    service::service_fn,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use poem::{
    Addr, Endpoint, EndpointExt, IntoEndpoint,
    http::{HeaderMap, HeaderValue, Version, header, uri::Scheme},
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    net::TcpListener,
    sync::{Semaphore, watch},
};
use tracing::{debug, warn};

use super::{
    preface,
    unread_body::{self, UnreadBodyLimits},
};

#[derive(Debug, Clone, Copy)]
pub struct TransportLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// How long in-flight requests may take to finish once shutdown starts.
    pub shutdown_grace: Duration,
    /// What of a request body its handler left is read to keep an HTTP/1 connection.
    pub unread_body: UnreadBodyLimits,
}

/// Serves `endpoint` on `listener` until `shutdown` completes, then stops accepting and lets open
/// connections finish their current request (bounded by the grace period).
pub async fn serve<E>(listener: TcpListener, endpoint: E, limits: TransportLimits, shutdown: impl Future<Output = ()>)
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    let endpoint = Arc::new(endpoint.into_endpoint().map_to_response());
    let local_addr =
        LocalAddr(listener.local_addr().map_or_else(|_| Addr::Custom("tcp", "unknown".into()), Addr::SocketAddr));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // `true` once shutdown starts: every connection then finishes its current request and closes.
    let (stopping, stop_watch) = watch::channel(false);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(Duration::from_secs(30)));
    tokio::pin!(shutdown);

    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Typically EMFILE: back off briefly instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let endpoint = endpoint.clone();
        let local_addr = local_addr.clone();
        let streams = Arc::new(watch::Sender::new(0usize));
        let open = streams.clone();
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            let endpoint = endpoint.clone();
            // HTTP/1 only: an HTTP/2 stream whose body is dropped is reset on its own, and the
            // connection carries on.
            let http1 = matches!(req.version(), Version::HTTP_09 | Version::HTTP_10 | Version::HTTP_11);
            let declared = content_length(req.headers());
            let mut req: poem::Request =
                (req, local_addr.clone(), RemoteAddr(Addr::SocketAddr(remote)), Scheme::HTTP).into();
            let leftover = http1.then(|| {
                let (body, leftover) = unread_body::returnable(req.take_body().into(), declared);
                req.set_body(poem::Body::from(body.boxed()));
                leftover
            });
            // The stream is open from here until its response body is dropped (fully sent or
            // abandoned): the guard travels with the body.
            let guard = OpenStream::new(open.clone());
            async move {
                let mut resp = match endpoint.call(req).await {
                    Ok(resp) => resp,
                    Err(err) => err.into_response(),
                };
                if let Some(leftover) = leftover
                    && !leftover.drain(limits.unread_body).await
                {
                    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                let resp = hyper::Response::<BoxBody<Bytes, std::io::Error>>::from(resp);
                Ok::<_, Infallible>(resp.map(|body| Guarded { body, _guard: guard }.boxed()))
            }
        });
        let builder = builder.clone();
        let mut stop = stop_watch.clone();
        let idle_limit = limits.header_read_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let sniffed = tokio::select! {
                sniffed = tokio::time::timeout(idle_limit, preface::read(stream)) => sniffed,
                _ = stop.wait_for(|s| *s) => return,
            };
            let (io, is_h2) = match sniffed {
                Ok(Ok(sniffed)) => sniffed,
                Ok(Err(e)) => return debug!(%remote, error = %e, "connection closed before its first request"),
                Err(_) => return debug!(%remote, "no request within the header timeout; closing"),
            };
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            tokio::pin!(connection);
            // HTTP/1 idleness is hyper's header timeout; HTTP/2 idleness is watched here.
            let idle =
                async { if is_h2 { idle_for(&streams, idle_limit).await } else { std::future::pending().await } };
            let ended = tokio::select! {
                ended = connection.as_mut() => Some(ended),
                _ = stop.wait_for(|s| *s) => None,
                () = idle => {
                    debug!(%remote, "HTTP/2 connection idle past the limit; closing");
                    None
                }
            };
            let ended = match ended {
                Some(ended) => ended,
                None => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every connection holds a slot until it is gone: all slots back means all connections closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(limits.shutdown_grace, slots.acquire_many(all)).await.is_err() {
        warn!("in-flight requests did not finish within the grace period");
    }
}

/// A request's `Content-Length`, when it has one that parses.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Resolves once a connection has had no open stream for `limit` without a break.
async fn idle_for(streams: &watch::Sender<usize>, limit: Duration) {
    let mut open = streams.subscribe();
    loop {
        let _ = open.wait_for(|n| *n == 0).await;
        tokio::select! {
            () = tokio::time::sleep(limit) => return,
            // A stream opened (or closed) meanwhile: the idle time starts over.
            _ = open.changed() => {}
        }
    }
}

/// Counts one open stream of a connection while it lives.
struct OpenStream(Arc<watch::Sender<usize>>);

impl OpenStream {
    fn new(streams: Arc<watch::Sender<usize>>) -> Self {
        streams.send_modify(|n| *n += 1);
        Self(streams)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// A response body that keeps its stream counted as open until it is dropped.
struct Guarded {
    body: BoxBody<Bytes, std::io::Error>,
    _guard: OpenStream,
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
