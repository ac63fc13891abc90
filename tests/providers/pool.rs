//! The providers' HTTP/2 connection pool against a fake that allows N streams per connection and
//! counts them: never more than N in flight on a connection, a second connection only when the
//! first is full, a GOAWAY'd connection drained and replaced without failing its sends, a
//! dropped connection reconnected; and the backpressure bound (`provider_busy`), end to end,
//! with the server's memory checked; connections whose peer grants no stream retired and
//! replaced at a bounded pace. Nothing here asserts that something happens within a time (only
//! that dials are no more frequent than a bound): tests wait for states.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::HeaderMap;
use push_server::{
    adapters::{
        egress::Egress,
        push::{
            apns::{ApnsAuth, ApnsConfig, ApnsProvider},
            pool::{Pool, PoolError, PoolLimits, TlsOptions},
            retry::RetryPolicy,
        },
    },
    cli::settings::Settings,
    domain::{ClientId, Delivery, DeviceToken, Flags, Notification, NotificationId, Payload, PushType, Topic},
    ports::{PushError, PushFailure, PushProvider},
};
use rcgen::KeyPair;
use tempfile::TempDir;
use tokio::task::JoinSet;

use push_testkit::{Reply, SignedRequest, TestApp, encrypted, fake::apns::FakeApns, spawn_with};

const TOKEN: &str = "5f2a9c04e1b7d3a8c6f0e2b4d9a7c5e3f1b8d6a4c2e0f9b7d5a3c1e8f6b4d2a0";

fn pool(fake: &FakeApns, max_connections: usize, max_pending: usize) -> Arc<Pool> {
    let limits = PoolLimits { max_connections, max_pending };
    Arc::new(Pool::new(&fake.url(), &TlsOptions::default(), limits, Duration::from_secs(10), Egress::direct()).unwrap())
}

/// Starts `n` posts on their own tasks.
fn post_many(pool: &Arc<Pool>, n: usize, sends: &mut JoinSet<Result<u16, PoolError>>) {
    for i in 0..n {
        let pool = pool.clone();
        sends.spawn(async move {
            let answer =
                pool.post(&format!("/3/device/{i:064x}"), &HeaderMap::new(), Bytes::from_static(b"{}")).await?;
            Ok(answer.status)
        });
    }
}

async fn all_ok(sends: &mut JoinSet<Result<u16, PoolError>>) -> usize {
    let mut n = 0;
    while let Some(result) = sends.join_next().await {
        assert_eq!(result.unwrap(), Ok(200));
        n += 1;
    }
    n
}

#[tokio::test]
async fn never_more_streams_than_the_peer_allows_and_a_new_connection_only_when_the_open_ones_are_full() {
    let fake = FakeApns::with_streams(5).await;
    fake.stall();
    let pool = pool(&fake, 3, 100);
    let mut sends = JoinSet::new();

    post_many(&pool, 5, &mut sends);
    fake.wait_in_flight(5).await;
    assert_eq!(fake.connections().len(), 1, "five streams fit the first connection");

    post_many(&pool, 1, &mut sends);
    fake.wait_in_flight(6).await;
    let connections = fake.connections();
    assert_eq!(connections.len(), 2, "the sixth opened a second connection");
    assert_eq!((connections[0].in_flight, connections[1].in_flight), (5, 1));

    // Past the three connections' 15 streams, sends wait in the pool: no fourth connection.
    post_many(&pool, 12, &mut sends);
    fake.wait_in_flight(15).await;
    tokio::task::yield_now().await;
    assert_eq!(fake.connections().len(), 3, "max_connections holds");
    let stats = pool.stats();
    assert_eq!((stats.in_flight, stats.waiting, stats.connections_opened), (15, 3, 3));

    fake.resume();
    assert_eq!(all_ok(&mut sends).await, 18);
    for (i, c) in fake.connections().iter().enumerate() {
        assert!(c.peak <= 5, "connection {i} carried {} streams at once, more than the 5 allowed", c.peak);
    }
    assert_eq!(fake.request_count(), 18, "no request was refused and sent again");
    assert_eq!(pool.stats().in_flight_peak, 15);
}

#[tokio::test]
async fn a_goaway_drains_its_connection_while_new_sends_use_another_and_none_fails() {
    let fake = FakeApns::with_streams(4).await;
    fake.stall();
    let pool = pool(&fake, 2, 100);
    let mut sends = JoinSet::new();

    post_many(&pool, 4, &mut sends);
    fake.wait_in_flight(4).await;
    fake.go_away(0).await;

    post_many(&pool, 3, &mut sends);
    fake.wait_in_flight(7).await;
    let connections = fake.connections();
    assert_eq!(connections.len(), 2, "a replacement was opened");
    assert_eq!((connections[0].requests, connections[1].requests), (4, 3), "nothing new on the draining one");

    fake.resume();
    assert_eq!(all_ok(&mut sends).await, 7, "the sends in flight on the GOAWAY'd connection were answered");
    fake.wait_until("the drained connection to close", |c| c[0].closed).await;
    post_many(&pool, 1, &mut sends);
    assert_eq!(all_ok(&mut sends).await, 1);
    assert_eq!(fake.connections().len(), 2, "the replacement serves on");
}

