//! `POST /clients/{id}`: delivery, de-duplication, body rules and what the device receives.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;

use push_testkit::{cleartext, encrypted, join_all, spawn_app};

#[tokio::test]
async fn encrypted_notification_reaches_the_log_sink_as_apns_would_get_it() {
    let app = spawn_app().await;
    app.register("c", "apns", "00aa").await;
    assert!(app.send("c", &encrypted("n1")).await.is_ok_envelope());
    let d = &app.deliveries()[0];
    assert_eq!(d["client_id"], "c");
    assert_eq!(d["notification_id"], "n1");
    assert_eq!(d["type"], "apns");
    assert_eq!(
        d["message"],
        json!({"topic": "topic-1", "flags": 17,
               "aps": {"alert": {"title": "You have new notifications"}, "mutable-content": 1, "content-available": 1},
               "blob": "opaque-ciphertext"})
    );
}

#[tokio::test]
async fn cleartext_notification_is_decoded_for_fcm() {
    let app = spawn_app().await;
    app.register("c", "fcm", "tok").await;
    let message = json!({"title": "Hello", "body": "World", "icon": "https://i", "url": "https://u", "type": "t"});
    assert!(app.send("c", &cleartext("n1", &message)).await.is_ok_envelope());
    assert_eq!(
        app.deliveries()[0]["message"],
        json!({"notification": {"title": "Hello", "body": "World", "image": "https://i"},
               "data": {"topic": "topic-1", "flags": "16", "url": "https://u", "type": "t"},
               "android": {"priority": "HIGH"}})
    );
}

#[tokio::test]
async fn unpadded_base64_is_accepted() {
    let app = spawn_app().await;
    app.register("c", "fcm", "tok").await;
    let blob = STANDARD.encode(r#"{"title":"a","body":"bc"}"#).trim_end_matches('=').to_owned();
    let body = json!({"id": "n", "payload": {"topic": "t", "flags": 0, "blob": blob}}).to_string();
    assert!(app.send("c", &body).await.is_ok_envelope());
}

#[tokio::test]
async fn duplicate_id_is_answered_ok_and_not_sent_again() {
    let app = spawn_app().await;
    app.register("a", "fcm", "tok-a").await;
    app.register("b", "fcm", "tok-b").await;
    assert!(app.send("a", &encrypted("same")).await.is_ok_envelope());
    assert!(app.send("a", &encrypted("same")).await.is_ok_envelope());
    // Another client may receive the same id.
    assert!(app.send("b", &encrypted("same")).await.is_ok_envelope());
    let to: Vec<_> = app.deliveries().iter().map(|d| d["client_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(to, ["a", "b"]);
}

#[tokio::test]
async fn forty_eight_concurrent_identical_sends_deliver_exactly_once() {
    let app = spawn_app().await;
    app.register("c", "fcm", "tok").await;
    let replies = join_all((0..48).map(|_| {
        let app = &app;
        async move { app.send("c", &encrypted("burst")).await }
    }))
    .await;
    assert!(replies.iter().all(|r| r.is_ok_envelope()));
    assert_eq!(app.deliveries().len(), 1);
}

#[tokio::test]
async fn unknown_client_is_404_on_the_path() {
    let app = spawn_app().await;
    let r = app.send("nobody", &encrypted("n")).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["fields"],
        json!([{"field": "client_id", "description": "no client is registered under this id", "location": "path"}])
    );
}

#[tokio::test]
async fn every_invalid_body_field_is_reported() {
    let app = spawn_app().await;
    app.register("c", "fcm", "tok").await;
    let r = app.send("c", &json!({"id": "", "payload": {"topic": "", "flags": -1, "blob": 7}}).to_string()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.field_names(), ["id", "payload.topic", "payload.flags", "payload.blob"]);
    let r = app.send("c", &json!({"id": "x".repeat(256)}).to_string()).await;
    assert_eq!(r.field_names(), ["id", "payload.topic", "payload.flags", "payload.blob"]);
    let r = app
        .send("c", &json!({"id": "ok", "payload": {"topic": "t", "flags": 4294967296u64, "blob": "b"}}).to_string())
        .await;
    assert_eq!(r.field_names(), ["payload.flags"]);
    let r = app.send("c", &json!({"id": "ok", "payload": {"topic": "t", "flags": 1.5, "blob": "b"}}).to_string()).await;
    assert_eq!(r.field_names(), ["payload.flags"]);
    assert!(app.deliveries().is_empty());
}

#[tokio::test]
async fn bad_path_id_and_bad_body_are_reported_together() {
    let app = spawn_app().await;
    let r =
        app.send("did:key:", &json!({"id": "", "payload": {"topic": "t", "flags": 1, "blob": "b"}}).to_string()).await;
    assert_eq!(r.status, 400);
    let fields = r.json()["fields"].clone();
    assert_eq!(fields[0]["field"], "client_id");
    assert_eq!(fields[0]["location"], "path");
    assert_eq!(fields[1]["field"], "id");
    assert_eq!(fields[1]["location"], "body");
}

#[tokio::test]
async fn cleartext_blob_that_does_not_decode_is_400_payload_blob() {
    let app = spawn_app().await;
    app.register("c", "fcm", "tok").await;
    for blob in ["%%%".to_owned(), STANDARD.encode("not json"), STANDARD.encode(r#"{"title":"only"}"#)] {
        let body = json!({"id": "n", "payload": {"topic": "t", "flags": 16, "blob": blob}}).to_string();
        let r = app.send("c", &body).await;
        assert_eq!(r.status, 400, "{blob}");
        assert_eq!(r.field_names(), ["payload.blob"]);
    }
}

#[tokio::test]
async fn body_errors_come_before_client_lookup() {
    let app = spawn_app().await;
    let r = app.send("nobody", &json!({"id": ""}).to_string()).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn provider_payload_over_4_kib_is_refused_and_the_id_stays_usable() {
    let app = spawn_app().await;
    app.register("c", "apns", "00aa").await;
    let big = json!({"id": "n", "payload": {"topic": "t", "flags": 1, "blob": "x".repeat(5000)}}).to_string();
    let r = app.send("c", &big).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.field_names(), ["payload.blob"]);
    assert!(app.deliveries().is_empty());
    // The claim was released: a corrected message with the same id is delivered.
    assert!(app.send("c", &encrypted("n")).await.is_ok_envelope());
    assert_eq!(app.deliveries().len(), 1);
}

#[tokio::test]
async fn unknown_flag_bits_pass_through() {
    let app = spawn_app().await;
    app.register("c", "fcm", "tok").await;
    let body = json!({"id": "n", "payload": {"topic": "t", "flags": 4294967295u64, "blob": "b"}}).to_string();
    assert!(app.send("c", &body).await.is_ok_envelope());
    assert_eq!(app.deliveries()[0]["message"]["data"]["flags"], "4294967295");
}
