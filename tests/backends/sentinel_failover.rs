//! A Redis Sentinel failover under a running server: the master process is killed, the Sentinels
//! promote the replica, and the server finds the new master by itself (no restart), answering 503
//! at most while no master is reachable; claims made before the failover still hold after it.
//!
//! Killing the master would disturb other tests using the Sentinel set at the same time, so this
//! test holds the set alone (`services::sentinel_exclusive`) and those tests hold it shared.

#[cfg(feature = "redis")]
mod with_sentinel {
    use std::{
        process::Command,
        time::{Duration, Instant},
    };

    use push_testkit::{
        instance::Instance,
        services::{RedisKind, redis_config, redis_env, sentinel_exclusive, unique},
    };

    use crate::SERVER;

    async fn connect(url: &str) -> redis::aio::MultiplexedConnection {
        redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.expect("connects")
    }

    /// The master's `host:port` as the first Sentinel that answers sees it.
    async fn master_addr(sentinels: &str, name: &str) -> String {
        for sentinel in sentinels.split(',') {
            let Ok(client) = redis::Client::open(sentinel) else { continue };
            let Ok(mut conn) = client.get_multiplexed_async_connection().await else { continue };
            let addr: redis::RedisResult<Vec<String>> =
                redis::cmd("SENTINEL").arg("get-master-addr-by-name").arg(name).query_async(&mut conn).await;
            if let Ok(addr) = addr {
                return format!("{}:{}", addr[0], addr[1]);
            }
        }
        panic!("no Sentinel answers");
    }

    fn info_field(info: &str, field: &str) -> String {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or_else(|| panic!("INFO has no {field}"))
            .trim()
            .to_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sends_survive_a_sentinel_failover_without_a_restart() {
        let _alone = sentinel_exclusive().await;
        let Some(_) = redis_config(RedisKind::Sentinel).await else { return };
        let env = redis_env(RedisKind::Sentinel).unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        let (sentinels, name) = (get("REDIS_SENTINELS"), get("REDIS_SENTINEL_MASTER"));
        let dir = tempfile::tempdir().unwrap();
        // A short storage timeout, so the failover's 503s are quick. No replica acknowledgement:
        // the set has one replica, and once it is promoted none is left until the killed node
        // rejoins (at the end), so acknowledged claims would all be refused meanwhile; claims
        // waiting for a replica through a failover are `replica_acks`'s subject.
        let settings =
            [env.clone(), vec![("STORAGE_TIMEOUT_MS", "1000".into()), ("DEDUP_MIN_REPLICA_ACKS", "0".into())]].concat();
        let server = Instance::start(SERVER, "failover", dir.path(), &settings);
        let client = unique("failover");
        assert_eq!(server.register(&client, &unique("tok")).await.0, 200);

        // A claim made before the failover, on the replica too before the master dies (WAIT),
        // so that the test is about the server and not about Redis's asynchronous replication
        // (which docs/scaling.md names as the one way a failover can lose a claim).
        assert_eq!(server.send(&client, "before").await.0, 200);
        let old = master_addr(&sentinels, &name).await;
        let mut master = connect(&format!("redis://{old}/")).await;
        let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query_async(&mut master).await.unwrap();
        assert_eq!(acked, 1, "the replica has the claim");
        let info: String = redis::cmd("INFO").arg("server").query_async(&mut master).await.unwrap();
        let (pid, config_file) = (info_field(&info, "process_id"), info_field(&info, "config_file"));

        // The master process dies (SIGKILL: no goodbye to anyone).
        assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
        let killed_at = Instant::now();

        // Sends keep coming; while no master is reachable they get 503 (nothing else), then 200
        // once the Sentinels promoted the replica.
        let mut statuses = Vec::new();
        let mut i = 0;
        loop {
            i += 1;
            let status = server.send(&client, &format!("during-{i}")).await.0;
            statuses.push(status);
            assert!(matches!(status, 200 | 503), "unexpected {status}; so far {statuses:?}");
            if status == 200 {
                break;
            }
            assert!(killed_at.elapsed() < Duration::from_secs(30), "no recovery; statuses {statuses:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let new = master_addr(&sentinels, &name).await;
        assert_ne!(new, old, "the Sentinels promoted another node");
        eprintln!("failover: {:?} until the first 200, statuses {statuses:?}", killed_at.elapsed());

        // Dedup still holds: the claim from before is on the new master, and concurrent duplicates
        // of a new id are delivered once.
        assert_eq!(server.send(&client, "before").await.0, 200);
        assert_eq!(server.deliveries(&client, "before"), 1);
        let sends: Vec<_> = (0..16).map(|_| server.send(&client, "after")).collect();
        let mut answers = Vec::new();
        for s in sends {
            answers.push(s.await.0);
        }
        assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
        assert_eq!(server.deliveries(&client, "after"), 1);

        // Bring the killed node back as a replica of the new master (as the Sentinels would make
        // it, only sooner), so the set is whole again for later runs. On a loaded machine the
        // Sentinels may fail over once more meanwhile (to the node just restarted): the set is
        // whole then too, with the roles swapped, so either shape ends the wait.
        let (host, port) = new.rsplit_once(':').unwrap();
        let restarted = Command::new("redis-server").args([config_file.as_str(), "--replicaof", host, port]).status();
        assert!(restarted.unwrap().success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(client) = redis::Client::open(format!("redis://{old}/"))
                && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && let Ok(info) = redis::cmd("INFO").arg("replication").query_async::<String>(&mut conn).await
                && ((info.contains("role:slave") && info.contains("master_link_status:up"))
                    || (info.contains("role:master") && info.contains("connected_slaves:1")))
            {
                break;
            }
            assert!(Instant::now() < deadline, "the old master did not rejoin as a replica");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(not(feature = "redis"))]
#[test]
fn sentinel_suite() {
    push_testkit::services::features_missing(&["redis"]);
}
