//! A project's own Web Push identity: uploaded (or generated) through the admin API, sealed,
//! shown without its private key, published for pages, used for the project's deliveries (which
//! the test browser decrypts and whose VAPID authorization it checks), suspended when push
//! services refuse it, and removed.

use push_server::adapters::push::webpush::VapidKey;
use push_testkit::{
    Reply, TestApp, encrypted,
    fake::{
        Answer,
        webpush::{Browser, FakePushService, check_push_request, vapid_key},
    },
};
use serde_json::{Value, json};

use super::harness::{admin, create, register_body_in, send_in, show, spawn_projects};

const SUBJECT: &str = "mailto:push@wallet-w.example";

async fn register_webpush(app: &TestApp, project: &str, client: &str, sub: Value) -> Reply {
    register_body_in(app, project, json!({"client_id": client, "type": "webpush", "token": sub})).await
}

#[tokio::test]
async fn a_project_gets_its_own_vapid_key_and_delivers_with_it() {
    let service = FakePushService::start().await;
    let allowed = service.host_port();
    let app = spawn_projects(|s| s.webpush.allowed_hosts = vec![allowed]).await;
    create(&app, "w").await;

    // No identity yet: no key to publish, and the type is refused.
    let none = app.get("/w/webpush/vapid-public-key").await;
    assert_eq!((none.status, none.error_names()), (404, vec!["webpush_not_configured".to_owned()]));
    let browser = Browser::new();
    let refused = register_webpush(&app, "w", "c1", browser.subscription(&service.endpoint("c1"))).await;
    assert_eq!((refused.status, refused.field_names()), (400, vec!["type".to_owned()]), "{}", refused.text);

    // Generated when no key is given; shown and published without the private half.
    let put = admin(&app, "PUT", "/admin/projects/w/webpush", Some(json!({"subject": SUBJECT}))).await;
    assert!(put.is_ok_envelope(), "{} {}", put.status, put.text);
    let shown = show(&app, "w").await;
    let public = shown["webpush"]["public_key"].as_str().expect("a public key").to_owned();
    assert_eq!(shown["webpush"], json!({"subject": SUBJECT, "public_key": public, "suspended": null}));
    let published = app.get("/w/webpush/vapid-public-key").await;
    assert_eq!(published.json(), json!({"status": "OK", "public_key": public}));
    assert!(!admin(&app, "GET", "/admin/projects/w", None).await.text.contains("PRIVATE KEY"));

    assert!(register_webpush(&app, "w", "c1", browser.subscription(&service.endpoint("c1"))).await.is_ok_envelope());
    assert!(send_in(&app, "w", "c1", &encrypted("n1")).await.is_ok_envelope());
    let sent = service.requests();
    assert_eq!(sent.len(), 1);
    check_push_request(&sent[0], &public, &service.origin(), SUBJECT);
    assert_eq!(browser.decrypt_json(&sent[0])["blob"], "opaque-ciphertext");

    // An uploaded key replaces it; its public half is what is published and signed with.
    let pem = vapid_key();
    let expected = VapidKey::from_pem(pem.as_bytes()).unwrap().public_key_base64url();
    let put =
        admin(&app, "PUT", "/admin/projects/w/webpush", Some(json!({"subject": SUBJECT, "private_key": pem}))).await;
    assert!(put.is_ok_envelope(), "{}", put.text);
    assert_eq!(app.get("/w/webpush/vapid-public-key").await.json()["public_key"], expected.as_str());
    service.reset();
    assert!(send_in(&app, "w", "c1", &encrypted("n2")).await.is_ok_envelope());
    check_push_request(&service.requests()[0], &expected, &service.origin(), SUBJECT);

    // Removed: the type is refused again.
    assert!(admin(&app, "DELETE", "/admin/projects/w/webpush", None).await.is_ok_envelope());
    assert_eq!(show(&app, "w").await["webpush"], json!(null));
    assert_eq!(app.get("/w/webpush/vapid-public-key").await.status, 404);
}

#[tokio::test]
async fn an_upload_that_cannot_work_is_refused_field_by_field() {
    let app = spawn_projects(|_| {}).await;
    create(&app, "w").await;
    let bad =
        admin(&app, "PUT", "/admin/projects/w/webpush", Some(json!({"subject": "ops", "private_key": "nope"}))).await;
    assert_eq!(
        (bad.status, bad.field_names()),
        (400, vec!["subject".to_owned(), "private_key".to_owned()]),
        "{}",
        bad.text
    );
    let missing = admin(&app, "PUT", "/admin/projects/w/webpush", Some(json!({"private_key": 7}))).await;
    assert_eq!((missing.status, missing.field_names()), (400, vec!["subject".to_owned(), "private_key".to_owned()]));
    assert_eq!(show(&app, "w").await["webpush"], json!(null), "nothing stored");
    let unknown = admin(&app, "PUT", "/admin/projects/nope/webpush", Some(json!({"subject": SUBJECT}))).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn a_refused_key_suspends_the_projects_web_push_and_keeps_the_client() {
    let service = FakePushService::start().await;
    let allowed = service.host_port();
    let app = spawn_projects(|s| s.webpush.allowed_hosts = vec![allowed]).await;
    create(&app, "w").await;
    assert!(admin(&app, "PUT", "/admin/projects/w/webpush", Some(json!({"subject": SUBJECT}))).await.is_ok_envelope());
    let browser = Browser::new();
    assert!(register_webpush(&app, "w", "c1", browser.subscription(&service.endpoint("c1"))).await.is_ok_envelope());
    service.set_default(Answer::status(403));
    let refused = send_in(&app, "w", "c1", &encrypted("n1")).await;
    assert_eq!((refused.status, refused.error_names()), (502, vec!["webpush_credentials".to_owned()]));
    assert!(show(&app, "w").await["webpush"]["suspended"]["reason"].is_string());
    // Suspended: answered at once, the push service is not called again.
    let again = send_in(&app, "w", "c1", &encrypted("n2")).await;
    assert_eq!((again.status, again.error_names()), (502, vec!["webpush_credentials".to_owned()]));
    assert_eq!(service.request_count(), 1);
    // A new identity lifts it; the client was kept.
    service.set_default(Answer::status(201));
    assert!(admin(&app, "PUT", "/admin/projects/w/webpush", Some(json!({"subject": SUBJECT}))).await.is_ok_envelope());
    assert!(send_in(&app, "w", "c1", &encrypted("n3")).await.is_ok_envelope());
}
