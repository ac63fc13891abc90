//! The SQLite store keeps the clients it has read in memory; these check that every write through
//! the API is seen by the very next send, for a client that was just looked up (and so cached).

#[path = "support/mod.rs"]
mod support;

use support::{encrypted, spawn_app};

#[tokio::test]
async fn re_registering_a_cached_client_is_seen_by_the_next_send() {
    let app = spawn_app().await;
    assert!(app.register("c", "apns", "00aa").await.is_ok_envelope());
    assert!(app.send("c", &encrypted("n1")).await.is_ok_envelope());
    assert!(app.register("c", "fcm", "fcm-token").await.is_ok_envelope());
    assert!(app.send("c", &encrypted("n2")).await.is_ok_envelope());
    let types: Vec<_> = app.deliveries().iter().map(|d| d["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ["apns", "fcm"]);
}

#[tokio::test]
async fn a_token_taken_by_another_client_removes_the_cached_owner() {
    let app = spawn_app().await;
    assert!(app.register("old", "fcm", "shared-token").await.is_ok_envelope());
    assert!(app.send("old", &encrypted("n1")).await.is_ok_envelope());
    assert!(app.register("new", "fcm", "shared-token").await.is_ok_envelope());
    let gone = app.send("old", &encrypted("n2")).await;
    assert_eq!(gone.status, 404, "{}", gone.text);
}

#[tokio::test]
async fn an_unregistered_cached_client_is_gone() {
    let app = spawn_app().await;
    assert!(app.register("c", "fcm", "t").await.is_ok_envelope());
    assert!(app.send("c", &encrypted("n1")).await.is_ok_envelope());
    assert!(app.unregister("c").await.is_ok_envelope());
    let gone = app.send("c", &encrypted("n2")).await;
    assert_eq!(gone.status, 404, "{}", gone.text);
}
