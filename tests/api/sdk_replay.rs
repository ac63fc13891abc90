//! The WalletConnect SDKs' own requests, replayed byte for byte (request line, headers and body as
//! each SDK's HTTP stack writes them) on a raw TCP connection to a single-app deployment
//! (`DEFAULT_PROJECT_ID`, `RESPONSE_DIALECT=walletconnect`), each answer judged by that SDK's own
//! rule for success. The registered clients are then reached by the Relay, and unregistered.

use ed25519_dalek::SigningKey;
use push_server::{
    adapters::http::ResponseDialect,
    domain::{ClientJwtClaims, DidKey, sign_client_jwt},
};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use push_testkit::{TestApp, encrypted, now, spawn_with};

const PROJECT: &str = "2f6b0e4a9d1c4b8e8f3a5c7d9e1b3a5c";
const AUD: &str = "https://push.example.test";

async fn single_app_server() -> TestApp {
    spawn_with(|s| {
        s.projects.default_project_id = Some(PROJECT.to_owned());
        s.http.response_dialect = ResponseDialect::WalletConnect;
        s.client_auth.public_urls = Some(vec![AUD.to_owned()]);
    })
    .await
}

/// An SDK's answer: the status and the JSON body it parses.
struct Answer {
    status: u16,
    body: Value,
}

