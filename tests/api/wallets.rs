//! Real wallets: the client JWT on registration and unregistration (`CLIENT_AUTH`, `PUBLIC_URL`),
//! the WalletConnect response dialect judged by each SDK's own success rule, and the extras the
//! SDKs send (`?auth=...`, `always_raw`).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use push_server::{
    adapters::http::ResponseDialect,
    app::ClientAuthMode,
    cli::settings::Settings,
    domain::{ClientJwtClaims, DidKey, sign_client_jwt},
};
use serde_json::{Value, json};

use push_testkit::{Reply, TestApp, encrypted, now, spawn_app, spawn_with};

/// The audience the test servers answer to.
const AUD: &str = "https://push.example.test";

fn wallet(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

/// The wallet's client id, `z6Mk...`.
fn client_id(key: &SigningKey) -> String {
    DidKey::from(key.verifying_key()).multibase()
}

fn claims() -> ClientJwtClaims {
    ClientJwtClaims { sub: "wallet".into(), aud: AUD.into(), iat: now(), exp: Some(now() + 3600) }
}

fn jwt(key: &SigningKey) -> String {
    sign_client_jwt(key, &claims())
}

fn with_aud(adjust: impl FnOnce(&mut Settings)) -> impl FnOnce(&mut Settings) {
    move |s| {
        s.client_auth.public_urls = Some(vec![format!("{AUD}/")]);
        adjust(s);
    }
}

async fn spawn_wallet_server() -> TestApp {
    spawn_with(with_aud(|_| {})).await
}

/// `POST {path}` with a JSON body and, when given, `Authorization`.
async fn post(app: &TestApp, path: &str, body: &Value, authorization: Option<&str>) -> Reply {
    let mut req = app.http.post(app.url(path)).header("content-type", "application/json").body(body.to_string());
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    TestApp::reply(req.send().await.expect("request")).await
}

async fn delete(app: &TestApp, path: &str, authorization: Option<&str>) -> Reply {
    let mut req = app.http.delete(app.url(path));
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    TestApp::reply(req.send().await.expect("request")).await
}

fn registration(client_id: &str) -> Value {
    json!({"client_id": client_id, "type": "fcm", "token": format!("token-of-{client_id}")})
}

/// A `401` naming `Authorization` in the header, whose reason contains `reason`.
fn assert_refused(r: &Reply, reason: &str) {
    assert_eq!(r.status, 401, "{}", r.text);
    let field = &r.json()["fields"][0];
    assert_eq!((field["field"].as_str(), field["location"].as_str()), (Some("Authorization"), Some("header")));
    let description = field["description"].as_str().unwrap();
    assert!(description.contains(reason), "{description:?} should say {reason:?}");
}

/// A token with the given claims, signed by `key` whatever the claims say (`sign_client_jwt`
/// always names its own key).
fn forge(key: &SigningKey, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"EdDSA"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).to_bytes()))
}

#[tokio::test]
async fn a_wallet_registers_and_unregisters_with_its_own_jwt() {
    let app = spawn_wallet_server().await;
    let key = wallet(1);
    let id = client_id(&key);
    assert!(post(&app, "/clients", &registration(&id), Some(&jwt(&key))).await.is_ok_envelope());
    assert!(app.send(&id, &encrypted("n1")).await.is_ok_envelope());
    let r = delete(&app, &format!("/clients/did:key:{id}"), Some(&jwt(&key))).await;
    assert!(r.is_ok_envelope(), "{}", r.text);
    assert_eq!(app.send(&id, &encrypted("n2")).await.status, 404);
}

#[tokio::test]
async fn a_jwt_of_another_client_or_signed_by_another_key_is_refused() {
    let app = spawn_wallet_server().await;
    let (owner, intruder) = (wallet(1), wallet(2));
    let id = client_id(&owner);
    // The intruder's own valid token names the intruder, not the client of the body.
    assert_refused(&post(&app, "/clients", &registration(&id), Some(&jwt(&intruder))).await, "another client");
    // Claims that name the owner, signed by the intruder.
    let claims = json!({"iss": format!("did:key:{id}"), "sub": "x", "aud": AUD, "iat": now()});
    let forged = forge(&intruder, &claims);
    assert_refused(&post(&app, "/clients", &registration(&id), Some(&forged)).await, "signature");
    // Nor can the intruder unregister the owner.
    assert!(post(&app, "/clients", &registration(&id), Some(&jwt(&owner))).await.is_ok_envelope());
    assert_refused(&delete(&app, &format!("/clients/{id}"), Some(&jwt(&intruder))).await, "another client");
    assert!(app.send(&id, &encrypted("n")).await.is_ok_envelope(), "the client is still there");
}

