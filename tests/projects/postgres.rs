//! Projects on Postgres, shared by several instances: a project created or changed through one
//! instance is served by another (at once when it had not cached it, within
//! `PROJECT_REFRESH_SECS` when it had), and a restart keeps everything.

use std::time::Duration;

use rcgen::KeyPair;
use serde_json::json;

use push_testkit::{
    TestApp, encrypted,
    fake::apns::{FakeApns, verify_provider_token},
    services::fresh_database,
    spawn_settings, test_settings,
};

use crate::harness::{admin, create, projects_on, register_in, send_in, show};

const TOKEN: &str = "cc00000000000000000000000000000000000000000000000000000000000003";

async fn instance(database_url: &str, fake: &FakeApns) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(&dir);
    s.database_url = database_url.to_owned();
    projects_on(&mut s);
    s.apns.endpoint = Some(fake.url());
    s.apns.sandbox_endpoint = Some(fake.url());
    s.projects.refresh = Duration::from_secs(1);
    spawn_settings(s, dir).await
}

fn creds(key: &KeyPair, key_id: &str) -> serde_json::Value {
    json!({"topic": "com.example.shared", "key_id": key_id, "team_id": "TEAMSHARE1", "key": key.serialize_pem()})
}

#[tokio::test]
async fn a_second_instance_sees_the_same_projects_and_their_changes() {
    let Some(db) = fresh_database().await else { return };
    let fake = FakeApns::start().await;
    let one = instance(&db.url, &fake).await;
    let two = instance(&db.url, &fake).await;

    let first = KeyPair::generate().unwrap();
    create(&one, "shared").await;
    assert!(
        admin(&one, "PUT", "/admin/projects/shared/apns", Some(creds(&first, "KEYFIRST01"))).await.is_ok_envelope()
    );
    assert!(register_in(&one, "shared", "c1", "apns", TOKEN).await.is_ok_envelope());
    // The other instance serves it at once: it had not cached the project.
    assert!(send_in(&two, "shared", "c1", &encrypted("n1")).await.is_ok_envelope());
    verify_provider_token(fake.requests()[0].bearer().unwrap(), first.public_key_raw(), "KEYFIRST01", "TEAMSHARE1");
    assert_eq!(show(&two, "shared").await["clients"], 1);

    // New credentials through the first instance reach the second within the refresh period.
    let second = KeyPair::generate().unwrap();
    assert!(
        admin(&one, "PUT", "/admin/projects/shared/apns", Some(creds(&second, "KEYSECOND2"))).await.is_ok_envelope()
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(send_in(&two, "shared", "c1", &encrypted("n2")).await.is_ok_envelope());
    verify_provider_token(fake.requests()[1].bearer().unwrap(), second.public_key_raw(), "KEYSECOND2", "TEAMSHARE1");

    // Deleted through the second, gone on the first within the refresh period.
    assert!(admin(&two, "DELETE", "/admin/projects/shared", None).await.is_ok_envelope());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = send_in(&one, "shared", "c1", &encrypted("n3")).await;
    assert_eq!((r.status, r.field_names()), (404, vec!["project_id".to_owned()]));

    // The database holds no key material in the clear.
    create(&one, "again").await;
    assert!(admin(&one, "PUT", "/admin/projects/again/apns", Some(creds(&first, "KEYFIRST01"))).await.is_ok_envelope());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
    let rows: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT apns_credentials FROM projects").fetch_all(&mut conn).await.unwrap();
    let pem = first.serialize_pem();
    for (sealed,) in rows {
        let sealed = sealed.unwrap();
        assert!(!sealed.contains("PRIVATE") && !sealed.contains(&pem.lines().nth(1).unwrap()[..30]));
    }
    one.stop().await;
    two.stop().await;
    db.drop_database().await;
}
