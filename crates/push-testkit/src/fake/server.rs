//! The serving core of the fake provider: a loopback server that speaks HTTP/2 (with prior
//! knowledge, or negotiated by ALPN over TLS) through the `h2` crate, so that it can advertise a
//! chosen SETTINGS_MAX_CONCURRENT_STREAMS, count the streams in flight on each connection and
//! send GOAWAY on demand, and HTTP/1.1 through hyper on the same port (FCM's HTTP/1.1 transport,
//! Google's token endpoint). Whatever the protocol, each request is counted, recorded and given
//! the [`Answer`] the script or the responder picks; answers can be held back until told.

use std::{
    collections::VecDeque,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use h2::{Ping, server::SendResponse};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};
use tokio_rustls::TlsAcceptor;

use super::{Answer, Recorded};

/// How the fake serves.
#[derive(Clone)]
pub struct Options {
    max_streams: u32,
    tls: Option<TlsAcceptor>,
    record: bool,
}

impl Default for Options {
    /// Cleartext, 200 concurrent streams per HTTP/2 connection (what hyper's server allows by
    /// default, so a test that does not care never meets the limit), every request recorded.
    fn default() -> Self {
        Self { max_streams: 200, tls: None, record: true }
    }
}

impl Options {
    /// SETTINGS_MAX_CONCURRENT_STREAMS on every HTTP/2 connection.
    pub fn max_streams(mut self, max_streams: u32) -> Self {
        self.max_streams = max_streams;
        self
    }

    /// TLS with this acceptor; its ALPN list decides between HTTP/2 and HTTP/1.1, and a client
    /// certificate it asks for is recorded with each request.
    pub fn tls(mut self, acceptor: TlsAcceptor) -> Self {
        self.tls = Some(acceptor);
        self
    }

    /// Keep every request (`true`, the default) or only count it: a benchmark sends hundreds of
    /// thousands, and keeping them would measure the fake.
    pub fn record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }
}

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

/// Picks the answer to a request the script has none for.
type Responder = Arc<dyn Fn(&Recorded) -> Answer + Send + Sync>;

enum Command {
    /// Graceful GOAWAY; answered once the client has acknowledged it (a PING sent after it came
    /// back), so a test knows the client knows.
    GoAway(oneshot::Sender<()>),
}

#[derive(Default)]
struct Tally {
    connections: Vec<ConnectionStats>,
    /// Across connections: now, and the most at once.
    in_flight: usize,
    peak: usize,
}

struct State {
    /// What the next HTTP/2 connection advertises; connections already open keep theirs.
    max_streams: AtomicU32,
    record: bool,
    tally: Mutex<Tally>,
    /// Per connection, by id: its commands (HTTP/2 only) and its task.
    commands: Mutex<Vec<mpsc::UnboundedSender<Command>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// `true`: answers go out; `false`: they wait.
    open: watch::Sender<bool>,
    recorded: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Answer>>,
    respond: Mutex<Responder>,
}

/// The fake provider: see the module documentation. Dropping it closes every connection.
pub struct FakeProvider {
    pub addr: SocketAddr,
    state: Arc<State>,
    acceptor: JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.acceptor.abort();
        for task in self.state.tasks.lock().unwrap().iter() {
            task.abort();
        }
    }
}

