//! The admin API itself: who may call it, projects' life cycle, ids, and the project routes'
//! answers for projects that do not exist.

use serde_json::json;

use push_testkit::{Reply, TestApp, encrypted, spawn_app, spawn_with};

use crate::harness::{ADMIN_TOKEN, admin, admin_as, create, register_in, send_in, show, spawn_projects, unregister_in};

#[tokio::test]
async fn without_admin_token_the_admin_api_is_an_unknown_route() {
    let app = spawn_app().await;
    for (method, path) in [("GET", "/admin/projects"), ("PUT", "/admin/projects/w1"), ("GET", "/admin/projects/w1")] {
        let r = admin_as(&app, Some(ADMIN_TOKEN), method, path, None).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        assert_eq!(r.error_names(), ["not_found"]);
    }
}

#[tokio::test]
async fn admin_token_without_credentials_key_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = push_testkit::test_settings(&dir);
    settings.projects.admin_token = Some(push_server::domain::Secret::new("t".into()));
    let e = push_server::bootstrap::server::start(&settings).await.err().expect("refused");
    assert!(e.to_string().contains("CREDENTIALS_KEY"), "{e}");
}

#[tokio::test]
async fn missing_or_wrong_token_is_401_with_www_authenticate() {
    let app = spawn_projects(|_| {}).await;
    for token in [None, Some("wrong"), Some("")] {
        let r = admin_as(&app, token, "GET", "/admin/projects", None).await;
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(r.error_names(), ["unauthorized"]);
        assert_eq!(r.headers.get("www-authenticate").unwrap(), "Bearer");
    }
    // A raw token without the Bearer scheme is refused too.
    let r = app.http.get(app.url("/admin/projects")).header("authorization", ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

/// Every method on every kind of admin path (known routes, unknown ones, malformed parameters and
/// bodies): what answers first is who may call, never the route's own checks.
fn admin_matrix() -> Vec<(&'static str, String)> {
    let paths = [
        "/admin",
        "/admin/",
        "/admin/projects",
        "/admin/projects?limit=0",
        "/admin/projects?limit=abc",
        "/admin/projects?after=!!",
        "/admin/projects?limit=1001&after=a.b",
        "/admin/projects/p1",
        "/admin/projects/bad.id!",
        "/admin/projects/p1/apns",
        "/admin/projects/p1/fcm",
        "/admin/projects/p1/nope",
        "/admin/nope",
    ];
    let methods = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"];
    paths.iter().flat_map(|p| methods.iter().map(move |m| (*m, (*p).to_owned()))).collect()
}

/// A request with `authorization` as sent (absent when `None`) and a malformed JSON body on the
/// methods that carry one.
async fn admin_raw(app: &TestApp, authorization: Option<&str>, method: &str, path: &str) -> Reply {
    let mut req = app.http.request(method.parse().unwrap(), app.url(path));
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    if matches!(method, "PUT" | "POST" | "PATCH") {
        req = req.header("content-type", "application/json").body("{not json");
    }
    TestApp::reply(req.send().await.expect("request")).await
}

#[tokio::test]
async fn without_a_valid_token_every_admin_request_is_401_before_any_other_check() {
    let app = spawn_projects(|_| {}).await;
    create(&app, "p1").await;
    let wrong = format!("Bearer {ADMIN_TOKEN}x");
    for (method, path) in admin_matrix() {
        for authorization in [None, Some(wrong.as_str()), Some(ADMIN_TOKEN)] {
            let r = admin_raw(&app, authorization, method, &path).await;
            let case = format!("{method} {path} with {authorization:?}: {}", r.text);
            assert_eq!(r.status, 401, "{case}");
            assert_eq!(r.headers.get("www-authenticate").unwrap(), "Bearer", "{case}");
            if method != "HEAD" {
                assert_eq!(r.error_names(), ["unauthorized"], "{case}");
            }
        }
    }
    // Nothing changed on the way.
    assert_eq!(admin(&app, "GET", "/admin/projects", None).await.json()["projects"], json!(["p1"]));
}

#[tokio::test]
async fn with_the_admin_api_off_every_admin_request_is_404_before_any_other_check() {
    let app = spawn_app().await;
    for (method, path) in admin_matrix() {
        for authorization in [None, Some(format!("Bearer {ADMIN_TOKEN}"))] {
            let r = admin_raw(&app, authorization.as_deref(), method, &path).await;
            let case = format!("{method} {path} with {authorization:?}: {}", r.text);
            assert_eq!(r.status, 404, "{case}");
            assert!(r.headers.get("www-authenticate").is_none(), "{case}");
            if method != "HEAD" {
                assert_eq!(r.error_names(), ["not_found"], "{case}");
            }
        }
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_projects(|_| {}).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = admin_raw(&app, Some(&format!("{scheme} {ADMIN_TOKEN}")), "GET", "/admin/projects").await;
        assert_eq!((r.status, r.json()["status"].clone()), (200, json!("OK")), "{scheme}: {}", r.text);
    }
    // The scheme is still required, and nothing but the token may follow it.
    for value in [ADMIN_TOKEN.to_owned(), format!("Basic {ADMIN_TOKEN}"), format!("Bearer{ADMIN_TOKEN}")] {
        let r = admin_raw(&app, Some(&value), "GET", "/admin/projects").await;
        assert_eq!(r.status, 401, "{value}: {}", r.text);
    }
}

#[tokio::test]
async fn create_list_page_show_and_delete() {
    let app = spawn_projects(|_| {}).await;
    for id in ["w3", "w1", "w2", "Wallet_4-x"] {
        create(&app, id).await;
    }
    create(&app, "w1").await; // idempotent
    let r = admin(&app, "GET", "/admin/projects", None).await;
    assert_eq!(r.json(), json!({"status": "OK", "projects": ["Wallet_4-x", "w1", "w2", "w3"]}));
    let page = admin(&app, "GET", "/admin/projects?limit=2", None).await.json();
    assert_eq!(page["projects"], json!(["Wallet_4-x", "w1"]));
    let next = admin(&app, "GET", "/admin/projects?limit=2&after=w1", None).await.json();
    assert_eq!(next["projects"], json!(["w2", "w3"]));
    for query in ["limit=1001", "limit=0", "limit=x", "after=a.b"] {
        let bad = admin(&app, "GET", &format!("/admin/projects?{query}"), None).await;
        assert_eq!(bad.status, 400, "{query}: {}", bad.text);
        assert_eq!(bad.json()["status"], "FAILED");
    }

    assert_eq!(show(&app, "w1").await, json!({"id": "w1", "apns": null, "fcm": null, "webpush": null, "clients": 0}));

    assert!(admin(&app, "DELETE", "/admin/projects/w2", None).await.is_ok_envelope());
    assert!(admin(&app, "DELETE", "/admin/projects/w2", None).await.is_ok_envelope(), "idempotent");
    let r = admin(&app, "GET", "/admin/projects/w2", None).await;
    assert_eq!((r.status, r.field_names()), (404, vec!["project_id".to_owned()]));
    let r = admin(&app, "GET", "/admin/projects", None).await;
    assert_eq!(r.json()["projects"], json!(["Wallet_4-x", "w1", "w3"]));
}

#[tokio::test]
async fn reserved_invalid_and_default_ids_cannot_be_created() {
    let app = spawn_projects(|s| s.projects.default_project_id = Some("main-app".into())).await;
    for id in [
        "admin",
        "clients",
        "health",
        "metrics",
        "docs",
        "openapi.json",
        "openapi.yaml",
        "a.b",
        &"x".repeat(65),
        "main-app",
    ] {
        let r = admin(&app, "PUT", &format!("/admin/projects/{id}"), Some(json!({}))).await;
        assert_eq!(r.status, 400, "{id}: {}", r.text);
        assert_eq!(r.field_names(), ["project_id"], "{id}");
        assert_eq!(r.json()["fields"][0]["location"], "path");
    }
    assert_eq!(admin(&app, "GET", "/admin/projects", None).await.json()["projects"], json!([]));
}

#[tokio::test]
async fn unknown_project_is_404_before_other_checks_but_after_the_signature() {
    let app = spawn_projects(|_| {}).await;
    // Registration: 404 even with an invalid body.
    let r = register_in(&app, "nope", "", "xyz", "").await;
    assert_eq!((r.status, r.field_names()), (404, vec!["project_id".to_owned()]));
    assert_eq!(r.json()["fields"][0]["location"], "path");
    let r = unregister_in(&app, "nope", "c1").await;
    assert_eq!((r.status, r.field_names()), (404, vec!["project_id".to_owned()]));
    // Send: an unsigned request is refused as unsigned first, a signed one as unknown project.
    let r = app
        .http
        .post(app.url("/nope/clients/c1"))
        .header("content-type", "application/json")
        .body(encrypted("n1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = send_in(&app, "nope", "c1", "{not json").await;
    assert_eq!((r.status, r.field_names()), (404, vec!["project_id".to_owned()]));
}

#[tokio::test]
async fn same_client_and_notification_ids_in_two_projects_are_independent() {
    // The log sink serves only the default project, so these projects need real providers; the
    // isolation of stored clients is checked here with the default project and a project whose
    // registration is refused for want of a provider.
    let app = spawn_projects(|_| {}).await;
    create(&app, "w1").await;
    let r = register_in(&app, "w1", "c1", "fcm", "tok").await;
    assert_eq!((r.status, r.field_names()), (400, vec!["type".to_owned()]), "no provider in w1: {}", r.text);
    assert!(r.json()["fields"][0]["description"].as_str().unwrap().contains("no push provider"), "{}", r.text);
    // The default project is untouched and still served by the log sink.
    assert_eq!(app.register("c1", "fcm", "tok").await.status, 200);
    let r = send_in(&app, "w1", "c1", &encrypted("n1")).await;
    assert_eq!((r.status, r.field_names()), (404, vec!["client_id".to_owned()]), "c1 of w1 does not exist");
    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope());
}

#[tokio::test]
async fn default_project_id_aliases_the_default_routes() {
    let app = spawn_with(|s| s.projects.default_project_id = Some("main-app".into())).await;
    let r = register_in(&app, "main-app", "did:key:c1", "fcm", "tok").await;
    assert!(r.is_ok_envelope(), "{}", r.text);
    assert!(app.send("c1", &encrypted("n1")).await.is_ok_envelope(), "the same client as /clients/c1");
    let r = send_in(&app, "main-app", "c1", &encrypted("n1")).await;
    assert!(r.is_ok_envelope(), "duplicate across both spellings");
    assert_eq!(app.deliveries().len(), 1);
    assert!(unregister_in(&app, "main-app", "c1").await.is_ok_envelope());
    assert_eq!(app.send("c1", &encrypted("n2")).await.status, 404);
}

/// A wallet SDK on the project routes: the Kotlin/Swift shape (`?auth=`, `always_raw`, a client
/// JWT, the WalletConnect dialect) works there exactly as on `/clients`.
#[tokio::test]
async fn project_routes_check_the_client_jwt_and_speak_the_dialect() {
    use ed25519_dalek::SigningKey;
    use push_server::{
        adapters::http::ResponseDialect,
        app::ClientAuthMode,
        domain::{ClientJwtClaims, DidKey, sign_client_jwt},
    };
    let app = spawn_with(|s| {
        s.projects.default_project_id = Some("wc-project".into());
        s.client_auth.mode = ClientAuthMode::Required;
        s.client_auth.public_urls = Some(vec!["https://push.example.test".into()]);
        s.http.response_dialect = ResponseDialect::WalletConnect;
    })
    .await;
    let key = SigningKey::from_bytes(&[7; 32]);
    let id = DidKey::from(key.verifying_key()).multibase();
    let now = push_testkit::now();
    let claims =
        ClientJwtClaims { sub: "w".into(), aud: "https://push.example.test".into(), iat: now, exp: Some(now + 60) };
    let jwt = sign_client_jwt(&key, &claims);
    let body = json!({"client_id": id, "type": "fcm", "token": "t1", "always_raw": false}).to_string();
    let post = |auth: Option<String>, path: &'static str| {
        let mut req = app.http.post(app.url(path)).header("content-type", "application/json").body(body.clone());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        async move { push_testkit::TestApp::reply(req.send().await.unwrap()).await }
    };
    let r = post(None, "/wc-project/clients?auth=x").await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = post(Some(jwt.clone()), "/wc-project/clients?auth=x").await;
    assert_eq!((r.status, r.json()), (200, json!({"status": "SUCCESS"})), "{}", r.text);
    let r = post(Some(jwt.clone()), "/other-project/clients").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["status"], "FAILED");
    let r = app
        .http
        .delete(app.url(&format!("/wc-project/clients/did:key:{id}")))
        .header("authorization", jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
