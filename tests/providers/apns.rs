//! The APNS provider end to end: the real server, driven over its HTTP API, delivering to local
//! fake APNS servers (HTTP/2 cleartext, and TLS with client certificates), through every answer
//! class APNS has; the provider built straight from its configuration (certificate auth over TLS);
//! plus the start-up checks of the APNS settings.

use std::{path::PathBuf, sync::Arc, time::Duration};

use push_server::{
    adapters::push::{
        apns::{ApnsAuth, ApnsConfig, ApnsConfigError, ApnsIdentity, ApnsProvider, Environment, IdField},
        retry::RetryPolicy,
    },
    bootstrap::server,
    cli::settings::{ApnsSettings, Settings},
    domain::{ClientId, Delivery, DeviceToken, Flags, Notification, NotificationId, Payload, PushType, Secret, Topic},
    ports::{PushError, PushProvider},
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, PKCS_ECDSA_P384_SHA384};
use serde_json::json;
use tempfile::TempDir;
use tokio::time::Instant;

use push_testkit::{
    SignedRequest, TestApp, cleartext, encrypted,
    fake::apns::{FakeApns, Reply, verify_provider_token},
    spawn_with, test_settings,
};

pub(crate) const TOPIC: &str = "com.example.wallet";
const KEY_ID: &str = "ABC123DEFG";
const TEAM_ID: &str = "DEF123GHIJ";
pub(crate) const TOKEN: &str = "5f2a9c04e1b7d3a8c6f0e2b4d9a7c5e3f1b8d6a4c2e0f9b7d5a3c1e8f6b4d2a0";
const SANDBOX_TOKEN: &str = "00ff11ee22dd33cc44bb55aa66997788aabbccddeeff00112233445566778899";

/// The server under test with its two fake APNS endpoints and the `.p8` key it signs with.
struct Apns {
    app: TestApp,
    production: FakeApns,
    sandbox: FakeApns,
    key: KeyPair,
    _keys: TempDir,
}

/// Short timeouts keep the transient cases fast: 3 attempts of at most 1 s within 4 s (1 s, not
/// less, so a loaded CI machine running every test at once does not time out healthy requests).
pub(crate) fn fast_retries(s: &mut Settings) {
    s.provider.request_timeout = Duration::from_secs(1);
    s.provider.total_timeout = Duration::from_secs(4);
    s.provider.max_attempts = 3;
}

/// A fresh P-256 key written as the `.p8` file Apple hands out (PKCS#8 PEM).
fn p8_key(dir: &TempDir) -> (KeyPair, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let path = dir.path().join(format!("AuthKey_{KEY_ID}.p8"));
    std::fs::write(&path, key.serialize_pem()).unwrap();
    (key, path)
}

/// Token auth with a fresh key, as material.
fn token() -> ApnsAuth {
    let key_pem = KeyPair::generate().unwrap().serialize_pem().into_bytes();
    ApnsAuth::Token { key_pem, key_id: KEY_ID.into(), team_id: TEAM_ID.into() }
}

async fn spawn_apns() -> Apns {
    let production = FakeApns::start().await;
    let sandbox = FakeApns::start().await;
    let keys = tempfile::tempdir().unwrap();
    let (key, key_path) = p8_key(&keys);
    let app = spawn_with(|s| {
        s.apns.topic = Some(TOPIC.into());
        s.apns.key_path = Some(key_path);
        s.apns.key_id = Some(KEY_ID.into());
        s.apns.team_id = Some(TEAM_ID.into());
        s.apns.endpoint = Some(production.url());
        s.apns.sandbox_endpoint = Some(sandbox.url());
        fast_retries(s);
    })
    .await;
    assert_eq!(app.register("wallet-1", "apns", TOKEN).await.status, 200);
    Apns { app, production, sandbox, key, _keys: keys }
}

impl Apns {
    fn verify(&self, jwt: &str) {
        verify_provider_token(jwt, self.key.public_key_raw(), KEY_ID, TEAM_ID);
    }
}

