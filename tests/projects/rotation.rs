//! Key rotation: with `CREDENTIALS_KEY=new,old` everything still opens; `rotate-credentials`
//! re-encrypts under the new key, after which the old key can go.

use push_server::{cli::rotate_credentials::rotate, domain::Secret};
use rcgen::KeyPair;
use serde_json::json;

use push_testkit::spawn_settings;

use crate::harness::{CREDENTIALS_KEY, admin, create, show, spawn_projects};

const NEW_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

#[tokio::test]
async fn rotate_credentials_re_encrypts_under_the_first_key() {
    let app = spawn_projects(|_| {}).await;
    create(&app, "w").await;
    let body = json!({"topic": "com.example", "key_id": "KEYROTATE1", "team_id": "TEAMROTAT1", "key": KeyPair::generate().unwrap().serialize_pem()});
    assert!(admin(&app, "PUT", "/admin/projects/w/apns", Some(body)).await.is_ok_envelope());
    let mut settings = app.settings.clone();
    let dir = app.stop().await;

    // New key first, old key still listed: the stored credentials open; rotation re-seals them.
    settings.projects.credentials_key = Some(Secret::new(format!("{NEW_KEY},{CREDENTIALS_KEY}")));
    assert_eq!(rotate(&settings).await.unwrap(), 1);
    assert_eq!(rotate(&settings).await.unwrap(), 0, "nothing left under the old key");

    // The old key gone: everything still opens.
    settings.projects.credentials_key = Some(Secret::new(NEW_KEY.to_owned()));
    let app = spawn_settings(settings.clone(), dir).await;
    assert_eq!(show(&app, "w").await["apns"]["key_id"], "KEYROTATE1");
    let dir = app.stop().await;

    // Under a key that never sealed them, the credentials do not open (and are not served).
    settings.projects.credentials_key = Some(Secret::new(CREDENTIALS_KEY.to_owned()));
    let app = spawn_settings(settings, dir).await;
    let r = admin(&app, "GET", "/admin/projects/w", None).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(!r.text.contains("KEYROTATE1"));
}
