//! One of several `push-server` processes sharing their backends, as behind a load balancer:
//! started with the test Relay's key and a log sink of its own, up once `/health` answers 200 (its
//! stores reachable), driven over HTTP like a Relay and a wallet. The scale-out and failover
//! tests run them.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde_json::{Value, json};

use crate::{
    SignedRequest,
    binary::{Binary, Server, start_with},
    launcher::{Ready, Sink},
    relay_key,
};

/// A running instance; killed when dropped, its log shown when that happens in a failing test.
pub struct Instance {
    name: &'static str,
    server: Server,
    base: String,
    sink: PathBuf,
    log: PathBuf,
    http: reqwest::Client,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- log of instance {} ---\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

impl Instance {
    /// Starts `binary` in `dir` as instance `name` with `envs` (the backends and whatever else
    /// the test sets) and waits until `/health` answers 200.
    pub fn start(binary: Binary, name: &'static str, dir: &Path, envs: &[(&str, String)]) -> Instance {
        let sink = dir.join(format!("sink-{name}.jsonl"));
        let log = dir.join(format!("server-{name}.log"));
        // The launcher's clean environment: no `.env`, no stray DATABASE_URL from the caller.
        let server = start_with(
            binary
                .launch(dir)
                .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
                .env("RELAY_PUBLIC_KEY", hex::encode(relay_key().verifying_key().to_bytes()))
                .env("LOG_SINK_PATH", &sink)
                .env("RUST_LOG", "warn")
                .stdout(Sink::File(log.clone()))
                .stderr(Sink::File(dir.join(format!("server-{name}.err"))))
                .ready(Ready::Healthy),
        );
        Instance {
            name,
            base: server.url(),
            server,
            sink,
            log,
            http: reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap(),
        }
    }

    /// Registers `client_id` as an FCM client with `token`: the status and the JSON answer.
    pub async fn register(&self, client_id: &str, token: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/clients", self.base))
            .header("content-type", "application/json")
            .body(json!({"client_id": client_id, "type": "fcm", "token": token}).to_string())
            .send()
            .await
            .unwrap();
        reply(r).await
    }

    /// Sends notification `id` (encrypted) to `client_id`, signed by the test Relay: the status
    /// and the JSON answer. An answer slower than 10 s fails the test.
    pub async fn send(&self, client_id: &str, id: &str) -> (u16, Value) {
        let body = json!({"id": id, "payload": {"topic": "t", "flags": 17, "blob": "opaque"}}).to_string();
        let r = self
            .http
            .post(format!("{}/clients/{client_id}", self.base))
            .header("content-type", "application/json")
            .signed_body(&relay_key(), body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        reply(r).await
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(&mut self) {
        let (_, status) =
            self.server.0.terminate(Duration::from_secs(15)).unwrap_or_else(|e| panic!("instance {}: {e}", self.name));
        assert!(status.success(), "instance {} exited with {status}", self.name);
    }

    /// How many times this instance delivered notification `id` to `client_id`.
    pub fn deliveries(&self, client_id: &str, id: &str) -> usize {
        std::fs::read_to_string(&self.sink)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|d| d["client_id"] == client_id && d["notification_id"] == id)
            .count()
    }
}

async fn reply(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}
