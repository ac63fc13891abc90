//! Backend faults, for real: a TCP proxy in front of Postgres and of Redis cuts or stalls the line
//! while a real server runs. The server must answer 503 `storage_unavailable` within its storage
//! timeout, deliver nothing twice, never panic, and recover by itself once the line heals.

#[cfg(all(feature = "postgres", feature = "redis"))]
mod with_backends {
    use std::time::{Duration, Instant};

    use push_server::bootstrap::server;
    use serde_json::json;

    use push_testkit::{
        Reply, TestApp, encrypted,
        proxy::Proxy,
        services::{TestDatabase, fresh_database, host_port, redis_url, unique, via},
        spawn_with,
    };

    const TIMEOUT: Duration = Duration::from_secs(1);
    /// What a failing request may take beyond the storage timeout (scheduling, a loaded machine).
    const SLACK: Duration = Duration::from_millis(1500);

    struct Rig {
        app: TestApp,
        pg: Proxy,
        redis: Proxy,
        db: TestDatabase,
    }

    async fn rig() -> Option<Rig> {
        let db = fresh_database().await?;
        let redis_url = redis_url().await?;
        let pg = Proxy::start(&host_port(&db.url, 5432)).await;
        let redis = Proxy::start(&host_port(&redis_url, 6379)).await;
        let (pg_url, redis_url) = (via(&db.url, pg.addr()), via(&redis_url, redis.addr()));
        let app = spawn_with(|s| {
            s.database_url = pg_url;
            s.redis_url = Some(redis_url);
            s.store.timeout = TIMEOUT;
            s.store.max_connections = 4;
        })
        .await;
        Some(Rig { app, pg, redis, db })
    }

    impl Rig {
        async fn finish(self) {
            // Whatever happened, the server is still up and sane.
            assert_eq!(self.app.get("/health").await.status, 200);
            self.app.stop().await;
            drop((self.pg, self.redis));
            self.db.drop_database().await;
        }

        fn delivered(&self, client: &str, id: &str) -> usize {
            self.app.deliveries().iter().filter(|d| d["client_id"] == client && d["notification_id"] == id).count()
        }
    }

    /// Runs `request`, checks that it failed as `storage_unavailable` in time, naming the store that
    /// failed (`client` or `dedup`), and returns.
    async fn assert_unavailable_in_time(what: &str, store: &str, request: impl Future<Output = Reply>) {
        let started = Instant::now();
        let reply = request.await;
        let took = started.elapsed();
        assert_eq!(reply.status, 503, "{what}: {}", reply.text);
        assert_eq!(
            reply.json(),
            json!({"status": "FAILED", "errors": [{"name": "storage_unavailable", "description": format!("the {store} store could not be reached")}]}),
            "{what}"
        );
        assert!(took <= TIMEOUT + SLACK, "{what} took {took:?}, more than the {TIMEOUT:?} timeout");
    }