#[tokio::test]
async fn delivers_an_encrypted_notification_with_exactly_the_apns_request() {
    let t = spawn_apns().await;
    let reply = t.app.send("wallet-1", &encrypted("n-1")).await;
    assert!(reply.is_ok_envelope(), "{}", reply.text);

    let requests = t.production.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(t.sandbox.request_count(), 0, "apns goes to the production endpoint only");
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/3/device/{TOKEN}"));
    assert_eq!(r.version, hyper::Version::HTTP_2);
    assert_eq!(r.header("apns-topic"), Some(TOPIC));
    assert_eq!(r.header("apns-push-type"), Some("alert"));
    assert_eq!(r.header("apns-priority"), Some("10"));
    t.verify(r.bearer().expect("authorization: bearer <provider token>"));
    assert_eq!(
        r.json(),
        json!({"aps": {"alert": {"title": "You have new notifications"}, "mutable-content": 1, "content-available": 1},
               "topic": "topic-1", "flags": 17, "blob": "opaque-ciphertext"})
    );
}

#[tokio::test]
async fn apns_sandbox_clients_get_cleartext_notifications_from_the_sandbox_endpoint() {
    let t = spawn_apns().await;
    assert_eq!(t.app.register("wallet-2", "apns-sandbox", SANDBOX_TOKEN).await.status, 200);
    let message = json!({"title": "Payment request", "body": "Approve 1 ETH?", "url": "https://dapp.example", "icon": "https://dapp.example/i.png", "type": "sign"});
    let reply = t.app.send("wallet-2", &cleartext("n-1", &message)).await;
    assert!(reply.is_ok_envelope(), "{}", reply.text);

    assert_eq!(t.production.request_count(), 0, "apns-sandbox goes to the sandbox endpoint only");
    let requests = t.sandbox.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, format!("/3/device/{SANDBOX_TOKEN}"));
    assert_eq!(r.header("apns-topic"), Some(TOPIC));
    assert_eq!(r.header("apns-push-type"), Some("alert"));
    assert_eq!(r.header("apns-priority"), Some("10"));
    t.verify(r.bearer().unwrap());
    assert_eq!(
        r.json(),
        json!({"aps": {"alert": {"title": "Payment request", "body": "Approve 1 ETH?"}}, "topic": "topic-1", "flags": 16,
               "url": "https://dapp.example", "icon": "https://dapp.example/i.png", "type": "sign"})
    );
}

#[tokio::test]
async fn a_duplicate_id_is_answered_ok_and_not_sent_again() {
    let t = spawn_apns().await;
    assert!(t.app.send("wallet-1", &encrypted("n-1")).await.is_ok_envelope());
    assert!(t.app.send("wallet-1", &encrypted("n-1")).await.is_ok_envelope());
    assert_eq!(t.production.request_count(), 1);
}

#[tokio::test]
async fn one_provider_token_is_reused_across_sends_and_endpoints() {
    let t = spawn_apns().await;
    assert_eq!(t.app.register("wallet-2", "apns-sandbox", SANDBOX_TOKEN).await.status, 200);
    for i in 0..3 {
        assert!(t.app.send("wallet-1", &encrypted(&format!("n-{i}"))).await.is_ok_envelope());
    }
    assert!(t.app.send("wallet-2", &encrypted("n-1")).await.is_ok_envelope());
    let mut jwts: Vec<String> = t.production.requests().iter().map(|r| r.bearer().unwrap().to_owned()).collect();
    jwts.push(t.sandbox.requests()[0].bearer().unwrap().to_owned());
    assert!(jwts.iter().all(|j| j == &jwts[0]), "one token for every request");
}

#[tokio::test]
async fn a_dead_token_deletes_the_client_after_one_try() {
    let t = spawn_apns().await;
    t.production.script([Reply::error(410, "Unregistered")]);
    let reply = t.app.send("wallet-1", &encrypted("n-1")).await;
    assert_eq!(reply.status, 410, "{}", reply.text);
    assert_eq!(reply.error_names(), ["client_unregistered"]);
    assert_eq!(t.production.request_count(), 1, "a dead token is never retried");
    let reply = t.app.send("wallet-1", &encrypted("n-2")).await;
    assert_eq!(reply.status, 404, "the client is gone: {}", reply.text);
    assert_eq!(t.production.request_count(), 1);
}

