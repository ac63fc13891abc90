//! The `DedupStore` contract, written once and run against every adapter: in memory always (on a
//! paused clock); Redis as one node, over TLS, as a Cluster (in the clear and over TLS) and behind
//! Sentinels; Postgres directly and through PgBouncer; each when the test services provide it
//! (see `push_testkit::services`; real time, leases and windows of a fraction of a second). An
//! adapter that drifts from the others fails here.
//!
//! The cases follow a claim through its states: taken in flight for a lease, seen in flight by
//! duplicates, completed into done for the window, released, or left until its lease ends; and a
//! duplicate waiting for that outcome, on the same store and (for the shared backends) through a
//! second store on the same backend, as another server would.

use std::{sync::Arc, time::Duration};

use push_server::{
    adapters::dedup::memory::MemoryDedupStore,
    domain::{ClientId, NotificationId},
    ports::{Claim, ClaimToken, Completed, DedupStore, Waited},
};
use tokio::time::Instant;

/// One adapter under test. Client ids get a per-test prefix, so tests sharing one Redis never
/// meet.
struct Subject {
    store: Arc<dyn DedupStore>,
    /// A second store on the same backend, as another server has (none in memory).
    peer: Option<Arc<dyn DedupStore>>,
    prefix: String,
    /// Memory runs on tokio's paused clock, so its leases and windows pass without waiting.
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

    async fn claim(&self, client: &str, id: &str, lease: Duration) -> Claim {
        self.store.try_claim(&self.client(client), &nid(id), lease).await.expect("claim answered")
    }

    async fn complete(&self, client: &str, id: &str, token: ClaimToken, window: Duration) -> Completed {
        self.store.complete(&self.client(client), &nid(id), token, window).await.expect("complete answered")
    }

    async fn release(&self, client: &str, id: &str, token: ClaimToken) {
        self.store.release(&self.client(client), &nid(id), token).await.expect("release answered");
    }

    /// A waiter for `(client, id)` on `store`, running while the test goes on; it answers with
    /// what it saw and how long it waited.
    fn waiter(
        &self,
        store: &Arc<dyn DedupStore>,
        client: &str,
        id: &str,
        patience: Duration,
    ) -> tokio::task::JoinHandle<(Waited, Duration)> {
        let (store, client, id) = (store.clone(), self.client(client), nid(id));
        tokio::spawn(async move {
            let started = Instant::now();
            let waited = store.wait(&client, &id, patience).await.expect("wait answered");
            (waited, started.elapsed())
        })
    }

    /// Lets spawned waiters start watching before the test acts.
    async fn settle_waiters(&self) {
        if self.paused_clock {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code))]
    async fn finish(self) {
        drop((self.store, self.peer));
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
        Claim::Claimed(token) => token,
        other => panic!("expected to take the claim, found {other:?}"),
    }
}

/// The lease left on an in-flight claim (panics on anything else).
fn in_flight(claim: Claim) -> Duration {
    match claim {
        Claim::InFlight { lease_left } => lease_left,
        other => panic!("expected an in-flight claim, found {other:?}"),
    }
}

const DAY: Duration = Duration::from_secs(86_400);
/// A send's lease in these tests: long enough that nothing ends it by accident.
const LEASE: Duration = Duration::from_secs(60);
/// Short enough to wait out in real time against the shared backends.
const SHORT: Duration = Duration::from_millis(400);
/// Past a `SHORT` lease or window, with room for the backends' clocks.
const PAST_SHORT: Duration = Duration::from_millis(700);
/// How long a waiter waits when the test expects an outcome well before.
const PATIENT: Duration = Duration::from_secs(10);

