//! The Relay's Ed25519 public key: what every Relay signature is verified with.

use std::fmt;

use ed25519_dalek::VerifyingKey;

/// A valid Ed25519 point, so holding one means signatures can be checked against it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RelayPublicKey(VerifyingKey);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayPublicKeyError {
    #[error("a Relay public key must be 64 hexadecimal characters (32 bytes)")]
    NotHex,
    #[error("the Relay public key is not a valid Ed25519 point")]
    NotAPoint,
}

impl RelayPublicKey {
    /// Parses hex of 32 bytes; surrounding whitespace (a trailing newline from a file or a key
    /// server) is ignored.
    pub fn parse(text: &str) -> Result<Self, RelayPublicKeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| RelayPublicKeyError::NotHex)?;
        VerifyingKey::from_bytes(&bytes).map(Self).map_err(|_| RelayPublicKeyError::NotAPoint)
    }

    pub fn as_verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

impl From<VerifyingKey> for RelayPublicKey {
    fn from(key: VerifyingKey) -> Self {
        Self(key)
    }
}

impl fmt::Debug for RelayPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelayPublicKey({})", hex::encode(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;

    #[test]
    fn parses_hex_with_surrounding_whitespace() {
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        let hex_key = hex::encode(key.to_bytes());
        assert_eq!(RelayPublicKey::parse(&format!(" {hex_key}\n")).unwrap(), RelayPublicKey::from(key));
        assert_eq!(RelayPublicKey::parse(&hex_key.to_uppercase()).unwrap(), RelayPublicKey::from(key));
    }

    #[test]
    fn refuses_what_is_not_a_key() {
        assert_eq!(RelayPublicKey::parse("abcd"), Err(RelayPublicKeyError::NotHex));
        assert_eq!(RelayPublicKey::parse(&"g".repeat(64)), Err(RelayPublicKeyError::NotHex));
        assert_eq!(RelayPublicKey::parse(&"0".repeat(66)), Err(RelayPublicKeyError::NotHex));
    }
}
