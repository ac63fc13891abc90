//! The `ClientRepository` contract, and the parts of the `ProjectRepository` contract that meet
//! the clients and the revisions, written once and run against every adapter: SQLite always,
//! Postgres when a test database is available (see `push_testkit::services`), and Postgres again
//! through PgBouncer in transaction pooling mode with `DATABASE_STATEMENT_CACHE=0`. An adapter
//! that drifts from the others fails here.

use std::{sync::Arc, time::Duration};

use push_server::{
    adapters::store::{
        credentials_cipher::CredentialsCipher,
        sqlite::{SqliteClientRepository, SqliteOptions},
        sqlite_projects::SqliteProjectRepository,
    },
    domain::{
        Client, ClientId, DeviceToken, FcmCredentials, ProjectId, ProjectKey, ProviderKind, PushType, Secret,
        Suspension,
    },
    ports::{ClientRepository, ProjectRepository, StoreError},
};
use tempfile::TempDir;

/// One adapter under test, its projects beside it, plus a way around them to the raw tables.
struct Subject {
    repo: Arc<dyn ClientRepository>,
    projects: Arc<dyn ProjectRepository>,
    raw: Raw,
}

/// The key the projects' credentials are sealed with here.
fn cipher() -> CredentialsCipher {
    CredentialsCipher::parse(&"5a".repeat(32)).unwrap()
}

enum Raw {
    Sqlite {
        url: String,
        _dir: TempDir,
    },
    #[cfg(feature = "postgres")]
    Postgres(push_testkit::services::TestDatabase),
}

impl Subject {
    /// Runs SQL on the table directly, to plant rows the adapter would never write.
    async fn execute(&self, sql: &'static str) {
        match &self.raw {
            Raw::Sqlite { url, .. } => {
                let pool = sqlx::SqlitePool::connect(url).await.expect("open the SQLite file");
                sqlx::query(sql).execute(&pool).await.expect("statement runs");
                pool.close().await;
            }
            #[cfg(feature = "postgres")]
            Raw::Postgres(db) => db.execute(sql).await,
        }
    }

    async fn finish(self) {
        drop(self.repo);
        drop(self.projects);
        match self.raw {
            Raw::Sqlite { .. } => {}
            #[cfg(feature = "postgres")]
            Raw::Postgres(db) => db.drop_database().await,
        }
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

async fn sqlite() -> Option<Subject> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("clients.db").display());
    let options = SqliteOptions { max_readers: 4, timeout: TIMEOUT, synchronous_full: false };
    let repo = Arc::new(SqliteClientRepository::connect(&url, &options).await.expect("SQLite store opens"));
    let projects = Arc::new(SqliteProjectRepository::new(repo.clone(), cipher()));
    Some(Subject { repo, projects, raw: Raw::Sqlite { url, _dir: dir } })
}

/// The Postgres subject on `db`, whose schema is current.
#[cfg(feature = "postgres")]
async fn postgres_subject(db: push_testkit::services::TestDatabase, statement_cache_capacity: usize) -> Subject {
    use push_server::adapters::store::{
        postgres::{PostgresClientRepository, PostgresOptions},
        postgres_projects::PostgresProjectRepository,
    };
    let options =
        PostgresOptions { max_connections: 8, min_connections: 2, timeout: TIMEOUT, statement_cache_capacity };
    let repo = Arc::new(PostgresClientRepository::connect(&db.url, &options).await.expect("Postgres store opens"));
    let projects = Arc::new(PostgresProjectRepository::new(repo.clone(), cipher()));
    Subject { repo, projects, raw: Raw::Postgres(db) }
}

#[cfg(feature = "postgres")]
async fn postgres() -> Option<Subject> {
    Some(postgres_subject(push_testkit::services::fresh_database().await?, 100).await)
}

/// The Postgres store through PgBouncer (transaction pooling), migrated on the direct URL first
/// as docs/scaling.md tells operators to.
#[cfg(feature = "postgres")]
async fn pgbouncer() -> Option<Subject> {
    use push_server::adapters::{
        pg_database::PgDatabase,
        store::postgres::{PostgresClientRepository, PostgresOptions},
    };
    let db = push_testkit::services::fresh_bouncer_database().await?;
    let options =
        PostgresOptions { max_connections: 8, min_connections: 2, timeout: TIMEOUT, statement_cache_capacity: 0 };
    let refused = PostgresClientRepository::connect(&db.url, &options).await.err();
    assert!(refused.is_some_and(|e| e.contains("push-server migrate")), "an unmigrated database is refused");
    PgDatabase::migrate(&db.direct_url, TIMEOUT).await.expect("migrations apply on the direct URL");
    Some(postgres_subject(db, 0).await)
}

