//! Claims acknowledged by replicas (`DEDUP_MIN_REPLICA_ACKS`), on Redis set-ups these tests start
//! themselves (the shared test services must not be broken, and their Cluster has no replicas):
//! - Sentinel with the replication link cut: master, replica and three Sentinels, the replica
//!   replicating through a TCP proxy the test cuts, so that only replication stops. With one
//!   acknowledgement asked for, a send answers 503 and delivers nothing while the link is cut, and
//!   the claims of sends answered 200 before survive killing the master and promoting the replica:
//!   the Relay's retries are not delivered again. The same run with none asked for shows what the
//!   setting prevents: the ids sent while the link was cut are delivered a second time.
//! - Cluster: `WAIT` goes to the master of the claim's slot and its count is honoured: of two
//!   masters, the one with a replica acknowledges its claims and the one without refuses them;
//!   with the replica paused, claims on its master are refused too, and taken again once it
//!   answers.
//! - One node: asking it for acknowledgements starts only when it has that many replicas.
//!
//! Deliveries are counted at the servers' log sinks.

#[cfg(feature = "redis")]
mod with_redis {
    use std::{
        path::Path,
        time::{Duration, Instant},
    };

    use push_server::{
        adapters::dedup::redis::{RedisConfig, RedisDedupStore, RedisTopology, ReplicaAcks},
        domain::{ClientId, NotificationId},
        ports::{Claim, ClaimToken, DedupError, DedupStore},
    };
    use push_testkit::{
        binary::text,
        instance::Instance,
        proxy::Proxy,
        redis_node::{RedisNode, own_port, redis_server_installed},
        services::unique,
    };
    use tempfile::TempDir;

    use crate::SERVER;

    const MASTER_NAME: &str = "acksmaster";
    const ACK_WAIT: Duration = Duration::from_millis(200);

