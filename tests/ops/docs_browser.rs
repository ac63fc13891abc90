//! The Swagger UI at `/docs`, checked in a real browser: headless Chromium renders the page of a
//! running server (offline: the UI's script and styles are embedded in the binary) and every
//! operation of the OpenAPI document must appear as a rendered operation block, not merely in the
//! page's source (which embeds the document). Needs Debian's `chromium`: run
//! `scripts/check-docs-browser.sh`, which installs it and runs this test.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use push_testkit::binary::get;

use crate::SERVER;

/// Runs headless Chromium with `args` against `url`, bounded in time; returns its stdout.
fn chromium(args: &[&str], url: &str) -> String {
    let browser = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {browser} ({e}); scripts/check-docs-browser.sh installs it"));
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// `(tag, operationId, summary)` of every operation in the document.
fn operations(document: &Value) -> Vec<(String, String, String)> {
    let mut ops = Vec::new();
    for (_, path) in document["paths"].as_object().unwrap() {
        for (_, op) in path.as_object().unwrap() {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            ops.push((text(&op["tags"][0]), text(&op["operationId"]), text(&op["summary"])));
        }
    }
    ops
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[test]
#[ignore = "needs Debian's chromium: run scripts/check-docs-browser.sh"]
fn swagger_ui_renders_every_operation_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let server = SERVER.start(dir.path(), &[("VALIDATE_SIGNATURES", "false")]);
    let document: Value = serde_json::from_str(&get(server.port, "/openapi.json").body).unwrap();
    let ops = operations(&document);
    assert!(ops.len() >= 4, "{ops:?}");

    // The page as served holds the document but no rendered operation: rendering is the browser's.
    let source = get(server.port, "/docs").body;
    assert!(!source.contains("id=\"operations-"), "operation blocks are rendered client-side");

    let url = format!("{}/docs", server.url());
    let dom = chromium(&["--dump-dom"], &url);
    assert!(dom.contains("swagger-ui"), "the page did not render: {} bytes", dom.len());
    for (tag, id, summary) in &ops {
        let block = format!("id=\"operations-{tag}-{id}\"");
        assert!(dom.contains(&block), "operation {id} is not rendered (no {block})");
        let shown = format!("class=\"opblock-summary-description\">{}</div>", html_escape(summary));
        assert!(dom.contains(&shown), "operation {id}'s summary '{summary}' is not shown");
    }

    // A screenshot for a person to look at.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docs.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&["--window-size=1280,1400", &format!("--screenshot={}", shot.display())], &url);
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "no screenshot at {}", shot.display());
    println!("rendered {} operations; screenshot: {}", ops.len(), shot.display());
}
