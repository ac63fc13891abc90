//! Black-box tests of the Web Push provider: the real server registers a test browser's
//! subscription to a fake push service on loopback and delivers to it; the browser decrypts every
//! message with its own keys and checks the VAPID authorization against the published key.
//! Then the endpoint guard (every refused case refused without a connection), the push service's
//! answers, and the transport (HTTP/2 by ALPN, HTTP/1.1 otherwise, bounds).

use std::{
    collections::HashMap,
    io,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use http::Version;
use push_server::{
    adapters::{
        egress::Egress,
        push::{
            pool::{PoolLimits, TlsOptions},
            retry::RetryPolicy,
            webpush::{AllowedHost, Guard, Resolve, SystemResolver, VapidKey, WebPushConfig, WebPushProvider},
        },
    },
    domain::{ClientId, Delivery, DeviceToken, Flags, Notification, NotificationId, Payload, PushType, Secret, Topic},
    ports::{PushError, PushProvider},
};
use push_testkit::{
    TestApp, cleartext, encrypted,
    fake::{
        Answer, Options,
        webpush::{Browser, FakePushService, check_push_request, vapid_key},
    },
    spawn_with,
};
use serde_json::{Value, json};

const SUBJECT: &str = "mailto:ops@wallet.example";

/// A server with a fresh VAPID key whose allowed hosts are the fake's, and its public key.
async fn server_for(service: &FakePushService) -> (TestApp, String) {
    let pem = vapid_key();
    let public = VapidKey::from_pem(pem.as_bytes()).unwrap().public_key_base64url();
    let allowed = service.host_port();
    // Inline, on one line with `\n` escapes, as `push-server keygen --vapid` prints it.
    let inline = pem.trim_end().replace('\n', "\\n");
    let app = spawn_with(|s| {
        s.webpush.vapid_private_key = Some(Secret::new(inline));
        s.webpush.subject = Some(SUBJECT.into());
        s.webpush.allowed_hosts = vec![allowed];
        s.provider.request_timeout = Duration::from_secs(2);
    })
    .await;
    (app, public)
}

async fn register(app: &TestApp, client: &str, token: Value, always_raw: bool) -> push_testkit::Reply {
    app.register_raw(
        &json!({"client_id": client, "type": "webpush", "token": token, "always_raw": always_raw}).to_string(),
    )
    .await
}

/// A server, a push service, and client `c1` registered with the browser's subscription.
async fn setup() -> (FakePushService, TestApp, String, Browser) {
    let service = FakePushService::start().await;
    let (app, public) = server_for(&service).await;
    let browser = Browser::new();
    let reply = register(&app, "c1", browser.subscription(&service.endpoint("c1")), false).await;
    assert!(reply.is_ok_envelope(), "register: {}", reply.text);
    (service, app, public, browser)
}

#[tokio::test]
async fn every_form_of_send_decrypts_in_the_browser_and_carries_a_valid_vapid_authorization() {
    let (service, app, public, browser) = setup().await;
    // The raw form goes to a client that asked for it; its subscription is sent as JSON text.
    let raw_browser = Browser::new();
    let text = raw_browser.subscription(&service.endpoint("c2")).to_string();
    assert!(register(&app, "c2", Value::String(text), true).await.is_ok_envelope());

    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope());
    let full = json!({"title": "Hello", "body": "World", "icon": "https://i.example/x.png",
                      "url": "https://u.example", "type": "chat"});
    assert!(app.send("c1", &cleartext("n2", &full)).await.is_ok_envelope());
    let raw = json!({"topic": "topic-9", "tag": 1100, "message": "sealed-message"}).to_string();
    assert!(app.send("c2", &raw).await.is_ok_envelope());

    let sent = service.requests();
    assert_eq!(sent.len(), 3);
    for request in &sent {
        check_push_request(request, &public, &service.origin(), SUBJECT);
        assert_eq!(request.header("ttl"), Some("2419200"));
    }
    assert_eq!((sent[0].path.as_str(), sent[2].path.as_str()), ("/push/c1", "/push/c2"));
    assert_eq!(browser.decrypt_json(&sent[0]), json!({"topic": "topic-1", "flags": 17, "blob": "opaque-ciphertext"}));
    assert_eq!(
        browser.decrypt_json(&sent[1]),
        json!({"topic": "topic-1", "flags": 16, "title": "Hello", "body": "World",
               "url": "https://u.example", "icon": "https://i.example/x.png", "type": "chat"})
    );
    assert_eq!(
        raw_browser.decrypt_json(&sent[2]),
        json!({"topic": "topic-9", "tag": 1100, "message": "sealed-message"})
    );
    // Each message has its own salt and sender key: nothing is reused across records.
    assert_ne!(sent[0].body[..16], sent[1].body[..16]);
    // The key pages subscribe with is the one the authorization carries.
    let key = app.get("/webpush/vapid-public-key").await;
    assert_eq!(key.json(), json!({"status": "OK", "public_key": public}));
}

