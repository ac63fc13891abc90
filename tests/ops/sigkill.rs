//! A SIGKILL in the middle of a delivery (OOM, power loss): the killed server cannot release the
//! notification's claim, so the claim stays in flight until its lease (the delivery's own budget:
//! the provider's 14 s and 2 s of margin) ends. Meanwhile the Relay's retries on a fresh instance
//! sharing the dedup store are told `503 in_flight` with the seconds left; once the lease has
//! ended a retry delivers, exactly once. Run with dedup in Redis and in Postgres.

use std::{
    io::Write,
    net::TcpStream,
    time::{Duration, Instant},
};

use push_testkit::{
    binary::{Reply, Server, post_json},
    fake::apns::{FakeApns, Reply as Apns},
    services::{fresh_database, redis_url, unique},
};

use crate::SERVER;

const TOPIC: &str = "com.example.wallet";
const TOKEN: &str = "6a3b9c04e1b7d3a8c6f0e2b4d9a7c5e3f1b8d6a4c2e0f9b7d5a3c1e8f6b4d2a0";
/// The lease of a claim with the default provider budget.
const LEASE: Duration = Duration::from_secs(16);

/// The binary with APNS pointed at `apns`, in `dir` (so instances share an SQLite client store
/// unless `env` names a database), with `env` naming the shared dedup store. A 2 s request
/// deadline: a retry that finds the claim in flight answers after 1.5 s.
fn server(dir: &std::path::Path, apns: &FakeApns, env: &[(&str, String)]) -> Server {
    let key = rcgen::KeyPair::generate().unwrap();
    let key_path = dir.join("AuthKey.p8");
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let mut all: Vec<(&str, String)> = vec![
        ("RUST_LOG", "info".into()),
        ("VALIDATE_SIGNATURES", "false".into()),
        ("REQUEST_TIMEOUT_SECS", "2".into()),
        ("APNS_TOPIC", TOPIC.into()),
        ("APNS_KEY_PATH", key_path.to_str().unwrap().into()),
        ("APNS_KEY_ID", "ABC123DEFG".into()),
        ("APNS_TEAM_ID", "DEF123GHIJ".into()),
        ("APNS_ENDPOINT", apns.url()),
    ];
    all.extend(env.iter().cloned());
    let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    SERVER.start(dir, &all)
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap()
}

async fn killed_mid_delivery_then_retried_on_a_fresh_instance(env: Vec<(&'static str, String)>) {
    let apns = FakeApns::start().await;
    apns.set_default(Apns::Hang);
    let dir = tempfile::tempdir().unwrap();
    let client = unique("sigkill");
    let body = format!(r#"{{"id":"{}","payload":{{"topic":"t","flags":1,"blob":"b"}}}}"#, unique("n"));
    let path = format!("/clients/{client}");

    let mut first = server(dir.path(), &apns, &env);
    let register = format!(r#"{{"client_id":"{client}","type":"apns","token":"{TOKEN}"}}"#);
    assert_eq!(post_json(first.port, "/clients", &[], &register).status, 200);
    // The Relay's first send; it never gets an answer (the connection dies with the server).
    let mut relay = TcpStream::connect(("127.0.0.1", first.port)).unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    relay.write_all(request.as_bytes()).unwrap();
    while apns.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let claimed = Instant::now();
    first.kill();
    drop(relay);

    // A fresh instance on the same stores; APNS works again.
    apns.set_default(Apns::Ok);
    let before = apns.request_count();
    let second = server(dir.path(), &apns, &env);
    let send = |port: u16, path: String, body: String| blocking(move || post_json(port, &path, &[], &body));

    // The Relay retries at once: the claim is in flight, its lease runs.
    let retried: Reply = send(second.port, path.clone(), body.clone()).await;
    assert_eq!(retried.status, 503, "{}", retried.body);
    assert!(retried.body.contains(r#""name":"in_flight""#), "{}", retried.body);
    let retry_after: u64 = retried.header("retry-after").expect("Retry-After").parse().unwrap();
    let left = LEASE.saturating_sub(claimed.elapsed()).as_secs() + 1;
    assert!((1..=left).contains(&retry_after), "Retry-After {retry_after} s, the lease has at most {left} s left");
    assert_eq!(apns.request_count(), before, "nothing delivered while the lease runs");

    // The Relay retries after the delay it was given, until it gets its 200.
    let delivered = loop {
        let reply = send(second.port, path.clone(), body.clone()).await;
        if reply.status == 200 {
            break claimed.elapsed();
        }
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert!(claimed.elapsed() < LEASE + Duration::from_secs(10), "still not delivered: {}", reply.body);
        let delay = reply.header("retry-after").expect("Retry-After").parse().unwrap();
        tokio::time::sleep(Duration::from_secs(delay)).await;
    };
    assert!(delivered >= LEASE - Duration::from_secs(1), "taken over only once the lease ended: {delivered:?}");
    assert_eq!(apns.request_count() - before, 1, "delivered once after the kill");
    let again = send(second.port, path, body).await;
    assert_eq!(again.status, 200, "a duplicate: {}", again.body);
    assert_eq!(apns.request_count() - before, 1, "and not again");
    let lines = second.lines().join("\n");
    assert!(!lines.contains("panicked"), "{lines}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_delivery_with_redis_dedup_delivers_once_after_the_lease() {
    let Some(redis) = redis_url().await else { return };
    killed_mid_delivery_then_retried_on_a_fresh_instance(vec![("REDIS_URL", redis)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_delivery_with_postgres_dedup_delivers_once_after_the_lease() {
    let Some(db) = fresh_database().await else { return };
    let env = vec![("DATABASE_URL", db.url.clone()), ("DEDUP_BACKEND", "postgres".into())];
    killed_mid_delivery_then_retried_on_a_fresh_instance(env).await;
    db.drop_database().await;
}
