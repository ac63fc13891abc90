//! Black-box tests of the FCM HTTP v1 provider: the real server, driven over its HTTP API, talks
//! to local fakes of Google's OAuth token endpoint and FCM API, which check every request.

use std::time::{Duration, Instant};

use push_server::{
    adapters::push::{
        fcm::{FcmConfig, FcmConfigError, FcmProvider, ServiceAccount},
        retry::RetryPolicy,
    },
    bootstrap::server,
};
use push_testkit::{
    TestApp, cleartext, encrypted,
    fake::{
        Answer, Recorded,
        fcm::{Google, PROJECT, SEND_PATH, access_token, fcm_error, fcm_ok, pem, service_account, spawn_for},
    },
    join_all, spawn_with, test_settings,
};
use serde_json::{Value, json};

const TOKEN: &str = "fcm-device-token:APA91b-test_1";

/// A server wired to fresh fakes, with client `c1` registered as `fcm`.
async fn setup() -> (Google, TestApp) {
    let google = Google::start().await;
    let app = spawn_for(&google).await;
    let reply = app.register("c1", "fcm", TOKEN).await;
    assert!(reply.is_ok_envelope(), "register: {}", reply.text);
    (google, app)
}

fn sent_message(request: &Recorded) -> Value {
    request.json()
}

#[tokio::test]
async fn delivers_an_encrypted_notification_as_a_data_only_message() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_ok());

    let reply = app.send("c1", &encrypted("n1")).await;
    assert!(reply.is_ok_envelope(), "{} {}", reply.status, reply.text);

    let tokens = google.token_requests();
    assert_eq!(tokens.len(), 1);
    google.check_token_request(&tokens[0]);

    let sent = google.fcm_requests();
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, SEND_PATH);
    assert_eq!(request.header("authorization"), Some(format!("Bearer {}", access_token(1)).as_str()));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        sent_message(request),
        json!({"message": {
            "data": {"topic": "topic-1", "flags": "17", "blob": "opaque-ciphertext"},
            "android": {"priority": "HIGH"},
            "token": TOKEN,
        }})
    );
}

#[tokio::test]
async fn delivers_a_cleartext_notification_with_a_notification_block() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_ok());
    let full = json!({"title": "Hello", "body": "World", "icon": "https://i.example/x.png",
                      "url": "https://u.example", "type": "chat"});
    assert!(app.send("c1", &cleartext("n1", &full)).await.is_ok_envelope());
    let minimal = json!({"title": "T", "body": "B"});
    assert!(app.send("c1", &cleartext("n2", &minimal)).await.is_ok_envelope());

    let sent = google.fcm_requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent_message(&sent[0]),
        json!({"message": {
            "notification": {"title": "Hello", "body": "World", "image": "https://i.example/x.png"},
            "data": {"topic": "topic-1", "flags": "16", "url": "https://u.example", "type": "chat"},
            "android": {"priority": "HIGH"},
            "token": TOKEN,
        }})
    );
    assert_eq!(
        sent_message(&sent[1]),
        json!({"message": {
            "notification": {"title": "T", "body": "B"},
            "data": {"topic": "topic-1", "flags": "16"},
            "android": {"priority": "HIGH"},
            "token": TOKEN,
        }})
    );
}

#[tokio::test]
async fn a_duplicate_id_is_answered_ok_without_a_second_fcm_call() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_ok());
    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope());
    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope());
    assert_eq!(google.fcm_requests().len(), 1);
}

#[tokio::test]
async fn one_access_token_serves_many_sends() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_ok());
    let sends = (0..12).map(|i| {
        let app = &app;
        async move { app.send("c1", &encrypted(&format!("n{i}"))).await }
    });
    // Concurrent first sends too: they must share one token fetch.
    for reply in join_all(sends).await {
        assert!(reply.is_ok_envelope(), "{}", reply.text);
    }
    assert_eq!(google.token_requests().len(), 1, "the token endpoint is asked once");
    let sent = google.fcm_requests();
    assert_eq!(sent.len(), 12);
    assert!(sent.iter().all(|r| r.header("authorization") == Some(format!("Bearer {}", access_token(1)).as_str())));
}

