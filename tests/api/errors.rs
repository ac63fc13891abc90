//! The envelope for everything that is not a handler's own answer, and the documentation routes.

use serde_json::json;

use push_testkit::{TestApp, spawn_app, spawn_with};

async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> push_testkit::Reply {
    let mut req = app.http.request(method, app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    TestApp::reply(req.send().await.unwrap()).await
}

fn assert_envelope(r: &push_testkit::Reply, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(r.json()["status"], "FAILED");
    assert_eq!(r.error_names(), [error], "{}", r.text);
    assert!(r.json().get("fields").is_none());
}

#[tokio::test]
async fn health() {
    let app = spawn_app().await;
    let r = app.get("/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, format!("OK, push-server v{}", env!("CARGO_PKG_VERSION")));
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
}

#[tokio::test]
async fn unknown_route_is_404_envelope() {
    let app = spawn_app().await;
    for path in ["/nope", "/clients/a/b", "/", "/health/x"] {
        assert_envelope(&app.get(path).await, 404, "not_found");
    }
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let app = spawn_app().await;
    let r = raw(&app, reqwest::Method::PUT, "/clients/abc", None, vec![]).await;
    assert_envelope(&r, 405, "method_not_allowed");
    let mut allow: Vec<_> = r.headers["allow"].to_str().unwrap().split(", ").map(str::to_owned).collect();
    allow.sort();
    assert_eq!(allow, ["DELETE", "POST"]);
    let r = raw(&app, reqwest::Method::GET, "/clients", None, vec![]).await;
    assert_envelope(&r, 405, "method_not_allowed");
    assert_eq!(r.headers["allow"], "POST");
    let r = raw(&app, reqwest::Method::POST, "/health", None, vec![]).await;
    assert_envelope(&r, 405, "method_not_allowed");
    assert_eq!(r.headers["allow"], "GET, HEAD");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    let body = br#"{"client_id":"a","type":"fcm","token":"t"}"#.to_vec();
    for ct in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        assert_envelope(
            &raw(&app, reqwest::Method::POST, "/clients", ct, body.clone()).await,
            415,
            "unsupported_media_type",
        );
    }
    assert!(
        raw(&app, reqwest::Method::POST, "/clients", Some("application/json; charset=utf-8"), body)
            .await
            .is_ok_envelope()
    );
}

#[tokio::test]
async fn malformed_json_and_non_objects_are_400() {
    let app = spawn_app().await;
    for (body, error) in
        [("{", "malformed_json"), ("", "malformed_json"), ("[]", "invalid_body"), ("\"x\"", "invalid_body")]
    {
        let r = raw(&app, reqwest::Method::POST, "/clients", Some("application/json"), body.as_bytes().to_vec()).await;
        assert_envelope(&r, 400, error);
    }
    let r = raw(&app, reqwest::Method::POST, "/clients", Some("application/json"), vec![0xff, 0xfe]).await;
    assert_envelope(&r, 400, "malformed_json");
}

#[tokio::test]
async fn oversized_body_is_413() {
    let app = spawn_app().await;
    let big = json!({"client_id": "a", "type": "fcm", "token": "t".repeat(17 * 1024)}).to_string();
    assert_envelope(
        &raw(&app, reqwest::Method::POST, "/clients", Some("application/json"), big.into_bytes()).await,
        413,
        "payload_too_large",
    );
    let r = app.send("a", &"x".repeat(17 * 1024)).await;
    assert_envelope(&r, 413, "payload_too_large");
}

#[tokio::test]
async fn body_limit_is_configurable() {
    let app = spawn_with(|s| s.max_body_bytes = 100).await;
    let r = app.register("a", "fcm", &"t".repeat(200)).await;
    assert_envelope(&r, 413, "payload_too_large");
}

#[tokio::test]
async fn storage_unavailable_is_503_and_nothing_leaks() {
    // Another process holds SQLite's write lock past the store timeout.
    let app = spawn_with(|s| s.store.timeout = std::time::Duration::from_millis(300)).await;
    let db = app.dir.path().join("clients.db");
    let mut locker = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3,time,sys; c=sqlite3.connect('{}', isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(3)",
            db.display()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut out = locker.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    let r = app.register("c", "fcm", "t").await;
    let _ = locker.kill();
    let _ = locker.wait();
    assert_envelope(&r, 503, "storage_unavailable");
    let text = r.text.to_lowercase();
    assert!(!text.contains("sqlite") && !text.contains("locked") && !text.contains(".db"), "{}", r.text);
}

#[tokio::test]
async fn openapi_and_docs_are_served() {
    let app = spawn_app().await;
    let json = app.get("/openapi.json").await;
    assert_eq!(json.status, 200);
    let doc = json.json();
    assert!(doc["paths"]["/clients/{client_id}"]["post"].is_object());
    let yaml = app.get("/openapi.yaml").await;
    assert_eq!(yaml.status, 200);
    assert!(yaml.text.contains("/clients/{client_id}"));
    let docs = app.get("/docs").await;
    assert_eq!(docs.status, 200);
    assert!(docs.text.contains("swagger"), "{}", &docs.text[..200.min(docs.text.len())]);
}

#[tokio::test]
async fn metrics_count_requests_and_notifications() {
    let app = spawn_app().await;
    app.register("c", "fcm", "tok").await;
    app.send("c", &push_testkit::encrypted("n")).await;
    app.send("c", &push_testkit::encrypted("n")).await;
    app.get("/nope").await;
    let m = app.get("/metrics").await;
    assert_eq!(m.status, 200);
    for needle in [
        r#"push_http_requests_total{method="POST",route="register_client",status="200"} 1"#,
        r#"push_http_requests_total{method="POST",route="send_notification",status="200"} 2"#,
        r#"push_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"push_notifications_total{outcome="delivered",project="default",provider="log_sink",push_type="fcm"} 1"#,
        r#"push_notifications_total{outcome="duplicate",project="default",provider="log_sink",push_type="fcm"} 1"#,
        "push_dedup_hits_total 1",
        "push_provider_duration_seconds_count{outcome=\"delivered\",provider=\"log_sink\"} 1",
    ] {
        assert!(m.text.contains(needle), "missing {needle} in\n{}", m.text);
    }
}
