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

use crate::{
    apns::{Creds, each_send_delivers_with, put_apns, refused_while_uploading},
    harness::{admin, create, projects_on, register_in, send_in, show},
};

const TOKEN: &str = "cc00000000000000000000000000000000000000000000000000000000000003";

async fn instance(database_url: &str, fake: &FakeApns) -> TestApp {
    instance_refreshing(database_url, fake, Duration::from_secs(1)).await
}

/// An instance that reads a cached project again after `refresh` (`PROJECT_REFRESH_SECS`).
async fn instance_refreshing(database_url: &str, fake: &FakeApns, refresh: Duration) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(&dir);
    s.database_url = database_url.to_owned();
    projects_on(&mut s);
    s.apns.endpoint = Some(fake.url());
    s.apns.sandbox_endpoint = Some(fake.url());
    s.projects.refresh = refresh;
    // Generous: a refusal is held back while the test does something else.
    s.provider.request_timeout = Duration::from_secs(20);
    s.provider.total_timeout = Duration::from_secs(30);
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
    // Every project's row (the default project's, `''`, holds no credentials).
    let rows: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT apns_credentials FROM projects WHERE id <> ''").fetch_all(&mut conn).await.unwrap();
    let pem = first.serialize_pem();
    for (sealed,) in rows {
        let sealed = sealed.unwrap();
        assert!(!sealed.contains("PRIVATE") && !sealed.contains(&pem.lines().nth(1).unwrap()[..30]));
    }
    one.stop().await;
    two.stop().await;
    db.drop_database().await;
}

/// Issue 21, defect 1, across instances: instance two's send is refused with the old key while
/// the operator uploads a new one through instance one. The late refusal must not suspend the new
/// key anywhere: once two has read the new revision, both deliver with the new key (before the
/// fix the refusal was written over the upload and both answered `502 apns_credentials` without
/// calling APNS for the whole suspension period).
#[tokio::test]
async fn a_late_refusal_on_one_instance_does_not_suspend_the_key_uploaded_through_another() {
    let Some(db) = fresh_database().await else { return };
    let fake = FakeApns::start().await;
    let one = instance(&db.url, &fake).await;
    let two = instance(&db.url, &fake).await;
    let (old, new) = (
        Creds::new("com.example.s", "OLDKEY0001", "TEAMSHARE1"),
        Creds::new("com.example.s", "NEWKEY0002", "TEAMSHARE1"),
    );
    create(&one, "shared").await;
    assert!(put_apns(&one, "shared", old.body()).await.is_ok_envelope());
    assert!(register_in(&one, "shared", "c1", "apns", TOKEN).await.is_ok_envelope());
    assert!(send_in(&two, "shared", "c1", &encrypted("n0")).await.is_ok_envelope(), "two holds the project");

    let refused = refused_while_uploading(&fake, &two, &one, "shared", "OLDKEY0001", &new).await;
    assert_eq!(refused.status, 502, "{}", refused.text);

    // Past two's refresh, both instances present the new key, and it is accepted.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    each_send_delivers_with(&fake, &[&one, &two, &one, &two], "shared", &new).await;
    assert_eq!(show(&one, "shared").await["apns"]["suspended"], serde_json::Value::Null);
    one.stop().await;
    two.stop().await;
    db.drop_database().await;
}

/// Issue 21, defect 3, the race as reported: instance two has the project cached; one deletes
/// it; two is asked to register a client within its refresh period; one re-creates the project.
/// The registration is refused as for a project that does not exist, and the re-created project
/// has no client from before: nothing is delivered to it with the new credentials (before the
/// fix two stored the client, and the new project served it).
#[tokio::test]
async fn a_client_registered_through_a_stale_cache_does_not_outlive_its_project() {
    let Some(db) = fresh_database().await else { return };
    let fake = FakeApns::start().await;
    let one = instance(&db.url, &fake).await;
    // Two would serve its cached copy of the project for a minute.
    let two = instance_refreshing(&db.url, &fake, Duration::from_secs(60)).await;
    let first = Creds::new("com.example.s", "KEYFIRST01", "TEAMSHARE1");
    create(&one, "p").await;
    assert!(put_apns(&one, "p", first.body()).await.is_ok_envelope());
    assert!(register_in(&two, "p", "early", "apns", TOKEN).await.is_ok_envelope(), "two holds the project");

    assert!(admin(&one, "DELETE", "/admin/projects/p", None).await.is_ok_envelope());
    let late = register_in(&two, "p", "late", "apns", TOKEN).await;
    assert_eq!((late.status, late.field_names()), (404, vec!["project_id".to_owned()]), "{}", late.text);

    let second = Creds::new("com.example.s", "KEYSECOND2", "TEAMSHARE1");
    create(&one, "p").await;
    assert!(put_apns(&one, "p", second.body()).await.is_ok_envelope());
    assert_eq!(show(&one, "p").await["clients"], 0, "the re-created project starts empty");
    for (app, client) in [(&one, "late"), (&two, "late"), (&one, "early")] {
        let r = send_in(app, "p", client, &encrypted(&format!("to-{client}"))).await;
        assert_eq!((r.status, r.field_names()), (404, vec!["client_id".to_owned()]), "{client}: {}", r.text);
    }
    assert_eq!(fake.request_count(), 0, "nothing was delivered to a client of the deleted project");
    // The re-created project takes registrations on both instances.
    assert!(register_in(&two, "p", "fresh", "apns", TOKEN).await.is_ok_envelope());
    assert!(send_in(&one, "p", "fresh", &encrypted("n1")).await.is_ok_envelope());
    second.verify(fake.requests()[0].bearer().unwrap());
    one.stop().await;
    two.stop().await;
    db.drop_database().await;
}

/// A project deleted and re-created through one instance, with as many credential changes as
/// before, is served by an instance that had cached the old one with the new project's
/// credentials once it refreshes (before, both had the same revision, so the stale instance kept
/// the deleted project's providers; a suspension of those would have matched the new project too).
#[tokio::test]
async fn a_re_created_project_is_never_taken_for_the_deleted_one() {
    let Some(db) = fresh_database().await else { return };
    let fake = FakeApns::start().await;
    let one = instance(&db.url, &fake).await;
    let two = instance(&db.url, &fake).await;
    let (first, second) = (
        Creds::new("com.example.s", "KEYFIRST01", "TEAMSHARE1"),
        Creds::new("com.example.s", "KEYSECOND2", "TEAMSHARE1"),
    );
    create(&one, "p").await;
    assert!(put_apns(&one, "p", first.body()).await.is_ok_envelope());
    assert!(register_in(&one, "p", "c1", "apns", TOKEN).await.is_ok_envelope());
    assert!(send_in(&two, "p", "c1", &encrypted("n1")).await.is_ok_envelope(), "two holds the project");

    assert!(admin(&one, "DELETE", "/admin/projects/p", None).await.is_ok_envelope());
    create(&one, "p").await;
    assert!(put_apns(&one, "p", second.body()).await.is_ok_envelope());
    assert!(register_in(&one, "p", "c1", "apns", TOKEN).await.is_ok_envelope());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(send_in(&two, "p", "c1", &encrypted("n2")).await.is_ok_envelope());
    second.verify(fake.requests().last().unwrap().bearer().unwrap());
    one.stop().await;
    two.stop().await;
    db.drop_database().await;
}
