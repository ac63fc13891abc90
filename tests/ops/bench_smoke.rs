//! A smoke run of the load benchmark (`push-bench`) against the real `push-server` binary: every
//! scenario runs for about a second and must finish without a failed request. It checks that the
//! benchmark works, never how fast anything is (speed is shown by `scripts/bench.sh`, not asserted).

use std::{path::PathBuf, process::Command};

use crate::SERVER;

/// push-bench is a package of its own (crates/push-bench), so cargo gives this test no
/// `CARGO_BIN_EXE_` for it: it is where cargo puts every binary of the workspace, beside the
/// server this test was built with (the same profile directory, under `CARGO_TARGET_DIR` when that
/// is set). `cargo test` at the root builds it (push-bench is a default member with tests of its
/// own); a narrower run, such as `--test ops`, uses the last build of it.
fn bench_binary() -> PathBuf {
    let path =
        std::path::Path::new(SERVER.path()).with_file_name(format!("push-bench{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: run `cargo build -p push-bench` (or the whole `cargo test`)",
        path.display()
    );
    path
}

fn bench(args: &[&str]) -> String {
    let out = Command::new(bench_binary())
        .args(args)
        // Short, small and unpinned: other tests run beside this one.
        .args(["--server-bin", SERVER.path(), "--no-pin", "--warmup", "0.5", "--duration", "1", "--connections", "4"])
        .env_remove("BENCH_DATABASE_URL")
        .env_remove("BENCH_REDIS_URL")
        .output()
        .expect("push-bench runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "push-bench {args:?} failed:\n{text}");
    assert!(text.contains("requests/s"), "no report:\n{text}");
    text
}

#[test]
fn send_signed_encrypted() {
    bench(&["send", "--clients", "5", "--rate-hint", "4000"]);
}

#[test]
fn send_beside_a_flood_of_bad_signatures() {
    // The run fails if a bad signature is not refused or a valid send fails.
    let text = bench(&["send", "--clients", "5", "--rate-hint", "4000", "--bad-signature-rate", "50"]);
    assert!(text.contains("bad signatures"), "no flood figures:\n{text}");
}

#[test]
fn a_baseline_runs_alternately_with_this_build() {
    // The same binary as its own baseline: the mechanics, each run labelled with its binary.
    let text = bench(&["register", "--baseline", SERVER.path(), "--rounds", "1"]);
    let this_build = text.find("register [this build]").expect("this build's run");
    let baseline = text.find("register [baseline]").expect("the baseline's run");
    assert!(this_build < baseline, "this build first:\n{text}");
}

#[test]
fn send_unsigned_cleartext() {
    bench(&["send", "--payload", "cleartext", "--no-signatures", "--clients", "5"]);
}

#[test]
fn mixed_sends_and_registrations() {
    bench(&["mixed", "--clients", "5", "--rate-hint", "4000", "--register-rate", "50"]);
}

#[test]
fn register() {
    bench(&["register"]);
}

#[test]
fn dedup_memory() {
    let out =
        Command::new(bench_binary()).args(["dedup-memory", "--entries", "20000"]).output().expect("push-bench runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("bytes per live entry"), "{text}");
}

/// The delivery scenario with fast fakes (5 ms median): the fake providers, the pool and the
/// report work end to end.
#[cfg(all(feature = "apns", feature = "fcm"))]
#[test]
fn deliver_through_fake_apns_and_fcm() {
    for provider in ["apns", "fcm"] {
        let out = Command::new(bench_binary())
            .args(["deliver", "--provider", provider, "--clients", "20", "--rate-hint", "2000"])
            .args(["--median-ms", "5", "--p99-ms", "20", "--gone-share", "0", "--bad-share", "0"])
            .args([
                "--server-bin",
                SERVER.path(),
                "--no-pin",
                "--warmup",
                "0.5",
                "--duration",
                "1",
                "--connections",
                "8",
            ])
            .env_remove("BENCH_DATABASE_URL")
            .env_remove("BENCH_REDIS_URL")
            .output()
            .expect("push-bench runs");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "push-bench deliver --provider {provider} failed:\n{text}");
        assert!(text.contains("deliveries/s") && text.contains("connections opened"), "no report:\n{text}");
    }
}
