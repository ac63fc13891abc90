//! A TCP proxy for fault tests: forwards a local port to a real service and can cut the line
//! (close every connection and refuse new ones) or stall it (hold connections open but pass
//! nothing, like a network partition), then heal it, all without touching the service.

use std::{net::SocketAddr, sync::Arc};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// Bytes flow both ways.
    Open,
    /// Every connection is closed at once and new ones are closed as soon as they are accepted.
    Cut,
    /// Connections stay open, new ones are accepted, and nothing passes in either direction.
    /// Healing closes the stalled connections, as a real partition's end usually does.
    Stalled,
}

pub struct Proxy {
    addr: SocketAddr,
    line: Arc<watch::Sender<Line>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding a fresh loopback port to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let upstream = upstream.to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().unwrap();
        let line = Arc::new(watch::channel(Line::Open).0);
        let state = line.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let line = state.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move { serve(client, &upstream, line).await });
            }
        });
        Proxy { addr, line, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn cut(&self) {
        self.line.send_replace(Line::Cut);
    }

    pub fn stall(&self) {
        self.line.send_replace(Line::Stalled);
    }

    pub fn heal(&self) {
        self.line.send_replace(Line::Open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.line.send_replace(Line::Cut);
        self.task.abort();
    }
}

async fn serve(mut client: TcpStream, upstream: &str, mut line: watch::Receiver<Line>) {
    let state = *line.borrow_and_update();
    match state {
        Line::Cut => return,
        Line::Stalled => {
            let _ = line.wait_for(|l| *l != Line::Stalled).await;
            return;
        }
        Line::Open => {}
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
        _ = line.wait_for(|l| *l != Line::Open) => {}
    }
    // Dropping the copy may have lost bytes in flight, so the stream cannot resume: a stalled
    // connection is held silent until the line heals, then closed.
    if *line.borrow() == Line::Stalled {
        let _ = line.wait_for(|l| *l != Line::Stalled).await;
    }
}