#[tokio::test]
async fn audience_and_times_are_checked() {
    let app = spawn_wallet_server().await;
    let key = wallet(3);
    let body = registration(&client_id(&key));
    let token = |claims: ClientJwtClaims| sign_client_jwt(&key, &claims);
    let wrong_aud = token(ClientJwtClaims { aud: "https://elsewhere.example".into(), ..claims() });
    assert_refused(&post(&app, "/clients", &body, Some(&wrong_aud)).await, "aud");
    let expired = token(ClientJwtClaims { iat: now() - 7200, exp: Some(now() - 3600), ..claims() });
    assert_refused(&post(&app, "/clients", &body, Some(&expired)).await, "expired");
    let future = token(ClientJwtClaims { iat: now() + 3600, ..claims() });
    assert_refused(&post(&app, "/clients", &body, Some(&future)).await, "in the future");
    // The trailing `/` of PUBLIC_URL (or of `aud`) does not matter.
    let slash = token(ClientJwtClaims { aud: format!("{AUD}/"), ..claims() });
    assert!(post(&app, "/clients", &body, Some(&slash)).await.is_ok_envelope());
}

#[tokio::test]
async fn garbage_is_refused_with_a_reason() {
    let app = spawn_wallet_server().await;
    let body = registration(&client_id(&wallet(4)));
    assert_refused(&post(&app, "/clients", &body, Some("not-a-jwt")).await, "three base64url parts");
    assert_refused(&post(&app, "/clients", &body, Some("Bearer a.b.c")).await, "base64url");
    assert_refused(&post(&app, "/clients", &body, Some(&"x.".repeat(3000))).await, "bytes long");
}

#[tokio::test]
async fn a_bearer_prefix_and_a_did_key_body_id_are_accepted() {
    let app = spawn_wallet_server().await;
    let key = wallet(5);
    let id = client_id(&key);
    let bearer = format!("Bearer {}", jwt(&key));
    assert!(post(&app, "/clients", &registration(&id), Some(&bearer)).await.is_ok_envelope());
    let prefixed = registration(&format!("did:key:{id}"));
    assert!(post(&app, "/clients", &prefixed, Some(&jwt(&key))).await.is_ok_envelope());
    assert!(app.send(&id, &encrypted("n")).await.is_ok_envelope());
}

#[tokio::test]
async fn the_body_is_judged_before_the_jwt() {
    let app = spawn_wallet_server().await;
    let body = json!({"client_id": client_id(&wallet(6)), "type": "xyz", "token": "t"});
    let r = post(&app, "/clients", &body, Some("garbage")).await;
    assert_eq!((r.status, r.field_names()), (400, vec!["type".to_owned()]), "{}", r.text);
    let r = delete(&app, "/clients/a%20b", Some("garbage")).await;
    assert_eq!(r.status, 400, "{}", r.text);
}

#[tokio::test]
async fn the_default_audience_is_localhost_at_the_listening_port() {
    let app = spawn_app().await;
    let key = wallet(7);
    let port = app.base.rsplit(':').next().unwrap();
    let claims = ClientJwtClaims { aud: format!("http://localhost:{port}"), ..claims() };
    let token = sign_client_jwt(&key, &claims);
    assert!(post(&app, "/clients", &registration(&client_id(&key)), Some(&token)).await.is_ok_envelope());
    assert_refused(&post(&app, "/clients", &registration(&client_id(&key)), Some(&jwt(&key))).await, "aud");
}

#[tokio::test]
async fn required_mode_refuses_a_request_without_a_jwt() {
    let app = spawn_with(with_aud(|s| s.client_auth.mode = ClientAuthMode::Required)).await;
    let key = wallet(8);
    let id = client_id(&key);
    assert_refused(&post(&app, "/clients", &registration(&id), None).await, "is required");
    assert_refused(&delete(&app, &format!("/clients/{id}"), None).await, "is required");
    assert!(post(&app, "/clients", &registration(&id), Some(&jwt(&key))).await.is_ok_envelope());
    assert!(delete(&app, &format!("/clients/{id}"), Some(&jwt(&key))).await.is_ok_envelope());
}

#[tokio::test]
async fn off_mode_ignores_even_a_bad_token() {
    let app = spawn_with(with_aud(|s| s.client_auth.mode = ClientAuthMode::Off)).await;
    let id = client_id(&wallet(9));
    assert!(post(&app, "/clients", &registration(&id), Some("garbage")).await.is_ok_envelope());
    assert!(delete(&app, &format!("/clients/{id}"), Some(&jwt(&wallet(10)))).await.is_ok_envelope());
}

#[tokio::test]
async fn optional_mode_accepts_a_request_without_a_jwt() {
    let app = spawn_wallet_server().await;
    assert!(post(&app, "/clients", &registration("wallet-without-jwt"), None).await.is_ok_envelope());
    assert!(delete(&app, "/clients/wallet-without-jwt", None).await.is_ok_envelope());
}