/// Declares every case once per adapter: `sqlite::case`, `postgres::case`, `pgbouncer::case`.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let subject = super::sqlite().await.unwrap();
                    super::$case(&subject).await;
                    subject.finish().await;
                }
            )*
        }

        #[cfg(feature = "postgres")]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(subject) = super::postgres().await else { return };
                    super::$case(&subject).await;
                    subject.finish().await;
                }
            )*
        }

        #[cfg(feature = "postgres")]
        mod pgbouncer {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(subject) = super::pgbouncer().await else { return };
                    super::$case(&subject).await;
                    subject.finish().await;
                }
            )*
        }
    };
}

contract!(
    find_unknown_is_none,
    upsert_then_find,
    upsert_replaces_type_and_token,
    reregistering_the_same_device_changes_nothing,
    token_moves_to_the_newest_client,
    a_replaced_token_is_free_for_others,
    delete_is_idempotent,
    delete_if_token_spares_a_replaced_registration,
    unreadable_rows_are_reported_not_passed_on,
    concurrent_registrations_of_one_token_leave_one_owner,
    crossing_registrations_neither_fail_nor_share_a_token,
    concurrent_writes_to_one_client_settle_on_one_of_them,
    ids_and_tokens_are_scoped_to_their_project,
    the_longest_valid_tokens_register_and_move,
    always_raw_is_kept_and_replaced,
    a_client_is_stored_only_in_a_project_that_exists,
    registrations_racing_a_project_delete_leave_no_client_behind,
    a_project_never_has_a_revision_twice,
    a_suspension_is_recorded_only_for_the_revision_it_was_judged_on,
);

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_suite() {
    push_testkit::services::features_missing(&["postgres"]);
}

/// A client as the store keeps it (also what the client-cache tests store).
pub fn client(id: &str, push_type: PushType, token: &str) -> Client {
    Client {
        id: ClientId::parse(id).unwrap(),
        push_type,
        token: DeviceToken::parse(push_type, token).unwrap(),
        always_raw: false,
    }
}

fn id(s: &str) -> ClientId {
    ClientId::parse(s).unwrap()
}

async fn find_unknown_is_none(s: &Subject) {
    assert_eq!(s.repo.find(&id("nobody")).await, Ok(None));
}

async fn upsert_then_find(s: &Subject) {
    let c = client("c1", PushType::Apns, "00ff");
    s.repo.upsert(&c).await.unwrap();
    assert_eq!(s.repo.find(&c.id).await, Ok(Some(c)));
    // Ids are compared exactly.
    assert_eq!(s.repo.find(&id("C1")).await, Ok(None));
}

async fn always_raw_is_kept_and_replaced(s: &Subject) {
    let raw = Client { always_raw: true, ..client("c1", PushType::Noop, "noop-token") };
    s.repo.upsert(&raw).await.unwrap();
    assert_eq!(s.repo.find(&raw.id).await, Ok(Some(raw.clone())));
    // A registration replaces it like the type and token, also back to the default.
    let classic = client("c1", PushType::Noop, "noop-token");
    s.repo.upsert(&classic).await.unwrap();
    assert_eq!(s.repo.find(&classic.id).await, Ok(Some(classic)));
    s.repo.upsert(&raw).await.unwrap();
    assert_eq!(s.repo.find(&raw.id).await.unwrap().map(|c| c.always_raw), Some(true));
}

async fn upsert_replaces_type_and_token(s: &Subject) {
    s.repo.upsert(&client("c1", PushType::Apns, "00ff")).await.unwrap();
    let newer = client("c1", PushType::Fcm, "fcm-token");
    s.repo.upsert(&newer).await.unwrap();
    assert_eq!(s.repo.find(&newer.id).await, Ok(Some(newer)));
}