#[tokio::test]
async fn unregistered_deletes_the_client() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_error(404, "NOT_FOUND", Some("UNREGISTERED")));

    let reply = app.send("c1", &encrypted("n1")).await;
    assert_eq!(reply.status, 410, "{}", reply.text);
    assert_eq!(reply.error_names(), ["client_unregistered"]);
    assert_eq!(google.fcm_requests().len(), 1, "a dead token is tried once");

    let reply = app.send("c1", &encrypted("n2")).await;
    assert_eq!(reply.status, 404, "the client is gone: {}", reply.text);
    assert_eq!(reply.field_names(), ["client_id"]);
}

#[tokio::test]
async fn invalid_argument_is_a_rejected_payload_and_the_client_stays() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_error(400, "INVALID_ARGUMENT", Some("INVALID_ARGUMENT")));

    let reply = app.send("c1", &encrypted("n1")).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.field_names(), ["payload.blob"]);
    assert_eq!(google.fcm_requests().len(), 1, "a rejected payload is tried once");

    google.fcm_answers(fcm_ok());
    assert!(app.send("c1", &encrypted("n2")).await.is_ok_envelope(), "the client was kept");
}

#[tokio::test]
async fn a_message_over_4_kib_is_refused_before_any_call() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_ok());
    let body = json!({"id": "big", "payload": {"topic": "t", "flags": 1, "blob": "x".repeat(4200)}}).to_string();
    let reply = app.send("c1", &body).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.field_names(), ["payload.blob"]);
    assert!(google.fcm_requests().is_empty());
    assert!(google.token_requests().is_empty());
}

#[tokio::test]
async fn unavailable_is_retried_then_502_and_the_relay_retry_delivers() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_error(503, "UNAVAILABLE", Some("UNAVAILABLE")));

    let reply = app.send("c1", &encrypted("n1")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.error_names(), ["fcm_unavailable"]);
    assert_eq!(google.fcm_requests().len(), 3, "max_attempts");

    // The claim was released: the Relay's retry of the same id is delivered.
    google.fcm_answers(fcm_ok());
    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope());
    assert_eq!(google.fcm_requests().len(), 1);
}

#[tokio::test]
async fn quota_exceeded_is_retried_then_502() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_error(429, "RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED")).header("retry-after", "0"));
    let reply = app.send("c1", &encrypted("n1")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.error_names(), ["fcm_unavailable"]);
    assert_eq!(google.fcm_requests().len(), 3);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (google, app) = setup().await;
    let busy = fcm_error(429, "RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED")).header("retry-after", "1");
    google.fcm_answers_first(1, busy, fcm_ok());
    let started = Instant::now();
    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope());
    assert!(started.elapsed() >= Duration::from_secs(1), "waited for Retry-After");
    assert_eq!(google.fcm_requests().len(), 2);
}

#[tokio::test]
async fn a_retry_after_near_u64_max_is_a_502_at_once_not_a_panic() {
    let (google, app) = setup().await;
    let busy =
        fcm_error(429, "RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED")).header("retry-after", "18446744073709551615");
    google.fcm_answers_first(1, busy, fcm_ok());
    let started = Instant::now();
    let reply = app.send("c1", &encrypted("n1")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.error_names(), ["fcm_unavailable"]);
    assert_eq!(google.fcm_requests().len(), 1, "waiting that long is past every budget");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    // The server carries on: the Relay's retry of the same id is delivered.
    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope());
}

#[tokio::test]
async fn an_access_token_said_to_live_u64_max_seconds_is_used_not_a_panic() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_ok());
    google.oauth_answers(Answer::status(200).json(&json!({
        "access_token": access_token(1), "expires_in": u64::MAX, "token_type": "Bearer"
    })));
    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope());
    assert!(app.send("c1", &encrypted("n2")).await.is_ok_envelope());
    assert_eq!(google.token_requests().len(), 1, "the token is cached");
    assert!(
        google
            .fcm_requests()
            .iter()
            .all(|r| r.header("authorization") == Some(format!("Bearer {}", access_token(1)).as_str()))
    );
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_once_and_the_send_succeeds() {
    let (google, app) = setup().await;
    google.fcm_answers_first(1, fcm_error(401, "UNAUTHENTICATED", None), fcm_ok());

    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope());
    let sent = google.fcm_requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].header("authorization"), Some(format!("Bearer {}", access_token(1)).as_str()));
    assert_eq!(sent[1].header("authorization"), Some(format!("Bearer {}", access_token(2)).as_str()));
    let tokens = google.token_requests();
    assert_eq!(tokens.len(), 2);
    google.check_token_request(&tokens[1]);

    // The new token is the one kept.
    assert!(app.send("c1", &encrypted("n2")).await.is_ok_envelope());
    assert_eq!(google.token_requests().len(), 2);
}