/// Writes `request` exactly as given (with `{host}` and `{length}` filled in) and reads one answer.
/// Async: the server runs on the test's own runtime.
async fn replay(app: &TestApp, request: &str, body: &str) -> Answer {
    let host = app.base.trim_start_matches("http://").to_owned();
    let head = request.replace("{host}", &host).replace("{length}", &body.len().to_string());
    let mut stream = TcpStream::connect(&host).await.expect("connect");
    stream.write_all(head.replace('\n', "\r\n").as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).await.unwrap();
    let status = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut bytes = vec![0; length];
    reader.read_exact(&mut bytes).await.unwrap();
    Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

fn wallet(n: u8) -> (SigningKey, String) {
    let key = SigningKey::from_bytes(&[n; 32]);
    let id = DidKey::from(key.verifying_key()).multibase();
    (key, id)
}

/// Kotlin (OkHttp, Retrofit): `?auth=` with the client id, no `Authorization`; success is a 2xx
/// and `status` `"SUCCESS"`, a failure is read from `errors[0].message`.
#[tokio::test]
async fn kotlin_registers_and_unregisters() {
    let app = single_app_server().await;
    let (_, id) = wallet(31);
    let body = format!(r#"{{"client_id":"{id}","token":"fcm-token-31:APA91b","type":"fcm","always_raw":false}}"#);
    let request = format!(
        "POST /{PROJECT}/clients?auth={id} HTTP/1.1\nContent-Type: application/json; charset=UTF-8\n\
         Content-Length: {{length}}\nHost: {{host}}\nConnection: Keep-Alive\nAccept-Encoding: gzip\n\
         User-Agent: okhttp/4.12.0\n\n"
    );
    let answer = replay(&app, &request, &body).await;
    assert!((200..300).contains(&answer.status) && answer.body["status"] == "SUCCESS", "{}", answer.body);
    assert!(app.send(&id, &encrypted("k1")).await.status == 200);

    let request = format!(
        "DELETE /{PROJECT}/clients/{id}?auth={id} HTTP/1.1\nHost: {{host}}\nConnection: Keep-Alive\n\
         Accept-Encoding: gzip\nUser-Agent: okhttp/4.12.0\n\n"
    );
    let answer = replay(&app, &request, "").await;
    assert!((200..300).contains(&answer.status) && answer.body["status"] == "SUCCESS", "{}", answer.body);
    assert_eq!(app.send(&id, &encrypted("k2")).await.status, 404);

    // A failure, read the Kotlin way.
    let body = format!(r#"{{"client_id":"{id}","token":"t","type":"huawei","always_raw":false}}"#);
    let request = format!(
        "POST /{PROJECT}/clients?auth={id} HTTP/1.1\nContent-Type: application/json; charset=UTF-8\n\
         Content-Length: {{length}}\nHost: {{host}}\nUser-Agent: okhttp/4.12.0\n\n"
    );
    let answer = replay(&app, &request, &body).await;
    assert_eq!(answer.status, 400);
    assert!(answer.body["fields"][0]["description"].as_str().is_some_and(|d| d.contains("huawei")), "{}", answer.body);
}

/// Swift (URLSession): `Authorization: <raw JWT>` signed by the client's key; register needs a
/// 2xx and `SUCCESS`, unregister (path id `did:key:...`) exactly `200`.
#[tokio::test]
async fn swift_registers_with_its_jwt_and_unregisters_with_exactly_200() {
    let app = single_app_server().await;
    let (key, id) = wallet(32);
    let jwt = sign_client_jwt(
        &key,
        &ClientJwtClaims { sub: "swift".into(), aud: AUD.into(), iat: now(), exp: Some(now() + 3600) },
    );
    let token = "8f1e2d3c4b5a69788f1e2d3c4b5a69788f1e2d3c4b5a69788f1e2d3c4b5a6978";
    let body = format!(r#"{{"client_id":"{id}","type":"apns-sandbox","token":"{token}","always_raw":true}}"#);
    let request = format!(
        "POST /{PROJECT}/clients HTTP/1.1\nHost: {{host}}\nContent-Type: application/json\nAccept: */*\n\
         Authorization: {jwt}\nAccept-Language: en-GB,en;q=0.9\nAccept-Encoding: gzip, deflate, br\n\
         User-Agent: Wallet/1 CFNetwork/1496.0.7 Darwin/23.5.0\nContent-Length: {{length}}\nConnection: keep-alive\n\n"
    );
    let answer = replay(&app, &request, &body).await;
    assert!((200..300).contains(&answer.status) && answer.body["status"] == "SUCCESS", "{}", answer.body);

    let request = format!(
        "DELETE /{PROJECT}/clients/did:key:{id} HTTP/1.1\nHost: {{host}}\nAccept: */*\nAuthorization: {jwt}\n\
         Accept-Language: en-GB,en;q=0.9\nAccept-Encoding: gzip, deflate, br\n\
         User-Agent: Wallet/1 CFNetwork/1496.0.7 Darwin/23.5.0\nConnection: keep-alive\n\n"
    );
    assert_eq!(replay(&app, &request, "").await.status, 200);

    // Another wallet's JWT cannot register this client.
    let (other, _) = wallet(33);
    let forged = sign_client_jwt(
        &other,
        &ClientJwtClaims { sub: "swift".into(), aud: AUD.into(), iat: now(), exp: Some(now() + 3600) },
    );
    let request = request_with_jwt(&forged);
    let answer = replay(&app, &request, &body).await;
    assert_eq!((answer.status, answer.body["fields"][0]["field"].as_str()), (401, Some("Authorization")));
}

fn request_with_jwt(jwt: &str) -> String {
    format!(
        "POST /{PROJECT}/clients HTTP/1.1\nHost: {{host}}\nContent-Type: application/json\nAccept: */*\n\
         Authorization: {jwt}\nContent-Length: {{length}}\nConnection: keep-alive\n\n"
    )
}

/// JS / React Native (fetch): a `did:key:` body id, any type including `noop`; reads nothing.
#[tokio::test]
async fn js_registers_a_did_key_client_and_noop() {
    let app = single_app_server().await;
    let (_, id) = wallet(34);
    for (push_type, token) in [("fcm", "js-fcm-token"), ("noop", "js-noop-token")] {
        let body =
            format!(r#"{{"client_id":"did:key:{id}","type":"{push_type}","token":"{token}","always_raw":false}}"#);
        let request = format!(
            "POST /{PROJECT}/clients HTTP/1.1\nhost: {{host}}\ncontent-type: application/json\naccept: */*\n\
             accept-language: *\nsec-fetch-mode: cors\nuser-agent: node\naccept-encoding: gzip, deflate\n\
             content-length: {{length}}\nconnection: keep-alive\n\n"
        );
        assert_eq!(replay(&app, &request, &body).await.status, 200, "{push_type}");
        // Sent through the default routes by the Relay: the same client.
        assert_eq!(app.send(&id, &encrypted(&format!("js-{push_type}"))).await.status, 200);
    }
}

/// Flutter (package:http): `?auth=did:key:...`, a `did:key:` body id; parses the body whatever the
/// status and needs `status` `"SUCCESS"`; `errors[]` items need `name` and `message`.
#[tokio::test]
async fn flutter_registers_and_reads_failures() {
    let app = single_app_server().await;
    let (_, id) = wallet(35);
    let body = format!(r#"{{"client_id":"did:key:{id}","token":"flutter-fcm-token","type":"fcm"}}"#);
    let request = format!(
        "POST /{PROJECT}/clients?auth=did:key:{id} HTTP/1.1\nuser-agent: Dart/3.4 (dart:io)\n\
         content-type: application/json; charset=utf-8\naccept-encoding: gzip\ncontent-length: {{length}}\n\
         host: {{host}}\n\n"
    );
    let answer = replay(&app, &request, &body).await;
    assert_eq!(answer.body["status"], "SUCCESS", "{}", answer.body);
    let answer = replay(&app, &request, "{not json").await;
    assert_eq!(answer.status, 400);
    let error = &answer.body["errors"][0];
    assert!(error["name"].is_string() && error["message"].is_string(), "{}", answer.body);
}
