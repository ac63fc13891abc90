//! An egress proxy on loopback for the proxy tests: it opens HTTP CONNECT tunnels and forwards
//! absolute-form HTTP/1.1 requests, and records each one (the target's authority, the
//! `Proxy-Authorization` it came with, and for tunnels the first bytes the client sent through,
//! so a test can see they are TLS and not HTTP). It can refuse everything with 407, 403 or 502.
//!
//! It only ever connects to loopback targets: anything else is answered 403 without a connection,
//! so a test that routes wrongly fails here instead of reaching out.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex, MutexGuard},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// How much of what a client sends through a tunnel is kept.
const SAMPLE_BYTES: usize = 64 * 1024;
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// One CONNECT request.
#[derive(Debug, Clone)]
pub struct Tunnel {
    /// `host:port` as asked for.
    pub authority: String,
    pub proxy_authorization: Option<String>,
    /// The status the proxy answered with.
    pub status: u16,
    /// The first bytes the client sent through the tunnel (at most 64 KiB).
    pub sent: Vec<u8>,
}

/// One absolute-form request (`POST http://host:port/path HTTP/1.1`).
#[derive(Debug, Clone)]
pub struct Forwarded {
    pub method: String,
    /// The request target as sent: the whole URL.
    pub uri: String,
    pub proxy_authorization: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct Books {
    tunnels: Vec<Tunnel>,
    forwarded: Vec<Forwarded>,
    /// Answer every request with this status instead of serving it.
    refuse: Option<u16>,
}

pub struct EgressProxy {
    addr: SocketAddr,
    books: Arc<Mutex<Books>>,
    task: JoinHandle<()>,
}

impl EgressProxy {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let books = Arc::new(Mutex::new(Books::default()));
        let shared = books.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, shared.clone()));
            }
        });
        Self { addr, books, task }
    }

    /// `http://127.0.0.1:port`, the value of `HTTPS_PROXY`/`HTTP_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The same with user-info, which clients must send as `Proxy-Authorization: Basic`.
    pub fn url_with_credentials(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    /// From now on every request is answered `status` (407, 403, 502) and nothing is forwarded.
    pub fn refuse_with(&self, status: u16) {
        self.books().refuse = Some(status);
    }

    pub fn tunnels(&self) -> Vec<Tunnel> {
        self.books().tunnels.clone()
    }

    pub fn forwarded(&self) -> Vec<Forwarded> {
        self.books().forwarded.clone()
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        lock(&self.books)
    }
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(books: &Mutex<Books>) -> MutexGuard<'_, Books> {
    books.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The head of a request: its lines, and whatever came after the blank line.
struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    rest: Vec<u8>,
}

impl Head {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }
}

async fn read_head(client: &mut TcpStream) -> Option<Head> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return None;
        }
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, target) = (request_line.next()?.to_owned(), request_line.next()?.to_owned());
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    Some(Head { method, target, headers, rest: buf[end + 4..].to_vec() })
}

/// A loopback target's address; `None` for anything else, which is never connected to.
fn loopback(authority: &str) -> Option<SocketAddr> {
    let (host, port) = authority.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") { [127, 0, 0, 1].into() } else { host.parse().ok()? };
    ip.is_loopback().then_some(SocketAddr::new(ip, port))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "Connection established",
        403 => "Forbidden",
        407 => "Proxy Authentication Required",
        502 => "Bad Gateway",
        _ => "Refused",
    }
}

async fn answer(client: &mut TcpStream, status: u16) {
    let challenge = if status == 407 { "Proxy-Authenticate: Basic realm=\"egress\"\r\n" } else { "" };
    let head =
        format!("HTTP/1.1 {status} {}\r\n{challenge}Content-Length: 0\r\nConnection: close\r\n\r\n", reason(status));
    let _ = client.write_all(head.as_bytes()).await;
}

async fn serve(mut client: TcpStream, books: Arc<Mutex<Books>>) {
    let Some(head) = read_head(&mut client).await else { return };
    let refuse = lock(&books).refuse;
    let authorization = head.header("proxy-authorization");
    if head.method.eq_ignore_ascii_case("CONNECT") {
        let target = loopback(&head.target);
        let status = refuse.unwrap_or(if target.is_some() { 200 } else { 403 });
        let index = {
            let mut books = lock(&books);
            books.tunnels.push(Tunnel {
                authority: head.target.clone(),
                proxy_authorization: authorization,
                status,
                sent: Vec::new(),
            });
            books.tunnels.len() - 1
        };
        let (Some(target), 200) = (target, status) else {
            return answer(&mut client, status).await;
        };
        let Ok(upstream) = TcpStream::connect(target).await else {
            lock(&books).tunnels[index].status = 502;
            return answer(&mut client, 502).await;
        };
        let ok = format!("HTTP/1.1 200 {}\r\n\r\n", reason(200));
        if client.write_all(ok.as_bytes()).await.is_err() {
            return;
        }
        relay(client, upstream, head.rest, move |bytes| {
            let mut books = lock(&books);
            let sent = &mut books.tunnels[index].sent;
            let room = SAMPLE_BYTES.saturating_sub(sent.len());
            sent.extend_from_slice(&bytes[..bytes.len().min(room)]);
        })
        .await;
    } else {
        // Absolute form: `http://host:port/path`.
        let Some((authority, path)) = head
            .target
            .strip_prefix("http://")
            .map(|rest| rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}"))))
        else {
            return answer(&mut client, 400).await;
        };
        let target = loopback(authority);
        let status = refuse.unwrap_or(if target.is_some() { 200 } else { 403 });
        lock(&books).forwarded.push(Forwarded {
            method: head.method.clone(),
            uri: head.target.clone(),
            proxy_authorization: authorization,
            status,
        });
        let (Some(target), 200) = (target, status) else {
            return answer(&mut client, status).await;
        };
        let Ok(mut upstream) = TcpStream::connect(target).await else {
            return answer(&mut client, 502).await;
        };
        // One request per connection: the upstream closes after answering, so the client
        // cannot send a second request meant for another target down this one.
        let mut request = format!("{} {path} HTTP/1.1\r\n", head.method);
        for (name, value) in &head.headers {
            let hop = ["proxy-authorization", "proxy-connection", "connection", "keep-alive"];
            if !hop.iter().any(|h| name.eq_ignore_ascii_case(h)) {
                request.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        request.push_str("Connection: close\r\n\r\n");
        if upstream.write_all(request.as_bytes()).await.is_err() {
            return;
        }
        relay(client, upstream, head.rest, |_| {}).await;
    }
}

/// Copies both ways until either side closes; `seen` gets what the client sends.
async fn relay(client: TcpStream, upstream: TcpStream, first: Vec<u8>, seen: impl Fn(&[u8]) + Send + 'static) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let outbound = async move {
        if !first.is_empty() {
            seen(&first);
            upstream_write.write_all(&first).await?;
        }
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = client_read.read(&mut buf).await?;
            if n == 0 {
                return upstream_write.shutdown().await;
            }
            seen(&buf[..n]);
            upstream_write.write_all(&buf[..n]).await?;
        }
    };
    let inbound = async move {
        tokio::io::copy(&mut upstream_read, &mut client_write).await?;
        client_write.shutdown().await
    };
    let _: (std::io::Result<()>, std::io::Result<()>) = tokio::join!(outbound, inbound);
}
