//! The HTTP transport: accepts TCP connections and serves them with hyper (HTTP/1.1 and h2c).
//!
//! Poem's own `Server` has no header-read timeout and no connection cap, and those are what keep
//! a slow or greedy client from starving everybody else, so the accept loop lives here:
//! - at most `max_connections` connections are served at once; further ones wait in the kernel's
//!   backlog until a slot frees (they are not accepted and dropped);
//! - a client has `header_read_timeout` to send a request's headers, which also bounds how long
//!   an idle keep-alive connection is kept (a slowloris client is cut off there);
//! - body reads and whole requests are bounded by the HTTP adapter (`json_body`, `deadline`).

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::{body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use poem::{
    Addr, Endpoint, EndpointExt, IntoEndpoint,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{net::TcpListener, sync::Semaphore};
use tracing::{debug, warn};

#[derive(Debug, Clone, Copy)]
pub struct TransportLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// How long in-flight requests may take to finish once shutdown starts.
    pub shutdown_grace: Duration,
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
    let graceful = GracefulShutdown::new();
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
        let service = service_fn(move |req: hyper::Request<Incoming>| {
            let endpoint = endpoint.clone();
            let req: poem::Request =
                (req, local_addr.clone(), RemoteAddr(Addr::SocketAddr(remote)), Scheme::HTTP).into();
            async move {
                let resp = match endpoint.call(req).await {
                    Ok(resp) => resp,
                    Err(err) => err.into_response(),
                };
                Ok::<_, Infallible>(hyper::Response::<BoxBody<Bytes, std::io::Error>>::from(resp))
            }
        });
        let connection =
            graceful.watch(builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(%remote, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => warn!("in-flight requests did not finish within the grace period"),
    }
}
