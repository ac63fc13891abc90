//! Their settings on the real binary: credentials inline under their names, both names for one
//! thing and FCM_API_KEY refused in one line that never repeats a secret, their settings without
//! counterpart named in a warning, LOG_LEVEL, and /metrics on TELEMETRY_PROMETHEUS_PORT.

use base64::{Engine, engine::general_purpose::STANDARD};

use push_testkit::{
    binary::{free_port, get, text},
    fake::apns::provider_key,
};

use crate::SERVER;

/// A value that must never be echoed (and is not base64, so it is refused for what it is).
const SECRET_MARK: &str = "secret-mark-never-shown!";

fn check_config(envs: &[(&str, &str)]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = SERVER.run(dir.path(), &["check-config"], envs);
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn inline_credentials_by_their_names_start_the_providers() {
    let p8 = STANDARD.encode(provider_key());
    let (ok, stdout, stderr) = check_config(&[
        ("APNS_TYPE", "token"),
        ("APNS_PKCS8_PEM", &p8),
        ("APNS_KEY_ID", "KEYINLINE1"),
        ("APNS_TEAM_ID", "TEAMINLIN1"),
        ("APNS_TOPIC", "com.example.inline"),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("apns"), "{stdout}");
    assert!(!stdout.contains(&p8[..40]) && !stderr.contains(&p8[..40]), "the key is never shown");
}

#[test]
fn both_names_and_the_legacy_fcm_key_stop_the_start_in_one_line_without_the_value() {
    for (envs, expected) in [
        (
            vec![("APNS_CERT_PATH", "/c.p12"), ("APNS_CERTIFICATE", SECRET_MARK), ("APNS_TOPIC", "com.x")],
            "APNS_CERT_PATH and APNS_CERTIFICATE",
        ),
        (
            vec![("FCM_CREDENTIALS_PATH", "/sa.json"), ("FCM_V1_CREDENTIALS", SECRET_MARK)],
            "FCM_CREDENTIALS_PATH and FCM_V1_CREDENTIALS",
        ),
        (vec![("FCM_API_KEY", SECRET_MARK)], "FCM_API_KEY is set"),
        (vec![("LOG_LEVEL", "debug"), ("RUST_LOG", "info")], "RUST_LOG and LOG_LEVEL"),
        (vec![("APNS_CERTIFICATE", SECRET_MARK), ("APNS_TOPIC", "com.x")], "APNS_CERTIFICATE is not base64"),
    ] {
        let (ok, stdout, stderr) = check_config(&envs);
        assert!(!ok, "{envs:?}: {stdout}");
        assert_eq!(stderr.trim().lines().count(), 1, "{envs:?}: one line: {stderr}");
        assert!(stderr.contains(expected), "{envs:?}: {stderr}");
        assert!(!stderr.contains(SECRET_MARK) && !stdout.contains(SECRET_MARK), "{envs:?}: {stderr}");
    }
}

#[test]
fn their_settings_without_counterpart_are_named_and_metrics_move_to_their_port() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let port = metrics_port.to_string();
    let server = SERVER.start(
        dir.path(),
        &[
            ("JWT_SECRET", "their-jwt-secret"),
            ("GEOIP_DB_BUCKET", "bucket"),
            ("TELEMETRY_PROMETHEUS_PORT", &port),
            ("LOG_LEVEL", "info"),
        ],
    );
    let warning = server.wait_for_line("the warning naming their settings", |l| l.contains("set but not used"));
    let line = warning.iter().find(|l| l.contains("set but not used")).unwrap();
    assert!(line.contains("JWT_SECRET, GEOIP_DB_BUCKET") && !line.contains("their-jwt-secret"), "{line}");
    let apart = get(metrics_port, "/metrics");
    assert_eq!(apart.status, 200, "{}", apart.body);
    assert_eq!(get(server.addr().port(), "/metrics").status, 404, "not on the API port any more");
}
