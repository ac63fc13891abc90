//! A fake APNS for the black-box tests: an HTTP/2 server on loopback (cleartext with prior
//! knowledge, or TLS that demands a client certificate) that records every request and answers
//! from a script, so each APNS answer class can be provoked on demand.
#![allow(dead_code)]

use std::{
    collections::VecDeque,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, header::HeaderMap, service::service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_rustls::TlsAcceptor;

/// How the fake answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with an `apns-id`.
    Ok,
    /// An APNS error: status, `{"reason": ...}`, optional `Retry-After` seconds.
    Error { status: u16, reason: &'static str, retry_after: Option<u64> },
    /// Never answers (the client's timeout must end it).
    Hang,
}

impl Reply {
    pub fn error(status: u16, reason: &'static str) -> Self {
        Reply::Error { status, reason, retry_after: None }
    }
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub version: hyper::Version,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Which TCP connection (0, 1, ...) carried it.
    pub connection: usize,
    /// The DER of the client certificate, on TLS connections that presented one.
    pub client_cert: Option<Vec<u8>>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }

    /// The JWT of `authorization: bearer <jwt>`.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")?.strip_prefix("bearer ")
    }
}

#[derive(Default)]
struct State {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Option<Reply>>,
    connections: AtomicUsize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

pub struct FakeApns {
    pub addr: SocketAddr,
    state: Arc<State>,
    acceptor: JoinHandle<()>,
}

impl Drop for FakeApns {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.drop_connections();
    }
}

impl FakeApns {
    /// An HTTP/2 cleartext fake (prior knowledge), answering 200 unless told otherwise.
    pub async fn start() -> Self {
        Self::start_inner(None).await
    }

    /// A TLS fake that offers only `h2` and refuses clients without a certificate.
    pub async fn start_tls(acceptor: TlsAcceptor) -> Self {
        Self::start_inner(Some(acceptor)).await
    }

    async fn start_inner(tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let accepting = state.clone();
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let state = accepting.clone();
                let tls = tls.clone();
                let task = tokio::spawn(async move {
                    match tls {
                        None => serve(TokioIo::new(stream), state, None).await,
                        Some(acceptor) => {
                            // A failed handshake (no client certificate) is the client's problem.
                            let Ok(stream) = acceptor.accept(stream).await else { return };
                            let cert =
                                stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
                            serve(TokioIo::new(stream), state, cert).await
                        }
                    }
                });
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

    /// The answers to the next requests, in order; after them the default (200 unless set).
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// The answer once the script is used up.
    pub fn set_default(&self, reply: Reply) {
        *self.state.default.lock().unwrap() = Some(reply);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Closes every open connection abruptly, as a network drop or a server restart would.
    pub fn drop_connections(&self) {
        for task in self.state.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

async fn serve<I>(io: I, state: Arc<State>, client_cert: Option<Vec<u8>>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let connection = state.connections.fetch_add(1, Ordering::SeqCst);
    let service = service_fn(move |request: Request<Incoming>| {
        let state = state.clone();
        let client_cert = client_cert.clone();
        async move { Ok::<_, Infallible>(answer(request, &state, connection, client_cert).await) }
    });
    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(io, service).await;
}

async fn answer(
    request: Request<Incoming>,
    state: &State,
    connection: usize,
    client_cert: Option<Vec<u8>>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
    state.requests.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        version: parts.version,
        headers: parts.headers,
        body,
        connection,
        client_cert,
    });
    let reply = state.script.lock().unwrap().pop_front().or_else(|| state.default.lock().unwrap().clone());
    match reply.unwrap_or(Reply::Ok) {
        Reply::Ok => Response::builder()
            .status(200)
            .header("apns-id", "EC1BF194-B3B2-424A-89A9-5A918A6E6B5D")
            .body(Full::default())
            .unwrap(),
        Reply::Error { status, reason, retry_after } => {
            let mut response = Response::builder().status(status).header("content-type", "application/json");
            if let Some(secs) = retry_after {
                response = response.header("retry-after", secs.to_string());
            }
            response.body(Full::new(Bytes::from(json!({"reason": reason}).to_string()))).unwrap()
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            unreachable!("the client gives up long before")
        }
    }
}

/// Checks a provider token: ES256 header with `kid`, claims with `iss` and a recent `iat`, and a
/// signature that verifies with `public_key` (an uncompressed P-256 point).
pub fn verify_provider_token(jwt: &str, public_key: &[u8], key_id: &str, team_id: &str) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    let decode = |p: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap() };
    assert_eq!(decode(parts[0]), json!({"alg": "ES256", "kid": key_id}));
    let claims = decode(parts[1]);
    assert_eq!(claims["iss"], team_id);
    let iat = claims["iat"].as_u64().expect("iat is a number");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(iat <= now && now - iat < 120, "iat {iat} is now ({now})");
    assert_eq!(claims.as_object().unwrap().len(), 2, "only iss and iat: {claims}");
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_key)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the provider token's ES256 signature verifies with the key's public half");
}