#[tokio::test]
async fn credentials_refused_after_a_refresh_give_502_and_keep_the_client() {
    for refusal in
        [fcm_error(401, "UNAUTHENTICATED", None), fcm_error(403, "PERMISSION_DENIED", Some("SENDER_ID_MISMATCH"))]
    {
        let (google, app) = setup().await;
        google.fcm_answers(refusal);

        let reply = app.send("c1", &encrypted("n1")).await;
        assert_eq!(reply.status, 502, "{}", reply.text);
        assert_eq!(reply.error_names(), ["fcm_credentials"]);
        assert_eq!(google.fcm_requests().len(), 2, "one try, one refresh, one more try");
        assert_eq!(google.token_requests().len(), 2);

        google.fcm_answers(fcm_ok());
        assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope(), "client kept, claim released");
    }
}

#[tokio::test]
async fn a_token_endpoint_refusing_the_assertion_is_a_credentials_error() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_ok());
    google.oauth_answers(
        Answer::status(400).json(&json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})),
    );

    let reply = app.send("c1", &encrypted("n1")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.error_names(), ["fcm_credentials"]);
    assert_eq!(google.token_requests().len(), 1, "the same assertion would be refused again");
    assert!(google.fcm_requests().is_empty());

    google.oauth_answers(Answer::status(401));
    assert_eq!(app.send("c1", &encrypted("n1")).await.error_names(), ["fcm_credentials"]);
}

#[tokio::test]
async fn a_token_endpoint_that_is_down_makes_fcm_unavailable() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_ok());
    google.oauth_answers(Answer::status(503));

    let reply = app.send("c1", &encrypted("n1")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.error_names(), ["fcm_unavailable"]);
    assert_eq!(google.token_requests().len(), 3, "retried like any transient failure");
    assert!(google.fcm_requests().is_empty());
}

#[tokio::test]
async fn a_hanging_fcm_ends_in_502_within_the_budget() {
    let (google, app) = setup().await;
    google.fcm_answers(fcm_ok().after(Duration::from_secs(30)));
    let started = Instant::now();
    let reply = app.send("c1", &encrypted("n1")).await;
    let took = started.elapsed();
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.error_names(), ["fcm_unavailable"]);
    // 3 s budget (`spawn_for`), plus scheduling slack.
    assert!(took < Duration::from_millis(3500), "took {took:?}");
    assert!(took >= Duration::from_secs(1), "at least one attempt timed out: {took:?}");
}

#[tokio::test]
async fn an_unreachable_fcm_is_retried_then_502() {
    let google = Google::start().await;
    let credentials = google.credentials.clone();
    // A port nothing listens on: connections are refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let app = spawn_with(move |s| {
        s.fcm.credentials_path = Some(credentials);
        s.fcm.endpoint = Some(format!("http://{closed}"));
        s.provider.request_timeout = Duration::from_secs(1);
        s.provider.total_timeout = Duration::from_secs(3);
        s.provider.max_attempts = 3;
    })
    .await;
    assert!(app.register("c1", "fcm", TOKEN).await.is_ok_envelope());
    let reply = app.send("c1", &encrypted("n1")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.error_names(), ["fcm_unavailable"]);
}

#[tokio::test]
async fn fcm_project_id_setting_overrides_the_credentials() {
    let google = Google::start().await;
    let (credentials, endpoint) = (google.credentials.clone(), google.fcm.url());
    let app = spawn_with(move |s| {
        s.fcm.credentials_path = Some(credentials);
        s.fcm.endpoint = Some(format!("{endpoint}/"));
        s.fcm.project_id = Some("other-project".into());
    })
    .await;
    assert!(app.register("c1", "fcm", TOKEN).await.is_ok_envelope());
    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope());
    let sent = google.fcm_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v1/projects/other-project/messages:send", "the setting's project, not the account's");
}

