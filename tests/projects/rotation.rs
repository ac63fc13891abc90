//! Key rotation: with `CREDENTIALS_KEY=new,old` everything still opens; `rotate-credentials`
//! re-encrypts under the new key, after which the old key can go.

use push_server::{
    cli::{rotate_credentials::rotate, settings::Settings},
    domain::Secret,
};
use rcgen::KeyPair;
use serde_json::json;

use push_testkit::{binary::text, spawn_settings, test_settings};

use crate::{
    SERVER,
    harness::{CREDENTIALS_KEY, admin, create, projects_on, show, spawn_projects},
};

const NEW_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

#[tokio::test]
async fn rotate_credentials_re_encrypts_under_the_first_key() {
    let app = spawn_projects(|_| {}).await;
    create(&app, "w").await;
    let body = json!({"topic": "com.example", "key_id": "KEYROTATE1", "team_id": "TEAMROTAT1", "key": KeyPair::generate().unwrap().serialize_pem()});
    assert!(admin(&app, "PUT", "/admin/projects/w/apns", Some(body)).await.is_ok_envelope());
    let mut settings = app.settings.clone();
    let dir = app.stop().await;

    // New key first, old key still listed: the stored credentials open; rotation re-seals them.
    settings.projects.credentials_key = Some(Secret::new(format!("{NEW_KEY},{CREDENTIALS_KEY}")));
    assert_eq!(rotate(&settings).await.unwrap(), 1);
    assert_eq!(rotate(&settings).await.unwrap(), 0, "nothing left under the old key");

    // The old key gone: everything still opens.
    settings.projects.credentials_key = Some(Secret::new(NEW_KEY.to_owned()));
    let app = spawn_settings(settings.clone(), dir).await;
    assert_eq!(show(&app, "w").await["apns"]["key_id"], "KEYROTATE1");
    let dir = app.stop().await;

    // Under a key that never sealed them, the credentials do not open (and are not served).
    settings.projects.credentials_key = Some(Secret::new(CREDENTIALS_KEY.to_owned()));
    let app = spawn_settings(settings, dir).await;
    let r = admin(&app, "GET", "/admin/projects/w", None).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(!r.text.contains("KEYROTATE1"));
}

/// Where the race below runs: the database the server and the command share, reached past them
/// to read a sealed value and to plant the trigger that lands the upload.
enum Database {
    Sqlite(String),
    #[cfg(feature = "postgres")]
    Postgres(String),
}