async fn reregistering_the_same_device_changes_nothing(s: &Subject) {
    let c = client("c1", PushType::ApnsSandbox, "abcd");
    for _ in 0..3 {
        s.repo.upsert(&c).await.unwrap();
    }
    assert_eq!(s.repo.find(&c.id).await, Ok(Some(c)));
}

async fn token_moves_to_the_newest_client(s: &Subject) {
    let old = client("old", PushType::Fcm, "shared");
    let new = client("new", PushType::Fcm, "shared");
    s.repo.upsert(&old).await.unwrap();
    s.repo.upsert(&new).await.unwrap();
    assert_eq!(s.repo.find(&old.id).await, Ok(None), "the old owner is removed");
    assert_eq!(s.repo.find(&new.id).await, Ok(Some(new)));
    // The rule is about the token text, whatever the type.
    let apns = client("apns", PushType::Apns, "beef");
    let fcm = client("fcm", PushType::Fcm, "beef");
    s.repo.upsert(&apns).await.unwrap();
    s.repo.upsert(&fcm).await.unwrap();
    assert_eq!(s.repo.find(&apns.id).await, Ok(None));
    assert_eq!(s.repo.find(&fcm.id).await, Ok(Some(fcm)));
}

async fn a_replaced_token_is_free_for_others(s: &Subject) {
    s.repo.upsert(&client("a", PushType::Fcm, "t1")).await.unwrap();
    let a = client("a", PushType::Fcm, "t2");
    s.repo.upsert(&a).await.unwrap();
    let b = client("b", PushType::Fcm, "t1");
    s.repo.upsert(&b).await.unwrap();
    assert_eq!(s.repo.find(&a.id).await, Ok(Some(a)), "a no longer holds t1, so it stays");
    assert_eq!(s.repo.find(&b.id).await, Ok(Some(b)));
}

async fn delete_is_idempotent(s: &Subject) {
    let c = client("c1", PushType::Fcm, "t");
    s.repo.upsert(&c).await.unwrap();
    assert_eq!(s.repo.delete(&c.id).await, Ok(true));
    assert_eq!(s.repo.find(&c.id).await, Ok(None));
    assert_eq!(s.repo.delete(&c.id).await, Ok(false));
    assert_eq!(s.repo.delete(&id("never-there")).await, Ok(false));
    // The token is free again.
    s.repo.upsert(&client("c2", PushType::Fcm, "t")).await.unwrap();
}

async fn delete_if_token_spares_a_replaced_registration(s: &Subject) {
    let dead = client("c1", PushType::Fcm, "dead");
    let fresh = client("c1", PushType::Fcm, "fresh");
    s.repo.upsert(&dead).await.unwrap();
    s.repo.upsert(&fresh).await.unwrap();
    assert_eq!(s.repo.delete_if_token(&dead).await, Ok(false), "re-registered meanwhile: kept");
    assert_eq!(s.repo.find(&fresh.id).await, Ok(Some(fresh.clone())));
    assert_eq!(s.repo.delete_if_token(&fresh).await, Ok(true));
    assert_eq!(s.repo.find(&fresh.id).await, Ok(None));
    assert_eq!(s.repo.delete_if_token(&fresh).await, Ok(false));
}

async fn unreadable_rows_are_reported_not_passed_on(s: &Subject) {
    s.execute("INSERT INTO clients (client_id, push_type, token) VALUES ('pigeon', 'carrier-pigeon', 'x')").await;
    s.execute("INSERT INTO clients (client_id, push_type, token) VALUES ('nothex', 'apns', 'zz')").await;
    s.execute("INSERT INTO clients (client_id, push_type, token) VALUES ('has space', 'fcm', 'y')").await;
    for bad in ["pigeon", "nothex"] {
        assert!(matches!(s.repo.find(&id(bad)).await, Err(StoreError::Corrupt(_))), "{bad}");
    }
    // A row whose id is itself invalid can never be asked for; it must not disturb the others.
    let good = client("good", PushType::Fcm, "z");
    s.repo.upsert(&good).await.unwrap();
    assert_eq!(s.repo.find(&good.id).await, Ok(Some(good)));
    // Unreadable rows can still be removed, and their tokens taken over.
    assert_eq!(s.repo.delete(&id("pigeon")).await, Ok(true));
    s.repo.upsert(&client("new-owner", PushType::Fcm, "zz")).await.unwrap();
    assert_eq!(s.repo.find(&id("nothex")).await, Ok(None));
}

