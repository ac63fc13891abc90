//! Projects with APNS credentials: each project's deliveries carry its own topic and provider
//! token; ids and tokens are isolated per project; credentials are checked on upload, encrypted
//! at rest, survive a restart; refused credentials suspend the project's provider.

use std::time::Duration;

use rcgen::{KeyPair, PKCS_ECDSA_P384_SHA384};
use serde_json::{Value, json};

use push_testkit::{
    TestApp, encrypted,
    fake::{
        Recorded,
        apns::{FakeApns, Reply, verify_provider_token},
    },
    spawn_settings,
};

use crate::harness::{admin, create, register_in, send_in, show, spawn_projects, unregister_in};

const TOKEN_A: &str = "aa00000000000000000000000000000000000000000000000000000000000001";
const TOKEN_B: &str = "bb00000000000000000000000000000000000000000000000000000000000002";

/// A project's token-auth credentials: its topic, ids and a fresh `.p8` key.
pub struct Creds {
    topic: &'static str,
    key_id: &'static str,
    team_id: &'static str,
    key: KeyPair,
}

impl Creds {
    pub fn new(topic: &'static str, key_id: &'static str, team_id: &'static str) -> Self {
        Self { topic, key_id, team_id, key: KeyPair::generate().unwrap() }
    }

    pub fn body(&self) -> Value {
        json!({"topic": self.topic, "key_id": self.key_id, "team_id": self.team_id, "key": self.key.serialize_pem()})
    }

    pub fn verify(&self, jwt: &str) {
        verify_provider_token(jwt, self.key.public_key_raw(), self.key_id, self.team_id);
    }
}

/// A server whose projects' APNS providers talk to `fake` (production and sandbox alike).
async fn spawn_with_fake(fake: &FakeApns, suspension_secs: u64) -> TestApp {
    let url = fake.url();
    spawn_projects(move |s| {
        s.apns.endpoint = Some(url.clone());
        s.apns.sandbox_endpoint = Some(url);
        s.provider.request_timeout = Duration::from_secs(1);
        s.provider.total_timeout = Duration::from_secs(4);
        s.provider.max_attempts = 3;
        s.projects.suspension = Duration::from_secs(suspension_secs);
    })
    .await
}

pub async fn put_apns(app: &TestApp, project: &str, body: Value) -> push_testkit::Reply {
    admin(app, "PUT", &format!("/admin/projects/{project}/apns"), Some(body)).await
}

#[tokio::test]
async fn each_project_delivers_with_its_own_topic_and_key_and_ids_are_per_project() {
    let fake = FakeApns::start().await;
    let app = spawn_with_fake(&fake, 600).await;
    let (a, b) = (
        Creds::new("com.example.a", "AAAAAAAAA1", "TEAMAAAAA1"),
        Creds::new("com.example.b", "BBBBBBBBB2", "TEAMBBBBB2"),
    );
    create(&app, "wallet-a").await;
    create(&app, "wallet-b").await;
    assert!(put_apns(&app, "wallet-a", a.body()).await.is_ok_envelope());
    assert!(put_apns(&app, "wallet-b", b.body()).await.is_ok_envelope());

    // The same client id in both projects, and the same notification id to both.
    assert!(register_in(&app, "wallet-a", "c1", "apns", TOKEN_A).await.is_ok_envelope());
    assert!(register_in(&app, "wallet-b", "c1", "apns", TOKEN_B).await.is_ok_envelope());
    assert!(send_in(&app, "wallet-a", "c1", &encrypted("n1")).await.is_ok_envelope());
    assert!(send_in(&app, "wallet-b", "c1", &encrypted("n1")).await.is_ok_envelope());
    assert!(send_in(&app, "wallet-a", "c1", &encrypted("n1")).await.is_ok_envelope(), "a duplicate in a");
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "one delivery per project, the duplicate not sent");
    assert_eq!(requests[0].path, format!("/3/device/{TOKEN_A}"));
    assert_eq!(requests[0].header("apns-topic"), Some("com.example.a"));
    a.verify(requests[0].bearer().unwrap());
    assert_eq!(requests[1].path, format!("/3/device/{TOKEN_B}"));
    assert_eq!(requests[1].header("apns-topic"), Some("com.example.b"));
    b.verify(requests[1].bearer().unwrap());
    // Each project has its own HTTP/2 connection (token auth allows one team per connection).
    assert_ne!(requests[0].connection, requests[1].connection);

    // The default project has no client c1 and knows nothing of either.
    assert_eq!(app.send("c1", &encrypted("n1")).await.status, 404);
    // A project that has only APNS refuses FCM registrations.
    let r = register_in(&app, "wallet-a", "c2", "fcm", "t").await;
    assert_eq!(r.field_names(), ["type"]);
    assert!(
        r.json()["fields"][0]["description"].as_str().unwrap().contains("supported: apns, apns-sandbox"),
        "{}",
        r.text
    );

    // GET shows the summary, never the key.
    let shown = show(&app, "wallet-a").await;
    assert_eq!(
        shown,
        json!({"id": "wallet-a", "clients": 1, "fcm": null, "webpush": null, "apns": {"topic": "com.example.a", "auth": "token",
               "key_id": "AAAAAAAAA1", "team_id": "TEAMAAAAA1", "certificate_not_after": null, "suspended": null}})
    );
}