#[tokio::test]
async fn only_fcm_is_served_once_it_is_configured() {
    let (_google, app) = setup().await;
    let reply = app.register("c2", "apns", "00ff").await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.field_names(), ["type"]);
}

/// Start-up refuses settings that cannot work, with a one-line reason.
#[tokio::test]
async fn settings_that_cannot_work_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let good_pem = pem(aws_lc_rs::encoding::AsDer::as_der(&key).unwrap().as_ref());
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let token_uri = "http://127.0.0.1:9/token";
    let cases = [
        (dir.path().join("missing.json"), "cannot read"),
        (write("not-json.json", "hello".into()), "not service-account JSON"),
        (
            write("user.json", json!({"type": "authorized_user", "client_id": "x", "refresh_token": "y"}).to_string()),
            "type is 'authorized_user'",
        ),
        (
            write("no-email.json", {
                let mut v = service_account(&good_pem, token_uri, Some(PROJECT));
                v.as_object_mut().unwrap().remove("client_email");
                v.to_string()
            }),
            "no \"client_email\"",
        ),
        (
            write(
                "bad-key.json",
                service_account(
                    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
                    token_uri,
                    Some(PROJECT),
                )
                .to_string(),
            ),
            "RSA PKCS#8",
        ),
        (write("no-project.json", service_account(&good_pem, token_uri, None).to_string()), "FCM_PROJECT_ID"),
    ];
    for (path, expected) in cases {
        let mut settings = test_settings(&dir);
        settings.fcm.credentials_path = Some(path.clone());
        let error = match server::start(&settings).await {
            Ok(_) => panic!("{} should stop start-up", path.display()),
            Err(e) => e.to_string(),
        };
        assert!(error.contains(expected), "{error:?} should mention {expected:?}");
        assert!(!error.contains('\n'), "one line: {error:?}");
        assert!(!error.contains("AAAA") && !error.contains(&good_pem[40..60]), "no key material: {error:?}");
    }
}

#[tokio::test]
async fn a_malformed_fcm_endpoint_stops_start_up() {
    let google = Google::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&dir);
    settings.fcm.credentials_path = Some(google.credentials.clone());
    settings.fcm.endpoint = Some("fcm.googleapis.com".into());
    let error = server::start(&settings).await.err().expect("start-up is refused").to_string();
    assert_eq!(error, "FCM_ENDPOINT must be an http:// or https:// URL, got 'fcm.googleapis.com'");
}

#[test]
fn the_adapter_refuses_a_configuration_that_cannot_work_in_its_own_terms() {
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let json = service_account(
        &pem(aws_lc_rs::encoding::AsDer::as_der(&key).unwrap().as_ref()),
        "http://127.0.0.1:9/token",
        None,
    );
    let account = || ServiceAccount::parse(&json.to_string()).expect("a service account");
    let retry = RetryPolicy::new(3, Duration::from_secs(1), Duration::from_secs(3));

    let error = FcmProvider::new(FcmConfig::new(account(), "demo project".into(), retry)).err().unwrap();
    assert!(matches!(&error, FcmConfigError::ProjectId(p) if p == "demo project"), "{error:?}");
    let mut config = FcmConfig::new(account(), PROJECT.into(), retry);
    config.endpoint = "fcm.googleapis.com".into();
    let error = FcmProvider::new(config).err().unwrap();
    assert!(matches!(&error, FcmConfigError::Endpoint(e) if e == "fcm.googleapis.com"), "{error:?}");
    // The adapter knows nothing of settings: the caller words the refusal after its source.
    assert!(!error.to_string().contains("FCM_"), "{error}");
    let error = ServiceAccount::parse("{}").err().unwrap().to_string();
    assert!(error.starts_with("not service-account JSON") && !error.contains("FCM_"), "{error}");

    assert!(FcmProvider::new(FcmConfig::new(account(), PROJECT.into(), retry)).is_ok());
}
