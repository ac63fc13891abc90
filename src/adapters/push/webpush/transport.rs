//! Connections to push services, pooled per origin. Every browser vendor (and every UnifiedPush
//! distributor) runs its own push service, so unlike APNS and FCM there is no one endpoint to
//! keep a pool for: a pool is made for each origin on its first send.
//!
//! Each connection is dialled through the endpoint guard (resolve, check, then connect through
//! `Egress` to exactly the checked addresses), speaks HTTP/2 when the service agrees to it in
//! ALPN and HTTP/1.1 otherwise (`http://`, for an allowed self-hosted service, is HTTP/1.1).
//! The bounds are the other providers': at most `max_connections` HTTP/1.1 requests (each holds
//! a connection) or, once the origin speaks HTTP/2, one multiplexed connection carrying up to
//! `max_connections × STREAMS_PER_CONNECTION` streams (fewer when the peer allows fewer: hyper
//! waits for a stream); past `max_pending` waiting sends, a send is refused at once (`Busy`).
//! Redirects are never followed: a 3xx is an answer like any other.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri, Version};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::sync::Semaphore;
use tokio_rustls::TlsConnector;

use super::guard::{Endpoint, Guard, Resolve};
use crate::adapters::{
    egress::{Egress, Target},
    push::pool::{PoolLimits, TlsOptions, client_config},
};

/// Streams an HTTP/2 connection is counted for: the minimum RFC 9113 §6.5.2 recommends peers to
/// allow, so the bound rarely exceeds what a service grants (and hyper waits when it does).
pub const STREAMS_PER_CONNECTION: usize = 100;

/// Push service answers worth reading are short; a longer body is cut here.
const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// `max_pending` sends already wait for this origin.
    #[error("too many sends are waiting for this push service")]
    Busy,
    /// The guard refused the endpoint's addresses when connecting (DNS changed since the
    /// registration, say): nothing was sent, and trying again would be refused again.
    #[error("{0}")]
    Refused(String),
    /// Connecting failed or the exchange broke; the request may or may not have arrived.
    #[error("{0}")]
    Failed(String),
}

/// A push service's answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub version: Version,
}

/// A counters snapshot, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransportStats {
    pub origins: usize,
    pub connections_opened: usize,
}

pub struct Transport {
    limits: PoolLimits,
    connect_timeout: Duration,
    tls: Arc<ClientConfig>,
    egress: Egress,
    origins: Mutex<HashMap<String, Arc<Origin>>>,
    opened: AtomicUsize,
}

/// One origin's connections and bounds.
struct Origin {
    slots: Semaphore,
    waiting: AtomicUsize,
    speaks_h2: AtomicBool,
    conns: Mutex<Conns>,
}

#[derive(Default)]
struct Conns {
    h2: Option<http2::SendRequest<Full<Bytes>>>,
    idle_h1: Vec<http1::SendRequest<Full<Bytes>>>,
}

enum Conn {
    H2(http2::SendRequest<Full<Bytes>>),
    H1(http1::SendRequest<Full<Bytes>>),
}