#[tokio::test]
async fn a_token_moving_within_one_project_leaves_other_projects_alone() {
    let fake = FakeApns::start().await;
    let app = spawn_with_fake(&fake, 600).await;
    let (a, b) = (Creds::new("com.a", "AAAAAAAAA1", "TEAMAAAAA1"), Creds::new("com.b", "BBBBBBBBB2", "TEAMBBBBB2"));
    for (p, c) in [("pa", &a), ("pb", &b)] {
        create(&app, p).await;
        assert!(put_apns(&app, p, c.body()).await.is_ok_envelope());
    }
    assert!(register_in(&app, "pa", "owner-a", "apns", TOKEN_A).await.is_ok_envelope());
    // The same device token registered in project b, under another client id.
    assert!(register_in(&app, "pb", "owner-b", "apns", TOKEN_A).await.is_ok_envelope());
    assert!(send_in(&app, "pa", "owner-a", &encrypted("n1")).await.is_ok_envelope(), "a's client is untouched");
    assert!(send_in(&app, "pb", "owner-b", &encrypted("n1")).await.is_ok_envelope());
    // Within project b the token moves, as on the default routes.
    assert!(register_in(&app, "pb", "owner-b2", "apns", TOKEN_A).await.is_ok_envelope());
    assert_eq!(send_in(&app, "pb", "owner-b", &encrypted("n2")).await.status, 404);
    assert!(send_in(&app, "pa", "owner-a", &encrypted("n2")).await.is_ok_envelope());
    // Unregistering in b does not touch a.
    assert!(unregister_in(&app, "pb", "owner-a").await.is_ok_envelope());
    assert!(send_in(&app, "pa", "owner-a", &encrypted("n3")).await.is_ok_envelope());
}

