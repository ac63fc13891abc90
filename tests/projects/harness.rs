//! What every project test needs: a server with the admin API on, and requests to the admin API
//! and to the project routes.

use push_server::{cli::settings::Settings, domain::Secret};
use serde_json::{Value, json};

use push_testkit::{Reply, SignedRequest, TestApp, spawn_with};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const CREDENTIALS_KEY: &str = "8f1c2d3e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3";

pub fn projects_on(s: &mut Settings) {
    s.projects.admin_token = Some(Secret::new(ADMIN_TOKEN.to_owned()));
    s.projects.credentials_key = Some(Secret::new(CREDENTIALS_KEY.to_owned()));
}

pub async fn spawn_projects(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_with(|s| {
        projects_on(s);
        adjust(s);
    })
    .await
}

/// An admin request with the right token; `body` as JSON when given.
pub async fn admin(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Reply {
    admin_as(app, Some(ADMIN_TOKEN), method, path, body).await
}

pub async fn admin_as(app: &TestApp, token: Option<&str>, method: &str, path: &str, body: Option<Value>) -> Reply {
    let mut req = app.http.request(method.parse().unwrap(), app.url(path));
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body.to_string());
    }
    TestApp::reply(req.send().await.expect("request")).await
}

pub async fn create(app: &TestApp, project: &str) {
    let r = admin(app, "PUT", &format!("/admin/projects/{project}"), Some(json!({}))).await;
    assert!(r.is_ok_envelope(), "create {project}: {} {}", r.status, r.text);
}

pub async fn register_in(app: &TestApp, project: &str, client_id: &str, push_type: &str, token: &str) -> Reply {
    register_body_in(app, project, json!({"client_id": client_id, "type": push_type, "token": token})).await
}

/// A registration in `project` with `body` as it is (a Web Push subscription object, say).
pub async fn register_body_in(app: &TestApp, project: &str, body: Value) -> Reply {
    let body = body.to_string();
    let r = app
        .http
        .post(app.url(&format!("/{project}/clients")))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    TestApp::reply(r).await
}

pub async fn unregister_in(app: &TestApp, project: &str, client_id: &str) -> Reply {
    let r = app.http.delete(app.url(&format!("/{project}/clients/{client_id}"))).send().await.expect("request");
    TestApp::reply(r).await
}

/// A signed send to a client of `project`.
pub async fn send_in(app: &TestApp, project: &str, client_id: &str, body: &str) -> Reply {
    let r = app
        .http
        .post(app.url(&format!("/{project}/clients/{client_id}")))
        .header("content-type", "application/json")
        .signed_body(&app.relay, body)
        .send()
        .await
        .expect("request");
    TestApp::reply(r).await
}

pub async fn show(app: &TestApp, project: &str) -> Value {
    let r = admin(app, "GET", &format!("/admin/projects/{project}"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["project"].clone()
}
