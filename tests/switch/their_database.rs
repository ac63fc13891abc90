//! A database as WalletConnect's push server leaves it: their migrations applied by sqlx (their
//! history in `public._sqlx_migrations`), their rows, and a fingerprint of everything of theirs
//! to show that push-server changed none of it.

use std::path::Path;

use sqlx::{Connection, PgConnection, migrate::Migrator};

use push_testkit::services::{TestDatabase, fresh_bouncer_database};

/// A fresh database (their migrations write to `public`, so a schema of its own is not enough)
/// with their migrations applied; `None` without the test services.
pub async fn their_database() -> Option<TestDatabase> {
    let db = fresh_bouncer_database().await?;
    let mut conn = PgConnection::connect(&db.direct_url).await.expect("connect");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/switch/fixtures/walletconnect");
    Migrator::new(fixtures.join("migrations")).await.unwrap().run(&mut conn).await.expect("their migrations");
    // Their single-tenant set-up runs the tenant migrations on the same database too.
    let mut tenants = Migrator::new(fixtures.join("tenant_migrations")).await.unwrap();
    tenants.set_ignore_missing(true).run(&mut conn).await.expect("their tenant migrations");
    conn.close().await.ok();
    Some(db)
}

/// Runs statements on their database, as their server would.
pub async fn their_sql(db: &TestDatabase, sql: &str) {
    let mut conn = PgConnection::connect(&db.direct_url).await.expect("connect");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await.expect("their statements run");
    conn.close().await.ok();
}

/// Everything of theirs in `public` (tables, with every row, and types) as one text: equal
/// before and after means untouched.
pub async fn fingerprint(db: &TestDatabase) -> String {
    let mut conn = PgConnection::connect(&db.direct_url).await.expect("connect");
    let mut out = String::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(tables.contains(&"clients".to_owned()) && tables.contains(&"tenants".to_owned()), "{tables:?}");
    for table in tables {
        let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM public.{table} t"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        out.push_str(&format!("== {table}\n{rows}\n"));
    }
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT t.typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = 'public' AND t.typtype = 'e' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    out.push_str(&format!("== types {types:?}\n"));
    conn.close().await.ok();
    out
}
