//! Starting and stopping the HTTP server around a wired application.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use poem::{
    Server,
    listener::{Acceptor, Listener, TcpListener},
};
use tokio::{sync::oneshot, task::JoinHandle};
use tracing::{info, warn};

use super::{
    settings::Settings,
    wiring::{self, Closer, StartError},
};
use crate::adapters::http::{self, HttpState};

/// How long in-flight requests may take to finish once shutdown starts.
const GRACE: Duration = Duration::from_secs(10);

/// A server accepting connections. Dropping it does not stop it; call `shutdown`.
pub struct RunningServer {
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    closers: Vec<Closer>,
}

/// Builds the backends from `settings`, binds the listener (port 0 picks a free port) and serves.
pub async fn start(settings: &Settings) -> Result<RunningServer, StartError> {
    let wired = wiring::build(settings).await?;
    for (what, choice) in &wired.summary {
        info!("{what}: {choice}");
    }
    if wired.auth.is_disabled() {
        warn!("!!! SIGNATURE CHECKS ARE OFF (VALIDATE_SIGNATURES=false): anyone can send notifications through this server !!!");
    }
    wired.auth.warm_up().await;
    let state = Arc::new(HttpState { app: wired.app, auth: wired.auth });
    let endpoint = http::endpoint(state, settings.max_body_bytes);

    let addr = SocketAddr::new(settings.host, settings.port);
    let acceptor = TcpListener::bind(addr)
        .into_acceptor()
        .await
        .map_err(|e| StartError(format!("cannot listen on {addr}: {e}")))?;
    let local_addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| StartError("the listener has no socket address".into()))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(
        Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
            endpoint,
            async move {
                let _ = stopped.await;
            },
            Some(GRACE),
        ),
    );
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
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "server stopped with an error"),
            Err(e) => warn!(error = %e, "server task failed"),
        }
        for close in self.closers {
            close.await;
        }
        info!("push-server stopped");
    }
}
