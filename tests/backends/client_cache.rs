//! The SQLite store keeps the clients it has read in memory; these check that it never serves a
//! client older than a completed write: through the API (the very next send sees a write to a
//! client that was just looked up), and on the store itself (writes whose caller hangs up, writes
//! that cannot get the database, and a stress test of interleaved writers and readers).

use push_testkit::{encrypted, spawn_app};

#[tokio::test]
async fn re_registering_a_cached_client_is_seen_by_the_next_send() {
    let app = spawn_app().await;
    assert!(app.register("c", "apns", "00aa").await.is_ok_envelope());
    assert!(app.send("c", &encrypted("n1")).await.is_ok_envelope());
    assert!(app.register("c", "fcm", "fcm-token").await.is_ok_envelope());
    assert!(app.send("c", &encrypted("n2")).await.is_ok_envelope());
    let types: Vec<_> = app.deliveries().iter().map(|d| d["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ["apns", "fcm"]);
}

#[tokio::test]
async fn a_token_taken_by_another_client_removes_the_cached_owner() {
    let app = spawn_app().await;
    assert!(app.register("old", "fcm", "shared-token").await.is_ok_envelope());
    assert!(app.send("old", &encrypted("n1")).await.is_ok_envelope());
    assert!(app.register("new", "fcm", "shared-token").await.is_ok_envelope());
    let gone = app.send("old", &encrypted("n2")).await;
    assert_eq!(gone.status, 404, "{}", gone.text);
}

#[tokio::test]
async fn an_unregistered_cached_client_is_gone() {
    let app = spawn_app().await;
    assert!(app.register("c", "fcm", "t").await.is_ok_envelope());
    assert!(app.send("c", &encrypted("n1")).await.is_ok_envelope());
    assert!(app.unregister("c").await.is_ok_envelope());
    let gone = app.send("c", &encrypted("n2")).await;
    assert_eq!(gone.status, 404, "{}", gone.text);
}

/// The same promises checked on the SQLite store itself, where writes can be held up (another
/// connection holding SQLite's write lock), abandoned by their caller, and raced by readers.
/// A write whose caller hangs up is still carried out (the store runs it in a task of its own),
/// so these tests wait for its effect in the table and then check that the store agrees.
mod store {
    use std::{
        future::Future,
        pin::pin,
        sync::{
            Arc, Mutex,
            atomic::{AtomicBool, Ordering},
        },
        task::Poll,
        time::Duration,
    };

    use push_server::{
        adapters::store::sqlite::{SqliteClientRepository, SqliteOptions},
        domain::{ClientId, PushType},
        ports::{ClientRepository, StoreError},
    };
    use sqlx::{Connection, SqliteConnection, SqlitePool};
    use tempfile::TempDir;

    use crate::store_contract::client;

    struct Store {
        repo: Arc<SqliteClientRepository>,
        /// A connection of its own, around the store, to read what is really in the table.
        raw: SqlitePool,
        url: String,
        _dir: TempDir,
    }

    async fn store(timeout: Duration) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("clients.db").display());
        let options = SqliteOptions { max_readers: 4, timeout, synchronous_full: false };
        let repo = Arc::new(SqliteClientRepository::connect(&url, &options).await.expect("SQLite store opens"));
        let raw = SqlitePool::connect(&url).await.expect("open the SQLite file");
        Store { repo, raw, url, _dir: dir }
    }

    impl Store {
        /// The row as it is in the table (type and token), not as the cache remembers it.
        async fn row(&self, id: &str) -> Option<(String, String)> {
            sqlx::query_as("SELECT push_type, token FROM clients WHERE client_id = $1")
                .bind(id)
                .fetch_optional(&self.raw)
                .await
                .expect("raw read")
        }

        /// What the store answers for `id`, as (type, token).
        async fn find(&self, id: &str) -> Option<(String, String)> {
            let found = self.repo.find(&ClientId::parse(id).unwrap()).await.expect("find");
            found.map(|c| (c.push_type.as_str().to_owned(), c.token.expose().to_owned()))
        }

        /// Takes SQLite's write lock on a connection of its own, as another process could.
        async fn lock(&self) -> SqliteConnection {
            let mut conn = SqliteConnection::connect(&self.url).await.expect("second connection");
            sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.expect("take the write lock");
            conn
        }

        /// Waits (polling the table, not the store) until `done` holds for the row of `id`.
        async fn until_row(&self, id: &str, done: impl Fn(&Option<(String, String)>) -> bool) {
            for _ in 0..10_000 {
                if done(&self.row(id).await) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            panic!("the row of {id} never reached the expected state");
        }
    }

    async fn unlock(mut conn: SqliteConnection) {
        sqlx::query("ROLLBACK").execute(&mut conn).await.expect("release the write lock");
    }

    fn pair(push_type: PushType, token: &str) -> Option<(String, String)> {
        Some((push_type.as_str().to_owned(), token.to_owned()))
    }

    /// The caller waits a little and hangs up: its future is dropped, as poem drops a handler's
    /// future when the connection closes. Returns the output if it finished first.
    async fn hang_up<F: Future>(write: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::from_millis(50), write).await.ok()
    }

    /// Polls `write` at most `polls` times, yielding in between, then drops it unfinished.
    async fn hang_up_after<F: Future>(write: F, polls: usize) -> Option<F::Output> {
        let mut write = pin!(write);
        for _ in 0..polls {
            let polled = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
            if let Poll::Ready(output) = polled {
                return Some(output);
            }
            tokio::task::yield_now().await;
        }
        None
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delete_whose_caller_hung_up_still_evicts_the_client() {
        let s = store(Duration::from_secs(5)).await;
        let c = client("c", PushType::Fcm, "t1");
        s.repo.upsert(&c).await.unwrap();
        assert_eq!(s.find("c").await, pair(PushType::Fcm, "t1"), "now cached");

        let lock = s.lock().await;
        assert!(hang_up(s.repo.delete(&c.id)).await.is_none(), "cannot finish while the lock is held");
        unlock(lock).await;

        s.until_row("c", Option::is_none).await;
        assert_eq!(s.find("c").await, None, "the deleted client is not served from the cache");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_registration_whose_caller_hung_up_replaces_the_cached_client() {
        let s = store(Duration::from_secs(5)).await;
        s.repo.upsert(&client("c", PushType::Apns, "00aa")).await.unwrap();
        assert_eq!(s.find("c").await, pair(PushType::Apns, "00aa"));

        let lock = s.lock().await;
        assert!(hang_up(s.repo.upsert(&client("c", PushType::Fcm, "t2"))).await.is_none());
        unlock(lock).await;

        s.until_row("c", |row| *row == pair(PushType::Fcm, "t2")).await;
        assert_eq!(s.find("c").await, pair(PushType::Fcm, "t2"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_move_whose_caller_hung_up_evicts_the_previous_owner() {
        let s = store(Duration::from_secs(5)).await;
        s.repo.upsert(&client("old", PushType::Fcm, "shared")).await.unwrap();
        assert_eq!(s.find("old").await, pair(PushType::Fcm, "shared"));

        let lock = s.lock().await;
        assert!(hang_up(s.repo.upsert(&client("new", PushType::Fcm, "shared"))).await.is_none());
        unlock(lock).await;

        s.until_row("old", Option::is_none).await;
        assert_eq!(s.find("old").await, None, "the previous owner is not served from the cache");
        assert_eq!(s.find("new").await, pair(PushType::Fcm, "shared"));
    }

    /// The writer gives up: a write that cannot get SQLite's write lock answers `Unavailable`
    /// within the store's timeout (no retry loop keeps it, or anything else, spinning), and once
    /// the lock is free the store and its cache agree with the table again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_cannot_get_the_lock_gives_up_as_unavailable() {
        let s = store(Duration::from_secs(1)).await;
        s.repo.upsert(&client("c", PushType::Fcm, "t1")).await.unwrap();
        assert_eq!(s.find("c").await, pair(PushType::Fcm, "t1"));

        let lock = s.lock().await;
        let refused = s.repo.upsert(&client("c", PushType::Fcm, "t2")).await;
        assert!(matches!(refused, Err(StoreError::Unavailable(_))), "{refused:?}");
        let refused = s.repo.delete(&ClientId::parse("c").unwrap()).await;
        assert!(matches!(refused, Err(StoreError::Unavailable(_))), "{refused:?}");
        assert_eq!(s.find("c").await, pair(PushType::Fcm, "t1"), "nothing committed while locked");
        unlock(lock).await;

        // The one writer connection serves writes in turn, so this one comes after whatever the
        // refused writes still did in the background (it may have to wait for them: hence the
        // second chance, on a loaded machine).
        let t3 = client("c", PushType::Fcm, "t3");
        if s.repo.upsert(&t3).await.is_err() {
            s.repo.upsert(&t3).await.expect("the store works again once the lock is free");
        }
        assert_eq!(s.row("c").await, pair(PushType::Fcm, "t3"));
        assert_eq!(s.find("c").await, pair(PushType::Fcm, "t3"));
        assert_eq!(s.find("c").await, pair(PushType::Fcm, "t3"), "cached again");
    }

    // ---- The stress test: writers and readers interleaved, every read checked. ----

    const CLIENTS: usize = 8;
    const WRITERS: u64 = 3;
    const WRITES_PER_WRITER: usize = 600;
    const READERS: u64 = 4;

    /// What a client is: its (type, token) row, or absent.
    type Value = Option<(String, String)>;

    /// Each client's values in the order they were written. Writes that touch a client hold its
    /// lock (`locks`), so for each client the writes are one sequence: the order of this history.
    struct History {
        locks: Vec<tokio::sync::Mutex<()>>,
        values: Mutex<Vec<ClientHistory>>,
    }

    #[derive(Default)]
    struct ClientHistory {
        /// `values[k]` is the value after the k-th completed write; `values[0]` is "absent".
        values: Vec<Value>,
        /// The value a write in flight will leave, if one is.
        in_flight: Option<Value>,
        /// The oldest history index that a read which has already returned proved to be out of
        /// date: a read that starts later must not go back past what an earlier read saw.
        seen: usize,
    }

    impl ClientHistory {
        /// Where a read that starts now may land: the last completed write, or later.
        fn floor(&self) -> usize {
            (self.values.len() - 1).max(self.seen)
        }

        /// Checks a read that started at `floor` and returned `got`, and records what it saw.
        fn check(&mut self, floor: usize, got: &Value) -> Result<(), String> {
            let at = (floor..self.values.len())
                .find(|&k| self.values[k] == *got)
                .or_else(|| (self.in_flight.as_ref() == Some(got)).then_some(self.values.len()));
            match at {
                Some(k) => {
                    self.seen = self.seen.max(k);
                    Ok(())
                }
                None => Err(format!(
                    "returned {got:?}; allowed: {:?} (history {:?})",
                    self.values
                        .get(floor..)
                        .unwrap_or_default()
                        .iter()
                        .chain(self.in_flight.iter())
                        .collect::<Vec<_>>(),
                    self.values,
                )),
            }
        }
    }

    fn name(c: usize) -> String {
        format!("client-{c}")
    }

    /// One writer: registrations with fresh tokens, token moves between clients, deletes, and
    /// any of those abandoned by their caller part-way. A write counts as completed when it has
    /// returned, or (abandoned) once its effect is in the table.
    async fn writer(s: Arc<Store>, history: Arc<History>, seed: u64, next_token: Arc<std::sync::atomic::AtomicU64>) {
        let mut rng = fastrand::Rng::with_seed(seed);
        for _ in 0..WRITES_PER_WRITER {
            let target = rng.usize(..CLIENTS);
            let source = rng.usize(..CLIENTS);
            let kind = rng.u8(..10);
            let cancel = rng.u8(..5) == 0;
            let polls = rng.usize(1..4);

            let mut involved = vec![target, source];
            involved.sort_unstable();
            involved.dedup();
            let mut guards = Vec::new();
            for &c in &involved {
                guards.push(history.locks[c].lock().await);
            }
            let current = |c: usize| history.values.lock().unwrap()[c].values.last().cloned().unwrap();

            // (client, value after the write) for every client the write changes.
            let mut effects: Vec<(usize, Value)> = Vec::new();
            let write: std::pin::Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;
            let source_value = current(source);
            if let Some((_, token)) = source_value.filter(|_| kind < 3 && source != target) {
                // Move the source's token to the target: the source's row goes.
                let push_type = if rng.bool() { PushType::Fcm } else { PushType::Apns };
                let moved = client(&name(target), push_type, &token);
                effects.push((target, pair(push_type, &token)));
                effects.push((source, None));
                let repo = s.repo.clone();
                write = Box::pin(async move {
                    repo.upsert(&moved).await.map(|stored| assert!(stored, "the default project exists"))
                });
            } else if kind < 5 {
                let id = ClientId::parse(&name(target)).unwrap();
                effects.push((target, None));
                let repo = s.repo.clone();
                write = Box::pin(async move { repo.delete(&id).await.map(drop) });
            } else {
                // Hex, so that it is a valid token for either type.
                let token = format!("{:08x}", next_token.fetch_add(1, Ordering::Relaxed));
                let push_type = if rng.bool() { PushType::Fcm } else { PushType::ApnsSandbox };
                let registered = client(&name(target), push_type, &token);
                effects.push((target, pair(push_type, &token)));
                let repo = s.repo.clone();
                write = Box::pin(async move {
                    repo.upsert(&registered).await.map(|stored| assert!(stored, "the default project exists"))
                });
            }
            // An abandoned delete of an absent client leaves no trace to wait for: run it through.
            let cancel = cancel && effects.iter().any(|(c, v)| *v != current(*c));

            {
                let mut values = history.values.lock().unwrap();
                for (c, v) in &effects {
                    values[*c].in_flight = Some(v.clone());
                }
            }
            if cancel {
                if let Some(result) = hang_up_after(write, polls).await {
                    result.expect("write");
                }
                // Registrations and moves change the target's row; deletes remove it.
                let (target, expected) = effects[0].clone();
                s.until_row(&name(target), |row| *row == expected).await;
            } else {
                write.await.expect("write");
            }
            {
                let mut values = history.values.lock().unwrap();
                for (c, v) in effects {
                    values[c].values.push(v);
                    values[c].in_flight = None;
                }
            }
            drop(guards);
        }
    }

    /// One reader: looks clients up and checks each answer against the history.
    async fn reader(s: Arc<Store>, history: Arc<History>, seed: u64, done: Arc<AtomicBool>) -> usize {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut reads = 0;
        while !done.load(Ordering::Acquire) {
            let c = rng.usize(..CLIENTS);
            // The last write completed before the read starts, or what an earlier read saw: the
            // read may return that value or a later one, never an earlier one.
            let floor = history.values.lock().unwrap()[c].floor();
            let got = s.find(&name(c)).await;
            let checked = history.values.lock().unwrap()[c].check(floor, &got);
            if let Err(why) = checked {
                panic!("read of {}: {why}", name(c));
            }
            reads += 1;
            // Mostly cache hits; now and then let a writer in on a busy runtime.
            if rng.u8(..8) == 0 {
                tokio::task::yield_now().await;
            }
        }
        reads
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn interleaved_writers_and_readers_never_see_a_value_older_than_a_completed_write() {
        let s = Arc::new(store(Duration::from_secs(5)).await);
        let history = Arc::new(History {
            locks: (0..CLIENTS).map(|_| tokio::sync::Mutex::new(())).collect(),
            values: Mutex::new(
                (0..CLIENTS).map(|_| ClientHistory { values: vec![None], ..ClientHistory::default() }).collect(),
            ),
        });
        let done = Arc::new(AtomicBool::new(false));
        let next_token = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let readers: Vec<_> =
            (0..READERS).map(|i| tokio::spawn(reader(s.clone(), history.clone(), 100 + i, done.clone()))).collect();
        let writers: Vec<_> =
            (0..WRITERS).map(|i| tokio::spawn(writer(s.clone(), history.clone(), i, next_token.clone()))).collect();
        for w in writers {
            w.await.expect("writer");
        }
        done.store(true, Ordering::Release);
        let mut reads = 0;
        for r in readers {
            reads += r.await.expect("reader");
        }
        // The table ends as the history says, and so does the store.
        for c in 0..CLIENTS {
            let last = history.values.lock().unwrap()[c].values.last().cloned().unwrap();
            assert_eq!(s.row(&name(c)).await, last, "{}", name(c));
            assert_eq!(s.find(&name(c)).await, last, "{}", name(c));
        }
        assert!(reads > 1000, "the readers ran alongside the writers ({reads} reads)");
    }
}