fn memory() -> Subject {
    Subject {
        store: Arc::new(MemoryDedupStore::new()),
        peer: None,
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
    let peer = RedisDedupStore::open(&config).await.expect("a second Redis store connects");
    Some(Subject {
        store: Arc::new(store),
        peer: Some(Arc::new(peer)),
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
    let options = PostgresOptions {
        max_connections: 8,
        min_connections: 2,
        timeout,
        statement_cache_capacity: if bouncer { 0 } else { 100 },
    };
    let open = async || {
        let pg = PgDatabase::connect(&db.url, &options).await.expect("Postgres connects");
        Arc::new(PostgresDedupStore::new(pg, &PostgresDedupOptions { sweep_every: Duration::from_millis(200) }))
    };
    let (store, peer) = (open().await, open().await);
    Some(Subject {
        store,
        peer: Some(peer),
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
    a_claim_is_in_flight_for_its_lease,
    clients_are_apart_for_the_same_id,
    ids_are_apart_for_the_same_client,
    pairs_never_blur_into_each_other,
    complete_makes_the_claim_done,
    complete_again_with_the_same_token_is_still_done,
    complete_with_another_token_changes_nothing,
    complete_after_the_lease_ended_is_not_held,
    a_lease_that_ends_lets_the_next_send_take_over,
    done_lasts_its_window_then_expires,
    release_frees_the_claim,
    release_with_another_token_does_nothing,
    release_of_a_done_claim_does_nothing,
    release_of_nothing_is_harmless,
    a_late_release_cannot_free_a_newer_claim,
    long_and_unusual_ids_work,
    concurrent_claims_have_exactly_one_winner,
    projects_are_apart_for_the_same_client_and_id,
    a_waiter_sees_the_claim_done,
    a_waiter_sees_the_claim_released,
    a_waiter_sees_the_lease_end,
    a_waiter_gives_up_at_its_patience_with_the_lease_left,
    a_wait_for_a_settled_claim_answers_at_once,
    many_waiters_share_one_outcome,
    a_waiter_sees_an_outcome_settled_by_another_server,
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

/// Postgres keeps a row per claim; expired rows (leases and windows alike) are deleted in the
/// background, not only taken over by the next claim of the same pair.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sweeps_expired_claims_in_the_background() {
    let Some(s) = postgres(false).await else { return };
    for i in 0..10 {
        won(s.claim("c", &format!("lease{i}"), Duration::from_millis(50)).await);
        let token = won(s.claim("c", &format!("done{i}"), LEASE).await);
        assert_eq!(s.complete("c", &format!("done{i}"), token, Duration::from_millis(50)).await, Completed::Done);
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
    in_flight(s.claim("c", "long", DAY).await);
    s.finish().await;
}

async fn a_claim_is_in_flight_for_its_lease(s: &Subject) {
    won(s.claim("c", "n1", LEASE).await);
    let left = in_flight(s.claim("c", "n1", LEASE).await);
    assert!(left <= LEASE && left > LEASE - Duration::from_secs(10), "the lease left is the holder's: {left:?}");
    // A duplicate's own lease does not extend the holder's.
    let left = in_flight(s.claim("c", "n1", DAY).await);
    assert!(left <= LEASE, "{left:?}");
}

async fn clients_are_apart_for_the_same_id(s: &Subject) {
    won(s.claim("c1", "n", LEASE).await);
    won(s.claim("c2", "n", LEASE).await);
}

async fn ids_are_apart_for_the_same_client(s: &Subject) {
    won(s.claim("c", "n1", LEASE).await);
    won(s.claim("c", "n2", LEASE).await);
}

async fn pairs_never_blur_into_each_other(s: &Subject) {
    // Whatever joins client and id in a key must keep these four apart.
    won(s.claim("ab", "c", LEASE).await);
    won(s.claim("a", "bc", LEASE).await);
    won(s.claim("x:y", "z", LEASE).await);
    won(s.claim("x", "y:z", LEASE).await);
    won(s.claim("x", ":y:z", LEASE).await);
}

async fn complete_makes_the_claim_done(s: &Subject) {
    let token = won(s.claim("c", "n", LEASE).await);
    assert_eq!(s.complete("c", "n", token, DAY).await, Completed::Done);
    assert_eq!(s.claim("c", "n", LEASE).await, Claim::Done);
    assert_eq!(s.claim("c", "n", LEASE).await, Claim::Done);
    // Done outlives the lease it was claimed with: the window counts now.
    let token = won(s.claim("c", "short-lease", SHORT).await);
    assert_eq!(s.complete("c", "short-lease", token, DAY).await, Completed::Done);
    s.elapse(PAST_SHORT).await;
    assert_eq!(s.claim("c", "short-lease", LEASE).await, Claim::Done);
}

async fn complete_again_with_the_same_token_is_still_done(s: &Subject) {
    // What a retry after a lost answer does.
    let token = won(s.claim("c", "n", LEASE).await);
    assert_eq!(s.complete("c", "n", token, DAY).await, Completed::Done);
    assert_eq!(s.complete("c", "n", token, DAY).await, Completed::Done);
    assert_eq!(s.claim("c", "n", LEASE).await, Claim::Done);
}

async fn complete_with_another_token_changes_nothing(s: &Subject) {
    let token = won(s.claim("c", "n", LEASE).await);
    assert_eq!(s.complete("c", "n", ClaimToken(token.0 ^ 1), DAY).await, Completed::NotHeld);
    in_flight(s.claim("c", "n", LEASE).await);
    // Nor does the right token under another pair.
    assert_eq!(s.complete("other", "n", token, DAY).await, Completed::NotHeld);
    assert_eq!(s.complete("c", "other", token, DAY).await, Completed::NotHeld);
    won(s.claim("other", "n", LEASE).await);
    won(s.claim("c", "other", LEASE).await);
    in_flight(s.claim("c", "n", LEASE).await);
}

async fn complete_after_the_lease_ended_is_not_held(s: &Subject) {
    let token = won(s.claim("c", "n", SHORT).await);
    s.elapse(PAST_SHORT).await;
    assert_eq!(s.complete("c", "n", token, DAY).await, Completed::NotHeld);
    let newer = won(s.claim("c", "n", LEASE).await);
    // The old holder's completion, even later, cannot settle the newer claim.
    assert_eq!(s.complete("c", "n", token, DAY).await, Completed::NotHeld);
    in_flight(s.claim("c", "n", LEASE).await);
    assert_eq!(s.complete("c", "n", newer, DAY).await, Completed::Done);
}

async fn a_lease_that_ends_lets_the_next_send_take_over(s: &Subject) {
    let first = won(s.claim("c", "n", SHORT).await);
    s.elapse(SHORT / 4).await;
    in_flight(s.claim("c", "n", SHORT).await);
    s.elapse(PAST_SHORT).await;
    let second = won(s.claim("c", "n", LEASE).await);
    assert_ne!(first, second, "every claim carries its own token");
    in_flight(s.claim("c", "n", LEASE).await);
}

async fn done_lasts_its_window_then_expires(s: &Subject) {
    let token = won(s.claim("c", "n", LEASE).await);
    assert_eq!(s.complete("c", "n", token, SHORT).await, Completed::Done);
    s.elapse(SHORT / 4).await;
    assert_eq!(s.claim("c", "n", LEASE).await, Claim::Done, "still inside the window");
    s.elapse(PAST_SHORT).await;
    won(s.claim("c", "n", LEASE).await);
}

async fn release_frees_the_claim(s: &Subject) {
    let token = won(s.claim("c", "n", LEASE).await);
    s.release("c", "n", token).await;
    let again = won(s.claim("c", "n", LEASE).await);
    in_flight(s.claim("c", "n", LEASE).await);
    assert_ne!(again, token, "every claim carries its own token");
}

async fn release_with_another_token_does_nothing(s: &Subject) {
    let token = won(s.claim("c", "n", LEASE).await);
    s.release("c", "n", ClaimToken(token.0 ^ 1)).await;
    in_flight(s.claim("c", "n", LEASE).await);
    // Nor does the right token under another pair.
    s.release("other", "n", token).await;
    s.release("c", "other", token).await;
    in_flight(s.claim("c", "n", LEASE).await);
}

async fn release_of_a_done_claim_does_nothing(s: &Subject) {
    // A delivered notification stays delivered, whatever its send does afterwards.
    let token = won(s.claim("c", "n", LEASE).await);
    assert_eq!(s.complete("c", "n", token, DAY).await, Completed::Done);
    s.release("c", "n", token).await;
    assert_eq!(s.claim("c", "n", LEASE).await, Claim::Done);
}

async fn release_of_nothing_is_harmless(s: &Subject) {
    s.release("c", "never-claimed", ClaimToken(7)).await;
    won(s.claim("c", "never-claimed", LEASE).await);
}

async fn a_late_release_cannot_free_a_newer_claim(s: &Subject) {
    let old = won(s.claim("c", "n", SHORT).await);
    s.elapse(PAST_SHORT).await;
    let _newer = won(s.claim("c", "n", LEASE).await);
    // The first send's delivery failed long after its lease ended; its release comes now.
    s.release("c", "n", old).await;
    in_flight(s.claim("c", "n", LEASE).await);
}

async fn long_and_unusual_ids_work(s: &Subject) {
    let long_client = "c".repeat(200);
    let long_id = "é".repeat(127);
    let token = won(s.claim(&long_client, &long_id, LEASE).await);
    in_flight(s.claim(&long_client, &long_id, LEASE).await);
    assert_eq!(s.complete(&long_client, &long_id, token, DAY).await, Completed::Done);
    assert_eq!(s.claim(&long_client, &long_id, LEASE).await, Claim::Done);
    won(s.claim("c", "{}*?[]\"'\\%", LEASE).await);
    in_flight(s.claim("c", "{}*?[]\"'\\%", LEASE).await);
    // A lease or window under a millisecond still claims (Redis refuses `PX 0`).
    let token = won(s.claim("c", "tiny", Duration::from_micros(10)).await);
    s.store.complete(&s.client("c"), &nid("tiny"), token, Duration::from_micros(10)).await.expect("answered");
}

async fn concurrent_claims_have_exactly_one_winner(s: &Subject) {
    const N: usize = 48;
    let client = s.client("contested");
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            // Half through the peer, when there is one: two servers racing.
            let store = if i % 2 == 1 { s.peer.as_ref().unwrap_or(&s.store) } else { &s.store }.clone();
            let client = client.clone();
            tokio::spawn(async move { store.try_claim(&client, &nid("n"), LEASE).await })
        })
        .collect();
    let (mut winners, mut in_flight) = (0, 0);
    for t in tasks {
        match t.await.unwrap().expect("claim answered") {
            Claim::Claimed(_) => winners += 1,
            Claim::InFlight { .. } => in_flight += 1,
            Claim::Done => panic!("nobody completed it"),
        }
    }
    assert_eq!((winners, in_flight), (1, N - 1));
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
        async move { store.try_claim(&c, &nid("n"), LEASE).await.expect("claim answered") }
    };
    let token_a = won(claim(&a).await);
    let token_b = won(claim(&b).await);
    won(claim(&default).await);
    in_flight(claim(&a).await);
    s.store.release(&a, &nid("n"), token_a).await.unwrap();
    in_flight(claim(&b).await);
    assert_eq!(s.store.complete(&b, &nid("n"), token_b, DAY).await.unwrap(), Completed::Done);
    in_flight(claim(&default).await);
    won(claim(&a).await);
    let tempting = ClientId::parse(&format!("pa/{}c", s.prefix)).unwrap();
    won(claim(&tempting).await);
}

async fn a_waiter_sees_the_claim_done(s: &Subject) {
    let token = won(s.claim("c", "n", LEASE).await);
    let waiter = s.waiter(&s.store, "c", "n", PATIENT);
    s.settle_waiters().await;
    assert_eq!(s.complete("c", "n", token, DAY).await, Completed::Done);
    let (waited, took) = waiter.await.unwrap();
    assert_eq!(waited, Waited::Done);
    if s.paused_clock {
        assert_eq!(took, Duration::ZERO, "a completion on the same store wakes its waiters at once");
    }
}

async fn a_waiter_sees_the_claim_released(s: &Subject) {
    let token = won(s.claim("c", "n", LEASE).await);
    let waiter = s.waiter(&s.store, "c", "n", PATIENT);
    s.settle_waiters().await;
    s.release("c", "n", token).await;
    let (waited, took) = waiter.await.unwrap();
    assert_eq!(waited, Waited::Released);
    if s.paused_clock {
        assert_eq!(took, Duration::ZERO, "a release on the same store wakes its waiters at once");
    }
    // Released means free: the waiter's send can take it.
    won(s.claim("c", "n", LEASE).await);
}

async fn a_waiter_sees_the_lease_end(s: &Subject) {
    won(s.claim("c", "n", SHORT).await);
    let waiter = s.waiter(&s.store, "c", "n", PATIENT);
    let (waited, took) = waiter.await.unwrap();
    assert_eq!(waited, Waited::LeaseEnded);
    assert!(took < SHORT + Duration::from_secs(2), "seen soon after the lease ended, not at the patience: {took:?}");
    won(s.claim("c", "n", LEASE).await);
}

async fn a_waiter_gives_up_at_its_patience_with_the_lease_left(s: &Subject) {
    let lease = Duration::from_secs(30);
    won(s.claim("c", "n", lease).await);
    let patience = Duration::from_millis(600);
    let (waited, took) = s.waiter(&s.store, "c", "n", patience).await.unwrap();
    let Waited::InFlight { lease_left } = waited else { panic!("still in flight, got {waited:?}") };
    assert!(took >= patience && took < patience + Duration::from_secs(2), "waited its patience: {took:?}");
    assert!(lease_left <= lease - patience && lease_left > lease - Duration::from_secs(10), "{lease_left:?}");
    // Giving up changes nothing about the claim.
    in_flight(s.claim("c", "n", LEASE).await);
}

async fn a_wait_for_a_settled_claim_answers_at_once(s: &Subject) {
    let token = won(s.claim("c", "done", LEASE).await);
    s.complete("c", "done", token, DAY).await;
    let (waited, took) = s.waiter(&s.store, "c", "done", PATIENT).await.unwrap();
    assert_eq!(waited, Waited::Done);
    assert!(took < Duration::from_secs(2), "{took:?}");
    let (waited, took) = s.waiter(&s.store, "c", "nothing", PATIENT).await.unwrap();
    assert_eq!(waited, Waited::Released, "no claim at all: free to take");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

async fn many_waiters_share_one_outcome(s: &Subject) {
    let token = won(s.claim("c", "n", LEASE).await);
    let waiters: Vec<_> = (0..32).map(|_| s.waiter(&s.store, "c", "n", PATIENT)).collect();
    s.settle_waiters().await;
    assert_eq!(s.complete("c", "n", token, DAY).await, Completed::Done);
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap().0, Waited::Done);
    }
    // Waiters with other patience on another id are told apart.
    won(s.claim("c", "m", LEASE).await);
    let short = s.waiter(&s.store, "c", "m", Duration::from_millis(300));
    let long = s.waiter(&s.store, "c", "m", PATIENT);
    assert!(matches!(short.await.unwrap().0, Waited::InFlight { .. }));
    assert!(!long.is_finished(), "the patient one still waits");
    long.abort();
}

/// The outcome is settled through another store on the same backend, as by another server: no
/// local wake-up, the waiter's watcher has to read it.
async fn a_waiter_sees_an_outcome_settled_by_another_server(s: &Subject) {
    let Some(peer) = &s.peer else { return };
    let (client, id) = (s.client("c"), nid("n"));
    let Claim::Claimed(token) = peer.try_claim(&client, &id, LEASE).await.unwrap() else { panic!("the peer claims") };
    let waiter = s.waiter(&s.store, "c", "n", PATIENT);
    s.settle_waiters().await;
    assert_eq!(peer.complete(&client, &id, token, DAY).await.unwrap(), Completed::Done);
    let (waited, took) = waiter.await.unwrap();
    assert_eq!(waited, Waited::Done);
    assert!(took < Duration::from_secs(3), "seen within the watcher's interval: {took:?}");

    let (other, id) = (s.client("d"), nid("m"));
    let Claim::Claimed(token) = peer.try_claim(&other, &id, LEASE).await.unwrap() else { panic!("the peer claims") };
    let waiter = s.waiter(&s.store, "d", "m", PATIENT);
    s.settle_waiters().await;
    peer.release(&other, &id, token).await.unwrap();
    assert_eq!(waiter.await.unwrap().0, Waited::Released);
}