async fn concurrent_registrations_of_one_token_leave_one_owner(s: &Subject) {
    const N: usize = 48;
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let repo = s.repo.clone();
            tokio::spawn(async move { repo.upsert(&client(&format!("c{i}"), PushType::Fcm, "contested")).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), Ok(true), "registration {i} failed");
    }
    let mut owners = Vec::new();
    for i in 0..N {
        if let Some(c) = s.repo.find(&id(&format!("c{i}"))).await.unwrap() {
            assert_eq!(c.token.expose(), "contested");
            owners.push(i);
        }
    }
    assert_eq!(owners.len(), 1, "owners: {owners:?}");
}

async fn crossing_registrations_neither_fail_nor_share_a_token(s: &Subject) {
    // a and b swap tokens at the same moment, many times over. Each transaction removes the row
    // the other is about to update, the classic recipe for a deadlock; whichever runs first,
    // both end up registered with their new token.
    for round in 0..20 {
        let (t1, t2) = (format!("t1-{round}"), format!("t2-{round}"));
        let a = format!("a{round}");
        let b = format!("b{round}");
        s.repo.upsert(&client(&a, PushType::Fcm, &t1)).await.unwrap();
        s.repo.upsert(&client(&b, PushType::Fcm, &t2)).await.unwrap();
        let (ra, rb) = (s.repo.clone(), s.repo.clone());
        let (a2, b2) = (client(&a, PushType::Fcm, &t2), client(&b, PushType::Fcm, &t1));
        let (x, y) = (a2.clone(), b2.clone());
        let (ya, yb) = tokio::join!(
            tokio::spawn(async move { ra.upsert(&x).await }),
            tokio::spawn(async move { rb.upsert(&y).await })
        );
        assert_eq!((ya.unwrap(), yb.unwrap()), (Ok(true), Ok(true)), "round {round}");
        // Whichever committed second removed nobody: the other had already let go of its token.
        assert_eq!(s.repo.find(&a2.id).await, Ok(Some(a2)), "round {round}");
        assert_eq!(s.repo.find(&b2.id).await, Ok(Some(b2)), "round {round}");
    }
}

async fn concurrent_writes_to_one_client_settle_on_one_of_them(s: &Subject) {
    const N: usize = 24;
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let repo = s.repo.clone();
            tokio::spawn(async move { repo.upsert(&client("one", PushType::Fcm, &format!("tok{i}"))).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(true));
    }
    let held = s.repo.find(&id("one")).await.unwrap().expect("registered");
    let i: usize = held.token.expose().trim_start_matches("tok").parse().unwrap();
    assert!(i < N);
}

/// The same client id in two projects is two clients; a token moves only within its project.
async fn ids_and_tokens_are_scoped_to_their_project(s: &Subject) {
    for p in ["pa", "pb"] {
        assert_eq!(s.projects.create(&ProjectId::parse(p).unwrap()).await, Ok(true));
    }
    let project = |p: &str| ProjectKey::Named(ProjectId::parse(p).unwrap());
    let in_project = |p: &str, c: Client| Client { id: c.id.in_project(project(p)), ..c };
    let a = in_project("pa", client("c1", PushType::Fcm, "shared-token"));
    let b = in_project("pb", client("c1", PushType::Fcm, "shared-token"));
    let default = client("c1", PushType::Fcm, "shared-token");
    for c in [&a, &b, &default] {
        s.repo.upsert(c).await.unwrap();
    }
    for c in [&a, &b, &default] {
        assert_eq!(s.repo.find(&c.id).await.unwrap().as_ref(), Some(c), "{:?}", c.id);
    }
    // The token moves to another client of project b only.
    let b2 = in_project("pb", client("c2", PushType::Fcm, "shared-token"));
    s.repo.upsert(&b2).await.unwrap();
    assert_eq!(s.repo.find(&b.id).await.unwrap(), None);
    assert_eq!(s.repo.find(&a.id).await.unwrap().as_ref(), Some(&a));
    assert_eq!(s.repo.find(&default.id).await.unwrap().as_ref(), Some(&default));
    // Deleting in one project leaves the others.
    assert!(s.repo.delete(&a.id).await.unwrap());
    assert_eq!(s.repo.find(&default.id).await.unwrap().as_ref(), Some(&default));
}

