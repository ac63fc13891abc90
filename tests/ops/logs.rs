//! Logs as an operator reads them: JSON lines with `LOG_FORMAT=json`, readable text otherwise, a
//! request id on every line of a request and in the response, and never a device token.

use serde_json::Value;

use push_testkit::binary::{get, post_json, request};

use crate::SERVER;

const TOKEN: &str = "device-token-that-must-never-be-logged";

/// The request id of a JSON log line: the `request_id` of its outermost (`http`) span.
fn request_id(line: &Value) -> Option<&str> {
    let spans = line["spans"].as_array()?;
    spans.iter().find(|s| s["name"] == "http")?["request_id"].as_str()
}

fn parse_all(lines: &[String]) -> Vec<Value> {
    lines.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect()
}

#[test]
fn json_lines_carry_the_request_id_of_their_request() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        SERVER.start(dir.path(), &[("LOG_FORMAT", "json"), ("RUST_LOG", "info"), ("VALIDATE_SIGNATURES", "false")]);

    // The caller's id is kept and echoed.
    let register = format!(r#"{{"client_id":"c1","type":"fcm","token":"{TOKEN}"}}"#);
    let given = post_json(server.port, "/clients", &[("X-Request-Id", "wallet-req-0001")], &register);
    assert_eq!(given.status, 200, "{}", given.body);
    assert_eq!(given.header("x-request-id"), Some("wallet-req-0001"));

    // Without one (or with one that is not sane), a fresh id is made and returned.
    let body = r#"{"id":"n1","payload":{"topic":"t","flags":1,"blob":"b"}}"#;
    let generated = post_json(server.port, "/clients/c1", &[], body);
    assert_eq!(generated.status, 200, "{}", generated.body);
    let fresh = generated.header("x-request-id").expect("a generated request id").to_owned();
    assert_eq!(fresh.len(), 32);
    let insane = post_json(server.port, "/clients/c1", &[("X-Request-Id", "two words")], body);
    assert_ne!(insane.header("x-request-id"), Some("two words"));
    assert_eq!(insane.header("x-request-id").unwrap().len(), 32);

    // Error envelopes from outside the handlers carry it too.
    let unknown = request(server.port, "GET", "/nowhere", &[("X-Request-Id", "lost-1")], "");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.header("x-request-id"), Some("lost-1"));
    assert_eq!(get(server.port, "/health").header("x-request-id").map(str::len), Some(32));

    // Each request's last line is written as its answer leaves, so the test waits for both.
    server.wait_for_line("for the generated id", |l| l.contains(&fresh) && l.contains("request finished"));
    let lines =
        server.wait_for_line("for the unrouted request", |l| l.contains("lost-1") && l.contains("request finished"));
    let lines = parse_all(&lines);
    let of = |id: &str| -> Vec<&Value> { lines.iter().filter(|l| request_id(l) == Some(id)).collect() };

    let registration = of("wallet-req-0001");
    let messages: Vec<_> = registration.iter().map(|l| l["fields"]["message"].as_str().unwrap_or_default()).collect();
    assert!(messages.contains(&"client registered"), "{messages:?}");
    assert!(messages.contains(&"request finished"), "{messages:?}");
    let delivery = of(&fresh);
    let messages: Vec<_> = delivery.iter().map(|l| l["fields"]["message"].as_str().unwrap_or_default()).collect();
    for needle in ["notification delivered", "request finished"] {
        assert!(messages.contains(&needle), "{needle} not among {messages:?}");
    }
    // The span fields come along: the use case's ids on the lines inside it.
    let delivered = delivery.iter().find(|l| l["fields"]["message"] == "notification delivered").unwrap();
    assert_eq!(delivered["span"]["name"], "send");
    assert_eq!(delivered["span"]["client_id"], "c1");
    assert_eq!(delivered["span"]["notification_id"], "n1");
    let finished = delivery.iter().find(|l| l["fields"]["message"] == "request finished").unwrap();
    assert_eq!(finished["span"]["route"], "send_notification");
    assert_eq!(finished["fields"]["status"], 200);
    assert!(of("lost-1").iter().any(|l| l["fields"]["message"] == "request finished"));

    // Every line inside a request belongs to exactly that request.
    for line in &lines {
        if line["spans"].as_array().is_some_and(|s| !s.is_empty()) {
            assert!(request_id(line).is_some(), "a request line without its id: {line}");
        }
    }
    let all = server.lines().join("\n");
    assert!(!all.contains(TOKEN), "a device token reached the log");
}

