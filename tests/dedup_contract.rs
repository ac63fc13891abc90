//! The `DedupStore` contract, written once and run against every adapter: in memory always (on a
//! paused clock), Redis when a test Redis is available (see `support::services`; real time, short
//! windows). An adapter that drifts from the others fails here.

mod support;

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
    Subject { store: Arc::new(MemoryDedupStore::new()), prefix: "mem-".into(), paused_clock: true }
}

#[cfg(feature = "redis")]
async fn redis() -> Option<Subject> {
    use push_server::adapters::dedup::redis::RedisDedupStore;
    let url = support::services::redis_url().await?;
    let store = RedisDedupStore::connect(&url, Duration::from_secs(5)).await.expect("Redis store connects");
    Some(Subject { store: Arc::new(store), prefix: support::services::unique("contract") + "-", paused_clock: false })
}

/// Declares every case once per adapter: `memory::case` and `redis::case`.
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

        #[cfg(feature = "redis")]
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(subject) = super::redis().await else { return };
                    super::$case(&subject).await;
                }
            )*
        }
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
);

#[cfg(not(feature = "redis"))]
#[test]
fn redis_suite() {
    support::services::features_missing(&["redis"]);
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