    /// One failover scenario at a time: each runs five Redis processes and a server and waits on
    /// Sentinel's timeouts, which a machine busy with a second one stretches.
    static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// Checks `ready` every 100 ms until it holds; fails the test after `within`, naming `what`.
    async fn wait_until(what: &str, within: Duration, mut ready: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + within;
        while !ready().await {
            assert!(Instant::now() < deadline, "not within {within:?}: {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A master, a replica that replicates through a proxy (`link`), and three Sentinels (quorum
    /// two) watching the master, on the tests' own ports `first`..`first + 4`.
    struct CutLinkSet {
        master: RedisNode,
        replica: RedisNode,
        sentinels: Vec<RedisNode>,
        link: Proxy,
    }

    impl CutLinkSet {
        async fn start(dir: &Path, first: u16) -> CutLinkSet {
            let master_port = own_port(first);
            let master = RedisNode::start(dir, master_port, &[]).await;
            let link = Proxy::start(&format!("127.0.0.1:{master_port}")).await;
            let replica =
                RedisNode::start(dir, own_port(first + 1), &[format!("replicaof 127.0.0.1 {}", link.addr().port())])
                    .await;
            wait_until("the replica is in sync through the proxy", Duration::from_secs(20), async || {
                replica.info("replication", "master_link_status").await.as_deref() == Some("up")
            })
            .await;
            // A master silent for 1 s is down. The failover timeout is long on purpose: a
            // Sentinel re-points a replica that replicates from an address other than the
            // master's (our proxy) once that long has passed since it first saw it
            // (`+fix-slave-config`), and the test must be done with the cut link by then.
            let watch = [
                format!("sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2"),
                format!("sentinel down-after-milliseconds {MASTER_NAME} 1000"),
                format!("sentinel failover-timeout {MASTER_NAME} 30000"),
                format!("sentinel parallel-syncs {MASTER_NAME} 1"),
            ];
            let mut sentinels = Vec::new();
            for offset in 2..5 {
                sentinels.push(RedisNode::sentinel(dir, own_port(first + offset), &watch).await);
            }
            for sentinel in &sentinels {
                wait_until(
                    "every Sentinel knows the replica and the two others",
                    Duration::from_secs(30),
                    async || {
                        let Ok(fields) =
                            sentinel.query::<Vec<String>>(redis::cmd("SENTINEL").arg("MASTER").arg(MASTER_NAME)).await
                        else {
                            return false;
                        };
                        let field = |name: &str| {
                            fields
                                .chunks(2)
                                .find(|kv| kv[0] == name)
                                .and_then(|kv| kv[1].parse::<u32>().ok())
                                .unwrap_or(0)
                        };
                        field("num-slaves") >= 1 && field("num-other-sentinels") >= 2
                    },
                )
                .await;
            }
            CutLinkSet { master, replica, sentinels, link }
        }

        /// The server's settings for this set, with `acks` acknowledgements asked for, and a short
        /// storage timeout so the failover's 503s come quickly.
        fn env(&self, acks: u32) -> Vec<(&'static str, String)> {
            let sentinels: Vec<String> = self.sentinels.iter().map(RedisNode::url).collect();
            vec![
                ("REDIS_SENTINELS", sentinels.join(",")),
                ("REDIS_SENTINEL_MASTER", MASTER_NAME.to_owned()),
                ("DEDUP_MIN_REPLICA_ACKS", acks.to_string()),
                ("STORAGE_TIMEOUT_MS", "1000".to_owned()),
            ]
        }

        /// Cuts replication only: the master, the replica and the Sentinels still see each other.
        async fn cut_link(&self) {
            let through = self.replica.info("replication", "master_port").await;
            assert_eq!(
                through,
                Some(self.link.addr().port().to_string()),
                "the replica no longer replicates through the proxy: a Sentinel re-pointed it (+fix-slave-config), \
                 so the set took longer than the failover timeout to get here"
            );
            self.link.cut();
            wait_until("the master lost its replica", Duration::from_secs(10), async || {
                self.master.info("replication", "connected_slaves").await.as_deref() == Some("0")
            })
            .await;
        }

        /// Waits until the replica has everything the master wrote.
        async fn replica_caught_up(&self) {
            wait_until("the replica caught up", Duration::from_secs(10), async || {
                let master = self.master.info("replication", "master_repl_offset").await;
                master.is_some() && self.replica.info("replication", "slave_repl_offset").await == master
            })
            .await;
        }

        /// SIGKILL of the master, then waits until the Sentinels promoted the replica.
        async fn kill_master(&mut self) {
            self.master.kill();
            let replica = self.replica.port().to_string();
            wait_until("the Sentinels promote the replica", Duration::from_secs(90), async || {
                for sentinel in &self.sentinels {
                    let addr = sentinel
                        .query::<Vec<String>>(redis::cmd("SENTINEL").arg("get-master-addr-by-name").arg(MASTER_NAME))
                        .await;
                    if addr.is_ok_and(|a| a.get(1) == Some(&replica)) {
                        return self.replica.info("replication", "role").await.as_deref() == Some("master");
                    }
                }
                false
            })
            .await;
        }

        /// Starts the killed master again as a replica of the promoted one (directly, not through
        /// the proxy), and waits until it is in sync.
        async fn rejoin_old_master(&mut self) {
            self.master.restart(&[format!("replicaof 127.0.0.1 {}", self.replica.port())]).await;
            wait_until("the old master replicates the new one", Duration::from_secs(30), async || {
                self.master.info("replication", "master_link_status").await.as_deref() == Some("up")
                    && self.replica.info("replication", "connected_slaves").await.as_deref() == Some("1")
            })
            .await;
        }
    }

    /// A server on a cut-link set, a registered client, and what it delivered.
    struct Scenario {
        set: CutLinkSet,
        server: Instance,
        client: String,
        _dir: TempDir,
        _alone: tokio::sync::MutexGuard<'static, ()>,
    }

    impl Scenario {
        async fn start(acks: u32, first_port: u16) -> Option<Scenario> {
            redis_server_installed()?;
            let alone = ALONE.lock().await;
            let dir = tempfile::tempdir().unwrap();
            let set = CutLinkSet::start(dir.path(), first_port).await;
            let env = set.env(acks);
            let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let check = SERVER.run(dir.path(), &["check-config"], &pairs);
            assert!(check.status.success(), "{}", text(&check.stderr));
            let said = if acks == 0 {
                "replica acks: none (DEDUP_MIN_REPLICA_ACKS=0"
            } else {
                "replica acks: 1 within 200 ms"
            };
            assert!(text(&check.stdout).contains(said), "check-config says:\n{}", text(&check.stdout));
            let server = Instance::start(SERVER, "acks", dir.path(), &env);
            let client = unique("acks");
            assert_eq!(server.register(&client, &unique("tok")).await.0, 200);
            Some(Scenario { set, server, client, _dir: dir, _alone: alone })
        }

        async fn send(&self, id: &str) -> (u16, serde_json::Value) {
            self.server.send(&self.client, id).await
        }

        /// Sends `id` until it is answered other than 503 (while the server finds the promoted
        /// master), and returns that answer's status.
        async fn send_past_failover(&self, id: &str) -> u16 {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let status = self.send(id).await.0;
                if status != 503 || Instant::now() > deadline {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }

        fn deliveries(&self, ids: &[String]) -> Vec<usize> {
            ids.iter().map(|id| self.server.deliveries(&self.client, id)).collect()
        }

        /// Sends four ids with the link up (each answered 200 and delivered once) and returns them
        /// with the three ids the scenario sends once the link is cut.
        async fn send_before_the_cut(&self) -> (Vec<String>, Vec<String>) {
            let ids = |prefix: &str, count: usize| (0..count).map(|i| format!("{prefix}-{i}")).collect::<Vec<_>>();
            let (before, cut) = (ids("before", 4), ids("cut", 3));
            for id in &before {
                assert_eq!(self.send(id).await.0, 200, "{id}");
            }
            assert_eq!(self.deliveries(&before), [1; 4]);
            (before, cut)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledged_claims_survive_a_failover_and_unacknowledged_sends_deliver_nothing() {
        let Some(mut s) = Scenario::start(1, 0).await else { return };
        let (before, cut) = s.send_before_the_cut().await;

        // Right after the last 200, with no wait for the replica: each 200 already meant a
        // replica had the claim.
        s.set.cut_link().await;
        for id in &cut {
            let (status, body) = s.send(id).await;
            assert_eq!(status, 503, "{id} while the link is cut: {body}");
            assert_eq!(body["errors"][0]["name"], "storage_unavailable", "{body}");
        }
        assert_eq!(s.deliveries(&cut), [0; 3], "nothing delivered without an acknowledged claim");

        s.set.kill_master().await;
        // The Relay's retries of what was answered 200: the promoted replica has their claims.
        for id in &before {
            assert_eq!(s.send_past_failover(id).await, 200, "{id} after the failover");
        }
        assert_eq!(s.deliveries(&before), [1; 4], "not delivered again after the failover");
        // The promoted master has no replica left: a new claim cannot be acknowledged.
        for id in &cut {
            assert_eq!(s.send(id).await.0, 503, "{id} with no replica to acknowledge it");
        }

        s.set.rejoin_old_master().await;
        for id in &cut {
            assert_eq!(s.send_past_failover(id).await, 200, "{id} once a replica is back");
        }
        assert_eq!(s.deliveries(&cut), [1; 3], "the retries of the refused sends deliver, once");
        for id in before.iter().chain(&cut) {
            assert_eq!(s.send(id).await.0, 200, "{id}");
        }
        assert_eq!(s.deliveries(&before), [1; 4]);
        assert_eq!(s.deliveries(&cut), [1; 3]);
    }

    /// The counter-case: with no acknowledgement asked for, a failover loses the claims the
    /// replica had not received, and the Relay's retries of those ids are delivered again. This is
    /// what the 503s above prevent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_acknowledgements_a_failover_delivers_again() {
        let Some(mut s) = Scenario::start(0, 5).await else { return };
        let (before, cut) = s.send_before_the_cut().await;
        // Here the replica must be waited for: nothing else puts those claims on it.
        s.set.replica_caught_up().await;
        s.set.cut_link().await;
        for id in &cut {
            assert_eq!(s.send(id).await.0, 200, "{id}: answered by the master alone");
        }
        assert_eq!(s.deliveries(&cut), [1; 3]);

        s.set.kill_master().await;
        for id in before.iter().chain(&cut) {
            assert_eq!(s.send_past_failover(id).await, 200, "{id} after the failover");
        }
        assert_eq!(s.deliveries(&before), [1; 4], "claims the replica had survive");
        assert_eq!(s.deliveries(&cut), [2; 3], "claims the replica never got are lost: delivered twice");
    }

    fn client(name: &str) -> ClientId {
        ClientId::parse(name).unwrap()
    }

    fn nid(id: &str) -> NotificationId {
        NotificationId::parse(id).unwrap()
    }

    const WINDOW: Duration = Duration::from_secs(600);

    /// Claims `(c, n)` on `store` until it is taken (a refused claim is given back in the
    /// background), and returns its token.
    async fn eventually_claimed(store: &RedisDedupStore, c: &str, n: &str) -> ClaimToken {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match store.try_claim(&client(c), &nid(n), WINDOW).await {
                Ok(Claim::Claimed(token)) => return token,
                other => assert!(Instant::now() < deadline, "({c}, {n}) never claimed: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether `node` holds the claim key of `client_id` (whatever the key's exact form).
    async fn holds(node: &RedisNode, client_id: &str) -> bool {
        let keys: Vec<String> = node.query(redis::cmd("KEYS").arg(format!("*{client_id}*"))).await.unwrap();
        !keys.is_empty()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cluster_claims_wait_for_the_replicas_of_their_slots_master() {
        if redis_server_installed().is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let cluster_node = async |offset: u16| {
            let config = [
                "cluster-enabled yes".to_owned(),
                format!("cluster-port {}", own_port(offset + 10)),
                "cluster-config-file nodes.conf".to_owned(),
                "cluster-node-timeout 5000".to_owned(),
            ];
            RedisNode::start(dir.path(), own_port(offset), &config).await
        };
        // Two masters, half the slots each; only the first has a replica.
        let (with_replica, mut replica, alone) =
            (cluster_node(20).await, cluster_node(21).await, cluster_node(22).await);
        for (node, epoch, (from, to)) in [(&with_replica, 1, (0, 8191)), (&alone, 2, (8192, 16383))] {
            let _: () = node.query(redis::cmd("CLUSTER").arg("SET-CONFIG-EPOCH").arg(epoch)).await.unwrap();
            let _: () = node.query(redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(from).arg(to)).await.unwrap();
        }
        for other in [&alone, &replica] {
            let meet =
                redis::cmd("CLUSTER").arg("MEET").arg("127.0.0.1").arg(other.port()).arg(other.port() + 10).to_owned();
            let _: () = with_replica.query(&meet).await.unwrap();
        }
        let master_id: String = with_replica.query(redis::cmd("CLUSTER").arg("MYID")).await.unwrap();
        wait_until("the replica knows its master", Duration::from_secs(20), async || {
            replica.query::<String>(redis::cmd("CLUSTER").arg("NODES")).await.is_ok_and(|n| n.contains(&master_id))
        })
        .await;
        let _: () = replica.query(redis::cmd("CLUSTER").arg("REPLICATE").arg(&master_id)).await.unwrap();
        for node in [&with_replica, &replica, &alone] {
            wait_until("the cluster is whole", Duration::from_secs(30), async || {
                let info: String = node.query(redis::cmd("CLUSTER").arg("INFO")).await.unwrap_or_default();
                let nodes: String = node.query(redis::cmd("CLUSTER").arg("NODES")).await.unwrap_or_default();
                info.contains("cluster_state:ok")
                    && nodes.lines().count() == 3
                    && nodes.contains("slave")
                    && !nodes.contains("handshake")
            })
            .await;
        }
        wait_until("the replica is in sync", Duration::from_secs(20), async || {
            replica.info("replication", "master_link_status").await.as_deref() == Some("up")
        })
        .await;

        let store = async |min: u32| {
            let config = RedisConfig {
                topology: RedisTopology::Cluster(vec![with_replica.url()]),
                timeout: Duration::from_secs(2),
                ca_path: None,
                replica_acks: ReplicaAcks { min, within: ACK_WAIT },
            };
            RedisDedupStore::open(&config).await.expect("the cluster answers")
        };
        let (acked, plain) = (store(1).await, store(0).await);

        // Which claims are acknowledged depends on where their key's slot lives, nothing else.
        let clients: Vec<String> = (0..24).map(|_| unique("acks")).collect();
        let mut taken = Vec::new();
        for c in &clients {
            match acked.try_claim(&client(c), &nid("n"), WINDOW).await {
                Ok(Claim::Claimed(token)) => taken.push(Some(token)),
                Err(DedupError::Unavailable(why)) => {
                    assert!(why.contains("0 of 1 acknowledged within 200 ms"), "{why}");
                    taken.push(None);
                }
                other => panic!("{c}: {other:?}"),
            }
        }
        for (c, token) in clients.iter().zip(&taken) {
            if token.is_none() {
                // Refused, so given back: with no acknowledgement asked for, the claim works.
                eventually_claimed(&plain, c, "n").await;
            } else {
                let again = plain.try_claim(&client(c), &nid("n"), WINDOW).await;
                assert!(matches!(again, Ok(Claim::InFlight { .. })), "an acknowledged claim holds: {again:?}");
            }
        }
        let mut on_replicated = Vec::new();
        for (c, token) in clients.iter().zip(&taken) {
            let (here, there) = (holds(&with_replica, c).await, holds(&alone, c).await);
            assert!(here != there, "{c}: one master holds the claim");
            assert_eq!(token.is_some(), here, "{c}: acknowledged exactly when its master has a replica");
            if let Some(token) = token {
                on_replicated.push((c.clone(), *token));
            }
        }
        assert!(!on_replicated.is_empty() && on_replicated.len() < clients.len(), "both masters were asked");

        // The replica is there but silent: the count is of acknowledgements, not of replicas.
        for (c, token) in &on_replicated {
            acked.release(&client(c), &nid("n"), *token).await.expect("released");
        }
        replica.pause();
        for (c, _) in &on_replicated {
            let started = Instant::now();
            let refused = acked.try_claim(&client(c), &nid("n"), WINDOW).await;
            assert!(matches!(refused, Err(DedupError::Unavailable(_))), "{c} with the replica paused: {refused:?}");
            assert!(started.elapsed() < Duration::from_secs(2), "refused within the wait, not the timeout");
        }
        replica.resume();
        for (c, _) in &on_replicated {
            eventually_claimed(&acked, c, "n").await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_node_asked_for_acknowledgements_must_have_the_replicas() {
        if redis_server_installed().is_none() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let master = RedisNode::start(dir.path(), own_port(40), &[]).await;
        let check = |acks: Option<&str>| {
            let mut env = vec![("REDIS_URL", master.url())];
            env.extend(acks.map(|a| ("DEDUP_MIN_REPLICA_ACKS", a.to_owned())));
            let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            SERVER.run(dir.path(), &["check-config"], &pairs)
        };
        let alone = check(None);
        assert!(alone.status.success(), "{}", text(&alone.stderr));
        assert!(text(&alone.stdout).contains("replica acks: none (one Redis node)"), "{}", text(&alone.stdout));

        let refused = check(Some("1"));
        assert!(!refused.status.success());
        let reasons: Vec<String> =
            text(&refused.stderr).lines().filter(|l| l.starts_with("push-server:")).map(str::to_owned).collect();
        assert_eq!(reasons.len(), 1, "{}", text(&refused.stderr));
        assert!(
            reasons[0].contains("DEDUP_MIN_REPLICA_ACKS is 1, but the Redis node at REDIS_URL has 0 replica(s)"),
            "{}",
            reasons[0]
        );

        let replica =
            RedisNode::start(dir.path(), own_port(41), &[format!("replicaof 127.0.0.1 {}", master.port())]).await;
        wait_until("the node has its replica", Duration::from_secs(20), async || {
            master.info("replication", "connected_slaves").await.as_deref() == Some("1")
        })
        .await;
        let accepted = check(Some("1"));
        assert!(accepted.status.success(), "{}", text(&accepted.stderr));
        assert!(text(&accepted.stdout).contains("replica acks: 1 within 200 ms"), "{}", text(&accepted.stdout));
        drop(replica);
    }
}

#[cfg(not(feature = "redis"))]
#[test]
fn replica_ack_suite() {
    push_testkit::services::features_missing(&["redis"]);
}
