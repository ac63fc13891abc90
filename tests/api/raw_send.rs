//! The raw send (`{topic, tag, message}`) for clients registered with `always_raw: true`, and the
//! `noop` type, through the log sink: which form each client gets, missing forms, dedup by the
//! message's SHA-256, the provider limit under `message`.

use serde_json::{Value, json};

use push_testkit::{TestApp, encrypted, spawn_app, spawn_with};

fn register_body(client_id: &str, push_type: &str, token: &str, always_raw: bool) -> String {
    json!({"client_id": client_id, "type": push_type, "token": token, "always_raw": always_raw}).to_string()
}

async fn register(app: &TestApp, client_id: &str, push_type: &str, token: &str, always_raw: bool) {
    let r = app.register_raw(&register_body(client_id, push_type, token, always_raw)).await;
    assert!(r.is_ok_envelope(), "{} {}", r.status, r.text);
}

fn raw(topic: &str, tag: u32, message: &str) -> String {
    json!({"topic": topic, "tag": tag, "message": message}).to_string()
}

/// Both forms in one body, as a Relay in transition sends them.
fn both(id: &str, message: &str) -> String {
    let mut body: Value = serde_json::from_str(&encrypted(id)).unwrap();
    body["topic"] = "raw-topic".into();
    body["tag"] = 1100.into();
    body["message"] = message.into();
    body.to_string()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()))
}

#[tokio::test]
async fn an_always_raw_client_gets_the_raw_form_as_apns_and_fcm_would() {
    let app = spawn_app().await;
    register(&app, "ios", "apns", "00aa", true).await;
    register(&app, "android", "fcm", "tok", true).await;
    assert!(app.send("ios", &raw("t1", 1100, "sealed-1")).await.is_ok_envelope());
    assert!(app.send("android", &both("n1", "sealed-2")).await.is_ok_envelope());
    let d = app.deliveries();
    assert_eq!(d[0]["notification_id"], sha256_hex("sealed-1"));
    assert_eq!(d[0]["type"], "apns");
    assert_eq!(
        d[0]["message"],
        json!({"aps": {"alert": {"title": "You have new notifications"}, "mutable-content": 1, "content-available": 1},
               "topic": "t1", "tag": 1100, "message": "sealed-1"})
    );
    assert_eq!(d[1]["notification_id"], sha256_hex("sealed-2"));
    assert_eq!(
        d[1]["message"],
        json!({"data": {"topic": "raw-topic", "tag": "1100", "message": "sealed-2"}, "android": {"priority": "HIGH"}})
    );
}

#[tokio::test]
async fn other_clients_get_the_classic_form_of_a_body_with_both() {
    let app = spawn_app().await;
    register(&app, "c", "fcm", "tok", false).await;
    assert!(app.send("c", &both("n1", "sealed")).await.is_ok_envelope());
    let d = &app.deliveries()[0];
    assert_eq!(d["notification_id"], "n1");
    assert_eq!(d["message"]["data"], json!({"topic": "topic-1", "flags": "17", "blob": "opaque-ciphertext"}));
}

#[tokio::test]
async fn a_missing_form_is_a_400_naming_its_fields() {
    let app = spawn_app().await;
    register(&app, "raw", "fcm", "tok-raw", true).await;
    register(&app, "classic", "fcm", "tok-classic", false).await;
    let r = app.send("raw", &encrypted("n1")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.field_names(), ["topic", "tag", "message"]);
    assert_eq!(r.json()["fields"][0]["location"], "body");
    let r = app.send("classic", &raw("t", 1, "m")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.field_names(), ["id", "payload.topic", "payload.flags", "payload.blob"]);
    // A broken raw part does not matter to a classic client, nor a broken classic part to a raw one.
    let mut body: Value = serde_json::from_str(&encrypted("n2")).unwrap();
    body["tag"] = (-1).into();
    assert!(app.send("classic", &body.to_string()).await.is_ok_envelope());
    let body = json!({"id": "", "topic": "t", "tag": 2, "message": "m"}).to_string();
    assert!(app.send("raw", &body).await.is_ok_envelope());
    assert_eq!(app.deliveries().len(), 2);
}