#[tokio::test]
async fn the_pool_takes_more_streams_on_the_replacement_while_the_draining_one_finishes() {
    // One connection allowed: a GOAWAY'd connection does not count against it, or no send could
    // proceed until the old one had drained.
    let fake = FakeApns::with_streams(2).await;
    fake.stall();
    let pool = pool(&fake, 1, 100);
    let mut sends = JoinSet::new();
    post_many(&pool, 2, &mut sends);
    fake.wait_in_flight(2).await;
    fake.go_away(0).await;
    post_many(&pool, 2, &mut sends);
    fake.wait_in_flight(4).await;
    assert_eq!(fake.connections().len(), 2);
    fake.resume();
    assert_eq!(all_ok(&mut sends).await, 4);
}

#[tokio::test]
async fn connections_that_grant_no_stream_are_retired_and_replaced_at_a_bounded_pace() {
    let fake = FakeApns::with_streams(0).await;
    let pool = pool(&fake, 8, 100);
    let headers = HeaderMap::new();
    let post = || pool.post("/3/device/00", &headers, Bytes::from_static(b"{}"));
    let started = Instant::now();
    // A send waits for a stream that no connection grants, until its own timeout ends it.
    assert!(tokio::time::timeout(Duration::from_secs(4), post()).await.is_err(), "no stream was ever granted");
    let opened = pool.stats().connections_opened;
    let elapsed = started.elapsed().as_secs();
    assert!(opened <= elapsed + 2, "{opened} connections opened in {elapsed} s: dials are paced, not a burst");
    assert!(fake.connections().iter().any(|c| c.closed), "a connection that granted nothing was retired");
    assert_eq!(fake.request_count(), 0);

    // Once the peer grants streams again (on new connections), a send gets through.
    fake.set_max_streams(5);
    let answer = tokio::time::timeout(Duration::from_secs(30), post()).await.expect("a stream is granted again");
    assert_eq!(answer.unwrap().status, 200);
}

// ---- through the APNS provider (its retries included) ----

fn provider(fake: &FakeApns, max_connections: usize, max_pending: usize) -> Arc<ApnsProvider> {
    let auth = ApnsAuth::Token {
        key_pem: KeyPair::generate().unwrap().serialize_pem().into_bytes(),
        key_id: "ABC123DEFG".into(),
        team_id: "DEF123GHIJ".into(),
    };
    let retry = RetryPolicy::new(3, Duration::from_secs(10), Duration::from_secs(14));
    let mut config = ApnsConfig::new("com.example.wallet".into(), auth, "You have new notifications".into(), retry);
    config.endpoint = fake.url();
    config.sandbox_endpoint = fake.url();
    config.pool = PoolLimits { max_connections, max_pending };
    Arc::new(ApnsProvider::new(config).unwrap())
}

fn delivery(id: &str) -> Delivery {
    Delivery {
        client_id: ClientId::parse("wallet-1").unwrap(),
        push_type: PushType::Apns,
        token: DeviceToken::parse(PushType::Apns, TOKEN).unwrap(),
        notification: Notification::classic(
            NotificationId::parse(id).unwrap(),
            Payload::new(Topic::parse("topic-1").unwrap(), Flags::new(1), "opaque").unwrap(),
        ),
    }
}

#[tokio::test]
async fn a_dropped_connection_is_reconnected_by_the_next_send() {
    let fake = FakeApns::with_streams(10).await;
    let apns = provider(&fake, 2, 100);
    for i in 0..3 {
        apns.send(&delivery(&format!("n-{i}"))).await.unwrap();
    }
    assert_eq!(fake.connections().len(), 1);
    fake.drop_connection(0);
    let delivered = apns.send(&delivery("after-drop")).await.expect("delivered over a new connection");
    // The pool may not have seen the close yet: then the first attempt fails and the retry dials.
    assert!(delivered.attempts <= 2, "{delivered:?}");
    assert_eq!(fake.connections().len(), 2);
    assert_eq!(fake.connections()[1].requests, 1);
}

