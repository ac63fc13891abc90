//! Every command of `push-server`, exercised against a running server: `keygen` and `send` end to
//! end, `keygen --client` and `client-jwt` as a wallet, `openapi` against what the server serves,
//! `migrate` and `check-config` beside it.

use serde_json::Value;

use push_testkit::binary::{get, post_json, text};

use crate::SERVER;

/// `NAME=value` lines of `keygen`'s output.
fn keygen(dir: &std::path::Path) -> (String, String) {
    let out = SERVER.run(dir, &["keygen"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let value = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("keygen prints {name}: {stdout}"))
            .to_owned()
    };
    let (private, public) = (value("RELAY_PRIVATE_KEY"), value("RELAY_PUBLIC_KEY"));
    for key in [&private, &public] {
        assert_eq!(key.len(), 64, "{stdout}");
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    (private, public)
}

fn deliveries(dir: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("sink.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn help_lists_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = SERVER.run(dir.path(), &["--help"], &[]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for command in ["serve", "openapi", "migrate", "check-config", "keygen", "send", "client-jwt"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(command)), "--help lacks {command}:\n{help}");
    }
}

/// The `NAME=value` lines a command printed.
fn printed(out: &std::process::Output, name: &str) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("prints {name}: {stdout}"))
        .to_owned()
}