#[tokio::test]
async fn malformed_credentials_are_refused_with_fields_and_nothing_is_stored() {
    let fake = FakeApns::start().await;
    let app = spawn_with_fake(&fake, 600).await;
    create(&app, "w").await;
    let p384 = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap().serialize_pem();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"topic": "t", "key_id": "K1", "team_id": "T1", "key": "not a key"}), "key"),
        (json!({"topic": "t", "key_id": "K1", "team_id": "T1", "key": p384}), "key"),
        (json!({"topic": "t", "key": KeyPair::generate().unwrap().serialize_pem()}), "key_id"),
        (json!({"key_id": "K1", "team_id": "T1", "key": "x"}), "topic"),
        (json!({"topic": "t", "certificate": "@@@"}), "certificate"),
        (json!({"topic": "t", "certificate": "AAAA", "password": "pw"}), "certificate"),
        (json!({"topic": "t"}), "key"),
    ];
    for (body, field) in cases {
        let r = put_apns(&app, "w", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.field_names().contains(&field.to_owned()), "{body}: {}", r.text);
        assert!(!r.text.contains("BEGIN"), "no key material echoed: {}", r.text);
    }
    assert_eq!(show(&app, "w").await["apns"], Value::Null, "nothing stored");
    let r = put_apns(&app, "unknown", Creds::new("t", "K1", "T1").body()).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn credentials_are_encrypted_at_rest_and_a_restart_serves_the_same_projects() {
    let fake = FakeApns::start().await;
    let app = spawn_with_fake(&fake, 600).await;
    let a = Creds::new("com.example.a", "AAAAAAAAA1", "TEAMAAAAA1");
    create(&app, "wallet-a").await;
    assert!(put_apns(&app, "wallet-a", a.body()).await.is_ok_envelope());
    assert!(register_in(&app, "wallet-a", "c1", "apns", TOKEN_A).await.is_ok_envelope());
    let settings = app.settings.clone();
    let dir = app.stop().await;

    // Every file of the database (the WAL too) holds no key material in the clear.
    let pem = a.key.serialize_pem();
    let body_line = pem.lines().nth(1).unwrap().to_owned();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("clients.db") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("PRIVATE KEY"), "{} holds a PEM key", path.display());
        assert!(!text.contains(&body_line[..40]), "{} holds key bytes", path.display());
    }

    // Restarted on the same database: the project, its credentials and its client are there.
    let app = spawn_settings(settings, dir).await;
    assert_eq!(show(&app, "wallet-a").await["apns"]["topic"], "com.example.a");
    assert!(send_in(&app, "wallet-a", "c1", &encrypted("n9")).await.is_ok_envelope());
    a.verify(fake.requests()[0].bearer().unwrap());

    // Deleting the project deletes its clients: recreated, it has none.
    assert!(admin(&app, "DELETE", "/admin/projects/wallet-a", None).await.is_ok_envelope());
    assert_eq!(send_in(&app, "wallet-a", "c1", &encrypted("n10")).await.status, 404);
    create(&app, "wallet-a").await;
    assert_eq!(
        show(&app, "wallet-a").await,
        json!({"id": "wallet-a", "apns": null, "fcm": null, "webpush": null, "clients": 0})
    );
    // Not even a cached copy of the old client is served.
    let r = send_in(&app, "wallet-a", "c1", &encrypted("n11")).await;
    assert_eq!((r.status, r.field_names()), (404, vec!["client_id".to_owned()]), "{}", r.text);
}