#[tokio::test]
async fn bad_device_token_also_deletes_the_client() {
    let t = spawn_apns().await;
    t.production.script([Reply::error(400, "BadDeviceToken")]);
    let reply = t.app.send("wallet-1", &encrypted("n-1")).await;
    assert_eq!(reply.status, 410, "{}", reply.text);
    assert_eq!(reply.error_names(), ["client_unregistered"]);
    assert_eq!(t.app.send("wallet-1", &encrypted("n-2")).await.status, 404);
    assert_eq!(t.production.request_count(), 1);
}

#[tokio::test]
async fn a_payload_apns_refuses_is_a_400_once_and_the_client_is_kept() {
    let t = spawn_apns().await;
    t.production.script([Reply::error(413, "PayloadTooLarge")]);
    let reply = t.app.send("wallet-1", &encrypted("n-1")).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.field_names(), ["payload.blob"]);
    assert_eq!(t.production.request_count(), 1, "a refused payload is never retried");
    assert!(t.app.send("wallet-1", &encrypted("n-2")).await.is_ok_envelope(), "the client is kept");
}

#[tokio::test]
async fn a_payload_over_4_kib_never_reaches_apns() {
    let t = spawn_apns().await;
    let body = json!({"id": "big", "payload": {"topic": "t", "flags": 1, "blob": "x".repeat(4200)}}).to_string();
    let reply = t.app.send("wallet-1", &body).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.field_names(), ["payload.blob"]);
    assert_eq!(t.production.request_count(), 0);
}

#[tokio::test]
async fn transient_failures_are_retried_then_502_and_the_relays_retry_delivers() {
    let t = spawn_apns().await;
    t.production.script([Reply::error(500, "InternalServerError"), Reply::error(503, "ServiceUnavailable")]);
    t.production.set_default(Reply::error(503, "Shutdown"));
    let started = Instant::now();
    let reply = t.app.send("wallet-1", &encrypted("n-1")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.error_names(), ["apns_unavailable"]);
    assert_eq!(t.production.request_count(), 3, "max_attempts tries");
    assert!(started.elapsed() < Duration::from_secs(4));

    // The dedup claim was released: the Relay's retry of the same id is delivered.
    t.production.set_default(Reply::Ok);
    assert!(t.app.send("wallet-1", &encrypted("n-1")).await.is_ok_envelope());
    assert_eq!(t.production.request_count(), 4);
}

#[tokio::test]
async fn too_many_requests_is_retried_after_the_retry_after_delay() {
    let t = spawn_apns().await;
    t.production.script([Reply::Error { status: 429, reason: "TooManyRequests", retry_after: Some(1) }]);
    let started = Instant::now();
    assert!(t.app.send("wallet-1", &encrypted("n-1")).await.is_ok_envelope());
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was honoured");
    assert_eq!(t.production.request_count(), 2);
}

#[tokio::test]
async fn a_retry_after_near_u64_max_is_a_502_at_once_not_a_panic() {
    let t = spawn_apns().await;
    t.production.script([Reply::Error { status: 429, reason: "TooManyRequests", retry_after: Some(u64::MAX) }]);
    let started = Instant::now();
    let reply = t.app.send("wallet-1", &encrypted("n-1")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.error_names(), ["apns_unavailable"]);
    assert_eq!(t.production.request_count(), 1, "waiting that long is past every budget");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    // The server carries on: the Relay's retry of the same id is delivered.
    assert!(t.app.send("wallet-1", &encrypted("n-1")).await.is_ok_envelope());
}

#[tokio::test]
async fn a_hanging_apns_times_out_into_a_502_within_the_budget() {
    let t = spawn_apns().await;
    t.production.set_default(Reply::Hang);
    let started = Instant::now();
    let reply = t.app.send("wallet-1", &encrypted("n-1")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.error_names(), ["apns_unavailable"]);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!((2..=3).contains(&t.production.request_count()), "{} tries", t.production.request_count());
    // The hung streams did not poison the connection for the next notification.
    t.production.set_default(Reply::Ok);
    assert!(t.app.send("wallet-1", &encrypted("n-2")).await.is_ok_envelope());
}