#[tokio::test]
async fn one_authorization_per_origin_is_reused_across_sends() {
    let (service, app, _, _) = setup().await;
    for id in ["n1", "n2"] {
        assert!(app.send("c1", &encrypted(id)).await.is_ok_envelope());
    }
    let sent = service.requests();
    assert_eq!(sent[0].header("authorization"), sent[1].header("authorization"));
}

#[tokio::test]
async fn registration_reads_the_subscription_and_refuses_bad_ones() {
    let (service, app, _, browser) = setup().await;
    let mut sub = browser.subscription(&service.endpoint("x"));
    sub["keys"]["auth"] = json!("AAAA");
    let reply = register(&app, "c9", sub, false).await;
    assert_eq!((reply.status, reply.field_names()), (400, vec!["token".to_owned()]), "{}", reply.text);
    // A 65-byte string that is not a point on the curve.
    let mut sub = browser.subscription(&service.endpoint("x"));
    sub["keys"]["p256dh"] = json!(format!("BA{}", "A".repeat(85)));
    let reply = register(&app, "c9", sub, false).await;
    assert_eq!((reply.status, reply.field_names()), (400, vec!["token".to_owned()]), "{}", reply.text);
    let reply = register(&app, "c9", json!("not json"), false).await;
    assert_eq!(reply.status, 400);
    // The same subscription registered by another client moves there.
    assert!(register(&app, "c2", browser.subscription(&service.endpoint("c1")), false).await.is_ok_envelope());
    assert_eq!(app.send("c1", &encrypted("n1")).await.status, 404);
    assert!(app.send("c2", &encrypted("n1")).await.is_ok_envelope());
    assert_eq!(service.request_count(), 1);
}

#[tokio::test]
async fn a_gone_subscription_deletes_the_client() {
    for status in [404, 410] {
        let (service, app, _, _) = setup().await;
        service.set_default(Answer::status(status));
        let reply = app.send("c1", &encrypted("n1")).await;
        assert_eq!((reply.status, reply.error_names()), (410, vec!["client_unregistered".to_owned()]), "{status}");
        assert_eq!(service.request_count(), 1, "tried once");
        assert_eq!(app.send("c1", &encrypted("n2")).await.status, 404, "the client is gone");
    }
}

