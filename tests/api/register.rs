//! `POST /clients` and `DELETE /clients/{id}`.

use serde_json::json;

use push_testkit::{encrypted, join_all, spawn_app};

#[tokio::test]
async fn registers_and_the_client_can_be_notified() {
    let app = spawn_app().await;
    assert!(app.register("wallet-1", "fcm", "fcm-token-1").await.is_ok_envelope());
    assert!(app.send("wallet-1", &encrypted("n1")).await.is_ok_envelope());
    assert_eq!(app.deliveries().len(), 1);
}

#[tokio::test]
async fn did_key_prefix_names_the_same_client_everywhere() {
    let app = spawn_app().await;
    assert!(app.register("did:key:z6MkWallet", "apns", "00aa").await.is_ok_envelope());
    assert!(app.send("z6MkWallet", &encrypted("n1")).await.is_ok_envelope());
    assert!(app.send("did:key:z6MkWallet", &encrypted("n2")).await.is_ok_envelope());
    let ids: Vec<_> = app.deliveries().iter().map(|d| d["client_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, ["z6MkWallet", "z6MkWallet"]);
    assert!(app.unregister("did:key:z6MkWallet").await.is_ok_envelope());
    assert_eq!(app.send("z6MkWallet", &encrypted("n3")).await.status, 404);
}

#[tokio::test]
async fn type_is_case_insensitive_and_stored_canonically() {
    let app = spawn_app().await;
    assert!(app.register("c", "APNS-Sandbox", "ABCDEF").await.is_ok_envelope());
    assert!(app.send("c", &encrypted("n")).await.is_ok_envelope());
    assert_eq!(app.deliveries()[0]["type"], "apns-sandbox");
}

#[tokio::test]
async fn re_registering_replaces_type_and_token() {
    let app = spawn_app().await;
    assert!(app.register("c", "apns", "00aa").await.is_ok_envelope());
    assert!(app.register("c", "fcm", "fcm-token").await.is_ok_envelope());
    assert!(app.send("c", &encrypted("n")).await.is_ok_envelope());
    assert_eq!(app.deliveries()[0]["type"], "fcm");
}

#[tokio::test]
async fn a_token_moves_to_its_newest_client() {
    let app = spawn_app().await;
    assert!(app.register("old", "fcm", "shared-token").await.is_ok_envelope());
    assert!(app.register("new", "fcm", "shared-token").await.is_ok_envelope());
    let gone = app.send("old", &encrypted("n")).await;
    assert_eq!(gone.status, 404, "{}", gone.text);
    assert!(app.send("new", &encrypted("n")).await.is_ok_envelope());
}

#[tokio::test]
async fn concurrent_registrations_of_one_token_leave_one_owner_and_no_errors() {
    let app = spawn_app().await;
    let replies = join_all((0..48).map(|i| {
        let app = &app;
        async move { app.register(&format!("client-{i}"), "fcm", "contested").await }
    }))
    .await;
    assert!(replies.iter().all(|r| r.is_ok_envelope()), "{:?}", replies.iter().map(|r| &r.text).collect::<Vec<_>>());
    let mut owners = 0;
    for i in 0..48 {
        if app.send(&format!("client-{i}"), &encrypted("n")).await.status == 200 {
            owners += 1;
        }
    }
    assert_eq!(owners, 1);
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once() {
    let app = spawn_app().await;
    let r = app.register_raw(&json!({"client_id": "did:key:", "type": "xyz", "token": 12}).to_string()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.field_names(), ["client_id", "type", "token"]);
    let body = r.json();
    assert_eq!(body["status"], "FAILED");
    assert!(body.get("errors").is_none(), "errors absent, never null: {body}");
    assert_eq!(body["fields"][1]["location"], "body");
    assert_eq!(
        body["fields"][1]["description"],
        "unsupported push type 'xyz'; supported: apns, apns-sandbox, fcm, noop, webpush"
    );
}

#[tokio::test]
async fn field_rules() {
    let app = spawn_app().await;
    let cases: &[(serde_json::Value, &[&str])] = &[
        (json!({}), &["client_id", "type", "token"]),
        (json!({"client_id": "a b", "type": "fcm", "token": "t"}), &["client_id"]),
        (json!({"client_id": "a\u{7}", "type": "fcm", "token": "t"}), &["client_id"]),
        (json!({"client_id": "x".repeat(256), "type": "fcm", "token": "t"}), &["client_id"]),
        (json!({"client_id": "a", "type": "apns", "token": "not-hex"}), &["token"]),
        (json!({"client_id": "a", "type": "fcm", "token": ""}), &["token"]),
        (json!({"client_id": "a", "type": "fcm", "token": "t".repeat(4097)}), &["token"]),
        (json!({"client_id": "a", "type": null, "token": "t"}), &["type"]),
    ];
    for (body, fields) in cases {
        let r = app.register_raw(&body.to_string()).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.field_names(), *fields, "{body}");
    }
    assert!(app.register("x".repeat(255).as_str(), "fcm", &"t".repeat(4096)).await.is_ok_envelope());
}

#[tokio::test]
async fn a_refused_registration_leaves_the_stored_one_alone() {
    let app = spawn_app().await;
    assert!(app.register("c", "fcm", "good").await.is_ok_envelope());
    assert_eq!(app.register("c", "apns", "not-hex").await.status, 400);
    assert!(app.send("c", &encrypted("n")).await.is_ok_envelope());
    assert_eq!(app.deliveries()[0]["type"], "fcm");
}

#[tokio::test]
async fn unregister_is_idempotent_and_checks_the_id() {
    let app = spawn_app().await;
    assert!(app.unregister("never-registered").await.is_ok_envelope());
    assert!(app.register("c", "fcm", "t").await.is_ok_envelope());
    assert!(app.unregister("c").await.is_ok_envelope());
    assert!(app.unregister("c").await.is_ok_envelope());
    let r = app.unregister("did:key:").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["fields"][0]["location"], "path");
}

#[tokio::test]
async fn registrations_survive_a_restart() {
    let app = spawn_app().await;
    let settings = app.settings.clone();
    assert!(app.register("durable", "fcm", "t").await.is_ok_envelope());
    let dir = app.stop().await;
    let again = push_testkit::spawn_settings(settings, dir).await;
    assert!(again.send("durable", &encrypted("n")).await.is_ok_envelope());
}

#[tokio::test]
async fn with_a_real_provider_configured_other_types_are_refused() {
    // Without real providers every type is served by the log sink; turning the sink off leaves
    // no provider, and registration says which types are supported (none).
    let app = push_testkit::spawn_with(|s| s.log_sink = Some(false)).await;
    let r = app.register("c", "fcm", "t").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.field_names(), ["type"]);
    assert!(r.json()["fields"][0]["description"].as_str().unwrap().contains("no push provider"));
}
