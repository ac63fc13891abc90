//! Upgrading a database from before projects: every client moves into the default project
//! without loss and keeps being served on the default routes.

use sqlx::{Connection, SqliteConnection};

use push_testkit::{encrypted, spawn_settings, test_settings};

#[tokio::test]
async fn sqlite_clients_from_before_projects_move_into_the_default_project() {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(&dir);
    let url = format!("{}?mode=rwc", settings.database_url);
    let mut conn = SqliteConnection::connect(&url).await.unwrap();
    sqlx::migrate!("./migrations/sqlite").run_to(1, &mut conn).await.unwrap();
    for (id, t, token) in [("old-1", "fcm", "tok-1"), ("old-2", "apns", "00ff"), ("old-3", "apns-sandbox", "ab12")] {
        sqlx::query("INSERT INTO clients (client_id, push_type, token) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(t)
            .bind(token)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();

    let app = spawn_settings(settings, dir).await;
    for (n, id) in ["old-1", "old-2", "old-3"].iter().enumerate() {
        let r = app.send(id, &encrypted(&format!("n{n}"))).await;
        assert!(r.is_ok_envelope(), "{id}: {}", r.text);
    }
    assert_eq!(app.deliveries().len(), 3);
    // And the upgraded table enforces the new rules: a token is unique per project.
    assert!(app.register("new-1", "fcm", "tok-1").await.is_ok_envelope());
    assert_eq!(app.send("old-1", &encrypted("x")).await.status, 404, "the token moved to new-1");
}
