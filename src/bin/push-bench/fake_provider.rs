//! The `deliver` scenario's fake APNS and FCM, in this process: HTTP/2 over cleartext (prior
//! knowledge) on loopback, advertising a chosen SETTINGS_MAX_CONCURRENT_STREAMS, answering each
//! request after a latency drawn from a distribution, with a small share of dead-token (410 /
//! FCM `UNREGISTERED`) and rejected-payload (400) answers; plus a one-route OAuth token endpoint
//! (HTTP/1.1) for FCM. It counts connections and streams in flight, which is how the benchmark
//! sees the server's pool from outside.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::latency::Latency;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Apns,
    Fcm,
}

#[derive(Debug, Clone, Copy)]
pub struct FakeConfig {
    pub flavour: Flavour,
    pub max_streams: u32,
    pub latency: Latency,
    /// Share of requests answered "the token is dead" (the server then deletes the client).
    pub gone_share: f64,
    /// Share answered "the payload is rejected" (400).
    pub bad_share: f64,
}

#[derive(Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub in_flight: AtomicUsize,
    pub in_flight_peak: AtomicUsize,
    /// The most streams any one connection carried at once.
    pub per_connection_peak: AtomicUsize,
    pub answered: AtomicU64,
    pub gone: AtomicU64,
    pub bad: AtomicU64,
}

pub struct FakeProvider {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
}

impl FakeProvider {
    pub async fn start(config: FakeConfig) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("fake provider: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let stats = Arc::new(Stats::default());
        let accepting = stats.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                accepting.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(stream, config, accepting.clone()));
            }
        });
        Ok(Self { addr, stats })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn serve(stream: tokio::net::TcpStream, config: FakeConfig, stats: Arc<Stats>) {
    let Ok(mut connection) =
        h2::server::Builder::new().max_concurrent_streams(config.max_streams).handshake::<_, Bytes>(stream).await
    else {
        return;
    };
    let on_this = Arc::new(AtomicUsize::new(0));
    while let Some(Ok((request, respond))) = connection.accept().await {
        tokio::spawn(answer(request, respond, config, stats.clone(), on_this.clone()));
    }
}

async fn answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    config: FakeConfig,
    stats: Arc<Stats>,
    on_this: Arc<AtomicUsize>,
) {
    let now = stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    stats.in_flight_peak.fetch_max(now, Ordering::Relaxed);
    let here = on_this.fetch_add(1, Ordering::Relaxed) + 1;
    stats.per_connection_peak.fetch_max(here, Ordering::Relaxed);

    let mut body = request.into_body();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    tokio::time::sleep(config.latency.sample()).await;

    let draw = fastrand::f64();
    let (status, text): (u16, &'static [u8]) = if draw < config.gone_share {
        stats.gone.fetch_add(1, Ordering::Relaxed);
        match config.flavour {
            Flavour::Apns => (410, br#"{"reason":"Unregistered","timestamp":1700000000000}"#),
            Flavour::Fcm => (
                404,
                br#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#,
            ),
        }
    } else if draw < config.gone_share + config.bad_share {
        stats.bad.fetch_add(1, Ordering::Relaxed);
        match config.flavour {
            Flavour::Apns => (400, br#"{"reason":"PayloadEmpty"}"#),
            Flavour::Fcm => (
                400,
                br#"{"error":{"code":400,"message":"Invalid message","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"INVALID_ARGUMENT"}]}}"#,
            ),
        }
    } else {
        match config.flavour {
            Flavour::Apns => (200, b""),
            Flavour::Fcm => (200, br#"{"name":"projects/bench-project/messages/0:1700000000000000%0"}"#),
        }
    };
    // Counted out before the answer leaves, so the server is never seen above the limit
    // because of this bookkeeping.
    stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    on_this.fetch_sub(1, Ordering::Relaxed);
    stats.answered.fetch_add(1, Ordering::Relaxed);
    let response = http::Response::builder()
        .status(status)
        .header("apns-id", "EC1BF194-B3B2-424A-89A9-5A918A6E6B5D")
        .header("content-type", "application/json")
        .body(())
        .expect("a valid response");
    if text.is_empty() {
        let _ = respond.send_response(response, true);
    } else if let Ok(mut stream) = respond.send_response(response, false) {
        let _ = stream.send_data(Bytes::from_static(text), true);
    }
}

/// A token endpoint that grants every request an access token valid for an hour.
pub async fn start_oauth() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("fake OAuth: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(|_request| async {
                let body = r#"{"access_token":"ya29.bench-token","expires_in":3600,"token_type":"Bearer"}"#;
                Ok::<_, Infallible>(
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from_static(body.as_bytes())))
                        .expect("a valid response"),
                )
            });
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    Ok(addr)
}