#[test]
fn a_wallet_key_and_its_client_jwt_register_where_a_jwt_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let wallet = SERVER.run(dir.path(), &["keygen", "--client"], &[]);
    let (key, client_id) = (printed(&wallet, "CLIENT_PRIVATE_KEY"), printed(&wallet, "CLIENT_ID"));
    assert!(client_id.starts_with("z6Mk"), "{client_id}");
    let server = SERVER.start(dir.path(), &[("CLIENT_AUTH", "required"), ("RESPONSE_DIALECT", "walletconnect")]);
    // The default PUBLIC_URL: localhost at the server's port.
    let aud = format!("http://localhost:{}", server.port);
    let signed = SERVER.run(dir.path(), &["client-jwt", "--aud", &aud], &[("CLIENT_PRIVATE_KEY", &key)]);
    assert_eq!(printed(&signed, "CLIENT_ID"), client_id);
    let jwt = printed(&signed, "CLIENT_JWT");
    let body = format!(r#"{{"client_id":"did:key:{client_id}","type":"fcm","token":"t","always_raw":false}}"#);
    let refused = post_json(server.port, "/clients", &[], &body);
    assert_eq!(refused.status, 401, "{}", refused.body);
    let registered = post_json(server.port, "/clients", &[("Authorization", &jwt)], &body);
    assert_eq!((registered.status, registered.body.as_str()), (200, r#"{"status":"SUCCESS"}"#));
}

#[test]
fn keygen_gives_a_fresh_pair_each_time() {
    let dir = tempfile::tempdir().unwrap();
    assert_ne!(keygen(dir.path()), keygen(dir.path()));
}

#[test]
fn send_signs_like_the_relay_and_delivers_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keygen(dir.path());
    let sink = dir.path().join("sink.jsonl");
    let server = SERVER.start(dir.path(), &[("RELAY_PUBLIC_KEY", &public), ("LOG_SINK_PATH", sink.to_str().unwrap())]);
    let registered = post_json(
        server.port,
        "/clients",
        &[],
        r#"{"client_id":"did:key:wallet-1","type":"fcm","token":"device-token"}"#,
    );
    assert_eq!(registered.status, 200, "{}", registered.body);
    let url = server.url();

    // Cleartext: --title/--body become a base64 notify message with flags Notify.
    let out = SERVER.run(
        dir.path(),
        &[
            "send",
            "--url",
            &url,
            "--client-id",
            "did:key:wallet-1",
            "--key",
            &private,
            "--id",
            "n-1",
            "--title",
            "Hello",
            "--body",
            "World",
        ],
        &[],
    );
    assert!(out.status.success(), "stdout: {} stderr: {}", text(&out.stdout), text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("HTTP 200"), "{stdout}");
    assert!(stdout.contains(r#""status": "OK""#), "{stdout}");
    let sent = deliveries(dir.path());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["client_id"], "wallet-1");
    assert_eq!(sent[0]["notification_id"], "n-1");
    let message = sent[0]["message"].to_string();
    assert!(message.contains("Hello") && message.contains("World"), "{message}");

    // Encrypted, with the key from the environment and a random id.
    let out = SERVER.run(
        dir.path(),
        &["send", "--url", &url, "--client-id", "wallet-1", "--blob", "opaque-ciphertext", "--topic", "t-1"],
        &[("RELAY_PRIVATE_KEY", &private)],
    );
    assert!(out.status.success(), "stdout: {} stderr: {}", text(&out.stdout), text(&out.stderr));
    let sent = deliveries(dir.path());
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[1]["notification_id"], "n-1");
    let message = sent[1]["message"].to_string();
    assert!(message.contains("opaque-ciphertext") && message.contains("t-1"), "{message}");

    // Non-2xx answers are printed and make the command fail.
    let (other_key, _) = keygen(dir.path());
    let out = SERVER.run(
        dir.path(),
        &["send", "--url", &url, "--client-id", "wallet-1", "--key", &other_key, "--title", "T", "--body", "B"],
        &[],
    );
    assert!(!out.status.success());
    assert!(text(&out.stdout).starts_with("HTTP 401"), "{}", text(&out.stdout));
    let out = SERVER.run(
        dir.path(),
        &["send", "--url", &url, "--client-id", "nobody", "--key", &private, "--blob", "b"],
        &[],
    );
    assert!(!out.status.success());
    assert!(text(&out.stdout).starts_with("HTTP 404"), "{}", text(&out.stdout));
    assert_eq!(deliveries(dir.path()).len(), 2);

    // --raw: the raw form, to a client that asked for it.
    let registered = post_json(
        server.port,
        "/clients",
        &[],
        r#"{"client_id":"raw-wallet","type":"fcm","token":"raw-device-token","always_raw":true}"#,
    );
    assert_eq!(registered.status, 200, "{}", registered.body);
    let raw = ["send", "--url", &url, "--client-id", "raw-wallet", "--key", &private, "--raw", "--blob", "sealed"];
    let out = SERVER.run(dir.path(), &[&raw[..], &["--tag", "1100"]].concat(), &[]);
    assert!(out.status.success(), "stdout: {} stderr: {}", text(&out.stdout), text(&out.stderr));
    let sent = deliveries(dir.path());
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent[2]["message"]["data"],
        serde_json::json!({"topic": "push-server-test", "tag": "1100", "message": "sealed"})
    );

    // No server there: one line saying so.
    let out = SERVER.run(
        dir.path(),
        &["send", "--url", "http://127.0.0.1:1", "--client-id", "c", "--key", &private, "--blob", "b"],
        &[],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("push-server: cannot reach"), "{}", text(&out.stderr));
    // Either content is required, and a bad key is named.
    assert!(!SERVER.run(dir.path(), &["send", "--client-id", "c", "--key", &private], &[]).status.success());
    let out = SERVER.run(dir.path(), &["send", "--url", &url, "--client-id", "c", "--key", "zz", "--blob", "b"], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("private key"), "{}", text(&out.stderr));
}

#[test]
fn openapi_prints_what_the_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = SERVER.start(dir.path(), &[("VALIDATE_SIGNATURES", "false")]);
    let out = SERVER.run(dir.path(), &["openapi"], &[]);
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let served: Value = serde_json::from_str(&get(server.port, "/openapi.json").body).unwrap();
    assert_eq!(printed, served);
    let out = SERVER.run(dir.path(), &["openapi", "--format", "yaml"], &[]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), get(server.port, "/openapi.yaml").body.trim());
}

