//! The `push-server` binary as an operator runs it: start-up errors, `--help`, and durability of
//! a registration across a hard kill.

use std::process::{Command, Stdio};

use push_testkit::binary::{self, free_port, post_json};

use crate::SERVER;

fn start_embedded(dir: &std::path::Path) -> binary::Server {
    let sink = dir.join("sink.jsonl");
    SERVER.start(dir, &[("VALIDATE_SIGNATURES", "false"), ("LOG_SINK_PATH", sink.to_str().unwrap())])
}

/// POSTs JSON and returns the status.
fn post(port: u16, path: &str, body: &str) -> u16 {
    post_json(port, path, &[], body).status
}

#[test]
fn a_registration_survives_a_hard_kill_right_after_the_response() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_embedded(dir.path());
    assert_eq!(post(server.port, "/clients", r#"{"client_id":"durable","type":"fcm","token":"t"}"#), 200);
    server.kill(); // SIGKILL: no shutdown, no flush
    drop(server);

    let again = start_embedded(dir.path());
    let body = r#"{"id":"n","payload":{"topic":"t","flags":1,"blob":"b"}}"#;
    assert_eq!(post(again.port, "/clients/durable", body), 200);
    assert!(std::fs::read_to_string(dir.path().join("sink.jsonl")).unwrap().contains("\"durable\""));
    // The default database is a file in the working directory.
    assert!(dir.path().join("push-server.db").exists());
}

fn start_error(envs: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut c = SERVER.command(dir.path());
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
    let out = Command::new(SERVER.path()).arg("--help").output().unwrap();
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
    let server = SERVER.start(dir.path(), &[("VALIDATE_SIGNATURES", "FALSE"), ("RUST_LOG", "info")]);
    let port = server.port.to_string();
    let seen = server.wait_for_line("saying it listens", |l| l.contains("listening") && l.contains(&port)).join("\n");
    for needle in
        ["client store: SQLite", "dedup: in memory", "providers: apns -> log_sink", "SIGNATURE CHECKS ARE OFF"]
    {
        assert!(seen.contains(needle), "start-up log lacks {needle}:\n{seen}");
    }
}
