//! Outbound connections: every TCP connection the server opens to a remote (provider pools, push
//! services, the Relay key, OAuth) is opened through `Egress`, so one place decides how it leaves
//! the machine. Today that is directly; an egress proxy is a route this type chooses, never a
//! decision of the callers.

use std::{io, net::SocketAddr, time::Duration};

use tokio::net::TcpStream;

/// How outbound connections leave the machine. Cheap to clone; shared by every adapter.
#[derive(Debug, Clone, Default)]
pub struct Egress {}

/// Where one connection goes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The name (or address literal) the caller was configured with.
    pub host: &'a str,
    pub port: u16,
    /// Addresses the caller already resolved and checked (the Web Push endpoint guard): the
    /// connection goes only to these, and the name is never looked up again.
    pub addresses: Option<&'a [SocketAddr]>,
}

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("could not connect: {0}")]
    Connect(io::Error),
    #[error("could not connect: timed out after {0:?}")]
    TimedOut(Duration),
}

impl Egress {
    /// Connections go straight to their target.
    pub fn direct() -> Self {
        Self {}
    }

    /// Opens a TCP connection to `target` within `timeout`, with Nagle off (requests are small
    /// and latency-bound).
    pub async fn connect(&self, target: &Target<'_>, timeout: Duration) -> Result<TcpStream, EgressError> {
        let open = async {
            match target.addresses {
                Some(addresses) => TcpStream::connect(addresses).await,
                None => TcpStream::connect((target.host, target.port)).await,
            }
        };
        let tcp = tokio::time::timeout(timeout, open)
            .await
            .map_err(|_| EgressError::TimedOut(timeout))?
            .map_err(EgressError::Connect)?;
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }
}
