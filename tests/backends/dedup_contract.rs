//! The `DedupStore` contract, written once and run against every adapter: in memory always (on a
//! paused clock); Redis as one node, over TLS, as a Cluster (in the clear and over TLS) and behind
//! Sentinels; Postgres
//! directly and through PgBouncer; each when the test services provide it (see
//! `push_testkit::services`; real time, short windows). An adapter that drifts from the others fails
//! here.

use std::{sync::Arc, time::Duration};

use push_server::{
    adapters::dedup::memory::MemoryDedupStore,
    domain::{ClientId, NotificationId},
    ports::{Claim, ClaimToken, DedupStore},
};

/// One adapter under test. Client ids get a per-test prefix, so tests sharing one Redis never
/// meet.
struct Subject {
    store: Arc<dyn DedupStore>,
    prefix: String,
    /// Memory runs on tokio's paused clock, so its windows pass without waiting.
    paused_clock: bool,
    #[cfg(feature = "postgres")]
    db: Option<push_testkit::services::TestDatabase>,
    /// Held while the subject is the Sentinel set, so the failover test waits for it.
    #[cfg(feature = "redis")]
    _sentinel: Option<tokio::sync::RwLockReadGuard<'static, ()>>,
}

impl Subject {
    fn client(&self, name: &str) -> ClientId {
        ClientId::parse(&format!("{}{name}", self.prefix)).unwrap()
    }

    async fn elapse(&self, d: Duration) {
        if self.paused_clock { tokio::time::advance(d).await } else { tokio::time::sleep(d).await }
    }

    async fn claim(&self, client: &str, id: &str, ttl: Duration) -> Claim {
        self.store.try_claim(&self.client(client), &nid(id), ttl).await.expect("claim answered")
    }

    async fn release(&self, client: &str, id: &str, token: ClaimToken) {
        self.store.release(&self.client(client), &nid(id), token).await.expect("release answered");
    }

    #[cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code))]
    async fn finish(self) {
        drop(self.store);
        #[cfg(feature = "postgres")]
        if let Some(db) = self.db {
            db.drop_database().await;
        }
    }
}

fn nid(s: &str) -> NotificationId {
    NotificationId::parse(s).unwrap()
}

fn won(claim: Claim) -> ClaimToken {
    match claim {
        Claim::New(token) => token,
        Claim::Duplicate => panic!("expected a new claim, got a duplicate"),
    }
}

const DAY: Duration = Duration::from_secs(86_400);
/// Short enough to wait out in real time against Redis.
const WINDOW: Duration = Duration::from_secs(1);

fn memory() -> Subject {
    Subject {
        store: Arc::new(MemoryDedupStore::new()),
        prefix: "mem-".into(),
        paused_clock: true,
        #[cfg(feature = "postgres")]
        db: None,
        #[cfg(feature = "redis")]
        _sentinel: None,
    }
}

#[cfg(feature = "redis")]
async fn redis(kind: push_testkit::services::RedisKind) -> Option<Subject> {
    use push_server::adapters::dedup::redis::RedisDedupStore;
    use push_testkit::services::{RedisKind, redis_config, sentinel_shared, unique};
    let sentinel = match kind {
        RedisKind::Sentinel => Some(sentinel_shared().await),
        _ => None,
    };
    let config = redis_config(kind).await?;
    let store = RedisDedupStore::open(&config).await.expect("Redis store connects");
    Some(Subject {
        store: Arc::new(store),
        prefix: unique("contract") + "-",
        paused_clock: false,
        #[cfg(feature = "postgres")]
        db: None,
        _sentinel: sentinel,
    })
}

/// Postgres dedup on a fresh schema, or (`bouncer`) on a fresh database through PgBouncer in
/// transaction mode with the statement cache off, migrated directly as an operator would.
#[cfg(feature = "postgres")]
async fn postgres(bouncer: bool) -> Option<Subject> {
    use push_server::adapters::{
        dedup::postgres::{PostgresDedupOptions, PostgresDedupStore},
        pg_database::{PgDatabase, PostgresOptions},
    };
    use push_testkit::services::{fresh_bouncer_database, fresh_database};
    let timeout = Duration::from_secs(5);
    let db = if bouncer { fresh_bouncer_database().await? } else { fresh_database().await? };
    if bouncer {
        PgDatabase::migrate(&db.direct_url, timeout).await.expect("migrations apply on the direct URL");
    }
    let options =
        PostgresOptions { max_connections: 8, timeout, statement_cache_capacity: if bouncer { 0 } else { 100 } };
    let pg = PgDatabase::connect(&db.url, &options).await.expect("Postgres connects");
    let store = PostgresDedupStore::new(pg, &PostgresDedupOptions { sweep_every: Duration::from_millis(200) });
    Some(Subject {
        store: Arc::new(store),
        prefix: push_testkit::services::unique("contract") + "-",
        paused_clock: false,
        db: Some(db),
        #[cfg(feature = "redis")]
        _sentinel: None,
    })
}

