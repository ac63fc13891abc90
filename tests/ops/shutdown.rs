//! A SIGTERM in the middle of a delivery: the server must not exit holding the notification's
//! dedup claim, or the Relay's retry on another instance is answered as a duplicate and the
//! notification is lost. A fake APNS that never answers keeps the delivery running past the
//! HTTP grace period (10 s) until the provider budget (14 s) ends it.

use std::time::Duration;

use push_testkit::{
    binary::{Server, post_json},
    fake::apns::{FakeApns, Reply},
    services::{redis_url, unique},
};

use crate::SERVER;

const TOPIC: &str = "com.example.wallet";
const TOKEN: &str = "5f2a9c04e1b7d3a8c6f0e2b4d9a7c5e3f1b8d6a4c2e0f9b7d5a3c1e8f6b4d2a0";

/// The binary with APNS pointed at `apns` and dedup in the shared Redis, run in `dir` (so the
/// second instance finds the clients the first stored).
fn server(dir: &std::path::Path, apns: &FakeApns, redis: &str) -> Server {
    let key = rcgen::KeyPair::generate().unwrap();
    let key_path = dir.join("AuthKey.p8");
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    SERVER.start(
        dir,
        &[
            ("RUST_LOG", "info"),
            ("VALIDATE_SIGNATURES", "false"),
            ("REDIS_URL", redis),
            ("APNS_TOPIC", TOPIC),
            ("APNS_KEY_PATH", key_path.to_str().unwrap()),
            ("APNS_KEY_ID", "ABC123DEFG"),
            ("APNS_TEAM_ID", "DEF123GHIJ"),
            ("APNS_ENDPOINT", &apns.url()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_delivery_leaves_the_notification_deliverable_exactly_once() {
    let Some(redis) = redis_url().await else { return };
    let apns = FakeApns::start().await;
    apns.set_default(Reply::Hang);
    let dir = tempfile::tempdir().unwrap();
    let client = unique("shutdown");
    let body = format!(r#"{{"id":"{}","payload":{{"topic":"t","flags":1,"blob":"b"}}}}"#, unique("n"));

    let mut first = server(dir.path(), &apns, &redis);
    let register = format!(r#"{{"client_id":"{client}","type":"apns","token":"{TOKEN}"}}"#);
    assert_eq!(post_json(first.port, "/clients", &[], &register).status, 200);
    let (port, path, sent) = (first.port, format!("/clients/{client}"), body.clone());
    let sending = std::thread::spawn(move || post_json(port, &path, &[], &sent));
    // Mid-delivery: the provider has the request and is not answering.
    while apns.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (first, (_, status)) = tokio::task::spawn_blocking(move || {
        let stopped = first.terminate();
        (first, stopped)
    })
    .await
    .unwrap();
    assert!(status.success(), "a requested stop is a clean exit: {status}");
    let first_reply = sending.join();

    // The Relay retries the same id on a fresh instance sharing the Redis: delivered, once.
    apns.set_default(Reply::Ok);
    let before = apns.request_count();
    let second = server(dir.path(), &apns, &redis);
    let (port, path) = (second.port, format!("/clients/{client}"));
    let (retried, again) =
        tokio::task::spawn_blocking(move || (post_json(port, &path, &[], &body), post_json(port, &path, &[], &body)))
            .await
            .unwrap();
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(again.status, 200, "a duplicate: {}", again.body);
    assert_eq!(apns.request_count() - before, 1, "the retried notification is delivered exactly once");
    // And the first instance answered its send before it went: not delivered, to be retried.
    let reply = first_reply.expect("the first instance answered the send before exiting");
    assert_eq!(reply.status, 502, "{}", reply.body);
    let lines = first.lines().join("\n");
    assert!(!lines.contains("panicked"), "{lines}");
}
