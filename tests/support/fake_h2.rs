//! A fake HTTP/2 provider for the pool tests, built on the `h2` server so that it can advertise a
//! chosen SETTINGS_MAX_CONCURRENT_STREAMS, count the streams in flight on each connection, hold
//! every answer back until told, and send GOAWAY or drop a connection on demand.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use h2::{Ping, server::SendResponse};
use http::{Request, Response};
use tokio::{
    net::TcpListener,
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};

/// What one connection has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Requests whose answer has not been sent yet.
    pub in_flight: usize,
    /// The most that were ever in flight at once.
    pub peak: usize,
    pub requests: usize,
    pub closed: bool,
}

enum Command {
    /// Graceful GOAWAY; answered once the client has acknowledged it (a PING sent after it came
    /// back), so a test knows the client knows.
    GoAway(oneshot::Sender<()>),
}

struct State {
    max_streams: u32,
    connections: Mutex<Vec<ConnectionStats>>,
    commands: Mutex<Vec<mpsc::UnboundedSender<Command>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// `true`: answers go out; `false`: they wait.
    open: watch::Sender<bool>,
    /// The status of every answer.
    status: Mutex<u16>,
}

pub struct FakeH2 {
    pub addr: SocketAddr,
    state: Arc<State>,
    acceptor: JoinHandle<()>,
}

impl Drop for FakeH2 {
    fn drop(&mut self) {
        self.acceptor.abort();
        for task in self.state.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl FakeH2 {
    /// HTTP/2 over cleartext (prior knowledge) allowing `max_streams` concurrent streams per
    /// connection, answering 200 at once.
    pub async fn start(max_streams: u32) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            max_streams,
            connections: Mutex::default(),
            commands: Mutex::default(),
            tasks: Mutex::default(),
            open: watch::Sender::new(true),
            status: Mutex::new(200),
        });
        let accepting = state.clone();
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let (tx, rx) = mpsc::unbounded_channel();
                let id = {
                    let mut connections = accepting.connections.lock().unwrap();
                    connections.push(ConnectionStats::default());
                    accepting.commands.lock().unwrap().push(tx);
                    connections.len() - 1
                };
                let task = tokio::spawn(serve(stream, accepting.clone(), id, rx));
                accepting.tasks.lock().unwrap().push(task);
            }
        });
        Self { addr, state, acceptor }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Holds every answer (new and already waiting) until `resume`.
    pub fn stall(&self) {
        self.state.open.send_replace(false);
    }

    pub fn resume(&self) {
        self.state.open.send_replace(true);
    }

    pub fn answer_with(&self, status: u16) {
        *self.state.status.lock().unwrap() = status;
    }

    pub fn connections(&self) -> Vec<ConnectionStats> {
        self.state.connections.lock().unwrap().clone()
    }

    pub fn in_flight(&self) -> usize {
        self.connections().iter().map(|c| c.in_flight).sum()
    }

    pub fn requests(&self) -> usize {
        self.connections().iter().map(|c| c.requests).sum()
    }

    /// Waits (polling; bounded so a broken pool fails the test instead of hanging it) until
    /// `done` holds for the connections.
    pub async fn wait_until(&self, what: &str, done: impl Fn(&[ConnectionStats]) -> bool) {
        for _ in 0..2000 {
            if done(&self.connections()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("waited 20 s for {what}; connections: {:?}", self.connections());
    }

    pub async fn wait_in_flight(&self, n: usize) {
        self.wait_until(&format!("{n} requests in flight"), |c| c.iter().map(|c| c.in_flight).sum::<usize>() == n)
            .await;
    }

    /// Sends a graceful GOAWAY on connection `id` and returns once the client has processed it.
    pub async fn go_away(&self, id: usize) {
        let (tx, rx) = oneshot::channel();
        self.state.commands.lock().unwrap()[id].send(Command::GoAway(tx)).expect("the connection is open");
        rx.await.expect("the client acknowledged the GOAWAY");
    }

    /// Closes connection `id` abruptly, as a network drop or a server restart would.
    pub fn drop_connection(&self, id: usize) {
        self.state.tasks.lock().unwrap()[id].abort();
        self.state.connections.lock().unwrap()[id].closed = true;
    }
}

/// What the h2 server's `accept` yields.
type Accepted = Option<Result<(Request<h2::RecvStream>, SendResponse<Bytes>), h2::Error>>;

async fn serve(
    stream: tokio::net::TcpStream,
    state: Arc<State>,
    id: usize,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let Ok(mut connection) =
        h2::server::Builder::new().max_concurrent_streams(state.max_streams).handshake::<_, Bytes>(stream).await
    else {
        return;
    };
    let mut ping = connection.ping_pong();
    loop {
        enum Event {
            Request(Box<Accepted>),
            Command(Option<Command>),
        }
        let event = tokio::select! {
            request = connection.accept() => Event::Request(Box::new(request)),
            command = commands.recv() => Event::Command(command),
        };
        match event {
            Event::Request(accepted) => match *accepted {
                Some(Ok((request, respond))) => {
                    tokio::spawn(answer(state.clone(), id, request, respond));
                }
                _ => break,
            },
            Event::Command(Some(Command::GoAway(done))) => {
                connection.graceful_shutdown();
                // Our PING goes out after the GOAWAY, so its PONG proves the client read it.
                if let Some(mut ping) = ping.take() {
                    tokio::spawn(async move {
                        let _ = ping.ping(Ping::opaque()).await;
                        let _ = done.send(());
                    });
                }
            }
            Event::Command(None) => {}
        }
    }
    state.connections.lock().unwrap()[id].closed = true;
}

async fn answer(state: Arc<State>, id: usize, request: Request<h2::RecvStream>, mut respond: SendResponse<Bytes>) {
    {
        let mut connections = state.connections.lock().unwrap();
        let c = &mut connections[id];
        c.in_flight += 1;
        c.requests += 1;
        c.peak = c.peak.max(c.in_flight);
    }
    let mut body = request.into_body();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let mut open = state.open.subscribe();
    let _ = open.wait_for(|open| *open).await;
    // Counted out before the answer leaves, so the client can never be seen over the limit
    // because of our bookkeeping.
    state.connections.lock().unwrap()[id].in_flight -= 1;
    let status = *state.status.lock().unwrap();
    let response =
        Response::builder().status(status).header("apns-id", "EC1BF194-B3B2-424A-89A9-5A918A6E6B5D").body(()).unwrap();
    if status == 200 {
        let _ = respond.send_response(response, true);
    } else if let Ok(mut stream) = respond.send_response(response, false) {
        let _ = stream.send_data(Bytes::from_static(br#"{"reason":"BadDeviceToken"}"#), true);
    }
}