#[tokio::test]
async fn unknown_query_parameters_and_always_raw_are_accepted_and_a_wrong_always_raw_is_named() {
    let app = spawn_app().await;
    let id = client_id(&wallet(11));
    let mut body = registration(&id);
    body["always_raw"] = json!(true);
    body["sdk_extra"] = json!({"anything": 1});
    let r = post(&app, &format!("/clients?auth=did:key:{id}&x=1"), &body, None).await;
    assert!(r.is_ok_envelope(), "{}", r.text);
    // The Relay's route and the documents ignore them too. The client asked for the raw form.
    let raw = json!({"topic": "t", "tag": 1, "message": "sealed"}).to_string();
    assert!(app.send(&format!("{id}?auth={id}"), &raw).await.is_ok_envelope());
    assert_eq!(app.get("/health?auth=x").await.status, 200);
    assert!(delete(&app, &format!("/clients/{id}?auth={id}"), None).await.is_ok_envelope());
    for wrong in [json!("yes"), json!(null), json!(0)] {
        body["always_raw"] = wrong;
        let r = post(&app, "/clients", &body, None).await;
        assert_eq!((r.status, r.field_names()), (400, vec!["always_raw".to_owned()]), "{}", r.text);
    }
}

async fn walletconnect_server() -> TestApp {
    spawn_with(with_aud(|s| s.http.response_dialect = ResponseDialect::WalletConnect)).await
}

/// Kotlin's rule: a 2xx status and `"status":"SUCCESS"`; on failure it reads `errors[0].message`.
fn kotlin_success(r: &Reply) -> bool {
    (200..300).contains(&r.status) && r.json()["status"] == "SUCCESS"
}

#[tokio::test]
async fn kotlin_registration_succeeds_by_kotlins_rule_in_the_walletconnect_dialect() {
    let app = walletconnect_server().await;
    let id = client_id(&wallet(12));
    let body = json!({"client_id": id, "token": "fcm-registration-token", "type": "fcm", "always_raw": false});
    let r = post(&app, &format!("/clients?auth={id}"), &body, None).await;
    assert!(kotlin_success(&r), "{} {}", r.status, r.text);
    assert_eq!(r.text, r#"{"status":"SUCCESS"}"#);
    // The spec dialect answers the same request with the spec's envelope, which Kotlin reads as
    // a failure: that is what the setting is for.
    let spec = spawn_app().await;
    let r = post(&spec, &format!("/clients?auth={id}"), &body, None).await;
    assert!(r.is_ok_envelope() && !kotlin_success(&r), "{}", r.text);
}

#[tokio::test]
async fn swift_registration_and_unregistration_with_a_raw_jwt() {
    let app = walletconnect_server().await;
    let key = wallet(13);
    let id = client_id(&key);
    let body = json!({"client_id": id, "type": "apns-sandbox", "token": "00ff00ff", "always_raw": true});
    let r = post(&app, "/clients", &body, Some(&jwt(&key))).await;
    assert!(kotlin_success(&r), "{} {}", r.status, r.text);
    let r = delete(&app, &format!("/clients/did:key:{id}"), Some(&jwt(&key))).await;
    assert_eq!(r.status, 200, "Swift needs exactly 200: {}", r.text);
}

#[tokio::test]
async fn flutter_reads_the_failure_envelope_in_the_walletconnect_dialect() {
    let app = walletconnect_server().await;
    let id = client_id(&wallet(14));
    let body = json!({"client_id": format!("did:key:{id}"), "token": "t", "type": "fcm"});
    let r = post(&app, &format!("/clients?auth=did:key:{id}"), &body, None).await;
    assert!(kotlin_success(&r), "{}", r.text);
    // Failures keep FAILED and `fields`; `errors[]` items gain `message`.
    let r = post(&app, "/clients", &json!({"client_id": id, "token": "t", "type": "xyz"}), None).await;
    let envelope = r.json();
    assert_eq!((r.status, envelope["status"].as_str()), (400, Some("FAILED")));
    let field = &envelope["fields"][0];
    assert!(field["field"].is_string() && field["description"].is_string() && field["location"].is_string());
    let r = TestApp::reply(
        app.http.post(app.url("/clients")).header("content-type", "application/json").body("{").send().await.unwrap(),
    )
    .await;
    let error = &r.json()["errors"][0];
    assert_eq!(r.status, 400);
    assert_eq!(error["message"], error["description"], "{}", r.text);
    assert!(error["name"].is_string());
    // The fallback's envelopes too (unknown route, wrong method).
    let r = app.get("/nowhere").await;
    assert_eq!(r.json()["errors"][0]["message"], "there is no such endpoint", "{}", r.text);
    let r = app.get("/clients").await;
    assert_eq!(r.status, 405);
    assert!(r.json()["errors"][0]["message"].is_string(), "{}", r.text);
}

#[tokio::test]
async fn the_relay_gets_success_too_and_the_documents_are_untouched() {
    let app = walletconnect_server().await;
    assert!(post(&app, "/clients", &registration("c"), None).await.status == 200);
    let r = app.send("c", &encrypted("n")).await;
    assert_eq!(r.text, r#"{"status":"SUCCESS"}"#);
    let doc = app.get("/openapi.json").await;
    assert_eq!(doc.text, push_server::adapters::http::openapi_json());
    assert_eq!(app.get("/health").await.status, 200);
}