#[tokio::test]
async fn refused_credentials_suspend_the_project_until_a_try_succeeds_or_new_ones_are_uploaded() {
    let fake = FakeApns::start().await;
    let app = spawn_with_fake(&fake, 1).await;
    let a = Creds::new("com.example.a", "AAAAAAAAA1", "TEAMAAAAA1");
    create(&app, "w").await;
    assert!(put_apns(&app, "w", a.body()).await.is_ok_envelope());
    assert!(register_in(&app, "w", "c1", "apns", TOKEN_A).await.is_ok_envelope());

    fake.set_default(Reply::error(403, "InvalidProviderToken"));
    let r = send_in(&app, "w", "c1", &encrypted("n1")).await;
    assert_eq!((r.status, r.error_names()), (502, vec!["apns_credentials".to_owned()]), "{}", r.text);
    let calls = fake.request_count();
    assert!(calls >= 1);
    // Suspended: answered at once, without a call to APNS.
    let r = send_in(&app, "w", "c1", &encrypted("n2")).await;
    assert_eq!((r.status, r.error_names()), (502, vec!["apns_credentials".to_owned()]));
    assert_eq!(fake.request_count(), calls, "no call while suspended");
    let shown = show(&app, "w").await;
    assert!(shown["apns"]["suspended"]["reason"].as_str().unwrap().starts_with("InvalidProviderToken"), "{shown}");
    assert!(shown["apns"]["suspended"]["since"].as_str().unwrap().ends_with('Z'));
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains(r#"push_project_suspended{project="w",provider="apns"} 1"#), "{metrics}");

    // After the suspension period one real send is tried; APNS accepts again: lifted.
    fake.set_default(Reply::Ok);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(send_in(&app, "w", "c1", &encrypted("n3")).await.is_ok_envelope());
    assert_eq!(show(&app, "w").await["apns"]["suspended"], Value::Null);

    // Refused again; an upload lifts the suspension at once.
    fake.set_default(Reply::error(403, "InvalidProviderToken"));
    assert_eq!(send_in(&app, "w", "c1", &encrypted("n4")).await.status, 502);
    assert_eq!(send_in(&app, "w", "c1", &encrypted("n5")).await.status, 502);
    fake.set_default(Reply::Ok);
    let fixed = Creds::new("com.example.a", "AAAAAAAAA3", "TEAMAAAAA1");
    assert!(put_apns(&app, "w", fixed.body()).await.is_ok_envelope());
    assert_eq!(show(&app, "w").await["apns"]["suspended"], Value::Null);
    assert!(send_in(&app, "w", "c1", &encrypted("n6")).await.is_ok_envelope());
    fixed.verify(fake.requests().last().unwrap().bearer().unwrap());
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics
            .contains(r#"push_notifications_total{outcome="delivered",project="w",provider="apns",push_type="apns"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn removing_credentials_stops_the_types_they_served() {
    let fake = FakeApns::start().await;
    let app = spawn_with_fake(&fake, 600).await;
    create(&app, "w").await;
    assert!(put_apns(&app, "w", Creds::new("t.t", "AAAAAAAAA1", "TEAMAAAAA1").body()).await.is_ok_envelope());
    assert!(register_in(&app, "w", "c1", "apns", TOKEN_A).await.is_ok_envelope());
    assert!(admin(&app, "DELETE", "/admin/projects/w/apns", None).await.is_ok_envelope());
    assert_eq!(show(&app, "w").await["apns"], Value::Null);
    assert_eq!(register_in(&app, "w", "c2", "apns", TOKEN_B).await.field_names(), ["type"]);
}

/// A self-signed client certificate valid until 2030-01-01, and its key, as a `.p12` export.
fn p12(password: &str, matching_key: bool) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let key = KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["apns-client.example".to_owned()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2030, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let stored_key = if matching_key { key } else { KeyPair::generate().unwrap() };
    let chain = PrivateKeyChain::new(
        b"apns".to_vec(),
        PrivateKey::from_der(&stored_key.serialize_der()).unwrap(),
        [Certificate::from_der(cert.der()).unwrap()],
    );
    let mut store = KeyStore::new();
    store.add_entry("apns", KeyStoreEntry::PrivateKeyChain(chain));
    store.writer(password).write().unwrap()
}

#[tokio::test]
async fn certificate_credentials_are_checked_summarised_and_stored_encrypted() {
    use base64::{Engine, engine::general_purpose::STANDARD};
    let fake = FakeApns::start().await;
    let app = spawn_with_fake(&fake, 600).await;
    create(&app, "w").await;
    let password = "p12-export-password-7";
    let good = STANDARD.encode(p12(password, true));

    let wrong_password =
        put_apns(&app, "w", json!({"topic": "com.example", "certificate": good, "password": "nope"})).await;
    assert_eq!((wrong_password.status, wrong_password.field_names()), (400, vec!["certificate".to_owned()]));
    assert!(!wrong_password.text.contains("nope"), "{}", wrong_password.text);
    let mismatched = STANDARD.encode(p12(password, false));
    let r = put_apns(&app, "w", json!({"topic": "com.example", "certificate": mismatched, "password": password})).await;
    assert_eq!((r.status, r.field_names()), (400, vec!["certificate".to_owned()]), "{}", r.text);
    assert_eq!(show(&app, "w").await["apns"], Value::Null);

    let r = put_apns(&app, "w", json!({"topic": "com.example", "certificate": good, "password": password})).await;
    assert!(r.is_ok_envelope(), "{}", r.text);
    assert_eq!(
        show(&app, "w").await["apns"],
        json!({"topic": "com.example", "auth": "certificate", "key_id": null, "team_id": null,
               "certificate_not_after": "2030-01-01T00:00:00Z", "suspended": null})
    );
    let dir = app.stop().await;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(password) && !text.contains(&good[..40]), "password or certificate in the clear");
    }
}