#[tokio::test]
async fn refused_vapid_is_a_502_and_keeps_the_client() {
    for status in [400, 401, 403] {
        let (service, app, _, _) = setup().await;
        service.script([Answer::status(status)]);
        let reply = app.send("c1", &encrypted("n1")).await;
        assert_eq!((reply.status, reply.error_names()), (502, vec!["webpush_credentials".to_owned()]), "{status}");
        assert_eq!(service.request_count(), 1, "not retried");
        assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope(), "the client is kept; the claim released");
    }
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_honouring_retry_after() {
    let (service, app, _, browser) = setup().await;
    service.script([Answer::status(429).header("retry-after", "1"), Answer::status(503)]);
    let started = std::time::Instant::now();
    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope());
    assert!(started.elapsed() >= Duration::from_secs(1), "waited for Retry-After");
    let sent = service.requests();
    assert_eq!(sent.len(), 3);
    // Every attempt carries the same message, and each one decrypts.
    for request in &sent {
        assert_eq!(browser.decrypt_json(request)["blob"], "opaque-ciphertext");
    }
    service.reset();
    service.set_default(Answer::status(500));
    let reply = app.send("c1", &encrypted("n2")).await;
    assert_eq!((reply.status, reply.error_names()), (502, vec!["webpush_unavailable".to_owned()]));
    assert!(service.request_count() >= 3, "retried: {}", service.request_count());
}

#[tokio::test]
async fn too_large_is_refused_before_any_call_and_413_is_a_rejected_payload() {
    let (service, app, _, _) = setup().await;
    let big = json!({"id": "n1", "payload": {"topic": "topic-1", "flags": 1, "blob": "x".repeat(3990)}}).to_string();
    let reply = app.send("c1", &big).await;
    assert_eq!((reply.status, reply.field_names()), (400, vec!["payload.blob".to_owned()]), "{}", reply.text);
    assert_eq!(service.request_count(), 0, "refused before any call");
    // Just under the limit: one record of at most 4096 bytes.
    let fits = json!({"id": "n2", "payload": {"topic": "topic-1", "flags": 1, "blob": "x".repeat(3940)}}).to_string();
    assert!(app.send("c1", &fits).await.is_ok_envelope());
    assert!(service.requests()[0].body.len() <= 4096, "{}", service.requests()[0].body.len());
    service.script([Answer::status(413)]);
    let reply = app.send("c1", &encrypted("n3")).await;
    assert_eq!((reply.status, reply.field_names()), (400, vec!["payload.blob".to_owned()]));
}

// ---- the endpoint guard ----

#[tokio::test]
async fn without_allowed_hosts_only_https_to_public_names_registers_and_nothing_is_dialled() {
    let service = FakePushService::start().await;
    // The key from a file this time.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vapid.pem");
    std::fs::write(&path, vapid_key()).unwrap();
    let app = spawn_with(|s| {
        s.webpush.vapid_private_key = Some(Secret::new(path.display().to_string()));
        s.webpush.subject = Some(SUBJECT.into());
    })
    .await;
    let browser = Browser::new();
    let port = service.addr.port();
    // Each of these would reach the fake if anything were dialled: an IP literal, a name that
    // resolves to loopback (looked up, then refused), plain http, a private literal.
    for endpoint in [
        format!("https://127.0.0.1:{port}/push/x"),
        format!("https://localhost:{port}/push/x"),
        format!("http://localhost:{port}/push/x"),
        format!("https://[::1]:{port}/push/x"),
        "https://10.0.0.1/push/x".to_owned(),
    ] {
        let reply = register(&app, "c1", browser.subscription(&endpoint), false).await;
        assert_eq!((reply.status, reply.field_names()), (400, vec!["token".to_owned()]), "{endpoint}: {}", reply.text);
    }
    assert!(service.connections().is_empty(), "no connection was attempted");
}

#[tokio::test]
async fn allowed_hosts_restrict_endpoints_to_themselves() {
    let (service, app, _, browser) = setup().await;
    for endpoint in ["https://fcm.googleapis.com/fcm/send/x", "https://10.0.0.1/x"] {
        let reply = register(&app, "c5", browser.subscription(endpoint), false).await;
        assert_eq!((reply.status, reply.field_names()), (400, vec!["token".to_owned()]), "{endpoint}");
    }
    // The fake on another port of the same host is not allowed either.
    let other = FakePushService::start().await;
    let reply = register(&app, "c5", browser.subscription(&other.endpoint("x")), false).await;
    assert_eq!(reply.status, 400);
    assert!(other.connections().is_empty() && service.request_count() == 0);
}

