//! The `push-server` binary as an operator runs it: start-up errors, `--help`, and durability of
//! a registration across a hard kill.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_push-server");

/// A clean environment: no setting leaks in from the machine running the tests.
fn command(dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir).env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &std::path::Path, port: u16) -> Running {
    let child = command(dir)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("VALIDATE_SIGNATURES", "false")
        .env("LOG_SINK_PATH", dir.join("sink.jsonl"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Running(child)
}

/// A tiny blocking HTTP/1.1 POST, so these tests need no async runtime; returns the status.
fn post(port: u16, path: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_registration_survives_a_hard_kill_right_after_the_response() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start(dir.path(), port);
    assert_eq!(post(port, "/clients", r#"{"client_id":"durable","type":"fcm","token":"t"}"#), 200);
    server.0.kill().unwrap(); // SIGKILL: no shutdown, no flush
    server.0.wait().unwrap();
    drop(server);

    let port = free_port();
    let _again = start(dir.path(), port);
    let body = r#"{"id":"n","payload":{"topic":"t","flags":1,"blob":"b"}}"#;
    assert_eq!(post(port, "/clients/durable", body), 200);
    assert!(std::fs::read_to_string(dir.path().join("sink.jsonl")).unwrap().contains("\"durable\""));
    // The default database is a file in the working directory.
    assert!(dir.path().join("push-server.db").exists());
}

fn start_error(envs: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut c = command(dir.path());
    c.env("PORT", free_port().to_string()).env("HOST", "127.0.0.1");
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap().wait_with_output().unwrap();
    assert!(!out.status.success(), "{envs:?} should stop the start");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn invalid_settings_stop_the_start_with_one_line() {
    for (envs, needle) in [
        (&[("VALIDATE_SIGNATURES", "maybe")][..], "maybe"),
        (&[("PORT", "http")][..], "http"),
        (&[("RELAY_PUBLIC_KEY", "abcd")][..], "RELAY_PUBLIC_KEY"),
        (&[("DATABASE_URL", "mysql://x")][..], "DATABASE_URL"),
        (&[("DEDUP_TTL_SECS", "0")][..], "0"),
        (&[("LOG_SINK", "yes")][..], "yes"),
        (&[("RELAY_URL", "ftp://relay")][..], "RELAY_URL"),
    ] {
        let err = start_error(envs);
        let lines: Vec<_> = err.lines().filter(|l| l.starts_with("push-server:")).collect();
        assert_eq!(lines.len(), 1, "{envs:?}: {err}");
        assert!(lines[0].contains(needle), "{envs:?}: {err}");
    }
}

#[cfg(not(feature = "redis"))]
#[test]
fn a_backend_that_is_not_compiled_in_is_named() {
    let err = start_error(&[("REDIS_URL", "redis://127.0.0.1:1")]);
    assert!(err.contains("`redis` feature"), "{err}");
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_without_the_feature_is_named() {
    let err = start_error(&[("DATABASE_URL", "postgres://localhost/x")]);
    assert!(err.contains("`postgres` feature"), "{err}");
}

#[test]
fn help_lists_commands_and_settings() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in
        ["serve", "openapi", "DATABASE_URL", "REDIS_URL", "RELAY_PUBLIC_KEY", "VALIDATE_SIGNATURES", "DEDUP_TTL_SECS"]
    {
        assert!(text.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn start_up_says_what_is_in_use_and_warns_when_signatures_are_off() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = command(dir.path())
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("VALIDATE_SIGNATURES", "FALSE")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    while let Some(Ok(line)) = lines.next() {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("listening") && line.contains(&port.to_string()) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    for needle in
        ["client store: SQLite", "dedup: in memory", "providers: apns -> log_sink", "SIGNATURE CHECKS ARE OFF"]
    {
        assert!(seen.contains(needle), "start-up log lacks {needle}:\n{seen}");
    }
}