/// Declares every case for one shared backend, as `$name::case`.
macro_rules! backend {
    ($name:ident, $feature:literal, $make:expr; $($case:ident),*) => {
        #[cfg(feature = $feature)]
        mod $name {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(subject) = $make.await else { return };
                    super::$case(&subject).await;
                    subject.finish().await;
                }
            )*
        }
    };
}

/// Declares every case once per adapter: `memory::case`, `redis::case`, `redis_cluster::case`, ...
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(start_paused = true)]
                async fn $case() {
                    super::$case(&super::memory()).await;
                }
            )*
        }

        backend!(redis, "redis", super::redis(push_testkit::services::RedisKind::Single); $($case),*);
        backend!(redis_tls, "redis", super::redis(push_testkit::services::RedisKind::Tls); $($case),*);
        backend!(redis_cluster, "redis", super::redis(push_testkit::services::RedisKind::Cluster); $($case),*);
        backend!(redis_cluster_tls, "redis", super::redis(push_testkit::services::RedisKind::ClusterTls); $($case),*);
        backend!(redis_sentinel, "redis", super::redis(push_testkit::services::RedisKind::Sentinel); $($case),*);
        backend!(postgres, "postgres", super::postgres(false); $($case),*);
        backend!(postgres_pgbouncer, "postgres", super::postgres(true); $($case),*);
    };
}

contract!(
    first_claim_is_new_then_duplicate,
    clients_are_apart_for_the_same_id,
    ids_are_apart_for_the_same_client,
    pairs_never_blur_into_each_other,
    release_frees_the_claim,
    release_with_another_token_does_nothing,
    release_of_nothing_is_harmless,
    claims_last_their_window_then_expire,
    a_late_release_cannot_free_a_newer_claim,
    long_and_unusual_ids_work,
    concurrent_claims_have_exactly_one_winner,
    projects_are_apart_for_the_same_client_and_id,
);

