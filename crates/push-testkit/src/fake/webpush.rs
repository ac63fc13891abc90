//! The fake provider as an RFC 8030 push service (answering `201 Created` unless told otherwise),
//! and a test "browser": its own P-256 key and auth secret, the subscription it would hand a page,
//! an RFC 8291 `aes128gcm` decryption written here from the RFC with aws-lc-rs (not the library
//! push-server encrypts with, so the two must agree on the RFC), and the RFC 8292 check of the
//! VAPID authorization against the published public key.

use std::ops::Deref;

use aws_lc_rs::{
    aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey},
    agreement::{self, ECDH_P256, PrivateKey},
    hmac,
    rand::{SecureRandom, SystemRandom},
    signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, UnparsedPublicKey},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::{Answer, FakeProvider, Options, Recorded};

/// The path prefix of the fake's subscriptions: `/push/{id}`.
pub const PUSH_PATH: &str = "/push/";

/// A [`FakeProvider`] that answers as a push service does when all is well (`201`); every other
/// method is the provider's.
pub struct FakePushService(FakeProvider);

impl Deref for FakePushService {
    type Target = FakeProvider;
    fn deref(&self) -> &FakeProvider {
        &self.0
    }
}

impl FakePushService {
    /// Cleartext HTTP/1.1 (and HTTP/2 with prior knowledge) on loopback.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let fake = FakeProvider::start_with(options).await;
        fake.set_default(Answer::status(201).header("location", "https://push.example/m/1"));
        Self(fake)
    }

    /// The endpoint of subscription `id` on this service (`http://127.0.0.1:{port}/push/{id}`).
    pub fn endpoint(&self, id: &str) -> String {
        format!("{}{PUSH_PATH}{id}", self.url())
    }

    /// `host:port`, as `WEBPUSH_ALLOWED_HOSTS` names this service.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// The origin (`http://127.0.0.1:{port}`), which the VAPID JWT's `aud` must be.
    pub fn origin(&self) -> String {
        self.url()
    }
}

/// A browser's Push API state for one subscription: the user agent's ECDH key pair and auth
/// secret.
pub struct Browser {
    private: PrivateKey,
    public: Vec<u8>,
    auth: [u8; 16],
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        let private = PrivateKey::generate(&ECDH_P256).expect("P-256 key generation");
        let public = private.compute_public_key().expect("public key").as_ref().to_vec();
        let mut auth = [0u8; 16];
        SystemRandom::new().fill(&mut auth).expect("random bytes");
        Self { private, public, auth }
    }

    /// `PushSubscription.toJSON()` for `endpoint`.
    pub fn subscription(&self, endpoint: &str) -> Value {
        json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": {"p256dh": URL_SAFE_NO_PAD.encode(&self.public), "auth": URL_SAFE_NO_PAD.encode(self.auth)},
        })
    }

    /// Decrypts an `aes128gcm` body (RFC 8188 framing, RFC 8291 keys) that holds one record, as
    /// the browser does before the service worker's `push` event; panics with the reason when it
    /// is not one.
    pub fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        assert!(body.len() > 21, "an aes128gcm body has a header");
        let salt = &body[..16];
        let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
        let id_len = body[20] as usize;
        assert_eq!(id_len, 65, "the key id is the sender's uncompressed P-256 key");
        let sender = &body[21..21 + id_len];
        let ciphertext = &body[21 + id_len..];
        assert!(
            ciphertext.len() <= record_size,
            "one record: {} bytes in a record size of {record_size}",
            ciphertext.len()
        );
        let ecdh =
            agreement::agree(&self.private, agreement::UnparsedPublicKey::new(&ECDH_P256, sender), "ECDH", |secret| {
                Ok(secret.to_vec())
            })
            .expect("the sender's key is a P-256 point");
        // RFC 8291 §3.3-3.4: IKM from the auth secret, the ECDH secret and both public keys.
        let mut key_info = b"WebPush: info\0".to_vec();
        key_info.extend_from_slice(&self.public);
        key_info.extend_from_slice(sender);
        let ikm = hkdf(&self.auth, &ecdh, &key_info, 32);
        // RFC 8188 §2.2-2.3: the content key and nonce from the salt.
        let cek = hkdf(salt, &ikm, b"Content-Encoding: aes128gcm\0", 16);
        let nonce = hkdf(salt, &ikm, b"Content-Encoding: nonce\0", 12);
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).unwrap());
        let mut record = ciphertext.to_vec();
        let plain = key
            .open_in_place(Nonce::try_assume_unique_for_key(&nonce).unwrap(), Aad::empty(), &mut record)
            .expect("the record decrypts and authenticates with the browser's keys");
        // The last record ends with the delimiter 0x02, then zero padding.
        let end = plain.iter().rposition(|b| *b != 0).expect("a delimiter");
        assert_eq!(plain[end], 2, "the only record is the last one (delimiter 0x02)");
        plain[..end].to_vec()
    }

    /// The decrypted body as JSON, the way a service worker reads `event.data.json()`.
    pub fn decrypt_json(&self, request: &Recorded) -> Value {
        serde_json::from_slice(&self.decrypt(&request.body)).expect("the plaintext is JSON")
    }
}

/// HKDF-SHA-256 (RFC 5869) with one block of output, `len` bytes of it.
fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), ikm);
    let mut input = info.to_vec();
    input.push(1);
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()), &input).as_ref()[..len].to_vec()
}

/// The PEM (PKCS#8) of a fresh P-256 key, as `push-server keygen --vapid` writes one.
pub fn vapid_key() -> String {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .expect("P-256 key generation");
    push_server::adapters::pem::armour("PRIVATE KEY", pkcs8.as_ref())
}

/// Checks a push request as a push service does (RFC 8292, RFC 8030): `Authorization: vapid
/// t=<JWT>, k=<key>` with `k` the published key (base64url), an ES256 JWT that verifies with it,
/// `aud` = `origin`, `exp` in the future and at most 24 h ahead, `sub` = `subject`; and the
/// headers of an encrypted push message.
pub fn check_push_request(request: &Recorded, public_key: &str, origin: &str, subject: &str) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-encoding"), Some("aes128gcm"));
    assert_eq!(request.header("urgency"), Some("high"));
    assert!(request.header("ttl").and_then(|t| t.parse::<u64>().ok()).is_some(), "TTL header");
    let authorization = request.header("authorization").expect("an Authorization header");
    let rest = authorization.strip_prefix("vapid ").unwrap_or_else(|| panic!("vapid scheme: {authorization}"));
    let mut jwt = None;
    let mut key = None;
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => jwt = Some(v),
            Some(("k", v)) => key = Some(v),
            _ => panic!("unexpected authorization parameter in {authorization}"),
        }
    }
    let (jwt, key) = (jwt.expect("t="), key.expect("k="));
    assert_eq!(key, public_key, "k is the published VAPID public key");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    let decode = |p: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap() };
    assert_eq!(decode(parts[0])["alg"], "ES256");
    let claims = decode(parts[1]);
    assert_eq!(claims["aud"], origin, "aud is the push service's origin");
    assert_eq!(claims["sub"], subject);
    let exp = claims["exp"].as_u64().expect("exp is a number");
    let now = crate::now();
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp} within 24 h of now ({now})");
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, URL_SAFE_NO_PAD.decode(key).unwrap())
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
        .expect("the VAPID JWT's ES256 signature verifies with the published key");
}
