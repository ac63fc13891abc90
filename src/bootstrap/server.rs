//! Starting and stopping the HTTP server around a wired application.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle, time::Instant};
use tracing::{info, warn};

use super::{
    StartError,
    stores::Closer,
    wiring::{self, SEND_MARGIN},
};
use crate::{
    adapters::{
        clock::SystemClock,
        http::{self, HttpConfig},
    },
    app::{App, ClientAuth, Drained},
    cli::settings::Settings,
    domain::Audiences,
};

/// How long in-flight requests may take to finish once shutdown starts (sends may take longer:
/// see `send_budget`).
const GRACE: Duration = Duration::from_secs(10);

/// A server accepting connections. Dropping it does not stop it; call `shutdown`.
pub struct RunningServer {
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    closers: Vec<Closer>,
    /// The `/metrics` listener of its own (`TELEMETRY_PROMETHEUS_PORT`), stopped with the server.
    metrics: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    app: Arc<App>,
    /// How long a running send may take once shutdown starts before it is cut.
    send_budget: Duration,
    /// How long cut sends get to release their claims.
    settle: Duration,
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
    // A delivery ends within its lease (the provider's total budget and a margin); a shutdown waits
    // that long for running sends rather than leave their claims to the lease (see
    // `app::InFlight`).
    let send_budget = wiring::claim_times(settings).lease;

    let addr = SocketAddr::new(settings.host, settings.port);
    let listener = TcpListener::bind(addr).await.map_err(|error| StartError::Listen { addr, error })?;
    let local_addr = listener.local_addr().map_err(|error| StartError::Listen { addr, error })?;
    // After binding: the default audience names the port actually listened on.
    let audiences = Audiences::new(settings.client_auth.audiences(local_addr.port()));
    info!("client auth: {} (JWT audiences: {})", settings.client_auth.mode, audiences.as_slice().join(", "));
    let config = HttpConfig {
        max_body_bytes: settings.max_body_bytes,
        body_read_timeout: settings.http.body_read_timeout,
        request_timeout: settings.http.request_timeout,
        max_connections: settings.http.max_connections,
        header_read_timeout: settings.http.header_read_timeout,
        // Long enough for a running send to answer the Relay too, not only to settle.
        shutdown_grace: GRACE.max(send_budget),
        rate_limit_per_minute: settings.http.rate_limit_per_minute,
        rate_limit_burst: settings.http.rate_limit_burst,
        rate_limit_ipv6_prefix: settings.http.rate_limit_ipv6_prefix,
        client_ip_header: settings.http.client_ip_header.clone(),
        admin_token: settings.projects.admin_token().cloned(),
        trusted_proxies: settings.http.trusted_proxies,
        response_dialect: settings.http.response_dialect,
        client_auth: ClientAuth::new(settings.client_auth.mode, audiences, Arc::new(SystemClock)),
        cors: settings.http.cors()?,
        metrics_apart: settings.walletconnect.prometheus_port.is_some(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let app = wired.app.clone();
    let metrics = match settings.walletconnect.prometheus_port {
        Some(port) => {
            let addr = SocketAddr::new(settings.host, port);
            let listener = TcpListener::bind(addr).await.map_err(|error| StartError::Listen { addr, error })?;
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(http::serve_metrics(listener, wired.metrics.clone(), async move {
                let _ = stopped.await;
            }));
            info!(%addr, "metrics served apart (TELEMETRY_PROMETHEUS_PORT)");
            Some((stop, task))
        }
        None => None,
    };
    let task = tokio::spawn(http::serve(listener, wired.app, wired.metrics, wired.auth, config, async move {
        let _ = stopped.await;
    }));
    info!(%local_addr, "push-server v{} listening", env!("CARGO_PKG_VERSION"));
    Ok(RunningServer {
        local_addr,
        stop,
        task,
        closers: wired.closers,
        metrics,
        app,
        send_budget,
        settle: settings.store.timeout + SEND_MARGIN,
    })
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets in-flight requests finish (bounded), waits for running sends (up to
    /// the provider budget; past it they are cut and release their dedup claims), then closes the
    /// backends.
    pub async fn shutdown(self) {
        let sends_deadline = Instant::now() + self.send_budget;
        let _ = self.stop.send(());
        if let Some((stop, task)) = self.metrics {
            let _ = stop.send(());
            let _ = task.await;
        }
        if let Err(e) = self.task.await {
            warn!(error = %e, "server task failed");
        }
        // Requests whose connection outlived the grace period may still be sending.
        match self.app.sends().drain(sends_deadline, self.settle).await {
            Drained::Finished => {}
            Drained::Cut { sends } => {
                warn!(sends, "sends still running at the shutdown deadline were cut; their dedup claims were released");
            }
            Drained::Abandoned { sends } => {
                warn!(
                    sends,
                    "sends were cut at the shutdown deadline and could not release their dedup claims in time"
                );
            }
        }
        for close in self.closers {
            close.await;
        }
        info!("push-server stopped");
    }
}