#[cfg(not(feature = "redis"))]
#[test]
fn redis_suite() {
    push_testkit::services::features_missing(&["redis"]);
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_suite() {
    push_testkit::services::features_missing(&["postgres"]);
}

/// Postgres keeps a row per claim; expired rows are deleted in the background, not only taken
/// over by the next claim of the same pair.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sweeps_expired_claims_in_the_background() {
    let Some(s) = postgres(false).await else { return };
    for i in 0..20 {
        won(s.claim("c", &format!("n{i}"), Duration::from_millis(50)).await);
    }
    won(s.claim("c", "long", DAY).await);
    let url = s.db.as_ref().unwrap().direct_url.clone();
    let rows = || async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM dedup_claims").fetch_one(&mut conn).await.unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rows().await > 1 {
        assert!(std::time::Instant::now() < deadline, "expired claims were not swept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.claim("c", "long", DAY).await, Claim::Duplicate, "the live claim stays");
    s.finish().await;
}

async fn first_claim_is_new_then_duplicate(s: &Subject) {
    won(s.claim("c", "n1", DAY).await);
    assert_eq!(s.claim("c", "n1", DAY).await, Claim::Duplicate);
    assert_eq!(s.claim("c", "n1", DAY).await, Claim::Duplicate);
}

async fn clients_are_apart_for_the_same_id(s: &Subject) {
    won(s.claim("c1", "n", DAY).await);
    won(s.claim("c2", "n", DAY).await);
}

async fn ids_are_apart_for_the_same_client(s: &Subject) {
    won(s.claim("c", "n1", DAY).await);
    won(s.claim("c", "n2", DAY).await);
}

async fn pairs_never_blur_into_each_other(s: &Subject) {
    // Whatever joins client and id in a key must keep these four apart.
    won(s.claim("ab", "c", DAY).await);
    won(s.claim("a", "bc", DAY).await);
    won(s.claim("x:y", "z", DAY).await);
    won(s.claim("x", "y:z", DAY).await);
    won(s.claim("x", ":y:z", DAY).await);
}

async fn release_frees_the_claim(s: &Subject) {
    let token = won(s.claim("c", "n", DAY).await);
    s.release("c", "n", token).await;
    let again = won(s.claim("c", "n", DAY).await);
    assert_eq!(s.claim("c", "n", DAY).await, Claim::Duplicate);
    assert_ne!(again, token, "every claim carries its own token");
}

async fn release_with_another_token_does_nothing(s: &Subject) {
    let token = won(s.claim("c", "n", DAY).await);
    s.release("c", "n", ClaimToken(token.0 ^ 1)).await;
    assert_eq!(s.claim("c", "n", DAY).await, Claim::Duplicate);
    // Nor does the right token under another pair.
    s.release("other", "n", token).await;
    s.release("c", "other", token).await;
    assert_eq!(s.claim("c", "n", DAY).await, Claim::Duplicate);
}

async fn release_of_nothing_is_harmless(s: &Subject) {
    s.release("c", "never-claimed", ClaimToken(7)).await;
    won(s.claim("c", "never-claimed", DAY).await);
}

async fn claims_last_their_window_then_expire(s: &Subject) {
    won(s.claim("c", "n", WINDOW).await);
    s.elapse(WINDOW / 2).await;
    assert_eq!(s.claim("c", "n", WINDOW).await, Claim::Duplicate, "still inside the window");
    s.elapse(WINDOW / 2 + Duration::from_millis(300)).await;
    won(s.claim("c", "n", WINDOW).await);
}

async fn a_late_release_cannot_free_a_newer_claim(s: &Subject) {
    let old = won(s.claim("c", "n", WINDOW).await);
    s.elapse(WINDOW + Duration::from_millis(300)).await;
    let _newer = won(s.claim("c", "n", DAY).await);
    // The first request's delivery failed long after its window ended; its release comes now.
    s.release("c", "n", old).await;
    assert_eq!(s.claim("c", "n", DAY).await, Claim::Duplicate, "the newer claim still holds");
}

async fn long_and_unusual_ids_work(s: &Subject) {
    let long_client = "c".repeat(200);
    let long_id = "é".repeat(127);
    won(s.claim(&long_client, &long_id, DAY).await);
    assert_eq!(s.claim(&long_client, &long_id, DAY).await, Claim::Duplicate);
    won(s.claim("c", "{}*?[]\"'\\%", DAY).await);
    assert_eq!(s.claim("c", "{}*?[]\"'\\%", DAY).await, Claim::Duplicate);
    // A window under a millisecond still claims (Redis refuses `PX 0`).
    won(s.claim("c", "tiny-window", Duration::from_micros(10)).await);
}

async fn concurrent_claims_have_exactly_one_winner(s: &Subject) {
    const N: usize = 48;
    let client = s.client("contested");
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (store, client) = (s.store.clone(), client.clone());
            tokio::spawn(async move { store.try_claim(&client, &nid("n"), DAY).await })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        if let Claim::New(_) = t.await.unwrap().expect("claim answered") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

/// The same client id and notification id in two projects (and the default one) are three
/// claims; a release in one project leaves the others. Ids are chosen to tempt a naive join:
/// a default-project client named like `{project}/{client}` or `{project} {client}`.
async fn projects_are_apart_for_the_same_client_and_id(s: &Subject) {
    use push_server::domain::{ProjectId, ProjectKey};
    let in_project = |p: &str, c: ClientId| c.in_project(ProjectKey::Named(ProjectId::parse(p).unwrap()));
    let (a, b, default) = (in_project("pa", s.client("c")), in_project("pb", s.client("c")), s.client("c"));
    let claim = |c: &ClientId| {
        let (store, c) = (s.store.clone(), c.clone());
        async move { store.try_claim(&c, &nid("n"), DAY).await.expect("claim answered") }
    };
    let Claim::New(token_a) = claim(&a).await else { panic!("a claims first") };
    won(claim(&b).await);
    won(claim(&default).await);
    assert_eq!(claim(&a).await, Claim::Duplicate);
    s.store.release(&a, &nid("n"), token_a).await.unwrap();
    assert_eq!(claim(&b).await, Claim::Duplicate, "b's claim stays");
    won(claim(&a).await);
    let tempting = ClientId::parse(&format!("pa/{}c", s.prefix)).unwrap();
    won(claim(&tempting).await);
}