async fn the_longest_valid_tokens_register_and_move(s: &Subject) {
    // 4,096 bytes is the most the contract accepts; a B-tree entry on the token itself would
    // refuse anything over about 2,700.
    let fcm = "f".repeat(4096);
    let apns = "ab".repeat(2048);
    let first = client("long-a", PushType::Fcm, &fcm);
    s.repo.upsert(&first).await.unwrap();
    assert_eq!(s.repo.find(&first.id).await, Ok(Some(first.clone())));
    let mover = client("long-b", PushType::Fcm, &fcm);
    s.repo.upsert(&mover).await.unwrap();
    assert_eq!(s.repo.find(&first.id).await, Ok(None), "the token moved");
    assert_eq!(s.repo.find(&mover.id).await, Ok(Some(mover.clone())));
    // Tokens that differ only in their last byte are two tokens.
    let sibling = client("long-c", PushType::Fcm, &format!("{}g", &fcm[..4095]));
    s.repo.upsert(&sibling).await.unwrap();
    assert_eq!(s.repo.find(&mover.id).await, Ok(Some(mover.clone())));
    let hex = client("long-apns", PushType::Apns, &apns);
    s.repo.upsert(&hex).await.unwrap();
    assert_eq!(s.repo.find(&hex.id).await, Ok(Some(hex.clone())));
    assert_eq!(s.repo.delete_if_token(&mover).await, Ok(true));
    // Concurrent moves of one long token still leave one owner.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (repo, token) = (s.repo.clone(), apns.clone());
            tokio::spawn(async move { repo.upsert(&client(&format!("long-{i}"), PushType::Apns, &token)).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(true));
    }
    let mut owners = 0;
    for i in 0..16 {
        owners += usize::from(s.repo.find(&id(&format!("long-{i}"))).await.unwrap().is_some());
    }
    assert_eq!(owners, 1);
    assert_eq!(s.repo.find(&hex.id).await, Ok(None));
}

fn in_project(project: &ProjectId, c: Client) -> Client {
    Client { id: c.id.in_project(ProjectKey::Named(project.clone())), ..c }
}

fn project_id(s: &str) -> ProjectId {
    ProjectId::parse(s).unwrap()
}

fn service_account(n: u32) -> FcmCredentials {
    let json = Secret::new(format!("{{\"n\": {n}}}"));
    FcmCredentials { project_id: format!("fcm-{n}"), client_email: "e@example.com".into(), service_account: json }
}

async fn a_client_is_stored_only_in_a_project_that_exists(s: &Subject) {
    let p = project_id("px");
    let c = in_project(&p, client("c1", PushType::Fcm, "t1"));
    assert_eq!(s.repo.upsert(&c).await, Ok(false), "no such project");
    assert_eq!(s.repo.find(&c.id).await, Ok(None));
    assert_eq!(s.projects.create(&p).await, Ok(true));
    assert_eq!(s.repo.upsert(&c).await, Ok(true));
    assert_eq!(s.repo.find(&c.id).await, Ok(Some(c.clone())));
    // Its clients go with the project (also out of the SQLite store's cache, which held c).
    assert_eq!(s.projects.delete(&p).await, Ok(true));
    assert_eq!(s.repo.find(&c.id).await, Ok(None));
    assert_eq!(s.repo.upsert(&c).await, Ok(false), "the project is gone");
    // Created again, it is empty.
    assert_eq!(s.projects.create(&p).await, Ok(true));
    assert_eq!(s.projects.count_clients(&p).await, Ok(0));
    assert_eq!(s.repo.find(&c.id).await, Ok(None));
    // The default project always exists, and is no project an operator made.
    assert_eq!(s.repo.upsert(&client("c1", PushType::Fcm, "t1")).await, Ok(true));
    assert_eq!(s.projects.list(None, 10).await, Ok(vec![p]));
    assert_eq!(s.projects.census().await.map(|c| c.projects), Ok(1));
}

