//! Abuse bounds: rate limits on the unauthenticated endpoints, slow clients, connection caps.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use crate::support::{encrypted, spawn_with};

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
