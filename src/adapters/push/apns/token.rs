//! The APNS provider token (token auth): an ES256 JWT signed with the team's `.p8` key, minted
//! once and reused, because Apple refuses tokens refreshed more often than every 20 minutes
//! (`TooManyProviderTokenUpdates`) and tokens older than 60 minutes (`ExpiredProviderToken`).

use std::{
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rustls_pki_types::{PrivatePkcs8KeyDer, pem::PemObject};
use serde_json::json;

/// A token is replaced once it is this old (seconds): in the middle of Apple's 20–60 minute
/// window, so neither limit is ever close.
pub const REFRESH_AFTER_SECS: u64 = 40 * 60;

/// After APNS rejected a token, a new one is minted at most this often (seconds). A second
/// rejection right after a refresh means the key itself is refused (wrong key id, revoked key,
/// clock far off); minting on every send would then only earn `TooManyProviderTokenUpdates`.
pub const MIN_FORCED_REFRESH_SECS: u64 = 20 * 60;

/// Wall-clock seconds since the Unix epoch. The token's `iat` claim is wall-clock time, so the
/// cache is driven by the same clock, injected so tests can move it.
pub trait Clock: Send + Sync {
    fn unix_now(&self) -> u64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_now(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

/// Signs provider tokens with one `.p8` key.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    key_id: String,
    team_id: String,
    rng: SystemRandom,
}

impl TokenSigner {
    /// A signer for the PKCS#8 PEM key that Apple hands out as `AuthKey_<KEYID>.p8`. Refuses
    /// anything that is not a P-256 key, so a wrong file stops start-up instead of every send.
    pub fn from_pem(pem: &[u8], key_id: &str, team_id: &str) -> Result<Self, String> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem)
            .map_err(|_| "is not a PKCS#8 PEM private key (expected the .p8 file from Apple)".to_owned())?;
        Self::from_pkcs8_der(der.secret_pkcs8_der(), key_id, team_id)
    }

    pub fn from_pkcs8_der(der: &[u8], key_id: &str, team_id: &str) -> Result<Self, String> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| "is not an EC P-256 private key, which ES256 provider tokens need".to_owned())?;
        Ok(Self { key, key_id: key_id.to_owned(), team_id: team_id.to_owned(), rng: SystemRandom::new() })
    }

    /// The public half as an uncompressed SEC1 point, for tests that verify signatures.
    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// `base64url(header).base64url(claims).base64url(r || s)`, as RFC 7515 wants for ES256.
    pub fn sign(&self, issued_at: u64) -> String {
        let header = json!({"alg": "ES256", "kid": self.key_id});
        let claims = json!({"iss": self.team_id, "iat": issued_at});
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        // The FIXED algorithm yields the 64-byte r||s form JWS needs, not ASN.1 DER.
        let signature = self.key.sign(&self.rng, signing_input.as_bytes()).expect("ECDSA P-256 signing does not fail");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// The provider token in use and when it was minted.
#[derive(Clone)]
struct Minted {
    jwt: Arc<str>,
    issued_at: u64,
}

#[derive(Default)]
struct State {
    current: Option<Minted>,
    last_forced_refresh: Option<u64>,
}

/// The cached provider token, shared by every request to both endpoints (one token is valid for
/// production and sandbox alike).
pub struct ProviderTokens {
    signer: TokenSigner,
    clock: Arc<dyn Clock>,
    // A std mutex: it is held only to compare numbers and, rarely, to sign (microseconds), never
    // across an await.
    state: Mutex<State>,
}

impl ProviderTokens {
    pub fn new(signer: TokenSigner, clock: Arc<dyn Clock>) -> Self {
        Self { signer, clock, state: Mutex::new(State::default()) }
    }

    /// The token to send now: the cached one, or a new one when there is none yet or it has
    /// reached `REFRESH_AFTER_SECS`.
    pub fn current(&self) -> Arc<str> {
        let now = self.clock.unix_now();
        let mut state = self.state.lock().expect("provider token lock poisoned");
        match &state.current {
            Some(m) if now.saturating_sub(m.issued_at) < REFRESH_AFTER_SECS => m.jwt.clone(),
            _ => self.mint(&mut state, now),
        }
    }

    /// APNS refused `rejected` (403). Returns whether a retry with `current()` is worth it: yes
    /// when another request already replaced that token, or when a new one may be minted now (at
    /// most once per `MIN_FORCED_REFRESH_SECS`); no when a fresh token was already refused.
    pub fn refresh_rejected(&self, rejected: &str) -> bool {
        let now = self.clock.unix_now();
        let mut state = self.state.lock().expect("provider token lock poisoned");
        if state.current.as_ref().is_some_and(|m| &*m.jwt != rejected) {
            return true;
        }
        if state.last_forced_refresh.is_some_and(|t| now.saturating_sub(t) < MIN_FORCED_REFRESH_SECS) {
            return false;
        }
        state.last_forced_refresh = Some(now);
        self.mint(&mut state, now);
        true
    }

    fn mint(&self, state: &mut State, now: u64) -> Arc<str> {
        let jwt: Arc<str> = self.signer.sign(now).into();
        state.current = Some(Minted { jwt: jwt.clone(), issued_at: now });
        tracing::debug!(issued_at = now, "minted a new APNS provider token");
        jwt
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED_SIGNING, UnparsedPublicKey};
    use serde_json::Value;

    use super::*;

    struct ManualClock(AtomicU64);

    impl ManualClock {
        fn advance(&self, secs: u64) {
            self.0.fetch_add(secs, Ordering::SeqCst);
        }
    }

    impl Clock for ManualClock {
        fn unix_now(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn pem(der: &[u8]) -> String {
        crate::adapters::pem::armour("PRIVATE KEY", der)
    }

    fn signer() -> TokenSigner {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        TokenSigner::from_pem(pem(doc.as_ref()).as_bytes(), "KEY123ABCD", "TEAM456XYZ").unwrap()
    }

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn token_has_the_apple_header_and_claims_and_a_valid_es256_signature() {
        let signer = signer();
        let jwt = signer.sign(1_700_000_000);
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(decode(parts[0]), json!({"alg": "ES256", "kid": "KEY123ABCD"}));
        assert_eq!(decode(parts[1]), json!({"iss": "TEAM456XYZ", "iat": 1_700_000_000}));
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!(signature.len(), 64, "JWS ES256 signatures are r||s, not DER");
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, signer.public_key());
        public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).expect("signature verifies");
        assert!(public.verify(b"something else", &signature).is_err());
    }

    #[test]
    fn refuses_keys_that_cannot_sign_es256() {
        let p384 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        let err = TokenSigner::from_pem(pem(p384.as_ref()).as_bytes(), "K", "T").err().unwrap();
        assert!(err.contains("P-256"), "{err}");
        let err = TokenSigner::from_pem(b"not a key", "K", "T").err().unwrap();
        assert!(err.contains("PKCS#8"), "{err}");
        let err = TokenSigner::from_pem(pem(b"garbage").as_bytes(), "K", "T").err().unwrap();
        assert!(err.contains("P-256"), "{err}");
    }

    fn tokens() -> (ProviderTokens, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock(AtomicU64::new(1_700_000_000)));
        (ProviderTokens::new(signer(), clock.clone()), clock)
    }

    fn issued_at(jwt: &str) -> u64 {
        decode(jwt.split('.').nth(1).unwrap())["iat"].as_u64().unwrap()
    }

    #[test]
    fn a_token_is_reused_under_20_minutes_and_replaced_by_60() {
        let (tokens, clock) = tokens();
        let first = tokens.current();
        assert_eq!(issued_at(&first), 1_700_000_000);
        clock.advance(19 * 60);
        assert_eq!(tokens.current(), first, "reused at 19 minutes");
        clock.advance(20 * 60);
        assert_eq!(tokens.current(), first, "still reused at 39 minutes");
        clock.advance(60);
        let second = tokens.current();
        assert_ne!(second, first, "replaced at 40 minutes");
        assert_eq!(issued_at(&second), 1_700_000_000 + 40 * 60);
        clock.advance(30 * 60);
        assert_eq!(tokens.current(), second);
        clock.advance(10 * 60);
        assert_ne!(tokens.current(), second, "never older than 60 minutes");
    }

    #[test]
    fn a_rejected_token_is_replaced_once_then_not_again_for_20_minutes() {
        let (tokens, clock) = tokens();
        let first = tokens.current();
        assert!(tokens.refresh_rejected(&first));
        let second = tokens.current();
        assert_ne!(second, first);
        // A late rejection of the old token by a concurrent request: the new one is already there.
        assert!(tokens.refresh_rejected(&first));
        assert_eq!(tokens.current(), second);
        // The fresh token is refused too: the key is the problem, do not mint again yet.
        clock.advance(5 * 60);
        assert!(!tokens.refresh_rejected(&second));
        assert_eq!(tokens.current(), second);
        clock.advance(15 * 60);
        assert!(tokens.refresh_rejected(&second));
        assert_ne!(tokens.current(), second);
    }
}
