//! did:key identifiers of Ed25519 public keys: `did:key:z` + base58btc(`0xed 0x01` + 32-byte key),
//! the form in which WalletConnect SDKs name a client (its client id is the part after `did:key:`).

use std::fmt;

use ed25519_dalek::{PUBLIC_KEY_LENGTH, VerifyingKey};

/// The DID method prefix.
pub const DID_KEY_PREFIX: &str = "did:key:";
/// Multibase prefix of base58btc (the Bitcoin alphabet), the only multibase did:key uses for
/// Ed25519 keys.
const BASE58BTC: char = 'z';
/// Multicodec `ed25519-pub` (0xed) as an unsigned varint: `0xed 0x01`.
const ED25519_PUB: [u8; 2] = [0xed, 0x01];

/// An Ed25519 public key named by a did:key. Holding one proves the text decoded to a valid key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DidKey(VerifyingKey);

/// Why a text is not a did:key of an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DidKeyError {
    #[error("does not start with 'did:key:'")]
    NotDidKey,
    #[error("the key is empty")]
    Empty,
    #[error("multibase prefix '{0}' is not 'z' (base58btc)")]
    Multibase(char),
    #[error("is not base58btc: {0}")]
    Base58(String),
    #[error("multicodec is not 0xed01 (an Ed25519 public key)")]
    Multicodec,
    #[error("holds {0} key bytes; an Ed25519 public key has 32")]
    Length(usize),
    #[error("is not a valid Ed25519 public key")]
    NotAKey,
}

impl DidKey {
    /// Parses a full did (`did:key:z6Mk...`).
    pub fn parse(did: &str) -> Result<Self, DidKeyError> {
        Self::parse_multibase(did.strip_prefix(DID_KEY_PREFIX).ok_or(DidKeyError::NotDidKey)?)
    }

    /// Parses the method-specific part (`z6Mk...`), which is what a client id is.
    pub fn parse_multibase(text: &str) -> Result<Self, DidKeyError> {
        let mut chars = text.chars();
        match chars.next() {
            None => return Err(DidKeyError::Empty),
            Some(BASE58BTC) => {}
            Some(other) => return Err(DidKeyError::Multibase(other)),
        }
        let bytes = bs58::decode(chars.as_str()).into_vec().map_err(|e| DidKeyError::Base58(e.to_string()))?;
        let key = bytes.strip_prefix(&ED25519_PUB).ok_or(DidKeyError::Multicodec)?;
        let key: &[u8; PUBLIC_KEY_LENGTH] = key.try_into().map_err(|_| DidKeyError::Length(key.len()))?;
        VerifyingKey::from_bytes(key).map(Self).map_err(|_| DidKeyError::NotAKey)
    }

    pub fn key(&self) -> &VerifyingKey {
        &self.0
    }

    /// The method-specific part, `z` + base58btc(`0xed 0x01` + key): a WalletConnect client id.
    pub fn multibase(&self) -> String {
        let mut bytes = Vec::with_capacity(ED25519_PUB.len() + PUBLIC_KEY_LENGTH);
        bytes.extend_from_slice(&ED25519_PUB);
        bytes.extend_from_slice(self.0.as_bytes());
        format!("{BASE58BTC}{}", bs58::encode(bytes).into_string())
    }
}

impl From<VerifyingKey> for DidKey {
    fn from(key: VerifyingKey) -> Self {
        Self(key)
    }
}

impl fmt::Display for DidKey {
    /// The full did: `did:key:z6Mk...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{DID_KEY_PREFIX}{}", self.multibase())
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;

    // The did:key test vector of the W3C did:key specification (an Ed25519 key).
    const SPEC_VECTOR: &str = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";

    #[test]
    fn decodes_the_specification_vector_and_encodes_it_back() {
        let did = DidKey::parse(SPEC_VECTOR).unwrap();
        assert_eq!(did.to_string(), SPEC_VECTOR);
        assert_eq!(DidKey::parse_multibase(&SPEC_VECTOR[8..]).unwrap(), did);
    }

    #[test]
    fn a_key_round_trips_and_looks_like_a_walletconnect_client_id() {
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        let did = DidKey::from(key);
        assert!(did.multibase().starts_with("z6Mk"));
        assert_eq!(DidKey::parse(&did.to_string()).unwrap().key(), &key);
    }

    #[test]
    fn refuses_each_kind_of_wrong_text() {
        assert_eq!(DidKey::parse("z6Mk"), Err(DidKeyError::NotDidKey));
        assert_eq!(DidKey::parse("did:key:"), Err(DidKeyError::Empty));
        assert_eq!(DidKey::parse_multibase("f00"), Err(DidKeyError::Multibase('f')));
        assert!(matches!(DidKey::parse_multibase("z0OIl"), Err(DidKeyError::Base58(_))));
        // A secp256k1 key's multicodec (0xe7 0x01).
        let secp = format!("z{}", bs58::encode([[0xe7, 0x01].as_slice(), &[2; 33]].concat()).into_string());
        assert_eq!(DidKey::parse_multibase(&secp), Err(DidKeyError::Multicodec));
        let short = format!("z{}", bs58::encode([0xed, 0x01, 1, 2, 3]).into_string());
        assert_eq!(DidKey::parse_multibase(&short), Err(DidKeyError::Length(3)));
    }

    #[test]
    fn the_reasons_read_as_sentences() {
        assert_eq!(DidKeyError::Multibase('f').to_string(), "multibase prefix 'f' is not 'z' (base58btc)");
        assert_eq!(DidKeyError::Length(3).to_string(), "holds 3 key bytes; an Ed25519 public key has 32");
    }
}
