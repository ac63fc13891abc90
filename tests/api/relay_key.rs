//! The Relay key fetched from `{RELAY_URL}/public-key`: cached, and re-fetched (at most once a
//! minute) when a signature fails, so a key rotation heals by itself; a failing, hanging or
//! oversized key source neither stalls valid sends nor gets one fetch per request.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use ed25519_dalek::SigningKey;
use poem::{
    EndpointExt, IntoResponse, Response, Route, get, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};

use push_testkit::{SignedRequest, encrypted, now, sign_with, spawn_with};

/// How the key server answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Key,
    Error500,
    Hang,
    /// The key followed by 2 KiB of whitespace: still a key once trimmed, but over the size cap.
    Oversized,
}

#[derive(Clone)]
struct KeyServer {
    key: Arc<Mutex<String>>,
    answer: Arc<Mutex<Answer>>,
    hits: Arc<AtomicUsize>,
}

impl KeyServer {
    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[handler]
async fn public_key(state: Data<&KeyServer>) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let key = state.key.lock().unwrap().clone();
    let answer = *state.answer.lock().unwrap();
    match answer {
        Answer::Key => key.into_response(),
        Answer::Error500 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Answer::Hang => std::future::pending::<Response>().await,
        Answer::Oversized => format!("{key}{}", " ".repeat(2048)).into_response(),
    }
}

async fn key_server(key: &SigningKey) -> (String, KeyServer) {
    let state = KeyServer {
        key: Arc::new(Mutex::new(hex::encode(key.verifying_key().to_bytes()))),
        answer: Arc::new(Mutex::new(Answer::Key)),
        hits: Arc::default(),
    };
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new().at("/public-key", get(public_key)).data(state.clone());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{addr}"), state)
}

#[tokio::test]
async fn fetched_key_verifies_and_is_cached() {
    let relay = push_testkit::relay_key();
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
    let old = push_testkit::relay_key();
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

#[tokio::test]
async fn an_oversized_key_answer_is_refused() {
    let relay = push_testkit::relay_key();
    let (url, server) = key_server(&relay).await;
    server.answer(Answer::Oversized);
    let app = spawn_with(|s| {
        s.relay.public_key = None;
        s.relay.url = Some(url);
    })
    .await;
    app.register("c", "fcm", "tok").await;
    let r = app.send("c", &encrypted("n")).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(app.deliveries().is_empty());
}

/// Long enough that a send waiting behind one fetch would stand out from a send's usual
/// milliseconds, even on a loaded machine.
const KEY_TIMEOUT: Duration = Duration::from_secs(4);

/// The cached key is due for refresh and the key server fails (`failure`); 40 junk-signature
/// requests and 10 valid sends arrive together.
async fn failing_key_source_under_junk(failure: Answer) {
    let relay = push_testkit::relay_key();
    let (url, server) = key_server(&relay).await;
    let refresh = Duration::from_millis(200);
    let app = spawn_with(|s| {
        s.relay.public_key = None;
        s.relay.url = Some(url);
        s.relay.key_refresh = refresh;
        s.relay.key_timeout = KEY_TIMEOUT;
    })
    .await;
    app.register("c", "fcm", "tok").await;
    assert!(app.send("c", &encrypted("warm")).await.is_ok_envelope());
    // The start-up fetch, and on a slow machine a refresh or two already (the period is short):
    // the count that matters is the one from the failure on.
    let before = server.hits();
    assert!(before >= 1);
    server.answer(failure);
    // Not a timed assertion: only lets the cached key become due for refresh.
    tokio::time::sleep(refresh * 2).await;

    let stranger = SigningKey::from_bytes(&[5; 32]);
    let mut junk = tokio::task::JoinSet::new();
    for i in 0..40 {
        // Built here (the harness is not `Send`), each junk request goes out on a task of its own.
        let request = app.http.post(app.url("/clients/c")).header("content-type", "application/json");
        let request = request.signed_body(&stranger, encrypted(&format!("junk{i}")));
        junk.spawn(async move { request.send().await.expect("request").status().as_u16() });
    }
    for i in 0..10 {
        let started = Instant::now();
        let r = app.send("c", &encrypted(&format!("valid{i}"))).await;
        let took = started.elapsed();
        assert!(r.is_ok_envelope(), "valid send {i}: {}", r.text);
        assert!(took < KEY_TIMEOUT / 2, "valid send {i} took {took:?}: it waited for the key source");
    }
    while let Some(status) = junk.join_next().await {
        assert_eq!(status.unwrap(), 401);
    }
    // The refresh, the one re-fetch after failed signatures and a retry or two on the back-off
    // schedule; one fetch per request would be 50.
    let hits = server.hits() - before;
    assert!((1..=5).contains(&hits), "the key server saw {hits} fetches once it failed");
    assert_eq!(app.deliveries().len(), 11, "every valid send delivered, no junk");
}

#[tokio::test]
async fn a_key_source_answering_500_keeps_the_cached_key_and_is_not_stormed() {
    failing_key_source_under_junk(Answer::Error500).await;
}

#[tokio::test]
async fn a_hanging_key_source_stalls_no_valid_send_and_is_not_stormed() {
    failing_key_source_under_junk(Answer::Hang).await;
}
