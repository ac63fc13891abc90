//! Opening one pooled connection: TCP, then TLS with ALPN `h2` (`https://`) or HTTP/2 with prior
//! knowledge (`http://`), the HTTP/2 handshake, and the task that drives the connection, pings it
//! while it lives and reports when it is gone.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use h2::{Ping, client::SendRequest};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::oneshot,
};
use tokio_rustls::TlsConnector;

use crate::adapters::egress::{Egress, Target};

/// HTTP/2 pings on every connection: one that a NAT or load balancer silently dropped is found
/// between notifications, not by the next notification's timeout.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

pub enum Security {
    /// `http://`: HTTP/2 over cleartext with prior knowledge (local fakes, benchmarks).
    Cleartext,
    Tls {
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    },
}

/// Where and how to open connections to one endpoint.
pub struct Dialer {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Bound on TCP, TLS and HTTP/2 set-up together.
    pub timeout: Duration,
    /// How the TCP connection leaves the machine: through the egress proxy, it is a CONNECT
    /// tunnel over which TLS (or cleartext HTTP/2) runs end to end.
    pub egress: Egress,
}

impl Dialer {
    /// Opens a connection and starts driving it. `on_close` runs once the connection is gone
    /// (peer closed it, GOAWAY drained, reset, keep-alive unanswered). The answer comes only
    /// after the peer's SETTINGS are applied, so the stream limit read from the handle is the
    /// peer's and not h2's provisional default.
    pub async fn dial(&self, on_close: impl FnOnce() + Send + 'static) -> Result<SendRequest<Bytes>, String> {
        match tokio::time::timeout(self.timeout, self.open(on_close)).await {
            Ok(result) => result,
            Err(_) => Err("could not connect: timed out".to_owned()),
        }
    }

    async fn open(&self, on_close: impl FnOnce() + Send + 'static) -> Result<SendRequest<Bytes>, String> {
        let target = Target { host: &self.host, port: self.port, addresses: None };
        let tcp = match &self.security {
            Security::Cleartext => self.egress.connect_cleartext(&target, self.timeout).await,
            Security::Tls { .. } => self.egress.connect(&target, self.timeout).await,
        }
        .map_err(|e| e.to_string())?;
        match &self.security {
            Security::Cleartext => start(tcp, on_close).await,
            Security::Tls { config, name } => {
                let tls = TlsConnector::from(config.clone())
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("could not connect: TLS handshake failed: {e}"))?;
                if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                    return Err("could not connect: the server did not agree to HTTP/2 (ALPN h2)".to_owned());
                }
                start(tls, on_close).await
            }
        }
    }
}

async fn start<T>(io: T, on_close: impl FnOnce() + Send + 'static) -> Result<SendRequest<Bytes>, String>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, mut connection) = h2::client::Builder::new()
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|e| format!("could not connect: HTTP/2 handshake failed: {e}"))?;
    let mut ping = connection.ping_pong().expect("a new connection has its ping-pong");
    let (ready_tx, ready_rx) = oneshot::channel();
    tokio::spawn(async move {
        let keep_alive = async move {
            // A peer's SETTINGS frame is the first thing it sends, so by the time our PING is
            // answered h2 has applied the peer's MAX_CONCURRENT_STREAMS.
            let answered = ping.ping(Ping::opaque()).await.is_ok();
            let _ = ready_tx.send(answered);
            if !answered {
                return;
            }
            loop {
                tokio::time::sleep(KEEP_ALIVE_INTERVAL).await;
                if !matches!(tokio::time::timeout(KEEP_ALIVE_TIMEOUT, ping.ping(Ping::opaque())).await, Ok(Ok(_))) {
                    tracing::debug!("HTTP/2 keep-alive ping unanswered; closing the connection");
                    return;
                }
            }
        };
        tokio::select! {
            result = connection => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "HTTP/2 connection ended");
                }
            }
            () = keep_alive => {}
        }
        on_close();
    });
    match ready_rx.await {
        Ok(true) => Ok(send),
        _ => Err("could not connect: the connection closed during the HTTP/2 handshake".to_owned()),
    }
}
