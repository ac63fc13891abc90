//! CORS for browser wallets: with `CORS_ALLOWED_ORIGINS`, pages of those origins may register,
//! unregister and read the VAPID key (preflights answered, answers carrying the origin, errors
//! too); the Relay's send and the admin API never answer a browser, whatever the origin; without
//! the setting, no CORS header at all.

use push_testkit::{TestApp, spawn_with};
use reqwest::Method;
use serde_json::json;

const PAGE: &str = "https://wallet.example";

async fn with_origins(origins: &[&str]) -> TestApp {
    let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
    spawn_with(|s| s.http.cors_allowed_origins = origins).await
}

/// A preflight for `method` on `path` from `origin`: its status and `Access-Control-Allow-*`.
async fn preflight(app: &TestApp, origin: &str, method: &str, path: &str) -> (u16, Option<String>, Option<String>) {
    let r = app
        .http
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", "content-type, authorization")
        .send()
        .await
        .unwrap();
    let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), header("access-control-allow-origin"), header("access-control-allow-methods"))
}

/// A request from a page of `origin`: its status and `Access-Control-Allow-Origin`.
async fn from_page(
    app: &TestApp,
    origin: &str,
    method: Method,
    path: &str,
    body: Option<String>,
) -> (u16, Option<String>) {
    let mut req = app.http.request(method, app.url(path)).header("origin", origin);
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body);
    }
    let r = req.send().await.unwrap();
    let allowed = r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), allowed)
}

fn registration(client: &str) -> String {
    json!({"client_id": client, "type": "fcm", "token": "device-token-1"}).to_string()
}

#[tokio::test]
async fn allowed_pages_may_call_the_wallet_and_key_routes_with_preflights_answered() {
    let app = with_origins(&[PAGE]).await;
    for (method, path) in [
        ("POST", "/clients"),
        ("DELETE", "/clients/c1"),
        ("GET", "/webpush/vapid-public-key"),
        ("POST", "/w1/clients"),
        ("DELETE", "/w1/clients/c1"),
        ("GET", "/w1/webpush/vapid-public-key"),
    ] {
        let (status, origin, methods) = preflight(&app, PAGE, method, path).await;
        assert_eq!((status, origin.as_deref(), methods.as_deref()), (204, Some(PAGE), Some(method)), "{method} {path}");
    }
    assert_eq!(
        from_page(&app, PAGE, Method::POST, "/clients", Some(registration("c1"))).await,
        (200, Some(PAGE.into()))
    );
    // A refusal carries it too, so the page can read why.
    let refused = from_page(&app, PAGE, Method::POST, "/clients", Some("{}".into())).await;
    assert_eq!(refused, (400, Some(PAGE.into())));
    assert_eq!(from_page(&app, PAGE, Method::DELETE, "/clients/c1", None).await, (200, Some(PAGE.into())));
    // No Web Push key on this server: a 404 the page can read.
    assert_eq!(from_page(&app, PAGE, Method::GET, "/webpush/vapid-public-key", None).await, (404, Some(PAGE.into())));
}

#[tokio::test]
async fn the_relays_send_and_the_admin_api_never_answer_a_browser() {
    let app = with_origins(&["*"]).await;
    for (method, path) in [
        ("POST", "/clients/c1"),
        ("POST", "/w1/clients/c1"),
        ("PUT", "/admin/projects/w1"),
        ("GET", "/admin/projects"),
        ("DELETE", "/admin/projects/w1/webpush"),
        ("GET", "/metrics"),
    ] {
        let (_, origin, methods) = preflight(&app, PAGE, method, path).await;
        assert_eq!((origin, methods), (None, None), "{method} {path}");
    }
    let body = json!({"id": "n1", "payload": {"topic": "t", "flags": 0, "blob": "x"}}).to_string();
    assert_eq!(from_page(&app, PAGE, Method::POST, "/clients/c1", Some(body)).await.1, None);
    assert_eq!(from_page(&app, PAGE, Method::GET, "/admin/projects", None).await.1, None);
    // `*` lets any page call the wallet routes.
    let (status, origin, _) = preflight(&app, "https://any.example", "POST", "/clients").await;
    assert_eq!((status, origin.as_deref()), (204, Some("*")));
}

#[tokio::test]
async fn other_origins_and_servers_without_the_setting_get_no_cors_headers() {
    let app = with_origins(&[PAGE]).await;
    let (_, origin, _) = preflight(&app, "https://evil.example", "POST", "/clients").await;
    assert_eq!(origin, None);
    assert_eq!(
        from_page(&app, "https://evil.example", Method::POST, "/clients", Some(registration("c1"))).await.1,
        None
    );
    let off = spawn_with(|_| {}).await;
    let (_, origin, _) = preflight(&off, PAGE, "POST", "/clients").await;
    assert_eq!(origin, None);
    assert_eq!(from_page(&off, PAGE, Method::POST, "/clients", Some(registration("c2"))).await, (200, None));
}