#[tokio::test]
async fn past_max_pending_waiting_sends_a_send_is_refused_at_once_as_busy() {
    let fake = FakeApns::with_streams(2).await;
    let apns = provider(&fake, 1, 5);
    // The connection is up first: while one is being dialled every send waits, which would fill
    // the bound before the streams are counted.
    apns.send(&delivery("warm-up")).await.unwrap();
    fake.stall();
    let mut sends = JoinSet::new();
    for i in 0..7 {
        let apns = apns.clone();
        sends.spawn(async move { apns.send(&delivery(&format!("n-{i}"))).await });
    }
    fake.wait_in_flight(2).await;
    // Two in flight, five waiting: the bound is reached.
    loop {
        if apns.pool_stats().0.waiting == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = apns.send(&delivery("one-too-many")).await;
    assert_eq!(refused, Err(PushFailure { error: PushError::Busy { provider: "apns" }, attempts: 1 }));

    fake.resume();
    while let Some(result) = sends.join_next().await {
        assert_eq!(result.unwrap().unwrap().attempts, 1);
    }
    assert_eq!(fake.request_count(), 8, "the refused send never reached APNS");
}

// ---- end to end: connections that grant no stream ----

/// A server whose APNS provider (token auth, its key written into `keys`) is `fake`.
pub fn apns_at(s: &mut Settings, fake: &FakeApns, keys: &TempDir) {
    let key_path = keys.path().join("AuthKey_ABC123DEFG.p8");
    std::fs::write(&key_path, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    s.apns.topic = Some("com.example.wallet".into());
    s.apns.key_path = Some(key_path);
    s.apns.key_id = Some("ABC123DEFG".into());
    s.apns.team_id = Some("DEF123GHIJ".into());
    s.apns.endpoint = Some(fake.url());
    s.apns.sandbox_endpoint = Some(fake.url());
}

#[tokio::test]
async fn connections_that_grant_no_stream_are_replaced_once_the_provider_serves_again() {
    const MAX_CONNECTIONS: usize = 2;
    // Every connection the fake accepts says SETTINGS_MAX_CONCURRENT_STREAMS = 0.
    let fake = FakeApns::with_streams(0).await;
    let keys = tempfile::tempdir().unwrap();
    let app = spawn_with(|s| {
        apns_at(s, &fake, &keys);
        s.apns.max_connections = MAX_CONNECTIONS;
        s.provider.request_timeout = Duration::from_millis(300);
        s.provider.total_timeout = Duration::from_secs(1);
    })
    .await;
    assert_eq!(app.register("wallet-1", "apns", TOKEN).await.status, 200);
    let started = Instant::now();

    // No connection takes a stream: every send fails, and none reaches the provider.
    for i in 0..3 {
        let r = app.send("wallet-1", &encrypted(&format!("refused-{i}"))).await;
        assert_eq!((r.status, r.error_names()), (502, vec!["apns_unavailable".to_owned()]), "{}", r.text);
    }
    assert!(!fake.connections().is_empty(), "the pool dialled");
    assert_eq!(fake.request_count(), 0);

    // The provider serves again (its new connections grant streams; the open ones still none):
    // a send succeeds without a restart.
    fake.set_max_streams(10);
    let recovered = async {
        for i in 0.. {
            let r = app.send("wallet-1", &encrypted(&format!("after-{i}"))).await;
            if r.is_ok_envelope() {
                return;
            }
            assert_eq!((r.status, r.error_names()), (502, vec!["apns_unavailable".to_owned()]), "{}", r.text);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), recovered).await.expect("a send succeeds again");

    // Dials stayed bounded all along: at most about one a second beyond the pool's size, never
    // a loop.
    let dials = fake.connections().len();
    let bound = MAX_CONNECTIONS + 2 * started.elapsed().as_secs() as usize + 2;
    assert!(dials <= bound, "{dials} connections in {:?}", started.elapsed());
}

// ---- end to end: the burst, the 503s, the memory ----

/// The resident set of this process, in KiB (the server runs in it).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_provider_and_a_burst_past_the_bound_get_503_provider_busy_and_memory_stays_bounded() {
    const IN_FLIGHT: usize = 2 * 10;
    const PENDING: usize = 50;
    const BURST: usize = 400;
    let fake = FakeApns::with_streams(10).await;
    let keys = tempfile::tempdir().unwrap();
    let app = spawn_with(|s| {
        apns_at(s, &fake, &keys);
        // Waiting sends must outlast the burst on a loaded machine: no timeout may end them
        // before the fake resumes (the bounds are generous on purpose; nothing here is timed).
        s.provider.request_timeout = Duration::from_secs(120);
        s.provider.total_timeout = Duration::from_secs(120);
        s.http.request_timeout = Duration::from_secs(240);
        s.apns.max_connections = 2;
        s.provider.max_pending = PENDING;
    })
    .await;
    assert_eq!(app.register("wallet-1", "apns", TOKEN).await.status, 200);
    // Warm up (connections, caches) before measuring memory.
    assert!(app.send("wallet-1", &encrypted("warm-up")).await.is_ok_envelope());
    let rss_before = rss_kib();

    fake.stall();
    let mut sends = JoinSet::new();
    for i in 0..BURST {
        // Signed the way `TestApp::send` does, on tasks of their own.
        let (http, url, relay) = (app.http.clone(), app.url("/clients/wallet-1"), app.relay.clone());
        sends.spawn(async move {
            let id = format!("burst-{i}");
            let response = http
                .post(url)
                .header("content-type", "application/json")
                .signed_body(&relay, encrypted(&id))
                .send()
                .await
                .unwrap();
            (id, TestApp::reply(response).await)
        });
    }
    // Everything past the streams and the bound is answered while the provider still stalls (at
    // least that many: while the second connection is being dialled, sends wait that would
    // otherwise have had its streams).
    let mut busy = Vec::new();
    let check = |id: String, reply: Reply, busy: &mut Vec<String>| {
        if reply.status == 200 {
            assert!(reply.is_ok_envelope(), "{id}: {}", reply.text);
            return true;
        }
        assert_eq!(reply.status, 503, "{id}: {}", reply.text);
        assert_eq!(reply.error_names(), ["provider_busy"]);
        assert_eq!(reply.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        busy.push(id);
        false
    };
    while busy.len() < BURST - IN_FLIGHT - PENDING {
        let (id, reply) = sends.join_next().await.unwrap().unwrap();
        assert!(!check(id, reply, &mut busy), "nothing is delivered while APNS stalls");
    }
    fake.wait_in_flight(IN_FLIGHT).await;
    let rss_stalled = rss_kib();

    fake.resume();
    let mut delivered = 0;
    while let Some(result) = sends.join_next().await {
        let (id, reply) = result.unwrap();
        if check(id, reply, &mut busy) {
            delivered += 1;
        }
    }
    assert_eq!(delivered + busy.len(), BURST);
    assert!(delivered >= PENDING, "{delivered} delivered");
    assert_eq!(fake.request_count(), 1 + delivered, "each accepted send reached APNS once, the refused ones never");

    // The refused ids were released: the Relay's retry delivers them.
    for id in busy.iter().take(3) {
        assert!(app.send("wallet-1", &encrypted(id)).await.is_ok_envelope(), "{id} delivered on retry");
    }
    // A few hundred waiting sends cost well under a MiB; 64 MiB (other tests share this process)
    // catches a leak or an unbounded queue without depending on the allocator's mood.
    let grown = rss_stalled.saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB with the provider stalled");
}

// ---- FCM over the same pool (h2c to the fake as FCM, OAuth from the fake token endpoint) ----

#[cfg(feature = "fcm")]
#[tokio::test]
async fn fcm_over_the_pool_keeps_to_the_streams_allowed_and_answers_busy_past_the_bound() {
    use push_server::adapters::push::fcm::{FcmConfig, FcmProvider, ServiceAccount};
    use push_testkit::fake::{
        Options,
        fcm::{Google, PROJECT},
    };

    let google = Google::start_with(Options::default().max_streams(3)).await;
    let fake = &google.fcm;
    let account = ServiceAccount::parse(&std::fs::read_to_string(&google.credentials).unwrap()).unwrap();
    let retry = RetryPolicy::new(3, Duration::from_secs(10), Duration::from_secs(14));
    let mut config = FcmConfig::new(account, PROJECT.into(), retry);
    config.endpoint = fake.url();
    config.cleartext_http2 = true;
    config.pool = PoolLimits { max_connections: 2, max_pending: 4 };
    let fcm = Arc::new(FcmProvider::new(config).unwrap());
    let delivery = |id: &str| Delivery {
        push_type: PushType::Fcm,
        token: DeviceToken::parse(PushType::Fcm, "fcm-device-token-1").unwrap(),
        ..delivery(id)
    };
    fcm.send(&delivery("warm-up")).await.expect("delivered through the pool");

    fake.stall();
    let mut sends = JoinSet::new();
    let mut spawn = |range: std::ops::Range<usize>| {
        for i in range {
            let (fcm, delivery) = (fcm.clone(), delivery(&format!("n-{i}")));
            sends.spawn(async move { fcm.send(&delivery).await });
        }
    };
    spawn(0..6);
    fake.wait_in_flight(6).await;
    assert_eq!(fake.connections().len(), 2, "two connections of three streams each");
    spawn(6..10);
    while fcm.pool_stats().unwrap().waiting < 4 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = fcm.send(&delivery("one-too-many")).await;
    assert_eq!(refused, Err(PushFailure { error: PushError::Busy { provider: "fcm" }, attempts: 1 }));

    fake.resume();
    while let Some(result) = sends.join_next().await {
        result.unwrap().expect("delivered once FCM answers");
    }
    assert!(fake.connections().iter().all(|c| c.peak <= 3), "{:?}", fake.connections());
    assert_eq!(fake.request_count(), 11, "the refused send never reached FCM");
}