/// A resolver from a table; every name resolves only as the test says.
struct Table(HashMap<&'static str, IpAddr>);

#[async_trait]
impl Resolve for Table {
    async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(self.0.get(host).map(|ip| vec![SocketAddr::new(*ip, port)]).unwrap_or_default())
    }
}

fn delivery(endpoint: &str, browser: &Browser) -> Delivery {
    Delivery {
        client_id: ClientId::parse("c1").unwrap(),
        push_type: PushType::WebPush,
        token: DeviceToken::parse(PushType::WebPush, &browser.subscription(endpoint).to_string()).unwrap(),
        notification: Notification::classic(
            NotificationId::parse("n-1").unwrap(),
            Payload::new(Topic::parse("topic-1").unwrap(), Flags::new(17), "opaque").unwrap(),
        ),
    }
}

fn provider(guard: Guard, resolver: Arc<dyn Resolve>, tls: TlsOptions, pool: PoolLimits) -> WebPushProvider {
    WebPushProvider::new(WebPushConfig {
        key: VapidKey::generate().unwrap(),
        subject: SUBJECT.into(),
        ttl_secs: 60,
        guard,
        resolver,
        retry: RetryPolicy::new(3, Duration::from_secs(2), Duration::from_secs(6)),
        pool,
        tls,
        egress: Egress::direct(),
        origin: "test".into(),
    })
    .unwrap()
}

#[tokio::test]
async fn a_name_that_resolves_inside_the_network_at_delivery_is_refused_without_a_connection() {
    let service = FakePushService::start().await;
    // The name now points at loopback (where the fake listens): the guard must refuse it after
    // the lookup and before any connection, and say so; nothing is retried.
    let resolver = Arc::new(Table(HashMap::from([("push.test", "127.0.0.1".parse().unwrap())])));
    let webpush =
        provider(Guard::default(), resolver, TlsOptions::default(), PoolLimits { max_connections: 2, max_pending: 4 });
    let browser = Browser::new();
    let endpoint = format!("https://push.test:{}/push/x", service.addr.port());
    let refused = webpush.check_token(&delivery(&endpoint, &browser).token).await.unwrap_err();
    assert!(refused.contains("127.0.0.1"), "{refused}");
    let failure = webpush.send(&delivery(&endpoint, &browser)).await.unwrap_err();
    assert!(matches!(&failure.error, PushError::Unavailable { reason, .. } if reason.contains("refused")), "{failure}");
    assert_eq!(failure.attempts, 1, "not retried");
    assert!(service.connections().is_empty(), "no connection was attempted");
    assert_eq!(webpush.transport_stats().connections_opened, 0);
}

// ---- the transport ----

/// A TLS acceptor for 127.0.0.1 offering `alpn`, and the CA that signed its certificate.
fn tls(alpn: &[&[u8]]) -> (tokio_rustls::TlsAcceptor, rustls_pki_types::CertificateDer<'static>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use rustls::{ServerConfig, crypto::aws_lc_rs};
    use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".into()]).unwrap().signed_by(&key, &issuer).unwrap();
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    (tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca.der().clone())
}

#[tokio::test]
async fn https_speaks_http2_when_offered_and_http1_otherwise_on_pooled_connections() {
    for (alpn, version) in
        [(&[&b"h2"[..], b"http/1.1"][..], Version::HTTP_2), (&[&b"http/1.1"[..]][..], Version::HTTP_11)]
    {
        let (acceptor, ca) = tls(alpn);
        let service = FakePushService::start_with(Options::default().tls(acceptor)).await;
        let guard = Guard::new(vec![AllowedHost::parse(&service.host_port()).unwrap()]);
        let tls = TlsOptions { identity: None, extra_roots: vec![ca] };
        let webpush = provider(guard, Arc::new(SystemResolver), tls, PoolLimits { max_connections: 2, max_pending: 4 });
        let browser = Browser::new();
        let endpoint = format!("{}/push/x", service.https_url());
        for _ in 0..3 {
            webpush.send(&delivery(&endpoint, &browser)).await.unwrap();
        }
        let sent = service.requests();
        assert_eq!(sent.len(), 3);
        for request in &sent {
            assert_eq!(request.version, version);
            check_push_request(request, &webpush.public_key(), &service.https_url(), SUBJECT);
            assert_eq!(browser.decrypt_json(request)["blob"], "opaque");
        }
        assert_eq!(service.connections().len(), 1, "{version:?}: one connection, reused");
    }
}

