//! Trace export (the `otel` feature): spans reach a fake OTLP/HTTP collector on loopback with the
//! right parent/child links, an incoming W3C `traceparent` continues its trace, attributes carry
//! ids, push type and outcome but never a token or blob, and an unreachable collector breaks
//! nothing.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use push_testkit::binary::post_json;

use super::otlp_proto::{Span, decode_export};
use crate::SERVER;

const TOKEN: &str = "fcm-device-token-secret-123";
const BLOB: &str = "opaque-ciphertext-never-in-a-span";

/// A fake collector: accepts OTLP/HTTP protobuf posts to `/v1/traces` and keeps their spans.
struct Collector {
    port: u16,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Collector {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut request_line = String::new();
                    reader.read_line(&mut request_line).unwrap();
                    let mut length = 0;
                    loop {
                        let mut line = String::new();
                        reader.read_line(&mut line).unwrap();
                        if line.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    assert!(request_line.starts_with("POST /v1/traces "), "{request_line}");
                    kept.lock().unwrap().extend(decode_export(&body));
                    // An empty ExportTraceServiceResponse is zero bytes of protobuf.
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                });
            }
        });
        Self { port, spans }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until the collector holds spans named `names` in trace `trace_id`.
    fn wait_for(&self, trace_id: &str, names: &[&str]) -> Vec<Span> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let spans: Vec<Span> =
                self.spans.lock().unwrap().iter().filter(|s| s.trace_id == trace_id).cloned().collect();
            if names.iter().all(|n| spans.iter().any(|s| s.name == *n)) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "trace {trace_id} lacks some of {names:?}; got {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}"))
}

#[test]
fn spans_reach_the_collector_as_one_trace_continuing_the_callers() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let server = SERVER.start(
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint()),
            ("OTEL_SERVICE_NAME", "push-server-under-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("VALIDATE_SIGNATURES", "false"),
        ],
    );
    let register = format!(r#"{{"client_id":"traced","type":"fcm","token":"{TOKEN}"}}"#);
    assert_eq!(post_json(server.port, "/clients", &[], &register).status, 200);

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    let body = format!(r#"{{"id":"n-traced","payload":{{"topic":"t","flags":17,"blob":"{BLOB}"}}}}"#);
    let sent = post_json(server.port, "/clients/traced", &[("traceparent", &traceparent)], &body);
    assert_eq!(sent.status, 200, "{}", sent.body);

    let spans = collector.wait_for(trace_id, &["http", "send", "store.find", "dedup.try_claim", "provider.send"]);
    let http = named(&spans, "http");
    assert_eq!(http.parent_span_id, caller_span, "the request span continues the caller's trace");
    assert_eq!(http.kind, 2, "a server span");
    assert_eq!(http.attributes["route"], "send_notification");
    assert_eq!(http.attributes["status"], "200");
    assert_eq!(http.attributes["request_id"], sent.header("x-request-id").unwrap());
    assert_eq!(http.resource["service.name"], "push-server-under-test");

    let send = named(&spans, "send");
    assert_eq!(send.parent_span_id, http.span_id);
    for (key, value) in [
        ("client_id", "traced"),
        ("notification_id", "n-traced"),
        ("push_type", "fcm"),
        ("provider", "log_sink"),
        ("outcome", "delivered"),
    ] {
        assert_eq!(send.attributes.get(key).map(String::as_str), Some(value), "send.{key}: {:?}", send.attributes);
    }
    for child in ["store.find", "dedup.try_claim", "provider.send"] {
        assert_eq!(named(&spans, child).parent_span_id, send.span_id, "{child} is a child of send");
    }
    assert_eq!(named(&spans, "dedup.try_claim").attributes["outcome"], "claimed");
    let provider = named(&spans, "provider.send");
    assert_eq!(provider.attributes["outcome"], "delivered");
    assert_eq!(provider.attributes["push_type"], "fcm");
    assert_eq!(provider.attributes["retries"], "0");

    // The registration had no traceparent: a trace of its own, rooted at its request span.
    let all = collector.spans.lock().unwrap().clone();
    let register = all.iter().find(|s| s.name == "register").expect("a register span");
    assert_eq!(register.attributes["outcome"], "registered");
    let root = all.iter().find(|s| s.span_id == register.parent_span_id).expect("its request span");
    assert_eq!((root.name.as_str(), root.parent_span_id.as_str()), ("http", ""));
    assert_ne!(root.trace_id, trace_id);

    // Never a token or a blob, in any attribute of any span.
    for span in &all {
        for value in span.attributes.values() {
            assert!(!value.contains(TOKEN) && !value.contains(BLOB), "{} leaks: {value}", span.name);
        }
    }
}

#[test]
fn an_unreachable_collector_breaks_nothing() {
    // A port nothing listens on: every export fails, quickly.
    let dead = push_testkit::binary::free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut server = SERVER.start(
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://127.0.0.1:{dead}")),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("VALIDATE_SIGNATURES", "false"),
        ],
    );
    assert_eq!(post_json(server.port, "/clients", &[], r#"{"client_id":"u","type":"fcm","token":"t"}"#).status, 200);
    for i in 0..20 {
        let body = format!(r#"{{"id":"n{i}","payload":{{"topic":"t","flags":1,"blob":"b"}}}}"#);
        let started = Instant::now();
        assert_eq!(
            post_json(
                server.port,
                "/clients/u",
                &[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")],
                &body
            )
            .status,
            200
        );
        assert!(started.elapsed() < Duration::from_secs(1), "a request waited on the collector");
    }
    let (stopped_in, status) = server.terminate();
    assert!(status.success(), "{status}");
    assert!(stopped_in < Duration::from_secs(8), "shutdown waited {stopped_in:?} on the collector");
}

#[test]
fn check_config_names_the_collector_and_refuses_grpc() {
    use push_testkit::binary::text;
    let dir = tempfile::tempdir().unwrap();
    let out = SERVER.run(dir.path(), &["check-config"], &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("traces: OTLP http/protobuf to http://127.0.0.1:4318"), "{}", text(&out.stdout));
    let out = SERVER.run(
        dir.path(),
        &["check-config"],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc"), "{}", text(&out.stderr));
    let out = SERVER.run(dir.path(), &["check-config"], &[]);
    assert!(text(&out.stdout).contains("traces: off"), "{}", text(&out.stdout));
}