/// The key id (`kid`) in the header of a request's provider token: which key signed it.
pub fn key_id(request: &Recorded) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let header = request.bearer().expect("a provider token").split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// APNS as it answers once a key was revoked: a token signed by `revoked` is refused, any other
/// is accepted.
fn refuse_key(fake: &FakeApns, revoked: &'static str) {
    fake.respond_with(move |r| {
        if key_id(r) == revoked { Reply::error(403, "InvalidProviderToken").into() } else { Reply::Ok.into() }
    });
}

/// Waits (bounded) until the fake has read `count` requests.
async fn requests_seen(fake: &FakeApns, count: usize) {
    for _ in 0..1000 {
        if fake.request_count() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the fake saw {} requests, expected {count}", fake.request_count());
}

/// A send to client `c1` of `project` through `via`, refused by APNS because its key `revoked`
/// was revoked, while `new` is uploaded through `uploader`: the fake holds the refusal until the
/// upload is stored, so that it arrives after it. The refused send's reply.
pub async fn refused_while_uploading(
    fake: &FakeApns,
    via: &TestApp,
    uploader: &TestApp,
    project: &str,
    revoked: &'static str,
    new: &Creds,
) -> push_testkit::Reply {
    refuse_key(fake, revoked);
    fake.stall();
    let seen = fake.request_count();
    let body = encrypted("refused-during-upload");
    let (refused, ()) = tokio::join!(send_in(via, project, "c1", &body), async {
        requests_seen(fake, seen + 1).await;
        assert!(put_apns(uploader, project, new.body()).await.is_ok_envelope());
        fake.resume();
    });
    refused
}

/// Sends to client `c1` of `project` through each of `apps` in turn: each reaches APNS, with
/// `key`, and is delivered.
pub async fn each_send_delivers_with(fake: &FakeApns, apps: &[&TestApp], project: &str, key: &Creds) {
    for (n, app) in apps.iter().enumerate() {
        let calls = fake.request_count();
        let r = send_in(app, project, "c1", &encrypted(&format!("after-upload-{n}"))).await;
        assert!(r.is_ok_envelope(), "send {n}: {} {}", r.status, r.text);
        assert_eq!(fake.request_count(), calls + 1, "send {n} reached APNS");
        key.verify(fake.requests().last().unwrap().bearer().unwrap());
    }
}

/// Issue 21, defect 1: a send is being refused with the old key while the operator uploads a new
/// one. The refusal arrives after the upload; it is about the old key, so the new key is not
/// suspended: the next send reaches APNS with it (before the fix it was `502 apns_credentials`,
/// with no call to APNS, for the whole suspension period).
#[tokio::test]
async fn a_refusal_of_the_old_key_that_arrives_after_an_upload_does_not_suspend_the_new_key() {
    let fake = FakeApns::start().await;
    let url = fake.url();
    // Generous timeouts: the refusal is held back while the upload happens.
    let app = spawn_projects(move |s| {
        s.apns.endpoint = Some(url.clone());
        s.apns.sandbox_endpoint = Some(url);
        s.provider.request_timeout = Duration::from_secs(20);
        s.provider.total_timeout = Duration::from_secs(30);
        s.projects.suspension = Duration::from_secs(600);
    })
    .await;
    let (old, new) = (
        Creds::new("com.example.a", "OLDKEY0001", "TEAMAAAAA1"),
        Creds::new("com.example.a", "NEWKEY0002", "TEAMAAAAA1"),
    );
    create(&app, "w").await;
    assert!(put_apns(&app, "w", old.body()).await.is_ok_envelope());
    assert!(register_in(&app, "w", "c1", "apns", TOKEN_A).await.is_ok_envelope());

    // The old key is revoked; Apple's refusal of the send in flight is held until the new key
    // is stored.
    let refused = refused_while_uploading(&fake, &app, &app, "w", "OLDKEY0001", &new).await;
    assert_eq!((refused.status, refused.error_names()), (502, vec!["apns_credentials".to_owned()]), "{}", refused.text);

    // The new key is presented to APNS and accepted, every time.
    each_send_delivers_with(&fake, &[&app, &app, &app], "w", &new).await;
    assert_eq!(show(&app, "w").await["apns"]["suspended"], Value::Null);
    let metrics = app.get("/metrics").await.text;
    assert!(!metrics.contains(r#"push_project_suspended{project="w",provider="apns"} 1"#), "{metrics}");
}