#[tokio::test]
async fn an_expired_provider_token_is_replaced_once_and_the_send_succeeds() {
    let t = spawn_apns().await;
    t.production.script([Reply::error(403, "ExpiredProviderToken")]);
    assert!(t.app.send("wallet-1", &encrypted("n-1")).await.is_ok_envelope());
    let requests = t.production.requests();
    assert_eq!(requests.len(), 2);
    let (old, new) = (requests[0].bearer().unwrap(), requests[1].bearer().unwrap());
    assert_ne!(old, new, "a new provider token after the 403");
    t.verify(new);
    // The new token is the one kept for later sends.
    assert!(t.app.send("wallet-1", &encrypted("n-2")).await.is_ok_envelope());
    assert_eq!(t.production.requests()[2].bearer().unwrap(), new);
}

#[tokio::test]
async fn refused_credentials_are_a_502_and_the_client_is_kept() {
    let t = spawn_apns().await;
    t.production.set_default(Reply::error(403, "InvalidProviderToken"));
    let reply = t.app.send("wallet-1", &encrypted("n-1")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.error_names(), ["apns_credentials"]);
    assert_eq!(t.production.request_count(), 2, "one retry with a fresh provider token");

    // A fresh token was refused too: the next send does not mint yet another one (Apple limits
    // token updates), it fails at once; the client is still there (502, not 404).
    let reply = t.app.send("wallet-1", &encrypted("n-2")).await;
    assert_eq!(reply.error_names(), ["apns_credentials"]);
    assert_eq!(t.production.request_count(), 3);
    let requests = t.production.requests();
    assert_eq!(requests[1].bearer(), requests[2].bearer());

    // Once APNS accepts again (the operator fixed the key at Apple), the same id is delivered.
    t.production.set_default(Reply::Ok);
    assert!(t.app.send("wallet-1", &encrypted("n-1")).await.is_ok_envelope());
}

#[tokio::test]
async fn a_topic_apns_refuses_is_a_configuration_502_not_a_dead_client() {
    let t = spawn_apns().await;
    t.production.script([Reply::error(400, "TopicDisallowed")]);
    let reply = t.app.send("wallet-1", &encrypted("n-1")).await;
    assert_eq!(reply.status, 502, "{}", reply.text);
    assert_eq!(reply.error_names(), ["apns_credentials"]);
    assert_eq!(t.production.request_count(), 1);
    assert!(t.app.send("wallet-1", &encrypted("n-1")).await.is_ok_envelope(), "client kept, claim released");
}

#[tokio::test]
async fn many_sends_share_one_http2_connection_and_a_dropped_one_is_replaced() {
    let t = spawn_apns().await;
    for i in 0..10 {
        assert!(t.app.send("wallet-1", &encrypted(&format!("seq-{i}"))).await.is_ok_envelope());
    }
    // Concurrent Relay requests, each on its own task (signed the way `TestApp::send` does).
    let mut concurrent = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (http, url, relay) = (t.app.http.clone(), t.app.url("/clients/wallet-1"), t.app.relay.clone());
        concurrent.spawn(async move {
            let response = http
                .post(url)
                .header("content-type", "application/json")
                .signed_body(&relay, encrypted(&format!("par-{i}")))
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        });
    }
    while let Some(status) = concurrent.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    // A retry after a timed-out attempt (a heavily loaded machine) may add a request; what this
    // test is about is that they all share one connection.
    assert!(t.production.request_count() >= 30);
    assert_eq!(t.production.connections().len(), 1, "every request on one connection");

    t.production.drop_connections();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(t.app.send("wallet-1", &encrypted("after-drop")).await.is_ok_envelope());
    assert_eq!(t.production.connections().len(), 2, "the next send reconnected");
    assert_eq!(t.production.requests().last().unwrap().connection, 1);
}

// ---- certificate auth ----

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
pub(crate) struct Pki {
    pub(crate) ca: rcgen::Certificate,
    server: (rcgen::Certificate, KeyPair),
    pub(crate) client: (rcgen::Certificate, KeyPair),
}

pub(crate) fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".into()]).unwrap().signed_by(&server_key, &issuer).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client =
        CertificateParams::new(vec!["apns-client.example".into()]).unwrap().signed_by(&client_key, &issuer).unwrap();
    Pki { ca, server: (server, server_key), client: (client, client_key) }
}