impl FakeProvider {
    /// Cleartext HTTP/2 and HTTP/1.1 with the default options, answering 200 with no body.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            max_streams: AtomicU32::new(options.max_streams),
            record: options.record,
            tally: Mutex::default(),
            commands: Mutex::default(),
            tasks: Mutex::default(),
            open: watch::Sender::new(true),
            recorded: Mutex::default(),
            script: Mutex::default(),
            respond: Mutex::new(Arc::new(|_: &Recorded| Answer::status(200))),
        });
        let accepting = state.clone();
        let tls = options.tls;
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let _ = stream.set_nodelay(true);
                // Registered here, in the order of acceptance, so connection ids are stable.
                let (tx, rx) = mpsc::unbounded_channel();
                let id = {
                    let mut tally = accepting.tally.lock().unwrap();
                    tally.connections.push(ConnectionStats::default());
                    accepting.commands.lock().unwrap().push(tx);
                    tally.connections.len() - 1
                };
                let task = tokio::spawn(connection(stream, tls.clone(), accepting.clone(), id, rx));
                accepting.tasks.lock().unwrap().push(task);
            }
        });
        Self { addr, state, acceptor }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    // ---- answers ----

    /// The answers to the next requests, in order; after them the responder's.
    pub fn script(&self, answers: impl IntoIterator<Item = impl Into<Answer>>) {
        self.state.script.lock().unwrap().extend(answers.into_iter().map(Into::into));
    }

    /// Once the script is used up, every request gets `answer`.
    pub fn set_default(&self, answer: impl Into<Answer>) {
        let answer = answer.into();
        self.respond_with(move |_| answer.clone());
    }

    /// Once the script is used up, `respond` picks each answer.
    pub fn respond_with(&self, respond: impl Fn(&Recorded) -> Answer + Send + Sync + 'static) {
        *self.state.respond.lock().unwrap() = Arc::new(respond);
    }

    /// Forgets the recorded requests and the rest of the script: a test phase starts afresh.
    pub fn reset(&self) {
        self.state.recorded.lock().unwrap().clear();
        self.state.script.lock().unwrap().clear();
    }

    /// Holds every answer (new and already waiting) until `resume`.
    pub fn stall(&self) {
        self.state.open.send_replace(false);
    }

    pub fn resume(&self) {
        self.state.open.send_replace(true);
    }

    /// SETTINGS_MAX_CONCURRENT_STREAMS of the HTTP/2 connections accepted from now on (0: they
    /// take no request at all); connections already open keep what they were given, as a real
    /// server's would.
    pub fn set_max_streams(&self, max_streams: u32) {
        self.state.max_streams.store(max_streams, Ordering::SeqCst);
    }

    // ---- what it saw ----

    /// The requests recorded since the start (or the last [`reset`](Self::reset)), in the order
    /// their bodies were read.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.recorded.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.recorded.lock().unwrap().len()
    }

    /// Every TCP connection accepted, in order (its id is its position); one whose TLS
    /// handshake failed is closed at once and carried no request.
    pub fn connections(&self) -> Vec<ConnectionStats> {
        self.state.tally.lock().unwrap().connections.clone()
    }

    pub fn in_flight(&self) -> usize {
        self.state.tally.lock().unwrap().in_flight
    }

    /// The most requests in flight at once, across connections.
    pub fn peak_in_flight(&self) -> usize {
        self.state.tally.lock().unwrap().peak
    }

    /// Waits (polling; bounded so a broken client fails the test instead of hanging it) until
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

    // ---- faults ----

    /// Sends a graceful GOAWAY on HTTP/2 connection `id` and returns once the client has
    /// processed it.
    pub async fn go_away(&self, id: usize) {
        let (tx, rx) = oneshot::channel();
        let sent = self.state.commands.lock().unwrap()[id].send(Command::GoAway(tx));
        sent.unwrap_or_else(|_| panic!("connection {id} is closed or speaks HTTP/1.1"));
        rx.await.expect("the client acknowledged the GOAWAY");
    }

    /// Closes connection `id` abruptly, as a network drop or a server restart would.
    pub fn drop_connection(&self, id: usize) {
        self.state.tasks.lock().unwrap()[id].abort();
        self.state.tally.lock().unwrap().connections[id].closed = true;
    }

    /// Closes every connection abruptly.
    pub fn drop_connections(&self) {
        let count = self.state.tasks.lock().unwrap().len();
        for id in 0..count {
            self.drop_connection(id);
        }
    }
}

