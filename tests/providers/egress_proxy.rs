//! Every outbound connection through the egress proxy: the server (and the APNS adapter built
//! from its configuration) sending through the test kit's CONNECT proxy on loopback, to the fake
//! providers and a fake Relay key server. With a proxy set, each connection is seen by the proxy
//! and sends still succeed; TLS runs end to end through the tunnel (the proxy sees ciphertext);
//! credentials go as `Proxy-Authorization: Basic`; `NO_PROXY` bypasses it; a refusing proxy is a
//! transient provider failure whose answer is in the log.

use base64::{Engine, engine::general_purpose::STANDARD};
use push_server::domain::Secret;
use push_testkit::{egress_proxy::EgressProxy, encrypted, spawn_with};

const USER: &str = "ops";
const PASSWORD: &str = "s3cret";

/// `Basic base64(ops:s3cret)`, what a client must send for the proxy URL's user-info.
fn basic() -> String {
    format!("Basic {}", STANDARD.encode(format!("{USER}:{PASSWORD}")))
}

#[cfg(feature = "apns")]
mod apns {
    use std::{
        io::Write,
        sync::{Arc, Mutex},
    };

    use push_server::{
        adapters::{
            egress::{Egress, EgressConfig, NoProxy, ProxyUrl},
            push::apns::{ApnsAuth, ApnsIdentity, ApnsProvider},
        },
        cli::settings::Settings,
        domain::PushType,
        ports::PushProvider,
    };
    use push_testkit::{TestApp, fake::apns::FakeApns};
    use tempfile::TempDir;

    use super::*;
    use crate::{
        apns::{Pki, TOKEN, TOPIC, config, delivery, fast_retries, pki, tls_acceptor},
        pool::apns_at,
    };

    /// Log lines written while `run` runs on this (current-thread) test runtime: the server's tasks
    /// run on the same thread, so a thread-local subscriber sees their events and no other test's.
    async fn logged<T>(run: impl Future<Output = T>) -> (T, String) {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let out = run.await;
        let text = String::from_utf8_lossy(&lines.0.lock().unwrap()).into_owned();
        (out, text)
    }

    /// The server with token auth to `fake` (both endpoints) and `adjust` applied; `wallet-1` is
    /// registered.
    async fn spawn(fake: &FakeApns, adjust: impl FnOnce(&mut Settings)) -> (TestApp, TempDir) {
        let keys = tempfile::tempdir().unwrap();
        let app = spawn_with(|s| {
            apns_at(s, fake, &keys);
            fast_retries(s);
            adjust(s);
        })
        .await;
        assert_eq!(app.register("wallet-1", "apns", TOKEN).await.status, 200);
        (app, keys)
    }

    #[tokio::test]
    async fn cleartext_http2_to_apns_is_tunnelled_with_the_proxy_credentials() {
        let fake = FakeApns::start().await;
        let proxy = EgressProxy::start().await;
        let url = proxy.url_with_credentials(USER, PASSWORD);
        let (app, _keys) = spawn(&fake, |s| s.egress.http_proxy = Some(Secret::new(url))).await;
        for n in 0..3 {
            let reply = app.send("wallet-1", &encrypted(&format!("n-{n}"))).await;
            assert!(reply.is_ok_envelope(), "{}", reply.text);
        }
        assert_eq!(fake.request_count(), 3);
        let tunnels = proxy.tunnels();
        assert_eq!(tunnels.len(), 1, "one pooled connection, through one tunnel: {tunnels:?}");
        let fake_authority = fake.url().trim_start_matches("http://").to_owned();
        assert_eq!(tunnels[0].authority, fake_authority, "loopback is proxied: no built-in exception");
        assert_eq!(tunnels[0].proxy_authorization.as_deref(), Some(basic().as_str()));
        assert!(tunnels[0].sent.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "HTTP/2 runs inside the tunnel");
        assert!(proxy.forwarded().is_empty());
    }

    #[tokio::test]
    async fn no_proxy_sends_a_named_target_direct() {
        let fake = FakeApns::start().await;
        let proxy = EgressProxy::start().await;
        let (app, _keys) = spawn(&fake, |s| {
            s.egress.http_proxy = Some(Secret::new(proxy.url()));
            s.egress.no_proxy_lower = Some("localhost, 127.0.0.1".into());
        })
        .await;
        assert!(app.send("wallet-1", &encrypted("n-1")).await.is_ok_envelope());
        assert_eq!(fake.request_count(), 1);
        assert!(proxy.tunnels().is_empty() && proxy.forwarded().is_empty(), "the proxy saw nothing");
    }

