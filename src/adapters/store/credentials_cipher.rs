//! AES-256-GCM encryption of project credentials at rest, under `CREDENTIALS_KEY`.
//!
//! Several keys rotate: the first encrypts, any decrypts. A sealed value names its key by a
//! short id (the first bytes of the key's SHA-256), so opening needs no trial; a value whose id
//! matches no key is tried under every key all the same, which costs little and survives an id
//! collision. The additional data binds a value to its project and slot, so a value copied to
//! another project or from the APNS to the FCM column does not open.
//!
//! Sealed layout (then base64): version byte `1`, 4-byte key id, 12-byte nonce, ciphertext and tag.

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    digest::{SHA256, digest},
};
use base64::{Engine, engine::general_purpose::STANDARD};

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

struct Key {
    id: [u8; KEY_ID_LEN],
    key: LessSafeKey,
}

/// The keys from `CREDENTIALS_KEY`.
pub struct CredentialsCipher {
    keys: Vec<Key>,
}

impl std::fmt::Debug for CredentialsCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CredentialsCipher({} key(s))", self.keys.len())
    }
}

impl CredentialsCipher {
    /// Parses comma-separated keys of 64 hex characters (32 bytes) each. Errors never repeat a key.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (n, part) in text.split(',').map(str::trim).enumerate() {
            let bytes = hex::decode(part)
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| format!("key {} is not 64 hex characters (32 bytes)", n + 1))?;
            let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| "invalid AES-256 key")?);
            let mut id = [0; KEY_ID_LEN];
            id.copy_from_slice(&digest(&SHA256, &bytes).as_ref()[..KEY_ID_LEN]);
            keys.push(Key { id, key });
        }
        if keys.is_empty() {
            return Err("no key given".into());
        }
        Ok(Self { keys })
    }

    /// Encrypts `plaintext` under the first key, bound to `context` (project and slot).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> String {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the system random source works");
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&key.id);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        key.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut body)
            .expect("AES-GCM sealing cannot fail for inputs this small");
        out.extend_from_slice(&body);
        STANDARD.encode(out)
    }

    /// Decrypts a sealed value bound to `context`, under whichever key sealed it.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, String> {
        let bytes = STANDARD.decode(sealed).map_err(|_| "sealed credentials are not base64".to_owned())?;
        if bytes.len() < HEADER_LEN + 16 || bytes[0] != VERSION {
            return Err("sealed credentials have an unknown layout".into());
        }
        let (id, rest) = bytes[1..].split_at(KEY_ID_LEN);
        let (nonce, body) = rest.split_at(NONCE_LEN);
        // The named key first, then every other one.
        let ordered = self.keys.iter().filter(|k| k.id == id).chain(self.keys.iter().filter(|k| k.id != id));
        for key in ordered {
            let mut buf = body.to_vec();
            let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| "bad nonce".to_owned())?;
            if let Ok(plain) = key.key.open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf) {
                return Ok(plain.to_vec());
            }
        }
        Err("sealed credentials do not open under any CREDENTIALS_KEY".into())
    }

    /// Whether a sealed value is under another key than the first (and so due for rotation).
    pub fn is_stale(&self, sealed: &str) -> bool {
        STANDARD.decode(sealed).map_or(true, |b| b.get(1..1 + KEY_ID_LEN) != Some(&self.keys[0].id[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    #[test]
    fn round_trip_bound_to_context() {
        let c = CredentialsCipher::parse(A).unwrap();
        let sealed = c.seal("p/apns", b"-----BEGIN PRIVATE KEY-----");
        assert!(!sealed.contains("PRIVATE"));
        assert_eq!(c.open("p/apns", &sealed).unwrap(), b"-----BEGIN PRIVATE KEY-----");
        assert!(c.open("q/apns", &sealed).is_err(), "bound to its project");
        assert!(c.open("p/fcm", &sealed).is_err(), "bound to its slot");
    }

    #[test]
    fn rotation_first_encrypts_any_decrypts() {
        let old = CredentialsCipher::parse(A).unwrap();
        let sealed = old.seal("p/fcm", b"secret");
        let both = CredentialsCipher::parse(&format!("{B},{A}")).unwrap();
        assert_eq!(both.open("p/fcm", &sealed).unwrap(), b"secret");
        assert!(both.is_stale(&sealed));
        let resealed = both.seal("p/fcm", b"secret");
        assert!(!both.is_stale(&resealed));
        assert!(old.open("p/fcm", &resealed).is_err());
        assert!(CredentialsCipher::parse(B).unwrap().open("p/fcm", &resealed).is_ok());
    }

    #[test]
    fn bad_keys_are_refused_without_echo() {
        for bad in ["", "zz", &A[..62], &format!("{A},nothex")] {
            let e = CredentialsCipher::parse(bad).unwrap_err();
            assert!(!e.contains(&A[..10]), "{e}");
        }
    }
}
