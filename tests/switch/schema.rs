//! push-server's tables in a schema of their own: it starts on the very database their server
//! migrated, directly and behind PgBouncer, without touching their tables; a database where an
//! earlier push-server put its tables in `public` keeps them there.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

use push_server::{
    adapters::pg_database::{PgDatabase, PostgresOptions, SchemaName, SchemaSource},
    cli::settings::Settings,
};
use push_testkit::{TestApp, encrypted, services::fresh_bouncer_database, spawn_settings, test_settings};

use crate::their_database::{fingerprint, their_database, their_sql};

const TOKEN: &str = "ab00000000000000000000000000000000000000000000000000000000000001";
const OPTIONS: PostgresOptions = PostgresOptions {
    max_connections: 2,
    timeout: Duration::from_secs(10),
    statement_cache_capacity: 100,
    min_connections: 1,
};

async fn serve(database_url: &str, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(&dir);
    s.database_url = database_url.to_owned();
    adjust(&mut s);
    spawn_settings(s, dir).await
}

/// Registers, sends and checks the delivery: the store works.
async fn serves(app: &TestApp, client: &str, id: &str) {
    let r = app.register(client, "apns", TOKEN).await;
    assert!(r.is_ok_envelope(), "{} {}", r.status, r.text);
    let r = app.send(client, &encrypted(id)).await;
    assert!(r.is_ok_envelope(), "{} {}", r.status, r.text);
    assert!(app.deliveries().iter().any(|d| d.to_string().contains(id)), "{:?}", app.deliveries());
}

async fn relation_exists(url: &str, name: &str) -> bool {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let found: Option<String> =
        sqlx::query_scalar("SELECT to_regclass($1)::text").bind(name).fetch_one(&mut conn).await.unwrap();
    conn.close().await.ok();
    found.is_some()
}

#[tokio::test]
async fn starts_on_their_database_beside_their_tables_and_leaves_them_alone() {
    let Some(db) = their_database().await else { return };
    their_sql(
        &db,
        "INSERT INTO public.clients (id, tenant_id, push_type, device_token) VALUES ('theirs', '0000-0000-0000-0000', 'fcm', 't1');
         INSERT INTO public.notifications (id, client_id, tenant_id) VALUES ('n1', 'theirs', '0000-0000-0000-0000');",
    )
    .await;
    let before = fingerprint(&db).await;

    let app = serve(&db.direct_url, |_| {}).await;
    serves(&app, "ours", "n-ours").await;
    app.stop().await;
    // A restart finds its history where it left it.
    let app = serve(&db.direct_url, |_| {}).await;
    let r = app.send("ours", &encrypted("n-again")).await;
    assert!(r.is_ok_envelope(), "{} {}", r.status, r.text);
    app.stop().await;

    assert!(relation_exists(&db.direct_url, "push_server.clients").await);
    assert!(relation_exists(&db.direct_url, "push_server._sqlx_migrations").await);
    assert_eq!(fingerprint(&db).await, before, "their tables, rows, types and migration history are unchanged");
    db.drop_database().await;
}

#[tokio::test]
async fn behind_pgbouncer_every_transaction_reaches_our_schema() {
    let Some(db) = their_database().await else { return };
    let before = fingerprint(&db).await;
    // Behind PgBouncer the server does not migrate: `push-server migrate` on the direct URL does.
    PgDatabase::migrate(&db.direct_url, Duration::from_secs(30)).await.expect("migrates on the direct URL");
    let app = serve(&db.url, |s| s.store.statement_cache = 0).await;
    serves(&app, "pooled", "n-pooled").await;
    app.stop().await;
    assert!(relation_exists(&db.direct_url, "push_server.clients").await);
    assert_eq!(fingerprint(&db).await, before);
    db.drop_database().await;
}

#[tokio::test]
async fn an_earlier_push_server_in_public_is_detected_and_kept_there() {
    let Some(db) = fresh_bouncer_database().await else { return };
    // An earlier push-server: its tables and history in `public`.
    let public = SchemaName::parse("public").unwrap();
    let earlier = PgDatabase::connect_in(&db.direct_url, &OPTIONS, Some(&public)).await.unwrap();
    earlier.close().await;
    let app = serve(&db.direct_url, |_| {}).await;
    serves(&app, "kept", "n-kept").await;
    app.stop().await;

    let again = PgDatabase::connect(&db.direct_url, &OPTIONS).await.unwrap();
    assert_eq!(again.schema(), (&public, SchemaSource::Legacy));
    again.close().await;
    assert!(relation_exists(&db.direct_url, "public.clients").await);
    assert!(!relation_exists(&db.direct_url, "push_server._sqlx_migrations").await, "nothing was created beside");
    db.drop_database().await;
}

#[tokio::test]
async fn database_schema_names_the_schema() {
    let Some(db) = their_database().await else { return };
    let app = serve(&db.direct_url, |s| s.store.schema = Some("wallet_push".into())).await;
    serves(&app, "named", "n-named").await;
    app.stop().await;
    assert!(relation_exists(&db.direct_url, "wallet_push.clients").await);
    assert!(!relation_exists(&db.direct_url, "push_server.clients").await);
    db.drop_database().await;
}
