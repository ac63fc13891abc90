//! The black-box tests' server in this process: the real server started on port 0 with the
//! embedded backends (or the ones the settings name), driven over HTTP like a Relay and a wallet.

use std::path::PathBuf;

use ed25519_dalek::SigningKey;
use push_server::{
    bootstrap::server::{self, RunningServer},
    cli::settings::Settings,
    domain::{SIGNATURE_HEADER, TIMESTAMP_HEADER},
};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::relay::{Signature, relay_key};

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    /// The Relay's signing key; the server is configured with its public half.
    pub relay: SigningKey,
    pub log_sink_path: PathBuf,
    pub settings: Settings,
    server: Option<RunningServer>,
    pub dir: TempDir,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// The `field` names of a FAILED envelope, in order.
    pub fn field_names(&self) -> Vec<String> {
        self.json()["fields"]
            .as_array()
            .map_or_else(Vec::new, |a| a.iter().map(|f| f["field"].as_str().unwrap().to_owned()).collect())
    }

    /// The `name`s of a FAILED envelope's `errors`.
    pub fn error_names(&self) -> Vec<String> {
        self.json()["errors"]
            .as_array()
            .map_or_else(Vec::new, |a| a.iter().map(|f| f["name"].as_str().unwrap().to_owned()).collect())
    }

    pub fn is_ok_envelope(&self) -> bool {
        self.status == 200 && self.json() == json!({"status": "OK"})
    }
}

/// Settings for a test server: loopback, port 0, SQLite in a fresh directory, a log sink file,
/// and the test Relay key.
#[allow(clippy::field_reassign_with_default)] // reads as a list of what tests change
pub fn test_settings(dir: &TempDir) -> Settings {
    let mut s = Settings::default();
    s.host = [127, 0, 0, 1].into();
    s.port = 0;
    s.database_url = format!("sqlite://{}", dir.path().join("clients.db").display());
    s.log_sink_path = Some(dir.path().join("sink.jsonl"));
    s.relay.public_key = Some(hex::encode(relay_key().verifying_key().to_bytes()));
    // Tests register many clients from one address; the limiter has tests of its own.
    s.http.rate_limit_per_minute = 0;
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// Starts a server with the test settings as changed by `adjust`.
pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(&dir);
    adjust(&mut settings);
    spawn_settings(settings, dir).await
}

pub async fn spawn_settings(settings: Settings, dir: TempDir) -> TestApp {
    let server = server::start(&settings).await.unwrap_or_else(|e| panic!("server starts: {e}"));
    TestApp {
        base: format!("http://{}", server.local_addr()),
        http: reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap(),
        relay: relay_key(),
        log_sink_path: settings.log_sink_path.clone().unwrap_or_default(),
        settings,
        server: Some(server),
        dir,
    }
}

/// A notification body with an encrypted blob.
pub fn encrypted(id: &str) -> String {
    json!({"id": id, "payload": {"topic": "topic-1", "flags": 17, "blob": "opaque-ciphertext"}}).to_string()
}

/// A notification body with a cleartext blob (base64 of a notify message).
pub fn cleartext(id: &str, message: &Value) -> String {
    use base64::Engine;
    let blob = base64::engine::general_purpose::STANDARD.encode(message.to_string());
    json!({"id": id, "payload": {"topic": "topic-1", "flags": 16, "blob": blob}}).to_string()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        Reply { status, headers, text }
    }

    pub async fn register(&self, client_id: &str, push_type: &str, token: &str) -> Reply {
        self.register_raw(&json!({"client_id": client_id, "type": push_type, "token": token}).to_string()).await
    }

    pub async fn register_raw(&self, body: &str) -> Reply {
        let r = self
            .http
            .post(self.url("/clients"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("request");
        Self::reply(r).await
    }

    pub async fn unregister(&self, client_id: &str) -> Reply {
        Self::reply(self.http.delete(self.url(&format!("/clients/{client_id}"))).send().await.expect("request")).await
    }

    /// Sends `body` to `client_id`, signed by the test Relay now.
    pub async fn send(&self, client_id: &str, body: &str) -> Reply {
        let signed = Signature::now(&self.relay, body.as_bytes());
        self.send_with(client_id, body, Some(&signed.timestamp), Some(&signed.signature)).await
    }

    /// Sends with the given signature headers (absent when `None`).
    pub async fn send_with(&self, client_id: &str, body: &str, ts: Option<&str>, sig: Option<&str>) -> Reply {
        let mut req = self
            .http
            .post(self.url(&format!("/clients/{client_id}")))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(ts) = ts {
            req = req.header(TIMESTAMP_HEADER, ts);
        }
        if let Some(sig) = sig {
            req = req.header(SIGNATURE_HEADER, sig);
        }
        Self::reply(req.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        Self::reply(self.http.get(self.url(path)).send().await.expect("request")).await
    }

    /// The log sink's deliveries so far, one JSON object each.
    pub fn deliveries(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log_sink_path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect()
    }

    pub async fn stop(mut self) -> TempDir {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}