    /// Retries `request` for a while, for the cases where the first try after healing may still
    /// meet a dead connection.
    async fn eventually_ok(what: &str, request: impl AsyncFn() -> Reply) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = request().await;
            if reply.is_ok_envelope() {
                return;
            }
            assert!(Instant::now() < deadline, "{what} did not recover: {} {}", reply.status, reply.text);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_cut_answers_503_then_recovers_by_itself() {
        let Some(rig) = rig().await else { return };
        let (c1, c2) = (unique("pg-cut-1"), unique("pg-cut-2"));
        assert!(rig.app.register(&c1, "fcm", &unique("tok")).await.is_ok_envelope());
        assert!(rig.app.send(&c1, &encrypted("before")).await.is_ok_envelope());

        rig.pg.cut();
        assert_unavailable_in_time("register", "client", rig.app.register(&c2, "fcm", &unique("tok"))).await;
        assert_unavailable_in_time("send", "client", rig.app.send(&c1, &encrypted("during"))).await;
        assert_unavailable_in_time("unregister", "client", rig.app.unregister(&c1)).await;
        assert_eq!(rig.delivered(&c1, "during"), 0);

        rig.pg.heal();
        // The pool tests its connections before use, so the very first request after the outage
        // gets a fresh one.
        let reply = rig.app.register(&c2, "fcm", &unique("tok")).await;
        assert!(reply.is_ok_envelope(), "first register after healing: {} {}", reply.status, reply.text);
        // The 503 claimed nothing: the Relay's retry delivers, once.
        assert!(rig.app.send(&c1, &encrypted("during")).await.is_ok_envelope());
        assert!(rig.app.send(&c1, &encrypted("during")).await.is_ok_envelope());
        assert_eq!(rig.delivered(&c1, "during"), 1);
        assert_eq!(rig.delivered(&c1, "before"), 1);
        rig.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_cut_answers_503_then_recovers_by_itself() {
        let Some(rig) = rig().await else { return };
        let c1 = unique("redis-cut");
        assert!(rig.app.register(&c1, "fcm", &unique("tok")).await.is_ok_envelope());
        assert!(rig.app.send(&c1, &encrypted("before")).await.is_ok_envelope());

        rig.redis.cut();
        assert_unavailable_in_time("send", "dedup", rig.app.send(&c1, &encrypted("during"))).await;
        assert_unavailable_in_time("send again", "dedup", rig.app.send(&c1, &encrypted("during"))).await;
        assert_eq!(rig.delivered(&c1, "during"), 0, "nothing is sent without a claim");
        // Registration does not need Redis.
        assert!(rig.app.register(&unique("other"), "fcm", &unique("tok")).await.is_ok_envelope());

        rig.redis.heal();
        let reply = rig.app.send(&c1, &encrypted("during")).await;
        assert!(reply.is_ok_envelope(), "first send after healing: {} {}", reply.status, reply.text);
        assert!(rig.app.send(&c1, &encrypted("during")).await.is_ok_envelope());
        assert!(rig.app.send(&c1, &encrypted("before")).await.is_ok_envelope());
        assert_eq!(rig.delivered(&c1, "during"), 1);
        assert_eq!(rig.delivered(&c1, "before"), 1, "the claim made before the outage survived it");
        rig.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stalled_backends_cost_at_most_the_timeout() {
        let Some(rig) = rig().await else { return };
        let c1 = unique("stall");
        assert!(rig.app.register(&c1, "fcm", &unique("tok")).await.is_ok_envelope());

        // A partition: connections stay open and nothing comes back.
        rig.pg.stall();
        assert_unavailable_in_time("register", "client", rig.app.register(&unique("stall-2"), "fcm", &unique("tok")))
            .await;
        assert_unavailable_in_time("send", "client", rig.app.send(&c1, &encrypted("n1"))).await;
        rig.pg.heal();
        eventually_ok("register", async || rig.app.register(&unique("stall-3"), "fcm", &unique("tok")).await).await;

        rig.redis.stall();
        assert_unavailable_in_time("send", "dedup", rig.app.send(&c1, &encrypted("n2"))).await;
        rig.redis.heal();
        eventually_ok("send", async || rig.app.send(&c1, &encrypted("n2")).await).await;
        assert!(rig.app.send(&c1, &encrypted("n2")).await.is_ok_envelope());
        assert_eq!(rig.delivered(&c1, "n1"), 0);
        assert_eq!(rig.delivered(&c1, "n2"), 1);
        rig.finish().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backend_down_at_start_is_a_clear_start_up_error() {
        let Some(db) = fresh_database().await else { return };
        let Some(redis_url) = redis_url().await else { return };
        let (pg, redis) =
            (Proxy::start(&host_port(&db.url, 5432)).await, Proxy::start(&host_port(&redis_url, 6379)).await);
        pg.cut();
        redis.cut();
        let dir = tempfile::tempdir().unwrap();
        let mut settings = push_testkit::test_settings(&dir);
        settings.store.timeout = TIMEOUT;

        settings.database_url = via(&db.url, pg.addr());
        let started = Instant::now();
        let err = server::start(&settings).await.err().expect("no start without Postgres").to_string();
        assert!(err.contains("Postgres"), "{err}");
        assert!(started.elapsed() <= TIMEOUT + SLACK, "took {:?}", started.elapsed());

        settings.database_url = db.url.clone();
        settings.redis_url = Some(via(&redis_url, redis.addr()));
        let started = Instant::now();
        let err = server::start(&settings).await.err().expect("no start without Redis").to_string();
        assert!(err.contains("Redis"), "{err}");
        assert!(started.elapsed() <= 3 * TIMEOUT + SLACK, "took {:?}", started.elapsed());
        db.drop_database().await;
    }
}

#[cfg(not(all(feature = "postgres", feature = "redis")))]
#[test]
fn fault_suite() {
    push_testkit::services::features_missing(&["postgres", "redis"]);
}
