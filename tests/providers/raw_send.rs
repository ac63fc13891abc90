//! The raw send (`{topic, tag, message}`) to clients registered with `always_raw: true`, end to
//! end through the real APNS and FCM providers to their local fakes: exactly what each provider
//! is given, and the 4 KiB limit refused under `message` before any call.

use serde_json::json;

use push_testkit::TestApp;

/// Registers `client_id` as `push_type` with `always_raw: true`.
async fn register_raw_client(app: &TestApp, client_id: &str, push_type: &str, token: &str) {
    let body = json!({"client_id": client_id, "type": push_type, "token": token, "always_raw": true});
    let reply = app.register_raw(&body.to_string()).await;
    assert!(reply.is_ok_envelope(), "register: {}", reply.text);
}

fn raw(topic: &str, tag: u32, message: &str) -> String {
    json!({"topic": topic, "tag": tag, "message": message}).to_string()
}

#[cfg(feature = "apns")]
mod apns {
    use serde_json::json;

    use super::{raw, register_raw_client};
    use crate::pool::apns_at;
    use push_testkit::{fake::apns::FakeApns, spawn_with};

    const TOKEN: &str = "5f2a9c04e1b7d3a8c6f0e2b4d9a7c5e3f1b8d6a4c2e0f9b7d5a3c1e8f6b4d2a0";

    #[tokio::test]
    async fn apns_gets_the_placeholder_alert_with_topic_tag_and_message() {
        let fake = FakeApns::start().await;
        let keys = tempfile::tempdir().unwrap();
        let app = spawn_with(|s| apns_at(s, &fake, &keys)).await;
        register_raw_client(&app, "wallet-1", "apns", TOKEN).await;

        let reply = app.send("wallet-1", &raw("topic-1", 1100, "sealed-message")).await;
        assert!(reply.is_ok_envelope(), "{}", reply.text);
        let requests = fake.requests();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!(r.path, format!("/3/device/{TOKEN}"));
        assert_eq!(r.header("apns-push-type"), Some("alert"));
        assert_eq!(r.header("apns-priority"), Some("10"));
        assert_eq!(
            r.json(),
            json!({"aps": {"alert": {"title": "You have new notifications"}, "mutable-content": 1, "content-available": 1},
                   "topic": "topic-1", "tag": 1100, "message": "sealed-message"})
        );

        // The same message again is a duplicate: nothing more reaches APNS.
        assert!(app.send("wallet-1", &raw("topic-1", 1101, "sealed-message")).await.is_ok_envelope());
        // Over 4 KiB: refused under `message`, before any call.
        let big = app.send("wallet-1", &raw("topic-1", 1, &"x".repeat(5000))).await;
        assert_eq!(big.status, 400, "{}", big.text);
        assert_eq!(big.field_names(), ["message"]);
        assert_eq!(fake.request_count(), 1);
    }
}

#[cfg(feature = "fcm")]
mod fcm {
    use serde_json::json;

    use super::{raw, register_raw_client};
    use push_testkit::fake::fcm::{Google, fcm_ok, spawn_for};

    const TOKEN: &str = "fcm-device-token:APA91b-test_1";

    #[tokio::test]
    async fn fcm_gets_a_data_only_message_of_strings_at_high_priority() {
        let google = Google::start().await;
        let app = spawn_for(&google).await;
        register_raw_client(&app, "c1", "fcm", TOKEN).await;
        google.fcm_answers(fcm_ok());

        let reply = app.send("c1", &raw("topic-1", 4294967295, "sealed-message")).await;
        assert!(reply.is_ok_envelope(), "{} {}", reply.status, reply.text);
        let sent = google.fcm_requests();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].json(),
            json!({"message": {
                "data": {"topic": "topic-1", "tag": "4294967295", "message": "sealed-message"},
                "android": {"priority": "HIGH"},
                "token": TOKEN,
            }})
        );

        assert!(app.send("c1", &raw("other-topic", 1, "sealed-message")).await.is_ok_envelope());
        let big = app.send("c1", &raw("topic-1", 1, &"x".repeat(5000))).await;
        assert_eq!(big.status, 400, "{}", big.text);
        assert_eq!(big.field_names(), ["message"]);
        assert_eq!(google.fcm_requests().len(), 1, "a duplicate and an oversized message reach no provider");
    }
}
