//! No secret reaches the logs: the real binary runs a full scenario at `RUST_LOG=debug`, in text
//! and in JSON log format, and its whole output is searched for every device token, blob,
//! signature and the Relay's private key seed that the scenario used.
//!
//! One exception is by design: the log sink (the provider used when none is configured) writes
//! the message a real provider would have been given, which holds the blob; that is its job
//! (the contract asks for it). Its delivery lines are therefore excluded from the blob checks
//! only, and the test checks that they are the only lines so excluded. Tokens and credentials
//! are checked on every line, the sink's included.

use std::{path::Path, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::SigningKey;
use serde_json::json;

use push_testkit::{
    Signature,
    binary::{Server, start_with},
};

use crate::SERVER;

/// What the log sink's delivery lines say; the only lines allowed to hold a blob.
const SINK_LINE: &str = "log sink delivery";

const RELAY_SEED: [u8; 32] = [0x5c; 32];
const FCM_TOKEN: &str = "fcmSecretTok3n:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx";
const APNS_TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const INVALID_TOKEN: &str = "not-hex-Secret-T0ken-9f8e7d";
const ENCRYPTED_BLOB: &str = "EncryptedBlobSecret/4Qx9+ZmVyeS1zZWNyZXQ=";
const CLEARTEXT_BODY: &str = "Cleartext body secret 7a7b";
const UNDECODABLE_BLOB: &str = "!!undecodable-blob-secret!!";

/// The server at `RUST_LOG=debug`, everything it writes (stdout and stderr) in `server.log`.
fn start(dir: &Path, json_logs: bool) -> Server {
    let relay_public = hex::encode(SigningKey::from_bytes(&RELAY_SEED).verifying_key().to_bytes());
    start_with(
        SERVER
            .launch(dir)
            .env("RELAY_PUBLIC_KEY", relay_public)
            .env("LOG_SINK_PATH", dir.join("sink.jsonl"))
            .env("SQLITE_SYNCHRONOUS", "normal")
            .env("RATE_LIMIT_PER_MINUTE", "0")
            .env("RUST_LOG", "debug")
            .env("LOG_FORMAT", if json_logs { "json" } else { "text" })
            .output(dir.join("server.log")),
    )
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn register(&self, client_id: &str, push_type: &str, token: &str) -> u16 {
        let body = json!({"client_id": client_id, "type": push_type, "token": token}).to_string();
        self.post("/clients", body, &[]).await
    }

    async fn post(&self, path: &str, body: String, headers: &[(&str, &str)]) -> u16 {
        let mut req =
            self.http.post(format!("{}{path}", self.base)).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send().await.unwrap().status().as_u16()
    }

    /// Sends `body` to `client_id` signed with `key`; returns the status and the signature used.
    async fn send(&self, key: &SigningKey, client_id: &str, body: &str) -> (u16, String) {
        let signed = Signature::now(key, body.as_bytes());
        let status = self.post(&format!("/clients/{client_id}"), body.to_owned(), &signed.headers()).await;
        (status, signed.signature)
    }

    async fn delete(&self, client_id: &str) -> u16 {
        self.http.delete(format!("{}/clients/{client_id}", self.base)).send().await.unwrap().status().as_u16()
    }
}

fn notification(id: &str, flags: u32, blob: &str) -> String {
    json!({"id": id, "payload": {"topic": "topic-1", "flags": flags, "blob": blob}}).to_string()
}

/// Runs every kind of request once and returns the secrets that were sent (signatures included).
async fn scenario(port: u16) -> Vec<String> {
    let c = Client { http: reqwest::Client::new(), base: format!("http://127.0.0.1:{port}") };
    let relay = SigningKey::from_bytes(&RELAY_SEED);
    let stranger = SigningKey::from_bytes(&[0x77; 32]);
    let cleartext_blob = STANDARD.encode(json!({"title": "Hello", "body": CLEARTEXT_BODY}).to_string());
    let mut signatures = Vec::new();

    assert_eq!(c.register("alice", "fcm", FCM_TOKEN).await, 200);
    assert_eq!(c.register("bob", "APNS", APNS_TOKEN).await, 200);
    assert_eq!(c.register("carol", "apns", INVALID_TOKEN).await, 400);
    assert_eq!(c.post("/clients", format!(r#"{{"client_id":"x","token":"{FCM_TOKEN}""#), &[]).await, 400);
    // The token moves from alice to dave.
    assert_eq!(c.register("dave", "fcm", FCM_TOKEN).await, 200);

    for (client, body, expected) in [
        ("dave", notification("n-1", 17, ENCRYPTED_BLOB), 200),
        ("dave", notification("n-1", 17, ENCRYPTED_BLOB), 200), // duplicate
        ("bob", notification("n-2", 16, &cleartext_blob), 200),
        ("bob", notification("n-3", 16, UNDECODABLE_BLOB), 400),
        ("alice", notification("n-4", 1, ENCRYPTED_BLOB), 404),
    ] {
        let (status, sig) = c.send(&relay, client, &body).await;
        assert_eq!(status, expected, "{client} {body}");
        signatures.push(sig);
    }
    // Signatures that do not verify: another key, and a valid one over other bytes.
    let (status, sig) = c.send(&stranger, "dave", &notification("n-5", 1, ENCRYPTED_BLOB)).await;
    assert_eq!(status, 401);
    signatures.push(sig);
    let other_body = notification("n-6", 1, "other");
    let signed = Signature::at(&relay, "1", other_body.as_bytes());
    let status = c.post("/clients/dave", notification("n-6", 1, ENCRYPTED_BLOB), &signed.headers()).await;
    assert_eq!(status, 401);
    signatures.push(signed.signature);

    assert_eq!(c.delete("bob").await, 200);
    assert_eq!(c.delete("dave").await, 200);

    let mut secrets: Vec<String> =
        [FCM_TOKEN, APNS_TOKEN, INVALID_TOKEN, &hex::encode(RELAY_SEED)].iter().map(|s| s.to_string()).collect();
    secrets.extend(signatures);
    secrets
}

fn check_logs(dir: &Path, secrets: &[String]) {
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap();
    let cleartext_blob = STANDARD.encode(json!({"title": "Hello", "body": CLEARTEXT_BODY}).to_string());
    assert!(log.lines().count() > 20, "the scenario was logged:\n{log}");
    assert!(log.contains("DEBUG") || log.contains("\"level\":\"DEBUG\""), "debug logging was on");
    for secret in secrets {
        for (n, line) in log.lines().enumerate() {
            assert!(!line.contains(secret.as_str()), "line {} leaks {secret:?}:\n{line}", n + 1);
            // Upper case too: hex values are accepted in any case.
            assert!(!line.contains(&secret.to_uppercase()), "line {} leaks {secret:?}:\n{line}", n + 1);
        }
    }
    // Blobs and the cleartext message: only in the log sink's own delivery lines.
    let mut sink_lines = 0;
    for (n, line) in log.lines().enumerate() {
        if line.contains(SINK_LINE) {
            sink_lines += 1;
            continue;
        }
        for blob in [ENCRYPTED_BLOB, &cleartext_blob, CLEARTEXT_BODY, UNDECODABLE_BLOB] {
            assert!(!line.contains(blob), "line {} leaks {blob:?}:\n{line}", n + 1);
        }
    }
    assert_eq!(sink_lines, 2, "exactly the two deliveries were excluded from the blob check");
}

async fn run(json_logs: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), json_logs);
    let secrets = scenario(server.port).await;
    // SIGTERM and wait, so every log line is written out.
    server.stop(Duration::from_secs(10));
    check_logs(dir.path(), &secrets);
}

#[tokio::test]
async fn no_secret_in_text_logs() {
    run(false).await;
}

#[tokio::test]
async fn no_secret_in_json_logs() {
    run(true).await;
}
