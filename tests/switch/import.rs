//! `import-walletconnect` end to end: their schema and rows (every push type, a token we refuse,
//! tenants with a certificate, with a `.p8` and a service account, with a legacy FCM key only,
//! suspended, and with a broken key), a dry run, the import, sends through the fake APNS and FCM
//! to every imported client of the default project and of tenant projects, a Relay retry across
//! the cut-over, a second run, and their tables untouched throughout.

use base64::{Engine, engine::general_purpose::STANDARD};
use rcgen::KeyPair;

use push_server::cli::{
    import_walletconnect::{ImportArgs, Kind, Progress, Summary, import},
    settings::{DedupBackend, Settings},
};
use push_testkit::{
    SignedRequest, TestApp, encrypted,
    fake::{
        apns::{FakeApns, provider_key},
        fcm::Google,
    },
    spawn_settings, test_settings,
};
use tempfile::TempDir;

use crate::their_database::{fingerprint, their_database, their_sql};

const CREDENTIALS_KEY: &str = "8f1c2d3e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3";

fn hex_token(byte: &str) -> String {
    byte.repeat(32)
}

/// A self-signed client certificate and its key as a `.p12` export.
fn p12(password: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let key = KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["apns-client.example".to_owned()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let chain = PrivateKeyChain::new(
        b"apns".to_vec(),
        PrivateKey::from_der(&key.serialize_der()).unwrap(),
        [Certificate::from_der(cert.der()).unwrap()],
    );
    let mut store = KeyStore::new();
    store.add_entry("apns", KeyStoreEntry::PrivateKeyChain(chain));
    store.writer(password).write().unwrap()
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Their rows: the default tenant's clients of every type and one with a token we refuse,
/// five tenants, and notifications inside and outside the dedup window.
async fn their_rows(db: &push_testkit::services::TestDatabase, google: &Google) {
    let p8 = STANDARD.encode(provider_key());
    let broken_p8 = STANDARD.encode("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    let cert = STANDARD.encode(p12("p12-password"));
    let service_account = std::fs::read_to_string(&google.credentials).unwrap();
    let d = "0000-0000-0000-0000";
    let clients = [
        ("c-apns", d, "apns", hex_token("a1")),
        ("c-sandbox", d, "apnssandbox", hex_token("a2")),
        ("did:key:z6Mk-fcm", d, "fcm", "fcm-token-default".into()),
        ("c-noop", d, "noop", "noop-token".into()),
        ("c-bad", d, "apns", "not-a-hex-token".into()),
        ("tc1", "t-cert", "apns", hex_token("b1")),
        ("tp1", "t-p8", "apns", hex_token("b2")),
        ("tp2", "t-p8", "fcm", "fcm-token-tenant".into()),
        ("tl1", "t-legacy", "fcm", "fcm-token-legacy".into()),
        ("ts1", "t-suspended", "apnssandbox", hex_token("b3")),
        ("tb1", "t-broken", "apns", hex_token("b4")),
    ];
    let mut sql = String::new();
    for (id, tenant, push_type, token) in clients {
        sql += &format!(
            "INSERT INTO public.clients (id, tenant_id, push_type, device_token, always_raw) VALUES ({}, {}, {}, {}, false);\n",
            quote(id),
            quote(tenant),
            quote(push_type),
            quote(&token)
        );
    }
    sql += &format!(
        "INSERT INTO public.tenants (id, apns_type, apns_topic, apns_certificate, apns_certificate_password)
           VALUES ('t-cert', 'certificate', 'com.example.cert', {}, 'p12-password');
         INSERT INTO public.tenants (id, apns_type, apns_topic, apns_pkcs8_pem, apns_key_id, apns_team_id, fcm_v1_credentials)
           VALUES ('t-p8', 'token', 'com.example.p8', {p8}, 'KEYP8AAAA1', 'TEAMP8AAA1', {});
         INSERT INTO public.tenants (id, fcm_api_key) VALUES ('t-legacy', 'AAAA-legacy-server-key');
         INSERT INTO public.tenants (id, apns_type, apns_topic, apns_pkcs8_pem, apns_key_id, apns_team_id, suspended, suspended_reason)
           VALUES ('t-suspended', 'token', 'com.example.susp', {p8}, 'KEYSUSPEN1', 'TEAMSUSPE1', true, 'invalid provider token');
         INSERT INTO public.tenants (id, apns_type, apns_topic, apns_pkcs8_pem, apns_key_id, apns_team_id)
           VALUES ('t-broken', 'token', 'com.example.broken', {broken_p8}, 'KEYBROKEN1', 'TEAMBROKE1');
         INSERT INTO public.notifications (id, client_id, tenant_id, last_received_at)
           VALUES ('n-recent', 'c-apns', '{d}', now() - interval '1 hour'),
                  ('n-old', 'c-apns', '{d}', now() - interval '2 days'),
                  ('n-tenant', 'tp1', 't-p8', now() - interval '1 minute');",
        quote(&cert),
        quote(&service_account),
        p8 = quote(&p8),
        broken_p8 = quote(&broken_p8),
    );
    their_sql(db, &sql).await;
}

/// Our settings on the same database: projects on, dedup in Postgres (so claims are imported),
/// the default project's APNS and FCM from the environment, the log sink beside them for `noop`.
fn settings(dir: &TempDir, database_url: &str, apns: &FakeApns, google: &Google) -> Settings {
    let mut s = test_settings(dir);
    s.database_url = database_url.to_owned();
    s.projects.credentials_key = Some(push_server::domain::Secret::new(CREDENTIALS_KEY.to_owned()));
    s.dedup.backend = Some(DedupBackend::Postgres);
    let key = dir.path().join("AuthKey.p8");
    std::fs::write(&key, provider_key()).unwrap();
    s.apns.key_path = Some(key);
    s.apns.key_id = Some("KEYDEFAUL1".into());
    s.apns.team_id = Some("TEAMDEFAU1".into());
    s.apns.topic = Some("com.example.default".into());
    s.apns.endpoint = Some(apns.url());
    s.apns.sandbox_endpoint = Some(apns.url());
    s.fcm.credentials_path = Some(google.credentials.clone());
    s.fcm.endpoint = Some(google.fcm.url());
    s.log_sink = Some(true);
    s
}

async fn run_import(settings: &Settings, from: &str, dry_run: bool) -> Summary {
    let args = ImportArgs { from: from.to_owned(), tenants_from: None, dry_run };
    import(settings, &args, &mut Progress::new(false)).await.unwrap_or_else(|e| panic!("import: {e}"))
}

fn counts(s: &Summary, kind: Kind) -> (u64, u64, u64) {
    let c = s.counts(kind);
    (c.imported, c.unchanged, c.skipped)
}

async fn send_to(app: &TestApp, path: &str, id: &str) {
    let r = app
        .http
        .post(app.url(path))
        .header("content-type", "application/json")
        .signed_body(&app.relay, encrypted(id))
        .send()
        .await
        .unwrap();
    let r = TestApp::reply(r).await;
    assert!(r.is_ok_envelope(), "{path}: {} {}", r.status, r.text);
}

#[tokio::test]
async fn their_data_is_imported_once_and_every_imported_client_receives_a_send() {
    let Some(db) = their_database().await else { return };
    let (apns, google) = (FakeApns::start().await, Google::start().await);
    their_rows(&db, &google).await;
    let theirs = fingerprint(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&dir, &db.direct_url, &apns, &google);

    // A dry run says what it would do and writes nothing.
    let dry = run_import(&s, &db.direct_url, true).await;
    assert_eq!(counts(&dry, Kind::Projects), (4, 0, 1), "{dry}");
    assert_eq!(counts(&dry, Kind::Clients), (9, 0, 2), "{dry}");
    assert_eq!(counts(&dry, Kind::Claims), (2, 0, 0), "{dry}");
    let again = run_import(&s, &db.direct_url, true).await;
    assert_eq!(again.to_string(), dry.to_string(), "the dry run changed nothing");

    let done = run_import(&s, &db.direct_url, false).await;
    let text = done.to_string();
    assert_eq!(text, dry.to_string().replace("would import", "imported").replace("dry run: nothing was written\n", ""));
    for expected in [
        "skipped client c-bad: device token",
        "skipped client tb1: project t-broken is not here",
        "skipped project t-broken: APNS credentials refused (key:",
        "note: project t-legacy: fcm_api_key not imported",
        "note: project t-suspended: suspended on their server (invalid provider token)",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert!(!text.contains("AAAA-legacy-server-key") && !text.contains("p12-password"), "{text}");

    // A second run imports nothing new.
    let second = run_import(&s, &db.direct_url, false).await;
    assert_eq!(counts(&second, Kind::Projects), (0, 4, 1), "{second}");
    assert_eq!(counts(&second, Kind::Clients), (0, 9, 2), "{second}");
    assert_eq!(counts(&second, Kind::Claims), (0, 2, 0), "{second}");

    let app = spawn_settings(s.clone(), tempfile::tempdir().unwrap()).await;
    for (path, id) in [
        ("/clients/c-apns", "m1"),
        ("/clients/c-sandbox", "m2"),
        ("/clients/z6Mk-fcm", "m3"),
        ("/clients/c-noop", "m4"),
        ("/t-cert/clients/tc1", "m5"),
        ("/t-p8/clients/tp1", "m6"),
        ("/t-p8/clients/tp2", "m7"),
        ("/t-suspended/clients/ts1", "m8"),
    ] {
        send_to(&app, path, id).await;
    }
    let apns_paths: Vec<(String, Option<String>)> =
        apns.requests().iter().map(|r| (r.path.clone(), r.header("apns-topic").map(str::to_owned))).collect();
    for (token, topic) in [
        (hex_token("a1"), "com.example.default"),
        (hex_token("a2"), "com.example.default"),
        (hex_token("b1"), "com.example.cert"),
        (hex_token("b2"), "com.example.p8"),
        (hex_token("b3"), "com.example.susp"),
    ] {
        assert!(
            apns_paths.contains(&(format!("/3/device/{token}"), Some(topic.to_owned()))),
            "{token}: {apns_paths:?}"
        );
    }
    let fcm_tokens: Vec<String> =
        google.fcm_requests().iter().map(|r| r.json()["message"]["token"].as_str().unwrap().to_owned()).collect();
    assert!(
        fcm_tokens.contains(&"fcm-token-default".to_owned()) && fcm_tokens.contains(&"fcm-token-tenant".to_owned())
    );
    assert!(app.deliveries().iter().any(|d| d.to_string().contains("m4")), "noop through the log sink");

    // A Relay retry of a notification their server took within the window is not delivered
    // again; one outside the window is.
    let before = apns.requests().len();
    send_to(&app, "/clients/c-apns", "n-recent").await;
    send_to(&app, "/t-p8/clients/tp1", "n-tenant").await;
    assert_eq!(apns.requests().len(), before, "imported claims are duplicates");
    send_to(&app, "/clients/c-apns", "n-old").await;
    assert_eq!(apns.requests().len(), before + 1);
    app.stop().await;

    assert_eq!(fingerprint(&db).await, theirs, "their tables are untouched");
    db.drop_database().await;
}