/// A TLS acceptor that offers only `h2` and requires a client certificate from the test CA.
pub(crate) fn tls_acceptor(pki: &Pki) -> tokio_rustls::TlsAcceptor {
    use rustls::{RootCertStore, ServerConfig, crypto::aws_lc_rs, server::WebPkiClientVerifier};
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let provider = Arc::new(aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.der().clone()).unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server.1.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server.0.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

pub(crate) fn delivery(push_type: PushType) -> Delivery {
    Delivery {
        client_id: ClientId::parse("wallet-1").unwrap(),
        push_type,
        token: DeviceToken::parse(push_type, TOKEN).unwrap(),
        notification: Notification::classic(
            NotificationId::parse("n-1").unwrap(),
            Payload::new(Topic::parse("topic-1").unwrap(), Flags::new(17), "opaque-ciphertext").unwrap(),
        ),
    }
}

fn retry() -> RetryPolicy {
    RetryPolicy::new(3, Duration::from_secs(2), Duration::from_secs(5))
}

/// A provider configuration whose two endpoints are `endpoint`, trusting the test CA.
pub(crate) fn config(pki: &Pki, auth: ApnsAuth, endpoint: String) -> ApnsConfig {
    let mut config = ApnsConfig::new(TOPIC.into(), auth, "You have new notifications".into(), retry());
    config.endpoint.clone_from(&endpoint);
    config.sandbox_endpoint = endpoint;
    config.extra_roots = vec![pki.ca.der().clone()];
    config
}

fn cert_settings(path: PathBuf, password: Option<&str>, endpoint: String) -> ApnsSettings {
    ApnsSettings {
        topic: Some(TOPIC.into()),
        cert_path: Some(path),
        cert_password: password.map(|p| Secret::new(p.into())),
        endpoint: Some(endpoint.clone()),
        sandbox_endpoint: Some(endpoint),
        placeholder_title: "You have new notifications".into(),
        ..Default::default()
    }
}

/// The client identity (with the CA) as a `.p12` export.
fn p12(pki: &Pki, password: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let chain = PrivateKeyChain::new(
        b"apns".to_vec(),
        PrivateKey::from_der(&pki.client.1.serialize_der()).unwrap(),
        [Certificate::from_der(pki.client.0.der()).unwrap(), Certificate::from_der(pki.ca.der()).unwrap()],
    );
    let mut store = KeyStore::new();
    store.add_entry("apns", KeyStoreEntry::PrivateKeyChain(chain));
    store.writer(password).write().unwrap()
}

fn p12_file(dir: &TempDir, pki: &Pki, password: &str) -> PathBuf {
    let path = dir.path().join("apns.p12");
    std::fs::write(&path, p12(pki, password)).unwrap();
    path
}

#[tokio::test]
async fn certificate_auth_presents_the_p12_identity_over_tls() {
    let pki = pki();
    let fake = FakeApns::start_tls(tls_acceptor(&pki)).await;
    // Material, not a file: as it will come from a project's stored credentials.
    let identity = ApnsIdentity::Pkcs12 { der: p12(&pki, "export-password"), password: "export-password".into() };
    let provider = ApnsProvider::new(config(&pki, ApnsAuth::Certificate(identity), fake.https_url())).unwrap();

    provider.send(&delivery(PushType::Apns)).await.expect("delivered over TLS with the client certificate");
    provider.send(&delivery(PushType::ApnsSandbox)).await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.client_cert.as_deref(), Some(pki.client.0.der().as_ref()), "the .p12 certificate was presented");
        assert_eq!(r.header("authorization"), None, "certificate auth sends no provider token");
        assert_eq!(r.header("apns-topic"), Some(TOPIC));
        assert_eq!(r.version, hyper::Version::HTTP_2, "h2 negotiated by ALPN");
    }
    assert_eq!(fake.connections().len(), 2, "one connection per endpoint (both point at this fake)");
}

#[tokio::test]
async fn certificate_auth_from_pem() {
    let pki = pki();
    let fake = FakeApns::start_tls(tls_acceptor(&pki)).await;
    let pem = format!("{}{}", pki.client.0.pem(), pki.client.1.serialize_pem());
    let auth = ApnsAuth::Certificate(ApnsIdentity::Pem(pem.into_bytes()));
    let provider = ApnsProvider::new(config(&pki, auth, fake.https_url())).unwrap();
    provider.send(&delivery(PushType::Apns)).await.unwrap();
    assert_eq!(fake.requests()[0].client_cert.as_deref(), Some(pki.client.0.der().as_ref()));
}