#[test]
fn text_lines_are_readable_and_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = SERVER.start(dir.path(), &[("RUST_LOG", "info"), ("VALIDATE_SIGNATURES", "false")]);
    let register = format!(r#"{{"client_id":"c2","type":"fcm","token":"{TOKEN}"}}"#);
    let reply = post_json(server.port, "/clients", &[("x-request-id", "text-req-7")], &register);
    assert_eq!(reply.header("x-request-id"), Some("text-req-7"));
    let lines =
        server.wait_for_line("finishing the request", |l| l.contains("request finished") && l.contains("text-req-7"));
    let registered = lines.iter().find(|l| l.contains("client registered")).expect("a registration line");
    assert!(registered.contains("request_id=text-req-7"), "{registered}");
    assert!(registered.contains("client_id=c2"), "{registered}");
    assert!(serde_json::from_str::<Value>(registered).is_err(), "text, not JSON: {registered}");
    assert!(!lines.join("\n").contains(TOKEN));
}

#[test]
fn rust_log_filters_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        SERVER.start(dir.path(), &[("RUST_LOG", "warn"), ("LOG_FORMAT", "JSON"), ("VALIDATE_SIGNATURES", "false")]);
    // Warnings still come through (signature checks off), info lines do not.
    let lines = server.wait_for_line("warning at start-up", |l| l.contains("SIGNATURE CHECKS ARE OFF"));
    post_json(server.port, "/clients", &[("x-request-id", "quiet-1")], r#"{"client_id":"q","type":"fcm","token":"t"}"#);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let lines = [lines, server.lines()].concat();
    assert!(lines.iter().all(|l| !l.contains("quiet-1")), "{lines:?}");
    assert!(parse_all(&lines).iter().all(|l| l["level"] != "INFO"));
}

#[test]
fn sigterm_drains_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = SERVER.start(dir.path(), &[("RUST_LOG", "info"), ("VALIDATE_SIGNATURES", "false")]);
    assert_eq!(get(server.port, "/health").status, 200);
    let (took, status) = server.terminate();
    assert!(status.success(), "a requested stop is a clean exit: {status}");
    assert!(took < std::time::Duration::from_secs(5), "an idle server stops at once, took {took:?}");
    let lines = server.wait_for_line("saying it stopped", |l| l.contains("push-server stopped"));
    assert!(lines.iter().any(|l| l.contains("shutdown requested")), "{lines:?}");
}

#[test]
fn text_lines_cannot_be_forged_through_field_values() {
    let dir = tempfile::tempdir().unwrap();
    let server = SERVER.start(dir.path(), &[("RUST_LOG", "info"), ("VALIDATE_SIGNATURES", "false")]);
    let register = r#"{"client_id":"c3","type":"fcm","token":"t3"}"#;
    assert_eq!(post_json(server.port, "/clients", &[], register).status, 200);
    // A notification id (any text the Relay picks) with a line break and a terminal escape.
    let forged = "INFO push_server: FORGED client unregistered";
    let body = format!(r#"{{"id":"n3\n{forged}\r\u001b[2J","payload":{{"topic":"t","flags":1,"blob":"b"}}}}"#);
    let reply = post_json(server.port, "/clients/c3", &[("x-request-id", "forge-1")], &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let lines =
        server.wait_for_line("finishing the request", |l| l.contains("request finished") && l.contains("forge-1"));
    for line in &lines {
        assert!(!line.contains('\r') && !line.contains('\u{1b}'), "a raw control character: {line:?}");
        assert!(line.contains("forge-1") || !line.contains("FORGED"), "a forged line: {line:?}");
    }
    let delivered = lines.iter().find(|l| l.contains("notification delivered")).expect("a delivery line");
    assert!(delivered.contains(r"notification_id=n3\nINFO push_server: FORGED"), "{delivered}");
    assert!(delivered.contains(r"\r\u{1b}[2J"), "{delivered}");
}
