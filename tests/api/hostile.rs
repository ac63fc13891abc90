//! Abuse bounds: rate limits on the unauthenticated endpoints, slow clients, connection caps,
//! and keep-alive connections that survive bodies the handlers do not read.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use push_server::domain::Secret;
use push_testkit::{encrypted, spawn_app, spawn_with};

#[tokio::test]
async fn registration_is_rate_limited_per_address_with_retry_after() {
    let app = spawn_with(|s| {
        s.http.rate_limit_per_minute = 60;
        s.http.rate_limit_burst = 3;
    })
    .await;
    for i in 0..3 {
        assert!(app.register(&format!("c{i}"), "fcm", &format!("t{i}")).await.is_ok_envelope());
    }
    let r = app.register("c4", "fcm", "t4").await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.error_names(), ["rate_limited"]);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry));
    let r = app.unregister("c0").await;
    assert_eq!(r.status, 429);
    // The Relay's signed endpoint is not limited by IP.
    for i in 0..10 {
        assert!(app.send("c0", &encrypted(&format!("n{i}"))).await.is_ok_envelope());
    }
}

#[tokio::test]
async fn a_trusted_proxy_header_names_the_client() {
    let app = spawn_with(|s| {
        s.http.rate_limit_per_minute = 60;
        s.http.rate_limit_burst = 1;
        s.http.client_ip_header = Some("x-forwarded-for".into());
    })
    .await;
    let register = |ip: &'static str, id: &'static str| {
        app.http
            .post(app.url("/clients"))
            .header("content-type", "application/json")
            .header("x-forwarded-for", format!("203.0.113.9, {ip}"))
            .body(format!(r#"{{"client_id":"{id}","type":"fcm","token":"{id}"}}"#))
            .send()
    };
    assert_eq!(register("198.51.100.1", "a").await.unwrap().status(), 200);
    assert_eq!(register("198.51.100.1", "b").await.unwrap().status(), 429);
    assert_eq!(register("198.51.100.2", "c").await.unwrap().status(), 200);
}

fn raw_connect(base: &str) -> TcpStream {
    let addr = base.trim_start_matches("http://");
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[tokio::test]
async fn slow_headers_are_cut_off_and_others_are_served_meanwhile() {
    let app = spawn_with(|s| s.http.header_read_timeout = Duration::from_secs(1)).await;
    let base = app.base.clone();
    // A few slowloris connections that trickle header bytes and never finish.
    let slow = tokio::task::spawn_blocking(move || {
        let mut conns: Vec<TcpStream> = (0..20).map(|_| raw_connect(&base)).collect();
        let started = Instant::now();
        for c in &mut conns {
            let _ = c.write_all(b"POST /clients HTTP/1.1\r\nHost: x\r\n");
        }
        let mut closed = 0;
        for c in &mut conns {
            // Trickle one more header line, then wait: the server must hang up on its own.
            let _ = c.write_all(b"X-a: b\r\n");
            let mut buf = [0u8; 512];
            match c.read(&mut buf) {
                Ok(0) => closed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
                other => panic!("expected the server to hang up, got {other:?}"),
            }
        }
        (closed, started.elapsed())
    });
    // Meanwhile normal requests are served promptly.
    for i in 0..20 {
        let started = Instant::now();
        assert!(app.register(&format!("c{i}"), "fcm", &format!("t{i}")).await.is_ok_envelope());
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    let (closed, elapsed) = slow.await.unwrap();
    assert_eq!(closed, 20);
    assert!(elapsed < Duration::from_secs(8), "slow connections were cut after the header timeout: {elapsed:?}");
}

#[tokio::test]
async fn slow_bodies_get_408() {
    let app = spawn_with(|s| s.http.body_read_timeout = Duration::from_millis(500)).await;
    let base = app.base.clone();
    let reply = tokio::task::spawn_blocking(move || {
        let mut c = raw_connect(&base);
        c.write_all(
            b"POST /clients HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"cl",
        )
        .unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("request_timeout"), "{reply}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_instead_of_being_served() {
    let app = spawn_with(|s| s.http.max_connections = 2).await;
    let base = app.base.clone();
    // Two idle connections take both slots.
    let _a = raw_connect(&base);
    let _b = raw_connect(&base);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waiting = app.http.get(app.url("/health")).timeout(Duration::from_millis(500)).send().await;
    assert!(waiting.is_err(), "a third connection is not served while two are held");
    drop((_a, _b));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::new();
    assert_eq!(client.get(app.url("/health")).send().await.unwrap().status(), 200);
}

/// The metric series of a `/metrics` scrape (sample lines, comments left out).
fn series(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit_once(' ').map_or(l, |(s, _)| s).to_owned())
        .collect()
}

#[tokio::test]
async fn made_up_methods_add_no_metric_series() {
    let app = spawn_app().await;
    let made_up = |i: usize| reqwest::Method::from_bytes(format!("BREW{i}").as_bytes()).unwrap();
    // One of each kind first, so the series they belong in exist before the baseline.
    let r = app.http.request(made_up(0), app.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    app.get("/metrics").await;
    let before = series(&app.get("/metrics").await.text);
    for i in 1..=300 {
        let r = app.http.request(made_up(i), app.url("/health")).send().await.unwrap();
        assert_eq!(r.status(), 405);
    }
    let after = app.get("/metrics").await.text;
    assert_eq!(series(&after), before, "made-up methods added series");
    assert!(!after.contains("BREW"), "a made-up method became a label");
    assert!(after.contains(r#"method="other""#), "{after}");
}

/// A server with three connection slots and a one-second header (and idle) timeout.
async fn three_slots() -> push_testkit::TestApp {
    spawn_with(|s| {
        s.http.max_connections = 3;
        s.http.header_read_timeout = Duration::from_secs(1);
    })
    .await
}

/// `/health` on a fresh connection, waiting as long as it takes a held slot to be freed (far
/// beyond the one-second timeout, so a loaded machine cannot make this fail).
async fn health_on_a_fresh_connection(app: &push_testkit::TestApp) -> u16 {
    let client = reqwest::Client::new();
    let r = client.get(app.url("/health")).timeout(Duration::from_secs(30)).send().await;
    r.expect("/health is answered once a held slot is freed").status().as_u16()
}

/// Three raw connections that each sent `first_bytes` (maybe none) and nothing more; they are
/// accepted before any later connection, so they take all three slots.
fn hold_three(base: &str, first_bytes: &[u8]) -> Vec<TcpStream> {
    let mut held: Vec<TcpStream> = (0..3).map(|_| raw_connect(base)).collect();
    for c in &mut held {
        c.write_all(first_bytes).unwrap();
    }
    held
}

/// The server hangs up on each held connection (the read sees the end, or a reset).
fn assert_hung_up(held: Vec<TcpStream>) {
    for mut c in held {
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = [0u8; 64];
        match c.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("expected the server to hang up, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn silent_connections_lose_their_slot_after_the_header_timeout() {
    let app = three_slots().await;
    let held = hold_three(&app.base, b"");
    assert_eq!(health_on_a_fresh_connection(&app).await, 200);
    tokio::task::spawn_blocking(move || assert_hung_up(held)).await.unwrap();
}

#[tokio::test]
async fn half_an_http2_preface_loses_its_slot_after_the_header_timeout() {
    let app = three_slots().await;
    let held = hold_three(&app.base, b"PRI * HTTP/2.0\r\n");
    assert_eq!(health_on_a_fresh_connection(&app).await, 200);
    tokio::task::spawn_blocking(move || assert_hung_up(held)).await.unwrap();
}

#[tokio::test]
async fn idle_http2_connections_lose_their_slot_after_the_idle_limit() {
    let app = three_slots().await;
    // Three h2c clients (they answer pings), each keeping its connection open after a request.
    let mut h2 = Vec::new();
    for _ in 0..3 {
        let client = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
        let r = client.get(app.url("/health")).timeout(Duration::from_secs(30)).send().await.unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 200);
        h2.push(client);
    }
    assert_eq!(health_on_a_fresh_connection(&app).await, 200);
    // A client whose connection was closed just opens a new one.
    let r = h2[0].get(app.url("/health")).timeout(Duration::from_secs(30)).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

/// A server limiting registrations to one per address (then one a minute), trusting
/// `x-forwarded-for` as appended by `trusted_proxies` proxies.
async fn one_registration_each(trusted_proxies: usize, ipv6_prefix: Option<u8>) -> push_testkit::TestApp {
    spawn_with(|s| {
        s.http.rate_limit_per_minute = 1;
        s.http.rate_limit_burst = 1;
        s.http.client_ip_header = Some("x-forwarded-for".into());
        s.http.trusted_proxies = trusted_proxies;
        if let Some(prefix) = ipv6_prefix {
            s.http.rate_limit_ipv6_prefix = prefix;
        }
    })
    .await
}

/// Registers a fresh client with `x-forwarded-for: {forwarded}`; answers the status.
async fn register_from(app: &push_testkit::TestApp, forwarded: &str) -> u16 {
    let id = format!("c{:016x}", fastrand::u64(..));
    let r = app
        .http
        .post(app.url("/clients"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", forwarded)
        .body(format!(r#"{{"client_id":"{id}","type":"fcm","token":"{id}"}}"#))
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

#[tokio::test]
async fn ipv6_clients_are_limited_per_56_by_default() {
    let app = one_registration_each(1, None).await;
    assert_eq!(register_from(&app, "2001:db8:0:100::1").await, 200);
    // Another /64 of the same /56: the same site.
    assert_eq!(register_from(&app, "2001:db8:0:1ff:abcd::2").await, 429);
    assert_eq!(register_from(&app, "2001:db8:0:200::1").await, 200);

    let per_64 = one_registration_each(1, Some(64)).await;
    assert_eq!(register_from(&per_64, "2001:db8:0:100::1").await, 200);
    assert_eq!(register_from(&per_64, "2001:db8:0:1ff:abcd::2").await, 200);
    assert_eq!(register_from(&per_64, "2001:db8:0:100::3").await, 429);
}

#[tokio::test]
async fn a_load_balancer_appending_its_address_does_not_merge_every_client() {
    // Proxy facing clients, then a load balancer that appends its own address.
    let app = one_registration_each(2, None).await;
    assert_eq!(register_from(&app, "198.51.100.1, 10.0.0.9").await, 200);
    assert_eq!(register_from(&app, "198.51.100.2, 10.0.0.9").await, 200);
    assert_eq!(register_from(&app, "198.51.100.1, 10.0.0.9").await, 429);
    // What the client itself puts in front does not help it.
    assert_eq!(register_from(&app, "203.0.113.77, 198.51.100.1, 10.0.0.9").await, 429);
}

/// One HTTP/1.1 connection driven by hand, so that a test sees exactly when the server closes it.
struct RawHttp {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

/// A response as read off a [`RawHttp`] connection; header names in lower case.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    /// Whether the server announced that it closes the connection after this response.
    fn closes(&self) -> bool {
        self.headers.iter().any(|(name, value)| name == "connection" && value.eq_ignore_ascii_case("close"))
    }
}

impl RawHttp {
    fn connect(base: &str) -> Self {
        let writer = raw_connect(base);
        writer.set_nodelay(true).unwrap();
        Self { reader: BufReader::new(writer.try_clone().unwrap()), writer }
    }

    /// Sends a request's head, then `body` (declared by `Content-Length: declared`), `pause`
    /// after the head when given: the handler may then have answered before the body arrives.
    fn send(&mut self, head: &str, declared: usize, body: &[u8], pause: Option<Duration>) {
        let closed = |e| panic!("{head}: the server closed the connection ({e})");
        let head = format!("{head}\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n");
        self.writer.write_all(head.as_bytes()).unwrap_or_else(closed);
        if let Some(pause) = pause {
            std::thread::sleep(pause);
        }
        self.writer.write_all(body).unwrap_or_else(closed);
    }

    /// The next response; panics when the server closed the connection instead.
    fn response(&mut self, what: &str) -> RawResponse {
        let mut line = String::new();
        let read = self.reader.read_line(&mut line).unwrap_or_else(|e| panic!("{what}: no response ({e})"));
        assert!(read > 0, "{what}: the server closed the connection instead of answering");
        let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{what}: {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let Some((name, value)) = line.trim_end().split_once(':') else { break };
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let length = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        RawResponse { status, headers, body: String::from_utf8(body).unwrap() }
    }

    /// Whether the server has closed the connection (within the read timeout).
    fn closed(&mut self) -> bool {
        match self.reader.read(&mut [0u8; 1]) {
            Ok(0) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Ok(_) => false,
        }
    }
}

#[tokio::test]
async fn bodies_the_handlers_do_not_read_never_break_keep_alive() {
    const TOKEN: &str = "keep-alive-admin-token";
    let app = spawn_with(|s| {
        s.projects.admin_token = Some(Secret::new(TOKEN.to_owned()));
        s.projects.credentials_key = Some(Secret::new("ab".repeat(32)));
        s.http.body_read_timeout = Duration::from_millis(500);
    })
    .await;
    let max_body = app.settings.max_body_bytes;
    let base = app.base.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = RawHttp::connect(&base);
        let auth = format!("Authorization: Bearer {TOKEN}");
        for i in 0..50 {
            // Every other body arrives a moment after its head: by then the handler, which does
            // not read it, has answered.
            let pause = (i % 2 == 1).then_some(Duration::from_millis(5));
            let requests = [
                (format!("PUT /admin/projects/p{i} HTTP/1.1\r\n{auth}"), "{}"),
                (format!("DELETE /clients/c{i} HTTP/1.1"), r#"{"reason":"uninstalled"}"#),
                (format!("DELETE /admin/projects/p{i} HTTP/1.1\r\n{auth}"), "{}"),
            ];
            for (head, body) in requests {
                conn.send(&head, body.len(), body.as_bytes(), pause);
                let what = format!("request {i}, {}", head.lines().next().unwrap());
                let r = conn.response(&what);
                assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"OK"}"#), "{what}");
                assert!(!r.closes(), "{what}: the connection should stay open");
            }
        }

        // A body larger than the server accepts is not waited for: the answer says the
        // connection closes, and it does. (None of it is sent: bytes left unread when the server
        // closes would turn its close into a reset that may overtake the answer.)
        conn.send("DELETE /clients/c1 HTTP/1.1", max_body + 1, b"", None);
        let r = conn.response("a large unread body");
        assert_eq!(r.status, 200);
        assert!(r.closes(), "a large unread body: Connection: close expected, got {:?}", r.headers);
        assert!(conn.closed(), "the server closes after announcing it");

        // So is a body that does not arrive within the body read timeout.
        let mut conn = RawHttp::connect(&base);
        conn.send("DELETE /clients/c1 HTTP/1.1", 10, b"{\"a\"", None);
        let r = conn.response("a body that stops half-way");
        assert_eq!(r.status, 200);
        assert!(r.closes(), "a slow unread body: Connection: close expected, got {:?}", r.headers);
        assert!(conn.closed(), "the server closes after announcing it");
    })
    .await
    .unwrap();
}