#[tokio::test]
async fn the_tls_fake_refuses_a_client_without_a_certificate() {
    // Proves the fake really checks client certificates, so the tests above mean something.
    let pki = pki();
    let fake = FakeApns::start_tls(tls_acceptor(&pki)).await;
    let mut config = config(&pki, token(), fake.https_url());
    config.retry = RetryPolicy::new(3, Duration::from_millis(500), Duration::from_secs(3));
    let provider = ApnsProvider::new(config).unwrap();
    let err = provider.send(&delivery(PushType::Apns)).await.unwrap_err().error;
    assert!(matches!(err, PushError::Unavailable { provider: "apns", .. }), "{err:?}");
    assert_eq!(fake.request_count(), 0);
}

#[tokio::test]
async fn certificate_auth_end_to_end_through_the_api() {
    // Start-up reads the PEM identity; over http:// there is no TLS, so the fake only sees that
    // no provider token is sent.
    let fake = FakeApns::start().await;
    let pki = pki();
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("apns.pem");
    std::fs::write(&path, format!("{}{}", pki.client.0.pem(), pki.client.1.serialize_pem())).unwrap();
    let app = spawn_with(|s| {
        s.apns.topic = Some(TOPIC.into());
        s.apns.cert_path = Some(path);
        s.apns.endpoint = Some(fake.url());
        s.apns.sandbox_endpoint = Some(fake.url());
        fast_retries(s);
    })
    .await;
    assert_eq!(app.register("wallet-1", "apns", TOKEN).await.status, 200);
    assert!(app.send("wallet-1", &encrypted("n-1")).await.is_ok_envelope());
    let r = &fake.requests()[0];
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.header("apns-topic"), Some(TOPIC));

    // 403 with certificate auth: nothing to refresh, so one try and a credentials 502.
    fake.set_default(Reply::error(403, "BadCertificateEnvironment"));
    let reply = app.send("wallet-1", &encrypted("n-2")).await;
    assert_eq!(reply.error_names(), ["apns_credentials"]);
    assert_eq!(fake.request_count(), 2);
}

#[test]
fn the_adapter_refuses_a_configuration_that_cannot_work_in_its_own_terms() {
    let pki = pki();
    let refused = |change: &dyn Fn(&mut ApnsConfig)| {
        let mut config = config(&pki, token(), "http://127.0.0.1:9".into());
        change(&mut config);
        let error = ApnsProvider::new(config).err().expect("the configuration is refused");
        // The adapter knows nothing of settings: the caller words the refusal after its source.
        assert!(!error.to_string().contains("APNS_"), "{error}");
        error
    };
    let e = refused(&|c| c.topic = "com.example wallet".into());
    assert!(matches!(&e, ApnsConfigError::Topic(t) if t == "com.example wallet"), "{e:?}");
    let e = refused(&|c| c.auth = ApnsAuth::Token { key_pem: vec![], key_id: "KEY-1".into(), team_id: TEAM_ID.into() });
    assert!(matches!(&e, ApnsConfigError::Id { field: IdField::KeyId, value } if value == "KEY-1"), "{e:?}");
    let e = refused(&|c| c.auth = ApnsAuth::Token { key_pem: vec![], key_id: KEY_ID.into(), team_id: String::new() });
    assert!(matches!(&e, ApnsConfigError::Id { field: IdField::TeamId, .. }), "{e:?}");
    let e = refused(&|c| {
        c.auth = ApnsAuth::Token { key_pem: b"not a key".to_vec(), key_id: KEY_ID.into(), team_id: TEAM_ID.into() }
    });
    assert!(matches!(&e, ApnsConfigError::Key(reason) if reason.contains("PKCS#8")), "{e:?}");
    let e = refused(&|c| {
        c.auth = ApnsAuth::Certificate(ApnsIdentity::Pkcs12 { der: p12(&pki, "right"), password: "wrong".into() })
    });
    assert!(matches!(e, ApnsConfigError::Certificate(_)) && !e.to_string().contains("wrong"), "{e:?}");
    let e = refused(&|c| c.sandbox_endpoint = "api.sandbox.push.apple.com".into());
    assert!(matches!(e, ApnsConfigError::Endpoint { environment: Environment::Sandbox, .. }), "{e:?}");
}