/// The HTTP/2 connection preface: a cleartext client that starts with it speaks HTTP/2.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    id: usize,
    commands: mpsc::UnboundedReceiver<Command>,
) {
    match tls {
        None => {
            if speaks_h2(&stream).await {
                serve_h2(stream, state.clone(), id, None, commands).await;
            } else {
                serve_h1(stream, state.clone(), id, None).await;
            }
        }
        Some(acceptor) => {
            // A failed handshake (no client certificate, say) is the client's problem.
            if let Ok(stream) = acceptor.accept(stream).await {
                let (_, session) = stream.get_ref();
                let cert = session.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
                if session.alpn_protocol() == Some(b"h2") {
                    serve_h2(stream, state.clone(), id, cert, commands).await;
                } else {
                    serve_h1(stream, state.clone(), id, cert).await;
                }
            }
        }
    }
    state.tally.lock().unwrap().connections[id].closed = true;
}

/// Whether the client's first bytes are the HTTP/2 preface (read without consuming them).
async fn speaks_h2(stream: &TcpStream) -> bool {
    let mut buf = [0u8; PREFACE.len()];
    loop {
        let Ok(n) = stream.peek(&mut buf).await else { return false };
        if n == 0 || buf[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        // Part of the preface so far: wait for the rest.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// What the h2 server's `accept` yields.
type Accepted = Option<Result<(Request<h2::RecvStream>, SendResponse<Bytes>), h2::Error>>;

async fn serve_h2<S>(
    io: S,
    state: Arc<State>,
    id: usize,
    client_cert: Option<Vec<u8>>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(mut connection) = h2::server::Builder::new()
        .max_concurrent_streams(state.max_streams.load(Ordering::SeqCst))
        .handshake::<_, Bytes>(io)
        .await
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
                    tokio::spawn(answer_h2(state.clone(), id, client_cert.clone(), request, respond));
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
}

async fn answer_h2(
    state: Arc<State>,
    id: usize,
    client_cert: Option<Vec<u8>>,
    request: Request<h2::RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    state.arrived(id);
    let (parts, mut body) = request.into_parts();
    let mut bytes = Vec::new();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    let answer = state.answer(Recorded::new(parts, bytes, id, client_cert)).await;
    let mut response = Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        response = response.header(name, value);
    }
    let response = response.body(()).expect("a valid answer");
    if answer.body.is_empty() {
        let _ = respond.send_response(response, true);
    } else if let Ok(mut stream) = respond.send_response(response, false) {
        let _ = stream.send_data(answer.body, true);
    }
}

async fn serve_h1<S>(io: S, state: Arc<State>, id: usize, client_cert: Option<Vec<u8>>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
        let state = state.clone();
        let client_cert = client_cert.clone();
        async move {
            state.arrived(id);
            let (parts, body) = request.into_parts();
            let bytes = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
            let answer = state.answer(Recorded::new(parts, bytes, id, client_cert)).await;
            let mut response = Response::builder().status(answer.status);
            for (name, value) in &answer.headers {
                response = response.header(name, value);
            }
            Ok::<_, Infallible>(response.body(Full::new(answer.body)).expect("a valid answer"))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service).await;
}

impl State {
    /// A request came in on connection `id`: counted in flight until its answer leaves.
    fn arrived(&self, id: usize) {
        let mut tally = self.tally.lock().unwrap();
        let c = &mut tally.connections[id];
        c.in_flight += 1;
        c.requests += 1;
        c.peak = c.peak.max(c.in_flight);
        tally.in_flight += 1;
        tally.peak = tally.peak.max(tally.in_flight);
    }

    /// Records the request, picks its answer, waits out the answer's delay and any stall, and
    /// counts the request out (before the answer leaves, so the client can never be seen over a
    /// limit because of this bookkeeping).
    async fn answer(&self, request: Recorded) -> Answer {
        let id = request.connection;
        let scripted = self.script.lock().unwrap().pop_front();
        let answer = scripted.unwrap_or_else(|| {
            let respond = self.respond.lock().unwrap().clone();
            respond(&request)
        });
        if self.record {
            self.recorded.lock().unwrap().push(request);
        }
        if !answer.delay.is_zero() {
            tokio::time::sleep(answer.delay).await;
        }
        let _ = self.open.subscribe().wait_for(|open| *open).await;
        let mut tally = self.tally.lock().unwrap();
        tally.connections[id].in_flight -= 1;
        tally.in_flight -= 1;
        answer
    }
}