/// Registrations that race the delete of their project: each is either stored before the delete
/// (and goes with the project) or refused; none is left behind for the project created again.
async fn registrations_racing_a_project_delete_leave_no_client_behind(s: &Subject) {
    const CLIENTS: usize = 12;
    for round in 0..8 {
        let p = project_id(&format!("race-{round}"));
        assert_eq!(s.projects.create(&p).await, Ok(true));
        let registrations: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let (repo, c) =
                    (s.repo.clone(), in_project(&p, client(&format!("c{i}"), PushType::Fcm, &format!("t{i}"))));
                tokio::spawn(async move { repo.upsert(&c).await })
            })
            .collect();
        let (projects, gone) = (s.projects.clone(), p.clone());
        let delete = tokio::spawn(async move { projects.delete(&gone).await });
        for r in registrations {
            assert!(r.await.unwrap().is_ok(), "round {round}");
        }
        assert_eq!(delete.await.unwrap(), Ok(true), "round {round}");
        assert_eq!(s.projects.create(&p).await, Ok(true));
        assert_eq!(s.projects.count_clients(&p).await, Ok(0), "round {round}");
        for i in 0..CLIENTS {
            let c = in_project(&p, client(&format!("c{i}"), PushType::Fcm, &format!("t{i}")));
            assert_eq!(s.repo.find(&c.id).await, Ok(None), "round {round}, c{i}");
        }
    }
}

/// A revision tells instances that credentials changed and suspensions which credentials they
/// are about: a project never has one twice, not even across a delete and a create.
async fn a_project_never_has_a_revision_twice(s: &Subject) {
    let p = project_id("revisions");
    let mut seen = std::collections::HashSet::new();
    let revision = async || s.projects.get(&p).await.unwrap().expect("the project exists").revision;
    for round in 0..3 {
        assert_eq!(s.projects.create(&p).await, Ok(true));
        assert!(seen.insert(revision().await), "round {round}: created");
        assert_eq!(s.projects.set_fcm(&p, Some(service_account(round))).await, Ok(true));
        assert!(seen.insert(revision().await), "round {round}: uploaded");
        assert_eq!(s.projects.set_fcm(&p, None).await, Ok(true));
        assert!(seen.insert(revision().await), "round {round}: removed");
        assert_eq!(s.projects.delete(&p).await, Ok(true));
    }
}

async fn a_suspension_is_recorded_only_for_the_revision_it_was_judged_on(s: &Subject) {
    let p = project_id("suspended");
    let suspension = Suspension { reason: "invalid_grant".into(), since: 1_800_000_000 };
    let fcm_suspended = async || s.projects.get(&p).await.unwrap().unwrap().fcm_suspended;
    assert_eq!(s.projects.create(&p).await, Ok(true));
    assert_eq!(s.projects.set_fcm(&p, Some(service_account(1))).await, Ok(true));
    let first = s.projects.get(&p).await.unwrap().unwrap().revision;
    assert_eq!(s.projects.set_suspension(&p, ProviderKind::Fcm, first, Some(suspension.clone())).await, Ok(true));
    assert_eq!(fcm_suspended().await, Some(suspension.clone()));

    // New credentials lift it; a refusal of the old ones, arriving late, is not recorded.
    assert_eq!(s.projects.set_fcm(&p, Some(service_account(2))).await, Ok(true));
    let second = s.projects.get(&p).await.unwrap().unwrap().revision;
    assert_eq!(fcm_suspended().await, None);
    assert_eq!(s.projects.set_suspension(&p, ProviderKind::Fcm, first, Some(suspension.clone())).await, Ok(false));
    assert_eq!(fcm_suspended().await, None);
    // Nor is a lift judged on the old ones.
    assert_eq!(s.projects.set_suspension(&p, ProviderKind::Fcm, second, Some(suspension.clone())).await, Ok(true));
    assert_eq!(s.projects.set_suspension(&p, ProviderKind::Fcm, first, None).await, Ok(false));
    assert_eq!(fcm_suspended().await, Some(suspension.clone()));
    assert_eq!(s.projects.set_suspension(&p, ProviderKind::Fcm, second, None).await, Ok(true));
    assert_eq!(fcm_suspended().await, None);
    let gone = project_id("never-made");
    assert_eq!(s.projects.set_suspension(&gone, ProviderKind::Fcm, second, Some(suspension)).await, Ok(false));
}