    #[tokio::test]
    async fn a_refusing_proxy_is_a_transient_failure_with_its_answer_in_the_log() {
        for (status, answer) in
            [(407, "407 Proxy Authentication Required"), (403, "403 Forbidden"), (502, "502 Bad Gateway")]
        {
            let fake = FakeApns::start().await;
            let proxy = EgressProxy::start().await;
            proxy.refuse_with(status);
            let url = proxy.url();
            let ((reply, tunnels), log) = logged(async {
                let (app, _keys) = spawn(&fake, |s| s.egress.http_proxy = Some(Secret::new(url))).await;
                (app.send("wallet-1", &encrypted("n-1")).await, proxy.tunnels())
            })
            .await;
            assert_eq!(
                (reply.status, reply.error_names()),
                (502, vec!["apns_unavailable".to_owned()]),
                "{status}: {}",
                reply.text
            );
            assert!(tunnels.len() > 1, "{status}: transient, so retried: {tunnels:?}");
            assert!(tunnels.iter().all(|t| t.status == status));
            assert_eq!(fake.request_count(), 0);
            assert!(log.contains("the egress proxy refused the tunnel") && log.contains(answer), "{status}: {log}");
        }
    }

    // ---- TLS end to end ----

    #[tokio::test]
    async fn tls_to_apns_runs_end_to_end_through_the_tunnel() {
        // Certificate auth, so the mutual TLS handshake too runs end to end through the tunnel.
        let pki = pki();
        let fake = FakeApns::start_tls(tls_acceptor(&pki)).await;
        let proxy = EgressProxy::start().await;
        let pem = format!("{}{}", pki.client.0.pem(), pki.client.1.serialize_pem());
        let mut config = config(&pki, ApnsAuth::Certificate(ApnsIdentity::Pem(pem.into_bytes())), fake.https_url());
        config.egress = Egress::new(EgressConfig {
            https_proxy: Some(ProxyUrl::parse(&proxy.url_with_credentials(USER, PASSWORD)).unwrap()),
            http_proxy: None,
            no_proxy: NoProxy::default(),
        });
        let provider = ApnsProvider::new(config).unwrap();
        provider.send(&delivery(PushType::Apns)).await.expect("delivered through the tunnel");

        let requests = fake.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].version, hyper::Version::HTTP_2, "h2 negotiated by ALPN through the tunnel");
        assert_eq!(requests[0].client_cert.as_deref(), Some(pki.client.0.der().as_ref()), "mutual TLS end to end");
        let tunnels = proxy.tunnels();
        assert_eq!(tunnels.len(), 1);
        assert_eq!(tunnels[0].proxy_authorization.as_deref(), Some(basic().as_str()));
        let sent = &tunnels[0].sent;
        assert_eq!(sent.first(), Some(&0x16), "a TLS handshake record opens the tunnel");
        for plain in [&b"PRI * HTTP/2.0"[..], TOKEN.as_bytes(), TOPIC.as_bytes(), b"opaque-ciphertext"] {
            assert!(
                !sent.windows(plain.len()).any(|w| w == plain),
                "the proxy saw {:?}",
                String::from_utf8_lossy(plain)
            );
        }
    }

    /// A reqwest client configured from `egress` that trusts the test CA and presents the test
    /// client certificate (the TLS fake asks for one).
    fn reqwest_client(egress: &Egress, pki: &Pki) -> reqwest::Client {
        let identity = format!("{}{}", pki.client.0.pem(), pki.client.1.serialize_pem());
        egress
            .configure(reqwest::Client::builder())
            .tls_certs_only([reqwest::Certificate::from_der(pki.ca.der()).unwrap()])
            .identity(reqwest::Identity::from_pem(identity.as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn reqwest_clients_tunnel_https_with_the_credentials_unless_no_proxy_names_the_target() {
        // The route of FCM, its OAuth token endpoint and the Relay key at their https:// hosts.
        let pki = pki();
        let fake = FakeApns::start_tls(tls_acceptor(&pki)).await;
        let proxy = EgressProxy::start().await;
        let route = |no_proxy: &str| {
            Egress::new(EgressConfig {
                https_proxy: Some(ProxyUrl::parse(&proxy.url_with_credentials(USER, PASSWORD)).unwrap()),
                http_proxy: None,
                no_proxy: NoProxy::parse(no_proxy).unwrap(),
            })
        };
        let url = format!("{}/3/device/{TOKEN}", fake.https_url());
        let answer = reqwest_client(&route(""), &pki).post(&url).body("{}").send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let tunnels = proxy.tunnels();
        assert_eq!(tunnels.len(), 1, "{tunnels:?}");
        assert_eq!(tunnels[0].authority, fake.https_url().trim_start_matches("https://"));
        assert_eq!(tunnels[0].proxy_authorization.as_deref(), Some(basic().as_str()));
        assert_eq!(tunnels[0].sent.first(), Some(&0x16), "TLS end to end");
        assert!(proxy.forwarded().is_empty());

        let direct = reqwest_client(&route("127.0.0.1"), &pki).post(&url).body("{}").send().await.unwrap();
        assert_eq!(direct.status(), 200);
        assert_eq!(proxy.tunnels().len(), 1, "NO_PROXY: the second client went direct");
        assert_eq!(fake.request_count(), 2);
    }
}

#[cfg(feature = "fcm")]
mod fcm {
    use push_testkit::fake::fcm::{Google, SEND_PATH, fcm_ok, spawn_for_with};

    use super::*;

    const TOKEN: &str = "fcm-device-token:APA91b-test_1";

    #[tokio::test]
    async fn fcm_messages_and_the_oauth_token_go_through_the_proxy_in_absolute_form() {
        let google = Google::start().await;
        let proxy = EgressProxy::start().await;
        let url = proxy.url_with_credentials(USER, PASSWORD);
        let app = spawn_for_with(&google, |s| s.egress.http_proxy_lower = Some(Secret::new(url))).await;
        assert!(app.register("c1", "fcm", TOKEN).await.is_ok_envelope());
        assert!(app.send("c1", &encrypted("n-1")).await.is_ok_envelope());
        assert_eq!((google.token_requests().len(), google.fcm_requests().len()), (1, 1));

        let forwarded = proxy.forwarded();
        let uris: Vec<&str> = forwarded.iter().map(|f| f.uri.as_str()).collect();
        assert_eq!(uris.len(), 2, "{uris:?}");
        assert!(uris[0].starts_with("http://127.0.0.1:") && uris[0].ends_with("/token"), "{uris:?}");
        assert!(uris[1].ends_with(SEND_PATH), "{uris:?}");
        assert!(
            forwarded.iter().all(|f| f.method == "POST" && f.proxy_authorization.as_deref() == Some(basic().as_str()))
        );
        assert!(proxy.tunnels().is_empty());
    }

    #[tokio::test]
    async fn fcm_over_cleartext_http2_is_tunnelled() {
        let google = Google::start().await;
        let proxy = EgressProxy::start().await;
        let url = proxy.url();
        let app = spawn_for_with(&google, |s| {
            s.fcm.cleartext_http2 = true;
            s.egress.http_proxy = Some(Secret::new(url));
        })
        .await;
        assert!(app.register("c1", "fcm", TOKEN).await.is_ok_envelope());
        assert!(app.send("c1", &encrypted("n-1")).await.is_ok_envelope());
        assert_eq!(google.fcm_requests().len(), 1);
        let tunnels = proxy.tunnels();
        assert_eq!(tunnels.len(), 1, "{tunnels:?}");
        assert!(tunnels[0].sent.starts_with(b"PRI * HTTP/2.0"));
        assert_eq!(proxy.forwarded().len(), 1, "the token request, in absolute form");
    }

    #[tokio::test]
    async fn a_proxy_asking_for_credentials_is_a_transient_fcm_failure() {
        let google = Google::start().await;
        google.fcm_answers(fcm_ok());
        let proxy = EgressProxy::start().await;
        proxy.refuse_with(407);
        let url = proxy.url();
        let app = spawn_for_with(&google, |s| s.egress.http_proxy = Some(Secret::new(url))).await;
        assert!(app.register("c1", "fcm", TOKEN).await.is_ok_envelope());
        let reply = app.send("c1", &encrypted("n-1")).await;
        assert_eq!((reply.status, reply.error_names()), (502, vec!["fcm_unavailable".to_owned()]), "{}", reply.text);
        assert!(proxy.forwarded().len() > 1, "retried, as a transient failure is");
        assert_eq!((google.token_requests().len(), google.fcm_requests().len()), (0, 0));
    }
}

mod relay_key {
    use push_testkit::{
        fake::{Answer, FakeProvider},
        relay_key,
    };

    use super::*;

    #[tokio::test]
    async fn the_relay_key_is_fetched_through_the_proxy() {
        let relay = FakeProvider::start().await;
        let key = hex::encode(relay_key().verifying_key().to_bytes());
        relay.set_default(Answer::status(200).body_bytes(key));
        let proxy = EgressProxy::start().await;
        let url = proxy.url_with_credentials(USER, PASSWORD);
        let relay_url = relay.url();
        let app = spawn_with(|s| {
            s.relay.public_key = None;
            s.relay.url = Some(relay_url.clone());
            s.egress.http_proxy = Some(Secret::new(url));
        })
        .await;
        assert!(app.register("c", "fcm", "tok").await.is_ok_envelope());
        assert!(
            app.send("c", &encrypted("n-1")).await.is_ok_envelope(),
            "signed with the key fetched through the proxy"
        );
        let forwarded = proxy.forwarded();
        assert_eq!(forwarded.len(), 1, "{forwarded:?}");
        assert_eq!(forwarded[0].uri, format!("{relay_url}/public-key"));
        assert_eq!(forwarded[0].proxy_authorization.as_deref(), Some(basic().as_str()));
    }
}

/// `Egress::connect` with addresses the caller resolved and checked (the Web Push guard's way).
mod resolved {
    use std::time::Duration;

    use push_server::adapters::egress::{Egress, EgressConfig, NoProxy, ProxyUrl, Target};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;

    /// A name that never resolves (RFC 6761): a connection that works did not look it up.
    const NAME: &str = "push.example.invalid";

    async fn greeter() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let _ = tcp.write_all(b"hello").await;
            }
        });
        addr
    }

    fn egress(proxy: &EgressProxy, no_proxy: &str) -> Egress {
        Egress::new(EgressConfig {
            https_proxy: Some(ProxyUrl::parse(&proxy.url_with_credentials(USER, PASSWORD)).unwrap()),
            http_proxy: None,
            no_proxy: NoProxy::parse(no_proxy).unwrap(),
        })
    }

    async fn greeting(egress: &Egress, addresses: &[std::net::SocketAddr]) -> Vec<u8> {
        let target = Target { host: NAME, port: 443, addresses: Some(addresses) };
        let mut tcp = egress.connect(&target, Duration::from_secs(5)).await.expect("connected");
        let mut greeting = vec![0; 5];
        tcp.read_exact(&mut greeting).await.unwrap();
        greeting
    }

    #[tokio::test]
    async fn the_tunnel_goes_to_the_checked_address_not_the_name() {
        let addr = greeter().await;
        let proxy = EgressProxy::start().await;
        assert_eq!(greeting(&egress(&proxy, ""), &[addr]).await, b"hello");
        let tunnels = proxy.tunnels();
        assert_eq!(tunnels.len(), 1);
        assert_eq!(tunnels[0].authority, addr.to_string(), "CONNECT names the address: no lookup at the proxy");
        assert_eq!(tunnels[0].proxy_authorization.as_deref(), Some(basic().as_str()));
    }

    #[tokio::test]
    async fn no_proxy_is_matched_against_the_name_and_the_connection_goes_to_the_address() {
        let addr = greeter().await;
        let proxy = EgressProxy::start().await;
        assert_eq!(greeting(&egress(&proxy, "example.invalid"), &[addr]).await, b"hello");
        assert!(proxy.tunnels().is_empty(), "bypassed by the name's domain");
    }

    #[tokio::test]
    async fn a_refused_tunnel_names_the_proxy_without_its_password_and_the_answer() {
        let addr = greeter().await;
        let proxy = EgressProxy::start().await;
        proxy.refuse_with(403);
        let target = Target { host: NAME, port: 443, addresses: Some(&[addr]) };
        let error = egress(&proxy, "").connect(&target, Duration::from_secs(5)).await.unwrap_err().to_string();
        let shown = proxy.url_with_credentials(USER, "").replace(":@", "@");
        assert_eq!(error, format!("the egress proxy {shown} refused the tunnel to {addr}: HTTP/1.1 403 Forbidden"));
        assert!(!error.contains(PASSWORD));
    }
}
