//! The fake provider as FCM HTTP v1 and as Google's OAuth token endpoint, a throwaway service
//! account whose `token_uri` points at the fake, FCM's answers, and the check of the OAuth
//! assertion push-server signs. FCM is served over HTTP/1.1 (push-server's transport to an
//! `http://` endpoint) or HTTP/2 with prior knowledge (`FCM_CLEARTEXT_HTTP2`), on one port.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use aws_lc_rs::{
    encoding::AsDer,
    rsa::{KeyPair, KeySize},
    signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tempfile::TempDir;

use push_server::cli::settings::Settings;

use super::{Answer, FakeProvider, Options, Recorded};
use crate::{TestApp, spawn_with};

pub const PROJECT: &str = "demo-project";
pub const SEND_PATH: &str = "/v1/projects/demo-project/messages:send";
pub const TOKEN_PATH: &str = "/token";
pub const CLIENT_EMAIL: &str = "push-server@demo-project.iam.gserviceaccount.com";

/// The fakes and the service account that points at them.
pub struct Google {
    /// The token endpoint, at [`TOKEN_PATH`].
    pub oauth: FakeProvider,
    pub fcm: FakeProvider,
    pub credentials: PathBuf,
    /// PKCS#1 DER of the service account's public key, to verify assertions with.
    pub public_key: Vec<u8>,
    _dir: TempDir,
}

/// The `n`th access token the fake token endpoint grants (1-based).
pub fn access_token(n: u32) -> String {
    format!("ya29.test-access-token-{n}")
}

impl Google {
    /// Fakes that grant a new access token (`access_token(n)`, valid an hour) on every token
    /// request; FCM accepts every message.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// The same, with FCM served with `fcm` (a stream limit, say).
    pub async fn start_with(fcm: Options) -> Self {
        let oauth = FakeProvider::start().await;
        let issued = AtomicU32::new(0);
        oauth.respond_with(move |_| {
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            Answer::status(200)
                .json(&json!({"access_token": access_token(n), "expires_in": 3599, "token_type": "Bearer"}))
        });
        let fcm = FakeProvider::start_with(fcm).await;
        fcm.set_default(fcm_ok());
        // A throwaway key made now: no key material is committed.
        let key = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let pem = pem(key.as_der().expect("PKCS#8").as_ref());
        let dir = tempfile::tempdir().expect("temp dir");
        let credentials = dir.path().join("service-account.json");
        std::fs::write(
            &credentials,
            service_account(&pem, &format!("{}{TOKEN_PATH}", oauth.url()), Some(PROJECT)).to_string(),
        )
        .unwrap();
        Self { oauth, fcm, credentials, public_key: key.public_key().as_ref().to_vec(), _dir: dir }
    }

    /// From now on every message is answered with `answer`; the messages seen so far are
    /// forgotten.
    pub fn fcm_answers(&self, answer: Answer) {
        self.fcm.reset();
        self.fcm.set_default(answer);
    }

    /// The next `times` messages are answered with `first`, the rest with `then`; the messages
    /// seen so far are forgotten.
    pub fn fcm_answers_first(&self, times: usize, first: Answer, then: Answer) {
        self.fcm_answers(then);
        self.fcm.script(std::iter::repeat_n(first, times));
    }

    /// The token endpoint answers every request with `answer` from now on; the token requests
    /// seen so far are forgotten.
    pub fn oauth_answers(&self, answer: Answer) {
        self.oauth.reset();
        self.oauth.set_default(answer);
    }

    pub fn fcm_requests(&self) -> Vec<Recorded> {
        self.fcm.requests()
    }

    pub fn token_requests(&self) -> Vec<Recorded> {
        self.oauth.requests()
    }

    /// Checks a token request as Google would: a form with the JWT-bearer grant type and an
    /// RS256 assertion that verifies with the account's public key, for the FCM scope, with our
    /// token endpoint as audience and a one-hour life starting now.
    pub fn check_token_request(&self, request: &Recorded) {
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", TOKEN_PATH));
        assert_eq!(request.header("content-type"), Some("application/x-www-form-urlencoded"));
        let form = parse_form(std::str::from_utf8(&request.body).unwrap());
        let keys: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["grant_type", "assertion"], "form fields");
        assert_eq!(form[0].1, "urn:ietf:params:oauth:grant-type:jwt-bearer");
        let jwt = &form[1].1;
        let (signed, signature) = jwt.rsplit_once('.').expect("JWT");
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.public_key)
            .verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap())
            .expect("the assertion verifies with the service account's public key");
        let (header_b64, claims_b64) = signed.split_once('.').unwrap();
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "kid": "test-key-id"}));
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims_b64).unwrap()).unwrap();
        assert_eq!(claims["iss"], CLIENT_EMAIL);
        assert_eq!(claims["scope"], "https://www.googleapis.com/auth/firebase.messaging");
        assert_eq!(claims["aud"], format!("{}{TOKEN_PATH}", self.oauth.url()));
        let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
        assert_eq!(exp - iat, 3600);
        assert!(iat.abs_diff(crate::now()) < 60, "iat is now");
        assert_eq!(claims.as_object().unwrap().len(), 5, "no other claims: {claims}");
    }
}

/// FCM's v1 error body, with an `FcmError` detail when `error_code` is given.
pub fn fcm_error(status: u16, grpc_status: &str, error_code: Option<&str>) -> Answer {
    let details: Vec<Value> = error_code
        .map(|e| json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": e}))
        .into_iter()
        .collect();
    Answer::status(status).json(&json!({
        "error": {"code": status, "message": format!("fake {grpc_status}"), "status": grpc_status, "details": details}
    }))
}

/// What FCM answers to an accepted message.
pub fn fcm_ok() -> Answer {
    Answer::status(200).json(&json!({"name": "projects/demo-project/messages/0:1700000000%abc"}))
}

pub fn service_account(pem: &str, token_uri: &str, project: Option<&str>) -> Value {
    let mut v = json!({
        "type": "service_account",
        "private_key_id": "test-key-id",
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000000",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    });
    if let Some(p) = project {
        v["project_id"] = p.into();
    }
    v
}

pub fn pem(pkcs8_der: &[u8]) -> String {
    push_server::adapters::pem::armour("PRIVATE KEY", pkcs8_der)
}

/// Short budgets so failure paths finish quickly: 3 attempts of at most 1 s, 3 s in all (so a
/// claim's lease is 5 s).
pub async fn spawn_for(google: &Google) -> TestApp {
    spawn_for_with(google, |_| {}).await
}

/// The same, with the settings then changed by `adjust`.
pub async fn spawn_for_with(google: &Google, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let credentials = google.credentials.clone();
    let endpoint = google.fcm.url();
    spawn_with(move |s| {
        s.fcm.credentials_path = Some(credentials);
        s.fcm.endpoint = Some(endpoint);
        s.provider.request_timeout = Duration::from_secs(1);
        s.provider.total_timeout = Duration::from_secs(3);
        s.provider.max_attempts = 3;
        adjust(s);
    })
    .await
}

/// `application/x-www-form-urlencoded` into ordered pairs.
fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("percent escape"));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}
