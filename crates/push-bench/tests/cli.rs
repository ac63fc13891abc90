//! The benchmark's command line, run as the scripts run it: every command is there, and
//! `relay-public-key` (which `scripts/profile.sh` starts a server with) derives the key the Relay's
//! secret signs for. Running the load scenarios against a server is the server's ops test
//! (tests/ops/bench_smoke.rs); this binary being a test target here is also what makes
//! `cargo test` build `push-bench` for it.

use std::process::{Command, Output};

use ed25519_dalek::SigningKey;

const BENCH: &str = env!("CARGO_BIN_EXE_push-bench");

fn bench(args: &[&str]) -> Output {
    Command::new(BENCH).args(args).env_remove("BENCH_RELAY_SECRET").output().expect("push-bench runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_command() {
    let out = bench(&["--help"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    for command in ["send", "mixed", "deliver", "register", "verify", "relay-public-key", "dedup-memory"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(command)), "{command} missing from:\n{help}");
    }
}

#[test]
fn relay_public_key_is_the_secrets_public_half() {
    let secret = [0x5a; 32];
    let out = bench(&["relay-public-key", "--relay-secret", &hex::encode(secret)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = hex::encode(SigningKey::from_bytes(&secret).verifying_key().to_bytes());
    assert_eq!(text(&out.stdout).trim(), expected);

    let out = bench(&["relay-public-key", "--relay-secret", "not-hex"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--relay-secret must be 64 hex digits"), "{}", text(&out.stderr));
}

#[test]
fn verify_reports_the_cost_of_one_signature_check() {
    let out = bench(&["verify", "--iterations", "50"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("verify_strict"), "{}", text(&out.stdout));
}
