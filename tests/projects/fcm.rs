//! A project with an FCM service account: delivered through the project's own OAuth token; a
//! malformed service account is refused and nothing is stored.

use aws_lc_rs::encoding::AsDer;
use serde_json::{Value, json};

use push_testkit::{
    encrypted,
    fake::fcm::{Google, PROJECT, access_token, pem, service_account},
};

use crate::harness::{admin, create, register_in, send_in, show, spawn_projects};

#[tokio::test]
async fn delivers_through_the_projects_own_service_account() {
    let google = Google::start().await;
    let account: Value = serde_json::from_str(&std::fs::read_to_string(&google.credentials).unwrap()).unwrap();
    let endpoint = google.fcm.url();
    let app = spawn_projects(move |s| s.fcm.endpoint = Some(endpoint)).await;
    create(&app, "w").await;
    let r = admin(&app, "PUT", "/admin/projects/w/fcm", Some(account.clone())).await;
    assert!(r.is_ok_envelope(), "{}", r.text);
    assert!(register_in(&app, "w", "c1", "fcm", "device-token-1").await.is_ok_envelope());
    assert!(send_in(&app, "w", "c1", &encrypted("n1")).await.is_ok_envelope());
    let sent = google.fcm_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("authorization"), Some(format!("Bearer {}", access_token(1)).as_str()));
    google.check_token_request(&google.token_requests()[0]);
    let shown = show(&app, "w").await;
    assert_eq!(
        shown["fcm"],
        json!({"project_id": PROJECT, "client_email": account["client_email"], "suspended": null})
    );
    assert!(!shown.to_string().contains("PRIVATE"));
}

#[tokio::test]
async fn a_malformed_service_account_is_refused() {
    let app = spawn_projects(|_| {}).await;
    create(&app, "w").await;
    let good_key =
        pem(aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap().as_der().unwrap().as_ref());
    let ec_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let mut no_email = service_account(&good_key, "http://127.0.0.1:9/token", Some("p"));
    no_email.as_object_mut().unwrap().remove("client_email");
    let cases = [
        (
            service_account(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                "http://127.0.0.1:9/token",
                Some("p"),
            ),
            "private_key",
        ),
        (service_account(&ec_key, "http://127.0.0.1:9/token", Some("p")), "private_key"),
        (no_email, "client_email"),
        (service_account(&good_key, "http://127.0.0.1:9/token", None), "project_id"),
    ];
    for (body, field) in cases {
        let r = admin(&app, "PUT", "/admin/projects/w/fcm", Some(body.clone())).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.field_names().contains(&field.to_owned()), "{field}: {}", r.text);
        assert!(!r.text.contains("BEGIN"), "{}", r.text);
    }
    assert_eq!(show(&app, "w").await["fcm"], Value::Null);
}
