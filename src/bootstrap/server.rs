//! Starting and stopping the HTTP server around a wired application.

use std::{net::SocketAddr, time::Duration};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tracing::{info, warn};

use super::{
    settings::Settings,
    wiring::{self, Closer, StartError},
};
use crate::adapters::http::{self, HttpConfig};

/// How long in-flight requests may take to finish once shutdown starts.
const GRACE: Duration = Duration::from_secs(10);

/// A server accepting connections. Dropping it does not stop it; call `shutdown`.
pub struct RunningServer {
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    closers: Vec<Closer>,
}

/// Builds the backends from `settings`, binds the listener (port 0 picks a free port) and serves.
pub async fn start(settings: &Settings) -> Result<RunningServer, StartError> {
    let wired = wiring::build(settings).await?;
    for (what, choice) in &wired.summary {
        info!("{what}: {choice}");
    }
    if wired.auth.is_disabled() {
        warn!(
            "!!! SIGNATURE CHECKS ARE OFF (VALIDATE_SIGNATURES=false): anyone can send notifications through this server !!!"
        );
    }
    wired.auth.warm_up().await;
    let config = HttpConfig {
        max_body_bytes: settings.max_body_bytes,
        body_read_timeout: settings.http.body_read_timeout,
        request_timeout: settings.http.request_timeout,
        max_connections: settings.http.max_connections,
        header_read_timeout: settings.http.header_read_timeout,
        shutdown_grace: GRACE,
        rate_limit_per_minute: settings.http.rate_limit_per_minute,
        rate_limit_burst: settings.http.rate_limit_burst,
        client_ip_header: settings.http.client_ip_header.clone(),
    };

    let addr = SocketAddr::new(settings.host, settings.port);
    let listener = TcpListener::bind(addr).await.map_err(|e| StartError(format!("cannot listen on {addr}: {e}")))?;
    let local_addr = listener.local_addr().map_err(|e| StartError(format!("cannot listen on {addr}: {e}")))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(http::serve(listener, wired.app, wired.metrics, wired.auth, config, async move {
        let _ = stopped.await;
    }));
    info!(%local_addr, "push-server v{} listening", env!("CARGO_PKG_VERSION"));
    Ok(RunningServer { local_addr, stop, task, closers: wired.closers })
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets in-flight requests finish (bounded), then closes the backends.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            warn!(error = %e, "server task failed");
        }
        for close in self.closers {
            close.await;
        }
        info!("push-server stopped");
    }
}