#[tokio::test]
async fn waiting_sends_are_bounded_per_origin() {
    let service = FakePushService::start().await;
    let guard = Guard::new(vec![AllowedHost::parse(&service.host_port()).unwrap()]);
    let webpush = Arc::new(provider(
        guard,
        Arc::new(SystemResolver),
        TlsOptions::default(),
        PoolLimits { max_connections: 1, max_pending: 1 },
    ));
    let browser = Arc::new(Browser::new());
    let endpoint = service.endpoint("x");
    service.stall();
    let mut running = Vec::new();
    for _ in 0..2 {
        let (webpush, browser, endpoint) = (webpush.clone(), browser.clone(), endpoint.clone());
        running.push(tokio::spawn(async move { webpush.send(&delivery(&endpoint, &browser)).await }));
    }
    service.wait_in_flight(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let busy = webpush.send(&delivery(&endpoint, &browser)).await.unwrap_err();
    assert_eq!((busy.error, busy.attempts), (PushError::Busy { provider: "webpush" }, 1));
    service.resume();
    for send in running {
        send.await.unwrap().unwrap();
    }
    assert_eq!(service.peak_in_flight(), 1, "one HTTP/1.1 connection: one request at a time");
}

#[tokio::test]
async fn deliveries_go_through_the_egress_proxy_to_the_address_the_guard_checked() {
    let service = FakePushService::start().await;
    let proxy = push_testkit::egress_proxy::EgressProxy::start().await;
    let pem = vapid_key();
    let public = VapidKey::from_pem(pem.as_bytes()).unwrap().public_key_base64url();
    let port = service.host_port().rsplit(':').next().unwrap().to_owned();
    let (allowed, url) = (format!("localhost:{port}"), proxy.url_with_credentials("ops", "s3cret"));
    let app = spawn_with(|s| {
        s.webpush.vapid_private_key = Some(Secret::new(pem.trim_end().replace('\n', "\\n")));
        s.webpush.subject = Some(SUBJECT.into());
        s.webpush.allowed_hosts = vec![allowed];
        s.egress.http_proxy = Some(Secret::new(url));
    })
    .await;
    let browser = Browser::new();
    // Named by `localhost`: the tunnel must ask for the address the guard resolved and checked.
    let endpoint = service.endpoint("c1").replace("127.0.0.1", "localhost");
    assert!(register(&app, "c1", browser.subscription(&endpoint), false).await.is_ok_envelope());
    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope());

    let sent = service.requests();
    assert_eq!(sent.len(), 1);
    check_push_request(&sent[0], &public, &service.origin().replace("127.0.0.1", "localhost"), SUBJECT);
    assert_eq!(browser.decrypt_json(&sent[0]), json!({"topic": "topic-1", "flags": 17, "blob": "opaque-ciphertext"}));
    let tunnels = proxy.tunnels();
    assert_eq!(tunnels.len(), 1, "{tunnels:?}");
    assert!(
        tunnels[0].authority == format!("127.0.0.1:{port}") || tunnels[0].authority == format!("[::1]:{port}"),
        "the checked address, not the name: {}",
        tunnels[0].authority
    );
    use base64::Engine;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ops:s3cret"));
    assert_eq!(tunnels[0].proxy_authorization.as_deref(), Some(basic.as_str()));
}