/// Counts a send as waiting until it has its slot (or gives up), whatever way the future ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Transport {
    /// `tls`: what `https://` services are verified against (the platform's roots plus any
    /// extra ones). ALPN offers `h2` and `http/1.1`.
    pub fn new(
        limits: PoolLimits,
        connect_timeout: Duration,
        tls: &TlsOptions,
        egress: Egress,
    ) -> Result<Self, String> {
        if limits.max_connections == 0 || limits.max_pending == 0 {
            return Err("at least one connection and one waiting send are needed".to_owned());
        }
        let mut config = (*client_config(tls)?).clone();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            limits,
            connect_timeout,
            tls: Arc::new(config),
            egress,
            origins: Mutex::default(),
            opened: AtomicUsize::new(0),
        })
    }

    pub fn stats(&self) -> TransportStats {
        TransportStats {
            origins: self.origins.lock().expect("origins lock").len(),
            connections_opened: self.opened.load(Ordering::SeqCst),
        }
    }

    /// `POST` `body` to `endpoint` with `headers`. A new connection resolves the endpoint with
    /// `resolver` and connects only to the addresses `guard` accepts. Not bounded in time: the
    /// caller's attempt timeout is.
    pub async fn post(
        &self,
        guard: &Guard,
        resolver: &dyn Resolve,
        endpoint: &Endpoint,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Answer, TransportError> {
        let origin = self.origin(&endpoint.origin());
        let _slot = match origin.slots.try_acquire() {
            Ok(slot) => slot,
            Err(_) => {
                if origin.waiting.fetch_add(1, Ordering::SeqCst) >= self.limits.max_pending {
                    origin.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(TransportError::Busy);
                }
                let _waiting = Waiting(&origin.waiting);
                origin.slots.acquire().await.expect("the slots are never closed")
            }
        };
        let uri: Uri = format!("{}{}", endpoint.origin(), endpoint.path_and_query)
            .parse()
            .map_err(|_| TransportError::Failed("the endpoint is not a valid request URI".to_owned()))?;
        let conn = match origin.reuse() {
            Some(conn) => conn,
            None => self.dial(&origin, guard, resolver, endpoint).await?,
        };
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.headers_mut() = headers;
        let sent = match conn {
            Conn::H2(mut send) => {
                *request.uri_mut() = uri;
                *request.version_mut() = Version::HTTP_2;
                send.ready().await.map_err(failed)?;
                send.send_request(request).await
            }
            Conn::H1(mut send) => {
                // HTTP/1.1 wants the origin form and a Host header.
                let host = uri.authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
                request.headers_mut().insert(http::header::HOST, host.parse().map_err(|_| failed("bad host"))?);
                *request.uri_mut() = endpoint.path_and_query.parse().map_err(|_| failed("bad path"))?;
                let response = send.send_request(request).await;
                let answer = match response {
                    Ok(response) => read(response).await,
                    Err(e) => return Err(failed(e)),
                };
                // Back to the idle list only once the whole answer is read (keep-alive).
                origin.conns.lock().expect("conns lock").idle_h1.push(send);
                return answer;
            }
        };
        read(sent.map_err(failed)?).await
    }

    fn origin(&self, key: &str) -> Arc<Origin> {
        let mut origins = self.origins.lock().expect("origins lock");
        origins
            .entry(key.to_owned())
            .or_insert_with(|| {
                Arc::new(Origin {
                    slots: Semaphore::new(self.limits.max_connections),
                    waiting: AtomicUsize::new(0),
                    speaks_h2: AtomicBool::new(false),
                    conns: Mutex::default(),
                })
            })
            .clone()
    }

    /// A new connection to `endpoint`: guard, egress, TLS (ALPN), the HTTP handshake, and the task
    /// that drives it.
    async fn dial(
        &self,
        origin: &Origin,
        guard: &Guard,
        resolver: &dyn Resolve,
        endpoint: &Endpoint,
    ) -> Result<Conn, TransportError> {
        let opening = async {
            let addresses: Vec<SocketAddr> =
                guard.resolve(resolver, endpoint).await.map_err(TransportError::Refused)?;
            let target = Target { host: &endpoint.host, port: endpoint.port, addresses: Some(&addresses) };
            // An `http://` endpoint (allowed by WEBPUSH_ALLOWED_HOSTS only) is tunnelled through
            // HTTP_PROXY too, rather than sent in absolute form: the tunnel asks for the address the
            // guard checked, so the proxy never looks the name up again.
            let tcp = if endpoint.https {
                self.egress.connect(&target, self.connect_timeout).await
            } else {
                self.egress.connect_cleartext(&target, self.connect_timeout).await
            }
            .map_err(failed)?;
            self.opened.fetch_add(1, Ordering::SeqCst);
            if !endpoint.https {
                return handshake_h1(TokioIo::new(tcp)).await;
            }
            let name = ServerName::try_from(endpoint.host.clone()).map_err(failed)?;
            let tls = TlsConnector::from(self.tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| failed(format!("TLS handshake failed: {e}")))?;
            if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                let (send, connection) =
                    http2::handshake(TokioExecutor::new(), TokioIo::new(tls)).await.map_err(failed)?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "push service HTTP/2 connection ended");
                    }
                });
                Ok(Conn::H2(send))
            } else {
                handshake_h1(TokioIo::new(tls)).await
            }
        };
        let conn = tokio::time::timeout(self.connect_timeout, opening)
            .await
            .map_err(|_| failed("could not connect: timed out"))??;
        if let Conn::H2(send) = &conn {
            origin.conns.lock().expect("conns lock").h2 = Some(send.clone());
            // The origin multiplexes from now on: its slots grow from one per connection to the
            // streams of one connection.
            if !origin.speaks_h2.swap(true, Ordering::SeqCst) {
                origin.slots.add_permits(self.limits.max_connections * (STREAMS_PER_CONNECTION - 1));
            }
        }
        Ok(conn)
    }
}

impl Origin {
    /// An open connection to send on: the HTTP/2 one, or an idle HTTP/1.1 one that is still
    /// usable (closed ones are dropped on the way).
    fn reuse(&self) -> Option<Conn> {
        let mut conns = self.conns.lock().expect("conns lock");
        if let Some(h2) = &conns.h2 {
            if !h2.is_closed() {
                return Some(Conn::H2(h2.clone()));
            }
            conns.h2 = None;
        }
        while let Some(h1) = conns.idle_h1.pop() {
            if h1.is_ready() {
                return Some(Conn::H1(h1));
            }
        }
        None
    }
}

async fn handshake_h1<T>(io: TokioIo<T>) -> Result<Conn, TransportError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, connection) = http1::handshake(io).await.map_err(failed)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "push service HTTP/1.1 connection ended");
        }
    });
    Ok(Conn::H1(send))
}

async fn read(response: http::Response<hyper::body::Incoming>) -> Result<Answer, TransportError> {
    let (parts, body) = response.into_parts();
    // A body over the bound is not worth reading on: the status says what matters.
    let body = Limited::new(body, MAX_BODY_BYTES).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    Ok(Answer { status: parts.status.as_u16(), headers: parts.headers, body, version: parts.version })
}

fn failed(e: impl std::fmt::Display) -> TransportError {
    TransportError::Failed(format!("connection failed: {e}"))
}