/// Migration 0002 moves token uniqueness to a hash without losing the clients already stored.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_token_hash_migration_keeps_existing_clients() {
    use push_server::adapters::store::postgres::{PostgresClientRepository, PostgresOptions};
    use sqlx::Connection;
    let Some(db) = push_testkit::services::fresh_database().await else { return };
    // The schema as the first release left it, with a client in it.
    let first = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres/0001_clients.sql");
    std::fs::copy(root, first.path().join("0001_clients.sql")).unwrap();
    let mut conn = sqlx::PgConnection::connect(&db.direct_url).await.unwrap();
    sqlx::migrate::Migrator::new(first.path()).await.unwrap().run(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    db.execute("INSERT INTO clients (client_id, push_type, token) VALUES ('kept', 'fcm', 'old-token')").await;

    let options =
        PostgresOptions { max_connections: 4, min_connections: 2, timeout: TIMEOUT, statement_cache_capacity: 100 };
    let repo = PostgresClientRepository::connect(&db.url, &options).await.expect("migrates to the latest schema");
    let kept = client("kept", PushType::Fcm, "old-token");
    assert_eq!(repo.find(&kept.id).await, Ok(Some(kept.clone())));
    // Its token is found by the new index: registering it elsewhere moves it.
    repo.upsert(&client("taker", PushType::Fcm, "old-token")).await.unwrap();
    assert_eq!(repo.find(&kept.id).await, Ok(None));
    drop(repo);
    db.drop_database().await;
}

/// What a database holds before migrations 0011 and 0012: a project at revision 5, and clients in
/// the default project, in that project, and in a project deleted while another instance still
/// registered into it (the race that 0012 closes left such rows behind).
const BEFORE_0011: &str = "INSERT INTO projects (id, revision) VALUES ('kept', 5);
    INSERT INTO clients (project, client_id, push_type, token) VALUES
        ('', 'd1', 'fcm', 'td'), ('kept', 'k1', 'fcm', 'tk'), ('gone', 'g1', 'fcm', 'tg');";

/// After the migrations: the clients of existing projects stay, the orphan goes, and revisions
/// continue above the highest one stored.
async fn migrated_from_before_0011(s: &Subject) {
    let (kept, gone) = (project_id("kept"), project_id("gone"));
    let in_default = client("d1", PushType::Fcm, "td");
    assert_eq!(s.repo.find(&in_default.id).await, Ok(Some(in_default)));
    let in_kept = in_project(&kept, client("k1", PushType::Fcm, "tk"));
    assert_eq!(s.repo.find(&in_kept.id).await, Ok(Some(in_kept)));
    let orphan = in_project(&gone, client("g1", PushType::Fcm, "tg"));
    assert_eq!(s.repo.find(&orphan.id).await, Ok(None), "the orphan is gone");
    assert_eq!(s.projects.create(&gone).await, Ok(true));
    assert_eq!(s.projects.count_clients(&gone).await, Ok(0));
    assert_eq!(s.repo.find(&orphan.id).await, Ok(None));
    assert_eq!(s.projects.get(&kept).await.unwrap().unwrap().revision, 5);
    assert!(s.projects.get(&gone).await.unwrap().unwrap().revision > 5, "revisions continue above the stored ones");
    assert_eq!(s.projects.census().await.map(|c| c.projects), Ok(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migration_drops_orphan_clients_and_continues_revisions() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("clients.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc")).await.unwrap();
    sqlx::migrate!("./migrations/sqlite").run_to(10, &mut conn).await.unwrap();
    sqlx::raw_sql(BEFORE_0011).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let options = SqliteOptions { max_readers: 4, timeout: TIMEOUT, synchronous_full: false };
    let repo = Arc::new(SqliteClientRepository::connect(&url, &options).await.expect("migrates to the latest schema"));
    let projects = Arc::new(SqliteProjectRepository::new(repo.clone(), cipher()));
    let subject = Subject { repo, projects, raw: Raw::Sqlite { url, _dir: dir } };
    migrated_from_before_0011(&subject).await;
    subject.finish().await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migration_drops_orphan_clients_and_continues_revisions() {
    use sqlx::Connection;
    let Some(db) = push_testkit::services::fresh_database().await else { return };
    let mut conn = sqlx::PgConnection::connect(&db.direct_url).await.unwrap();
    sqlx::migrate!("./migrations/postgres").run_to(10, &mut conn).await.unwrap();
    sqlx::raw_sql(BEFORE_0011).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let subject = postgres_subject(db, 100).await;
    migrated_from_before_0011(&subject).await;
    subject.finish().await;
}
