//! The Relay signature rules on `POST /clients/{id}`.

use ed25519_dalek::SigningKey;

use push_testkit::{encrypted, now, sign_with, spawn_app, spawn_with};

const TS: &str = "X-Ed25519-Timestamp";
const SIG: &str = "X-Ed25519-Signature";

async fn app_with_client() -> push_testkit::TestApp {
    let app = spawn_app().await;
    app.register("c", "fcm", "tok").await;
    app
}

fn assert_401(r: &push_testkit::Reply, headers: &[&str]) {
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.field_names(), headers, "{}", r.text);
    assert!(r.json()["fields"].as_array().unwrap().iter().all(|f| f["location"] == "header"));
}

#[tokio::test]
async fn missing_headers() {
    let app = app_with_client().await;
    let body = encrypted("n");
    assert_401(&app.send_with("c", &body, None, None).await, &[TS, SIG]);
    let ts = now().to_string();
    assert_401(&app.send_with("c", &body, Some(&ts), None).await, &[SIG]);
    assert_401(&app.send_with("c", &body, None, Some(&"a".repeat(128))).await, &[TS]);
    assert!(app.deliveries().is_empty());
}

#[tokio::test]
async fn malformed_signatures() {
    let app = app_with_client().await;
    let body = encrypted("n");
    let ts = now().to_string();
    let good = sign_with(&app.relay, &ts, body.as_bytes());
    for bad in ["zz".repeat(64), good[..126].to_owned(), format!("{good}00"), String::new()] {
        assert_401(&app.send_with("c", &body, Some(&ts), Some(&bad)).await, &[SIG]);
    }
    assert!(app.deliveries().is_empty());
}

#[tokio::test]
async fn upper_case_hex_is_accepted() {
    let app = app_with_client().await;
    let body = encrypted("n");
    let ts = now().to_string();
    let sig = sign_with(&app.relay, &ts, body.as_bytes()).to_uppercase();
    assert!(app.send_with("c", &body, Some(&ts), Some(&sig)).await.is_ok_envelope());
}

#[tokio::test]
async fn wrong_key_and_other_body() {
    let app = app_with_client().await;
    let body = encrypted("n");
    let ts = now().to_string();
    let stranger = SigningKey::from_bytes(&[9; 32]);
    assert_401(&app.send_with("c", &body, Some(&ts), Some(&sign_with(&stranger, &ts, body.as_bytes()))).await, &[SIG]);
    let other = encrypted("other");
    let sig_for_other = sign_with(&app.relay, &ts, other.as_bytes());
    assert_401(&app.send_with("c", &body, Some(&ts), Some(&sig_for_other)).await, &[SIG]);
    // The timestamp is part of the signed bytes.
    let later = (now() + 1).to_string();
    let sig = sign_with(&app.relay, &ts, body.as_bytes());
    assert_401(&app.send_with("c", &body, Some(&later), Some(&sig)).await, &[SIG]);
    assert!(app.deliveries().is_empty());
}

#[tokio::test]
async fn stale_and_future_timestamps() {
    let app = app_with_client().await;
    let body = encrypted("n");
    for ts in [now() - 301, now() + 301, 0] {
        let ts = ts.to_string();
        let sig = sign_with(&app.relay, &ts, body.as_bytes());
        assert_401(&app.send_with("c", &body, Some(&ts), Some(&sig)).await, &[TS]);
    }
    for ts in ["-1", "1.5", " 1", "abc"] {
        let sig = sign_with(&app.relay, ts, body.as_bytes());
        assert_401(&app.send_with("c", &body, Some(ts), Some(&sig)).await, &[TS]);
    }
    // Inside the window both ways.
    for (i, ts) in [now() - 250, now() + 250].into_iter().enumerate() {
        let body = encrypted(&format!("ok-{i}"));
        let ts = ts.to_string();
        let sig = sign_with(&app.relay, &ts, body.as_bytes());
        assert!(app.send_with("c", &body, Some(&ts), Some(&sig)).await.is_ok_envelope());
    }
}

#[tokio::test]
async fn signature_is_checked_before_the_body_and_the_client() {
    let app = spawn_app().await;
    let r = app.send_with("nobody", "not json", None, None).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn window_is_configurable() {
    let app = spawn_with(|s| s.relay.max_clock_skew = std::time::Duration::from_secs(10)).await;
    app.register("c", "fcm", "tok").await;
    let body = encrypted("n");
    let ts = (now() - 60).to_string();
    let sig = sign_with(&app.relay, &ts, body.as_bytes());
    assert_401(&app.send_with("c", &body, Some(&ts), Some(&sig)).await, &[TS]);
}

#[tokio::test]
async fn no_key_configured_refuses_every_relay_request() {
    let app = spawn_with(|s| s.relay.public_key = None).await;
    app.register("c", "fcm", "tok").await;
    let r = app.send("c", &encrypted("n")).await;
    assert_401(&r, &[SIG]);
    assert!(app.deliveries().is_empty());
}

#[tokio::test]
async fn validation_can_be_switched_off_explicitly() {
    let app = spawn_with(|s| s.relay.validate_signatures = false).await;
    app.register("c", "fcm", "tok").await;
    assert!(app.send_with("c", &encrypted("n"), None, None).await.is_ok_envelope());
    assert_eq!(app.deliveries().len(), 1);
}

#[tokio::test]
async fn registration_is_not_signed() {
    let app = spawn_app().await;
    assert!(app.register("c", "fcm", "tok").await.is_ok_envelope());
}