#[test]
fn migrate_prepares_the_database_and_is_idempotent_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("migrated.db").display());
    let out = SERVER.run(dir.path(), &["migrate"], &[("DATABASE_URL", &db)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("migrations applied: SQLite"), "{}", text(&out.stdout));
    assert!(dir.path().join("migrated.db").exists());

    let server = SERVER.start(dir.path(), &[("DATABASE_URL", &db), ("VALIDATE_SIGNATURES", "false")]);
    assert_eq!(post_json(server.port, "/clients", &[], r#"{"client_id":"m","type":"fcm","token":"t"}"#).status, 200);
    // Again, while the server uses the database: nothing to do, nothing broken.
    let out = SERVER.run(dir.path(), &["migrate"], &[("DATABASE_URL", &db)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body = r#"{"id":"n","payload":{"topic":"t","flags":1,"blob":"b"}}"#;
    assert_eq!(post_json(server.port, "/clients/m", &[], body).status, 200);

    let out = SERVER.run(dir.path(), &["migrate"], &[("DATABASE_URL", "mysql://nope")]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).starts_with("push-server: DATABASE_URL"), "{}", text(&out.stderr));
}

#[test]
fn check_config_builds_everything_without_listening() {
    let dir = tempfile::tempdir().unwrap();
    let server = SERVER.start(dir.path(), &[("VALIDATE_SIGNATURES", "false")]);
    let port = server.port.to_string();
    // The same port as the running server: check-config does not bind it.
    let out = SERVER.run(dir.path(), &["check-config"], &[("PORT", &port), ("DEDUP_TTL_SECS", "600")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for needle in [
        &format!("listen: 0.0.0.0:{port}")[..],
        "client store: SQLite",
        "dedup: in memory (window 600 s",
        // The lease: the provider budget (14 s) and the margin; the patience: 30 s less 1 s.
        "claims: in flight for a lease of 16.0 s (the provider budget, 14.0 s, + 2 s), done for 600 s",
        "a duplicate of an in-flight send waits up to 29.0 s",
        "providers: apns -> log_sink",
        "traces: ",
        "configuration OK",
    ] {
        assert!(stdout.contains(needle), "check-config lacks {needle}:\n{stdout}");
    }
    assert_eq!(get(server.port, "/health").status, 200);

    let redis = |needle| if cfg!(feature = "redis") { needle } else { "`redis` feature" };
    for (envs, needle) in [
        (&[("RELAY_PUBLIC_KEY", "abcd")][..], "RELAY_PUBLIC_KEY"),
        (&[("DATABASE_URL", "mysql://x")][..], "DATABASE_URL"),
        (&[("VALIDATE_SIGNATURES", "maybe")][..], "maybe"),
        (&[("RELAY_URL", "ftp://relay")][..], "RELAY_URL"),
        (&[("DEDUP_BACKEND", "fast")][..], "fast"),
        // Postgres dedup on an SQLite store: refused, never a silent fallback to memory.
        (&[("DEDUP_BACKEND", "postgres")][..], "DEDUP_BACKEND=postgres"),
        // Replica acknowledgements asked for without Redis: refused, never silently none.
        (&[("DEDUP_MIN_REPLICA_ACKS", "1")][..], "DEDUP_MIN_REPLICA_ACKS is set but dedup is not on Redis"),
        (&[("DEDUP_BACKEND", "redis")][..], redis("REDIS_CLUSTER_NODES")),
        (&[("REDIS_SENTINELS", "redis://127.0.0.1:1")][..], redis("REDIS_SENTINEL_MASTER")),
        (
            &[("REDIS_URL", "redis://127.0.0.1:1"), ("REDIS_CLUSTER_NODES", "redis://127.0.0.1:2")][..],
            redis("only one"),
        ),
    ] {
        let out = SERVER.run(dir.path(), &["check-config"], envs);
        assert!(!out.status.success(), "{envs:?}");
        let stderr = text(&out.stderr);
        let lines: Vec<_> = stderr.lines().filter(|l| l.starts_with("push-server:")).collect();
        assert_eq!(lines.len(), 1, "{envs:?}: {stderr}");
        assert!(lines[0].contains(needle), "{envs:?}: {stderr}");
        assert!(!text(&out.stdout).contains("configuration OK"));
    }
}

#[test]
fn check_config_names_the_egress_proxy_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let run = |envs: &[(&str, &str)]| SERVER.run(dir.path(), &["check-config"], envs);
    let out = run(&[]);
    assert!(text(&out.stdout).contains("egress: direct (no HTTPS_PROXY or HTTP_PROXY)"), "{}", text(&out.stdout));

    // Both cases read; the same value in both is one setting.
    let out = run(&[
        ("HTTPS_PROXY", "http://ops:s3cret@127.0.0.1:3128"),
        ("https_proxy", "http://ops:s3cret@127.0.0.1:3128"),
        ("no_proxy", ".internal, 10.0.0.0/8"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "egress: https:// via http://ops@127.0.0.1:3128, http:// via direct; direct for NO_PROXY internal,10.0.0.0/8"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret") && !text(&out.stderr).contains("s3cret"));

    for (envs, needle) in [
        (&[("HTTP_PROXY", "http://a:1"), ("http_proxy", "http://b:1")][..], "HTTP_PROXY and http_proxy are both set"),
        (&[("HTTPS_PROXY", "socks5://ops:s3cret@127.0.0.1:1080")][..], "HTTPS_PROXY: a 'socks5://' proxy"),
        (&[("NO_PROXY", "host:http")][..], "NO_PROXY: 'host:http'"),
    ] {
        let out = run(envs);
        let stderr = text(&out.stderr);
        assert!(!out.status.success() && stderr.contains(needle) && !stderr.contains("s3cret"), "{envs:?}: {stderr}");
    }
}

#[cfg(not(feature = "otel"))]
#[test]
fn an_otlp_endpoint_without_the_otel_feature_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = SERVER.run(dir.path(), &["check-config"], &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("`otel` feature"), "{}", text(&out.stderr));
}

#[test]
fn a_replay_window_open_past_dedup_is_refused_and_plain_http_key_fetches_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    for (envs, needle) in [
        // Dedup must outlast twice the skew: a replayed request would otherwise be new again.
        (&[("DEDUP_TTL_SECS", "599")][..], "DEDUP_TTL_SECS (599) must be at least twice SIGNATURE_MAX_SKEW_SECS (300)"),
        (&[("DEDUP_TTL_SECS", "60"), ("SIGNATURE_MAX_SKEW_SECS", "31")][..], "DEDUP_TTL_SECS"),
        // The skew itself is capped.
        (&[("SIGNATURE_MAX_SKEW_SECS", "3601")][..], "SIGNATURE_MAX_SKEW_SECS"),
    ] {
        for command in [&["check-config"][..], &[][..]] {
            let out = SERVER.run(dir.path(), command, envs);
            assert!(!out.status.success(), "{command:?} {envs:?}");
            let stderr = text(&out.stderr);
            let lines: Vec<_> = stderr.lines().filter(|l| l.starts_with("push-server:")).collect();
            assert_eq!(lines.len(), 1, "{envs:?}: {stderr}");
            assert!(lines[0].contains(needle), "{envs:?}: {stderr}");
        }
    }
    let ok = SERVER.run(dir.path(), &["check-config"], &[("DEDUP_TTL_SECS", "60"), ("SIGNATURE_MAX_SKEW_SECS", "30")]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));

    // A key fetched over plain HTTP can be swapped on the way: allowed (local Relays), but loud.
    let out = SERVER.run(dir.path(), &["check-config"], &[("RELAY_URL", "http://127.0.0.1:9")]);
    let stderr = text(&out.stderr);
    assert!(stderr.lines().any(|l| l.contains("WARN") && l.contains("RELAY_URL is plain http://")), "{stderr}");
    let out = SERVER.run(dir.path(), &["check-config"], &[("RELAY_URL", "https://127.0.0.1:9")]);
    assert!(!text(&out.stderr).contains("plain http://"));
}