// ---- start-up checks ----

async fn start_error(adjust: impl FnOnce(&mut Settings, &TempDir)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&dir);
    adjust(&mut settings, &dir);
    match server::start(&settings).await {
        Ok(_) => panic!("the server should refuse to start"),
        Err(e) => e.to_string(),
    }
}

fn token_auth(s: &mut Settings, dir: &TempDir) {
    let (_, path) = p8_key(dir);
    s.apns.topic = Some(TOPIC.into());
    s.apns.key_path = Some(path);
    s.apns.key_id = Some(KEY_ID.into());
    s.apns.team_id = Some(TEAM_ID.into());
}

#[tokio::test]
async fn startup_refuses_apns_settings_that_cannot_work() {
    let e = start_error(|s, d| {
        token_auth(s, d);
        s.apns.topic = None;
    })
    .await;
    assert!(e.contains("APNS_TOPIC"), "{e}");

    let e = start_error(|s, d| {
        token_auth(s, d);
        s.apns.key_path = Some(d.path().join("missing.p8"));
    })
    .await;
    assert!(e.contains("APNS_KEY_PATH") && e.contains("cannot be read"), "{e}");

    let e = start_error(|s, d| {
        token_auth(s, d);
        let p384 = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        std::fs::write(s.apns.key_path.as_ref().unwrap(), p384.serialize_pem()).unwrap();
    })
    .await;
    assert!(e.contains("APNS_KEY_PATH") && e.contains("P-256"), "{e}");

    let e = start_error(|s, d| {
        token_auth(s, d);
        std::fs::write(s.apns.key_path.as_ref().unwrap(), "not a key").unwrap();
    })
    .await;
    assert!(e.contains("APNS_KEY_PATH") && e.contains("PKCS#8"), "{e}");

    let e = start_error(|s, d| {
        token_auth(s, d);
        s.apns.key_id = None;
    })
    .await;
    assert!(e.contains("APNS_KEY_ID") && e.contains("APNS_TEAM_ID"), "{e}");

    let e = start_error(|s, d| {
        token_auth(s, d);
        s.apns.team_id = Some(" ".into());
    })
    .await;
    assert!(e.contains("APNS_TEAM_ID"), "{e}");

    let e = start_error(|s, d| {
        token_auth(s, d);
        s.apns.cert_path = Some(d.path().join("apns.p12"));
    })
    .await;
    assert!(e.contains("APNS_KEY_PATH") && e.contains("APNS_CERT_PATH") && e.contains("only one"), "{e}");

    let e = start_error(|s, d| {
        s.apns.topic = Some(TOPIC.into());
        s.apns.cert_path = Some(d.path().join("missing.p12"));
    })
    .await;
    assert!(e.contains("APNS_CERT_PATH") && e.contains("cannot be read"), "{e}");

    let e = start_error(|s, d| {
        let path = d.path().join("apns.p12");
        std::fs::write(&path, b"\x30\x03\x02\x01\x03").unwrap();
        s.apns.topic = Some(TOPIC.into());
        s.apns.cert_path = Some(path);
    })
    .await;
    assert!(e.contains("APNS_CERT_PATH") && e.contains("PKCS#12"), "{e}");

    let e = start_error(|s, d| {
        let pki = pki();
        let path = p12_file(d, &pki, "right");
        s.apns.topic = Some(TOPIC.into());
        s.apns.cert_path = Some(path);
        s.apns.cert_password = Some(Secret::new("wrong".into()));
    })
    .await;
    assert!(e.contains("APNS_CERT_PATH") && !e.contains("wrong"), "{e}");

    let e = start_error(|s, d| {
        token_auth(s, d);
        s.apns.endpoint = Some("api.push.apple.com".into());
    })
    .await;
    assert!(e.contains("APNS_ENDPOINT"), "{e}");
}

#[tokio::test]
async fn startup_reads_a_p12_with_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki();
    let path = p12_file(&dir, &pki, "export-password");
    let mut settings = test_settings(&dir);
    settings.apns = cert_settings(path, Some("export-password"), "http://127.0.0.1:9".into());
    let server = server::start(&settings).await.expect("starts with a .p12 identity");
    server.shutdown().await;
}
