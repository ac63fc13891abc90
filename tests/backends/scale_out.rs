//! Two real server processes sharing one Postgres and one dedup backend, as behind a load
//! balancer: a client registered through one is served by the other, and duplicates sent to both
//! at once are delivered exactly once. The same scenario runs on each shared dedup backend: Redis
//! as one node, over TLS, as a Cluster (also over TLS) and behind Sentinels, and Postgres
//! (directly, and through PgBouncer in transaction mode with the statement cache off).

#[cfg(all(feature = "postgres", feature = "redis"))]
mod with_backends {
    use serde_json::{Value, json};

    use push_testkit::{
        instance::Instance,
        join_all,
        services::{
            RedisKind, TestDatabase, fresh_bouncer_database, fresh_database, redis_config, redis_env, sentinel_shared,
            unique,
        },
    };

    use crate::SERVER;

    fn ok() -> (u16, Value) {
        (200, json!({"status": "OK"}))
    }

    /// The shared dedup backends the scenario runs on.
    #[derive(Debug, Clone, Copy)]
    enum Backend {
        Redis(RedisKind),
        Postgres,
        /// Store and dedup through PgBouncer, `DATABASE_STATEMENT_CACHE=0`, migrated beforehand
        /// with `push-server migrate` on the direct URL.
        PgBouncer,
    }

    /// The database and the servers' environment for `backend`; `None` (after a notice) when the
    /// test services do not provide it.
    async fn backend(backend: Backend) -> Option<(TestDatabase, Vec<(&'static str, String)>)> {
        match backend {
            Backend::Redis(kind) => {
                redis_config(kind).await?;
                let db = fresh_database().await?;
                let mut env = redis_env(kind)?;
                env.push(("DATABASE_URL", db.url.clone()));
                Some((db, env))
            }
            Backend::Postgres => {
                let db = fresh_database().await?;
                let env = vec![("DATABASE_URL", db.url.clone()), ("DEDUP_BACKEND", "postgres".into())];
                Some((db, env))
            }
            Backend::PgBouncer => {
                let db = fresh_bouncer_database().await?;
                let dir = tempfile::tempdir().unwrap();
                let migrated = SERVER.run(dir.path(), &["migrate"], &[("DATABASE_URL", &db.direct_url)]);
                assert!(migrated.status.success(), "migrate: {}", String::from_utf8_lossy(&migrated.stderr));
                let env = vec![
                    ("DATABASE_URL", db.url.clone()),
                    ("DATABASE_STATEMENT_CACHE", "0".into()),
                    ("DEDUP_BACKEND", "postgres".into()),
                ];
                Some((db, env))
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_on_one_redis() {
        two_instances_share_clients_and_deliver_each_id_once(Backend::Redis(RedisKind::Single)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_on_redis_over_tls() {
        two_instances_share_clients_and_deliver_each_id_once(Backend::Redis(RedisKind::Tls)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_on_redis_cluster() {
        two_instances_share_clients_and_deliver_each_id_once(Backend::Redis(RedisKind::Cluster)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_on_redis_cluster_over_tls() {
        two_instances_share_clients_and_deliver_each_id_once(Backend::Redis(RedisKind::ClusterTls)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_on_redis_sentinel() {
        two_instances_share_clients_and_deliver_each_id_once(Backend::Redis(RedisKind::Sentinel)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_on_postgres_dedup() {
        two_instances_share_clients_and_deliver_each_id_once(Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_instances_through_pgbouncer() {
        two_instances_share_clients_and_deliver_each_id_once(Backend::PgBouncer).await;
    }

    async fn two_instances_share_clients_and_deliver_each_id_once(backend_kind: Backend) {
        let _sentinel = match backend_kind {
            Backend::Redis(RedisKind::Sentinel) => Some(sentinel_shared().await),
            _ => None,
        };
        let Some((db, mut env)) = backend(backend_kind).await else { return };
        env.push(("DATABASE_MAX_CONNECTIONS", "8".into()));
        let dir = tempfile::tempdir().unwrap();
        let mut a = Instance::start(SERVER, "a", dir.path(), &env);
        let b = Instance::start(SERVER, "b", dir.path(), &env);
        let total = |client: &str, id: &str| a.deliveries(client, id) + b.deliveries(client, id);

        // Registered through A, served by B.
        let client = unique("scale");
        let token = unique("tok");
        assert_eq!(a.register(&client, &token).await, ok());
        assert_eq!(b.send(&client, "first").await, ok());
        assert_eq!((a.deliveries(&client, "first"), b.deliveries(&client, "first")), (0, 1));

        // The same id sent 48 times at once, half to each instance: one delivery in all.
        let sends = (0..48).map(|i| {
            let instance = if i % 2 == 0 { &a } else { &b };
            instance.send(&client, "burst")
        });
        let answers = join_all(sends).await;
        assert!(answers.iter().all(|r| *r == ok()), "{answers:?}");
        assert_eq!(total(&client, "burst"), 1);
        // And a later retry of it through either instance is still a duplicate.
        assert_eq!(a.send(&client, "burst").await, ok());
        assert_eq!(b.send(&client, "first").await, ok());
        assert_eq!(total(&client, "burst"), 1);
        assert_eq!(total(&client, "first"), 1);

        // Registrations of one token through both instances at once: all succeed, one owner.
        let contested = unique("contested");
        let ids: Vec<String> = (0..16).map(|i| format!("{client}-{i}")).collect();
        let registrations = ids.iter().enumerate().map(|(i, id)| {
            let instance = if i % 2 == 0 { &a } else { &b };
            instance.register(id, &contested)
        });
        let answers = join_all(registrations).await;
        assert!(answers.iter().all(|r| *r == ok()), "{answers:?}");
        let mut owners = 0;
        for (i, id) in ids.iter().enumerate() {
            let instance = if i % 2 == 0 { &b } else { &a };
            match instance.send(id, "who").await.0 {
                200 => owners += 1,
                404 => {}
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(owners, 1);

        // A token moved through B leaves A's client unregistered.
        assert_eq!(b.register(&unique("thief"), &token).await, ok());
        assert_eq!(a.send(&client, "after-move").await.0, 404);

        // SIGTERM stops an instance cleanly (pools closed, exit code 0); the other one serves on.
        a.terminate();
        assert_eq!(b.register(&client, &unique("tok")).await, ok());
        assert_eq!(b.send(&client, "after-a-left").await, ok());

        drop((a, b));
        db.drop_database().await;
    }
}

#[cfg(not(all(feature = "postgres", feature = "redis")))]
#[test]
fn scale_out_suite() {
    push_testkit::services::features_missing(&["postgres", "redis"]);
}
