//! The fake provider as APNS: HTTP/2 (cleartext with prior knowledge, or TLS that demands a
//! client certificate) answering 200 with an `apns-id` unless told otherwise, APNS's error
//! answers, and the check of the provider tokens push-server signs.

use std::ops::Deref;

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, UnparsedPublicKey},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokio_rustls::TlsAcceptor;

use super::{Answer, FakeProvider, Options};

/// How the fake answers one request, in APNS's terms.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with an `apns-id`.
    Ok,
    /// An APNS error: status, `{"reason": ...}`, optional `Retry-After` seconds.
    Error { status: u16, reason: &'static str, retry_after: Option<u64> },
    /// Never answers (the client's timeout must end it).
    Hang,
}

impl Reply {
    pub fn error(status: u16, reason: &'static str) -> Self {
        Reply::Error { status, reason, retry_after: None }
    }
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        match reply {
            Reply::Ok => Answer::status(200).header("apns-id", "EC1BF194-B3B2-424A-89A9-5A918A6E6B5D"),
            Reply::Error { status, reason, retry_after } => {
                let answer = Answer::status(status).json(&json!({"reason": reason}));
                match retry_after {
                    Some(secs) => answer.header("retry-after", secs.to_string()),
                    None => answer,
                }
            }
            Reply::Hang => Answer::status(200).hang(),
        }
    }
}

/// What APNS answers for a token that is no longer valid (410, with the time Apple last saw it
/// valid): push-server deletes the client.
pub fn unregistered() -> Answer {
    Answer::status(410).json(&json!({"reason": "Unregistered", "timestamp": 1_700_000_000_000_u64}))
}

/// A [`FakeProvider`] that answers as APNS does when all is well; every other method is the
/// provider's.
pub struct FakeApns(FakeProvider);

impl Deref for FakeApns {
    type Target = FakeProvider;

    fn deref(&self) -> &FakeProvider {
        &self.0
    }
}

impl FakeApns {
    /// HTTP/2 cleartext (prior knowledge).
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// TLS with `acceptor` (which offers `h2` and may demand a client certificate).
    pub async fn start_tls(acceptor: TlsAcceptor) -> Self {
        Self::start_with(Options::default().tls(acceptor)).await
    }

    /// HTTP/2 cleartext allowing `max_streams` concurrent streams per connection.
    pub async fn with_streams(max_streams: u32) -> Self {
        Self::start_with(Options::default().max_streams(max_streams)).await
    }

    pub async fn start_with(options: Options) -> Self {
        let fake = FakeProvider::start_with(options).await;
        fake.set_default(Reply::Ok);
        Self(fake)
    }
}

/// The PEM (PKCS#8) of a fresh P-256 key, as an APNS `.p8` key file holds it.
pub fn provider_key() -> String {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .expect("P-256 key generation");
    push_server::adapters::pem::armour("PRIVATE KEY", pkcs8.as_ref())
}

/// Checks a provider token: ES256 header with `kid`, claims with `iss` and a recent `iat`, and a
/// signature that verifies with `public_key` (an uncompressed P-256 point).
pub fn verify_provider_token(jwt: &str, public_key: &[u8], key_id: &str, team_id: &str) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    let decode = |p: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap() };
    assert_eq!(decode(parts[0]), json!({"alg": "ES256", "kid": key_id}));
    let claims = decode(parts[1]);
    assert_eq!(claims["iss"], team_id);
    let iat = claims["iat"].as_u64().expect("iat is a number");
    let now = crate::now();
    assert!(iat <= now && now - iat < 120, "iat {iat} is now ({now})");
    assert_eq!(claims.as_object().unwrap().len(), 2, "only iss and iat: {claims}");
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_key)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the provider token's ES256 signature verifies with the key's public half");
}
