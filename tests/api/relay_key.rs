//! The Relay key fetched from `{RELAY_URL}/public-key`: cached, and re-fetched (at most once a
//! minute) when a signature fails, so a key rotation heals by itself.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use ed25519_dalek::SigningKey;
use poem::{
    EndpointExt, Route, get, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};

use crate::support::{encrypted, now, sign_with, spawn_with};

#[derive(Clone)]
struct KeyServer {
    key: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

#[handler]
fn public_key(state: Data<&KeyServer>) -> String {
    state.hits.fetch_add(1, Ordering::SeqCst);
    state.key.lock().unwrap().clone()
}

async fn key_server(key: &SigningKey) -> (String, KeyServer) {
    let state =
        KeyServer { key: Arc::new(Mutex::new(hex::encode(key.verifying_key().to_bytes()))), hits: Arc::default() };
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new().at("/public-key", get(public_key)).data(state.clone());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}"), state)
}

#[tokio::test]
async fn fetched_key_verifies_and_is_cached() {
    let relay = crate::support::relay_key();
    let (url, server) = key_server(&relay).await;
    let app = spawn_with(|s| {
        s.relay.public_key = None;
        s.relay.url = Some(url);
    })
    .await;
    app.register("c", "fcm", "tok").await;
    for i in 0..5 {
        assert!(app.send("c", &encrypted(&format!("n{i}"))).await.is_ok_envelope());
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "fetched once at start-up, then cached");
}

#[tokio::test]
async fn rotation_heals_and_failures_do_not_hammer_the_relay() {
    let old = crate::support::relay_key();
    let (url, server) = key_server(&old).await;
    let app = spawn_with(|s| {
        s.relay.public_key = None;
        s.relay.url = Some(url);
    })
    .await;
    app.register("c", "fcm", "tok").await;
    assert!(app.send("c", &encrypted("before")).await.is_ok_envelope());

    let new = SigningKey::from_bytes(&[77; 32]);
    *server.key.lock().unwrap() = hex::encode(new.verifying_key().to_bytes());
    let body = encrypted("after");
    let ts = now().to_string();
    let r = app.send_with("c", &body, Some(&ts), Some(&sign_with(&new, &ts, body.as_bytes()))).await;
    assert!(r.is_ok_envelope(), "{}", r.text);
    let hits = server.hits.load(Ordering::SeqCst);

    // A stream of bad signatures re-fetches at most once a minute.
    let stranger = SigningKey::from_bytes(&[5; 32]);
    for i in 0..10 {
        let body = encrypted(&format!("bad{i}"));
        let r = app.send_with("c", &body, Some(&ts), Some(&sign_with(&stranger, &ts, body.as_bytes()))).await;
        assert_eq!(r.status, 401);
    }
    assert!(server.hits.load(Ordering::SeqCst) <= hits + 1);
}

#[tokio::test]
async fn unreachable_key_source_refuses_with_401() {
    let app = spawn_with(|s| {
        s.relay.public_key = None;
        s.relay.url = Some("http://127.0.0.1:9".into());
    })
    .await;
    app.register("c", "fcm", "tok").await;
    assert_eq!(app.send("c", &encrypted("n")).await.status, 401);
    assert!(app.deliveries().is_empty());
}