#[tokio::test]
async fn a_body_with_neither_form_is_refused_before_the_client_lookup() {
    let app = spawn_app().await;
    let r = app.send("nobody", &json!({"topic": "", "tag": "x", "message": 5}).to_string()).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.field_names(), ["topic", "tag", "message"]);
    // A complete raw form for an unknown client is a 404, like a classic one.
    assert_eq!(app.send("nobody", &raw("t", 1, "m")).await.status, 404);
}

#[tokio::test]
async fn raw_sends_are_deduplicated_by_the_sha256_of_the_message() {
    let app = spawn_app().await;
    register(&app, "a", "fcm", "tok-a", true).await;
    register(&app, "b", "fcm", "tok-b", true).await;
    assert!(app.send("a", &raw("t", 1, "same")).await.is_ok_envelope());
    // Another tag or topic with the same message is the same notification.
    assert!(app.send("a", &raw("t2", 2, "same")).await.is_ok_envelope());
    // Another client may receive it.
    assert!(app.send("b", &raw("t", 1, "same")).await.is_ok_envelope());
    assert!(app.send("a", &raw("t", 1, "other")).await.is_ok_envelope());
    let to: Vec<_> = app.deliveries().iter().map(|d| d["client_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(to, ["a", "b", "a"]);
    // The same dedup space: a classic id equal to the hash is a duplicate of the raw send.
    register(&app, "a", "fcm", "tok-a", false).await;
    assert!(app.send("a", &encrypted(&sha256_hex("same"))).await.is_ok_envelope());
    assert_eq!(app.deliveries().len(), 3);
}

#[tokio::test]
async fn a_raw_message_over_the_provider_limit_is_a_400_on_message() {
    let app = spawn_app().await;
    register(&app, "c", "apns", "00aa", true).await;
    let r = app.send("c", &raw("t", 1, &"x".repeat(5000))).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.field_names(), ["message"]);
    assert!(app.deliveries().is_empty());
}

#[tokio::test]
async fn always_raw_is_replaced_by_the_next_registration() {
    let app = spawn_app().await;
    register(&app, "c", "fcm", "tok", true).await;
    assert_eq!(app.send("c", &encrypted("n1")).await.status, 400);
    // The SDKs that send nothing (Flutter) mean `false`.
    assert!(app.register("c", "fcm", "tok").await.is_ok_envelope());
    assert!(app.send("c", &encrypted("n1")).await.is_ok_envelope());
}

#[tokio::test]
async fn noop_registers_and_a_send_only_writes_the_log_sink_line() {
    let app = spawn_app().await;
    register(&app, "did:key:z6MkNoop", "NOOP", "any-token", false).await;
    assert!(app.send("z6MkNoop", &encrypted("n1")).await.is_ok_envelope());
    register(&app, "raw-noop", "noop", "other-token", true).await;
    assert!(app.send("raw-noop", &raw("t", 7, "sealed")).await.is_ok_envelope());
    let d = app.deliveries();
    assert_eq!((d[0]["client_id"].as_str(), d[0]["type"].as_str()), (Some("z6MkNoop"), Some("noop")));
    assert_eq!(d[0]["message"], json!({"topic": "topic-1", "flags": 17, "blob": "opaque-ciphertext"}));
    assert_eq!(d[1]["message"], json!({"topic": "t", "tag": 7, "message": "sealed"}));
}

#[tokio::test]
async fn noop_is_refused_where_the_log_sink_is_off() {
    let app = spawn_with(|s| s.log_sink = Some(false)).await;
    let r = app.register_raw(&register_body("c", "noop", "tok", false)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.field_names(), ["type"]);
}
