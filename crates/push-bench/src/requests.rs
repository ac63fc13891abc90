//! The requests the benchmark sends: deterministic bodies per sequence number, and the Relay
//! signatures for them, computed ahead of the timed phase so signing never limits the load.
//!
//! A body is rebuilt from its sequence number when it is sent (a few hundred nanoseconds), so only
//! the 64-byte signature is kept per request: a 600,000-request pool costs about 40 MB.

use std::{
    sync::Arc,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use bytes::Bytes;
use ed25519_dalek::SigningKey;
use http_body_util::Full;
use hyper::{Method, Request, Uri, header::HeaderValue};
use push_server::domain::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use push_testkit::relay;

/// Which blob the notifications carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PayloadKind {
    /// Flags 17 (Encrypted | Notify): an opaque blob forwarded as is.
    Encrypted,
    /// Flags 16 (Notify): base64 of a notify message, decoded and rendered by the server.
    Cleartext,
}

/// What every request of one run has in common.
pub struct Shape {
    /// Makes ids and client ids unique per run, so runs against a persistent store or a shared
    /// Redis never collide with an earlier run's dedup entries.
    pub run: String,
    pub clients: u32,
    /// The `type` clients are registered with (`apns` unless a scenario says otherwise).
    pub push_type: &'static str,
    host: HeaderValue,
    blob: String,
    flags: u32,
    client_paths: Vec<Uri>,
}

/// An opaque ciphertext-like blob of realistic size (the Relay's encrypted envelopes are a few
/// hundred bytes of base64).
fn encrypted_blob() -> String {
    let bytes: Vec<u8> = (0..180u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    STANDARD.encode(bytes)
}

fn cleartext_blob() -> String {
    STANDARD.encode(
        r#"{"title":"New message","body":"You have a new message from the benchmark","url":"https://example.com/chat/42","type":"chat"}"#,
    )
}

impl Shape {
    pub fn new(run: String, clients: u32, payload: PayloadKind, host: &str) -> Self {
        let (blob, flags) = match payload {
            PayloadKind::Encrypted => (encrypted_blob(), 17),
            PayloadKind::Cleartext => (cleartext_blob(), 16),
        };
        let client_paths =
            (0..clients).map(|k| format!("/clients/{}", client_id(&run, k)).parse().expect("a valid path")).collect();
        Self {
            run,
            clients: clients.max(1),
            push_type: "apns",
            host: HeaderValue::from_str(host).expect("a valid host"),
            blob,
            flags,
            client_paths,
        }
    }

    /// The notification body with sequence number `i` (its id is unique within the run).
    pub fn notification_body(&self, i: u64) -> Vec<u8> {
        let mut body = Vec::with_capacity(96 + self.blob.len());
        body.extend_from_slice(b"{\"id\":\"");
        body.extend_from_slice(self.run.as_bytes());
        body.push(b'-');
        body.extend_from_slice(i.to_string().as_bytes());
        body.extend_from_slice(b"\",\"payload\":{\"topic\":\"bench-topic\",\"flags\":");
        body.extend_from_slice(self.flags.to_string().as_bytes());
        body.extend_from_slice(b",\"blob\":\"");
        body.extend_from_slice(self.blob.as_bytes());
        body.extend_from_slice(b"\"}}");
        body
    }

    /// The registration of client `k` of this run (an APNS-style hex token unique to it).
    pub fn registration_body(&self, k: u64) -> Vec<u8> {
        format!(
            r#"{{"client_id":"{}","type":"{}","token":"{}"}}"#,
            client_id(&self.run, k as u32),
            self.push_type,
            token(&self.run, k)
        )
        .into_bytes()
    }

    fn post(&self, uri: Uri) -> hyper::http::request::Builder {
        Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(hyper::header::HOST, self.host.clone())
            .header(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))
    }

    /// `POST /clients/{client}` for notification `i`, signed with `signed` when given.
    pub fn send_request(&self, i: u64, signed: Option<(&HeaderValue, &[u8; 64])>) -> Request<Full<Bytes>> {
        let body = self.notification_body(i);
        let uri = self.client_paths[(i % u64::from(self.clients)) as usize].clone();
        let mut builder = self.post(uri);
        if let Some((timestamp, signature)) = signed {
            let mut hex = [0u8; 128];
            hex::encode_to_slice(signature, &mut hex).expect("128 hex digits for 64 bytes");
            builder = builder
                .header(TIMESTAMP_HEADER, timestamp.clone())
                .header(SIGNATURE_HEADER, HeaderValue::from_bytes(&hex).expect("hex is a valid header value"));
        }
        builder.body(Full::new(Bytes::from(body))).expect("a valid request")
    }

    /// `POST /clients` registering client `k` of this run.
    pub fn register_request(&self, k: u64) -> Request<Full<Bytes>> {
        let body = self.registration_body(k);
        self.post(Uri::from_static("/clients")).body(Full::new(Bytes::from(body))).expect("a valid request")
    }
}

pub fn client_id(run: &str, k: u32) -> String {
    format!("bench-{run}-{k}")
}

/// 64 hex digits, unique per (run, k) (its last 16 digits are `k`): a token belongs to one client
/// only, so reusing one would move it between clients instead of registering a new one.
fn token(run: &str, k: u64) -> String {
    format!("{:0>48}{k:016x}", hex::encode(run.as_bytes()).chars().take(48).collect::<String>())
}

/// Signatures for notifications `0..count`, all over one timestamp taken now, computed on every
/// available core before the timed phase.
pub struct SignedPool {
    pub timestamp: HeaderValue,
    pub signatures: Vec<[u8; 64]>,
    pub took: std::time::Duration,
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub fn sign_pool(shape: &Shape, key: &SigningKey, count: usize, threads: usize) -> SignedPool {
    let started = Instant::now();
    let timestamp = unix_now().to_string();
    let mut signatures = vec![[0u8; 64]; count];
    let per_thread = count.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for (chunk_index, chunk) in signatures.chunks_mut(per_thread).enumerate() {
            let timestamp = &timestamp;
            scope.spawn(move || {
                let first = chunk_index * per_thread;
                for (offset, slot) in chunk.iter_mut().enumerate() {
                    let body = shape.notification_body((first + offset) as u64);
                    *slot = relay::sign(key, timestamp, &body);
                }
            });
        }
    });
    SignedPool { timestamp: HeaderValue::from_str(&timestamp).expect("digits"), signatures, took: started.elapsed() }
}

/// Where a connection takes its next request from.
pub type Source = Arc<dyn Fn(u64) -> Option<Request<Full<Bytes>>> + Send + Sync>;