impl Database {
    async fn execute(&self, sql: String) {
        use sqlx::{AssertSqlSafe, Connection};
        match self {
            Database::Sqlite(url) => {
                let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
            #[cfg(feature = "postgres")]
            Database::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }

    /// Project `id`'s sealed APNS credentials and revision, as stored.
    async fn row(&self, id: &str) -> (String, i64) {
        use sqlx::Connection;
        const ROW: &str = "SELECT apns_credentials, revision FROM projects WHERE id = $1";
        match self {
            Database::Sqlite(url) => {
                let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
                sqlx::query_as(ROW).bind(id).fetch_one(&mut conn).await.unwrap()
            }
            #[cfg(feature = "postgres")]
            Database::Postgres(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_as(ROW).bind(id).fetch_one(&mut conn).await.unwrap()
            }
        }
    }

    /// A trigger that, when project `a` is written (the rotation re-seals `a` before `p`, after
    /// it has read every row), stores `sealed` as `p`'s APNS credentials with the statement an
    /// upload runs: an upload landing exactly between the rotation's read of `p` and its write.
    async fn land_upload_after_a(&self, sealed: &str) {
        assert!(!sealed.contains('\''), "sealed values are base64");
        let upload = format!(
            "UPDATE projects SET apns_credentials = '{sealed}', apns_suspended_reason = NULL, \
             apns_suspended_since = NULL, revision = revision + 1 WHERE id = 'p'"
        );
        let trigger = match self {
            Database::Sqlite(_) => format!(
                "CREATE TRIGGER upload_mid_rotation AFTER UPDATE ON projects WHEN NEW.id = 'a' BEGIN {upload}; END"
            ),
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => format!(
                "CREATE FUNCTION upload_mid_rotation() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {upload}; \
                 RETURN NULL; END $$; CREATE TRIGGER upload_mid_rotation AFTER UPDATE ON projects FOR EACH ROW \
                 WHEN (NEW.id = 'a') EXECUTE FUNCTION upload_mid_rotation();"
            ),
        };
        self.execute(trigger).await;
    }

    async fn drop_trigger(&self) {
        let sql = match self {
            Database::Sqlite(_) => "DROP TRIGGER upload_mid_rotation",
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => "DROP TRIGGER upload_mid_rotation ON projects",
        };
        self.execute(sql.to_owned()).await;
    }
}

fn apns_key(key_id: &str) -> serde_json::Value {
    json!({"topic": "com.example", "key_id": key_id, "team_id": "TEAMROTAT1", "key": KeyPair::generate().unwrap().serialize_pem()})
}

/// Issue 21, defect 2: an upload that lands while `rotate-credentials` (the real command) runs,
/// between its read of the project and its write, is kept: the command re-seals the uploaded
/// credentials instead of writing back the ones it read (before the fix the revoked key came
/// back), and every value it re-seals gets a new revision, so that running instances rebuild.
async fn an_upload_during_rotation_is_kept(database: Database, mut settings: Settings, dir: tempfile::TempDir) {
    projects_on(&mut settings);
    let app = spawn_settings(settings.clone(), dir).await;
    create(&app, "a").await;
    create(&app, "p").await;
    assert!(admin(&app, "PUT", "/admin/projects/a/apns", Some(apns_key("KEYOFA0001"))).await.is_ok_envelope());
    // The replacement key is sealed by the server as an upload would; the key it replaces is then
    // what the rotation reads.
    assert!(admin(&app, "PUT", "/admin/projects/p/apns", Some(apns_key("KEYNEW0002"))).await.is_ok_envelope());
    let (replacement, _) = database.row("p").await;
    assert!(admin(&app, "PUT", "/admin/projects/p/apns", Some(apns_key("KEYOLD0001"))).await.is_ok_envelope());
    let dir = app.stop().await;
    let (_, revision_of_a) = database.row("a").await;

    database.land_upload_after_a(&replacement).await;
    let out = SERVER.run(
        dir.path(),
        &["rotate-credentials"],
        &[("DATABASE_URL", &settings.database_url), ("CREDENTIALS_KEY", &format!("{NEW_KEY},{CREDENTIALS_KEY}"))],
    );
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    database.drop_trigger().await;
    let (_, revision_after) = database.row("a").await;

    // Under the new key alone: p holds the uploaded key, re-sealed; a is re-sealed too.
    settings.projects.credentials_key = Some(Secret::new(NEW_KEY.to_owned()));
    let app = spawn_settings(settings, dir).await;
    assert_eq!(show(&app, "p").await["apns"]["key_id"], "KEYNEW0002", "the upload survived the rotation");
    assert_eq!(show(&app, "a").await["apns"]["key_id"], "KEYOFA0001");
    app.stop().await;
    assert_ne!(revision_after, revision_of_a, "a re-sealed value has a new revision");
}

#[tokio::test]
async fn an_upload_during_rotation_is_kept_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(&dir);
    an_upload_during_rotation_is_kept(Database::Sqlite(settings.database_url.clone()), settings, dir).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn an_upload_during_rotation_is_kept_on_postgres() {
    let Some(db) = push_testkit::services::fresh_database().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&dir);
    settings.database_url = db.url.clone();
    an_upload_during_rotation_is_kept(Database::Postgres(db.url.clone()), settings, dir).await;
    db.drop_database().await;
}
