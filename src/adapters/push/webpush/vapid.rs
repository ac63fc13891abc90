//! VAPID (RFC 8292): the application server's P-256 key pair, and the ES256 JWT that identifies
//! it to a push service, `Authorization: vapid t=<JWT>, k=<public key>`. A JWT names one push
//! service origin (`aud`); each origin's is minted once and reused until it nears its expiry.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rustls_pki_types::{PrivateKeyDer, pem::PemObject};
use serde_json::json;

use crate::adapters::pem::armour;

/// How long a JWT is valid: half of the 24 hours RFC 8292 allows, so a push service whose clock
/// runs ahead still takes it.
pub const LIFETIME_SECS: u64 = 12 * 60 * 60;
/// A cached JWT is replaced once it has less than this left.
pub const RENEW_BEFORE_SECS: u64 = 60 * 60;

/// A VAPID key pair.
pub struct VapidKey {
    pair: EcdsaKeyPair,
}

impl std::fmt::Debug for VapidKey {
    /// Never prints the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey").field("public_key", &self.public_key_base64url()).finish_non_exhaustive()
    }
}

impl VapidKey {
    /// A P-256 private key in PEM, PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`), as
    /// `push-server keygen --vapid` and `openssl ecparam -genkey -name prime256v1` write it.
    pub fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|_| "is not a PEM private key (PKCS#8 or SEC1 EC)".to_owned())?;
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_der())
            .map_err(|_| "is not an EC P-256 private key, which VAPID needs".to_owned())?;
        Ok(Self { pair })
    }

    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Result<Self, String> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| "the operating system gave no random bytes".to_owned())?;
        Ok(Self { pair })
    }

    /// The private key as PKCS#8 PEM (what `from_pem` reads back).
    pub fn to_pem(&self) -> String {
        let der = self.pair.to_pkcs8v1().expect("a P-256 key serializes as PKCS#8");
        armour("PRIVATE KEY", der.as_ref())
    }

    /// The uncompressed public point (65 bytes).
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The public key as pages pass it to `pushManager.subscribe({applicationServerKey})`.
    pub fn public_key_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public_key())
    }

    /// The JWT for `audience` (a push service origin), valid until `expires` (unix seconds).
    pub fn sign(&self, audience: &str, subject: &str, expires: u64) -> String {
        let header = json!({"typ": "JWT", "alg": "ES256"});
        let claims = json!({"aud": audience, "exp": expires, "sub": subject});
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        // The FIXED algorithm yields the 64-byte r||s that JWS wants, not ASN.1 DER.
        let signature =
            self.pair.sign(&SystemRandom::new(), signing_input.as_bytes()).expect("ECDSA P-256 signing does not fail");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// One project's VAPID identity: its key, its subject (`mailto:` or `https:`), and the
/// `Authorization` value of each origin it has sent to.
pub struct Vapid {
    key: VapidKey,
    subject: String,
    cache: Mutex<HashMap<String, (String, u64)>>,
}

impl Vapid {
    pub fn new(key: VapidKey, subject: String) -> Self {
        Self { key, subject, cache: Mutex::default() }
    }

    pub fn key(&self) -> &VapidKey {
        &self.key
    }

    /// `vapid t=<JWT>, k=<public key>` for `origin` (`https://host[:port]`), reused while it has
    /// more than `RENEW_BEFORE_SECS` to live.
    pub fn authorization(&self, origin: &str) -> String {
        let now = unix_now();
        let mut cache = self.cache.lock().expect("VAPID cache lock");
        match cache.get(origin) {
            Some((value, expires)) if *expires > now + RENEW_BEFORE_SECS => return value.clone(),
            _ => {}
        }
        let expires = now + LIFETIME_SECS;
        let value =
            format!("vapid t={}, k={}", self.key.sign(origin, &self.subject, expires), self.key.public_key_base64url());
        cache.insert(origin.to_owned(), (value.clone(), expires));
        value
    }
}

/// A subject RFC 8292 §2.1 accepts: a `mailto:` address or an `https:` URL the push service's
/// operator can reach the sender at.
pub fn check_subject(subject: &str) -> Result<(), String> {
    let ok = (subject.starts_with("mailto:") && subject.len() > "mailto:".len())
        || (subject.starts_with("https://") && subject.len() > "https://".len());
    if !ok || subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("'{subject}' must be a mailto: address or an https:// URL"));
    }
    Ok(())
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
    use serde_json::Value;

    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_pem_and_signs_verifiable_jwts() {
        let key = VapidKey::generate().unwrap();
        let again = VapidKey::from_pem(key.to_pem().as_bytes()).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        assert_eq!(key.public_key().len(), 65);
        let jwt = again.sign("https://push.example", "mailto:ops@example.com", 1_900_000_000);
        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.public_key())
            .verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap())
            .unwrap();
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(signed.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(
            claims,
            json!({"aud": "https://push.example", "exp": 1_900_000_000u64, "sub": "mailto:ops@example.com"})
        );
    }

    #[test]
    fn refuses_keys_that_are_not_p256() {
        assert!(VapidKey::from_pem(b"not a key").is_err());
        let p384 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &SystemRandom::new(),
        )
        .unwrap();
        assert!(VapidKey::from_pem(armour("PRIVATE KEY", p384.as_ref()).as_bytes()).is_err());
    }

    #[test]
    fn one_authorization_per_origin_is_reused() {
        let vapid = Vapid::new(VapidKey::generate().unwrap(), "mailto:a@b.c".into());
        let first = vapid.authorization("https://one.example");
        assert_eq!(vapid.authorization("https://one.example"), first);
        assert_ne!(vapid.authorization("https://two.example"), first);
        assert!(
            first.starts_with("vapid t=") && first.ends_with(&format!(", k={}", vapid.key().public_key_base64url()))
        );
    }

    #[test]
    fn subjects() {
        assert!(check_subject("mailto:ops@example.com").is_ok());
        assert!(check_subject("https://wallet.example/contact").is_ok());
        for bad in ["", "mailto:", "http://wallet.example", "ops@example.com", "mailto:a b"] {
            assert!(check_subject(bad).is_err(), "{bad}");
        }
    }
}
