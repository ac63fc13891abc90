//! The Relay client id a device is registered under.

use std::fmt;

use super::text::has_space_or_control;

/// Longest client id accepted, in bytes (after the `did:key:` prefix is stripped).
pub const MAX_CLIENT_ID_BYTES: usize = 255;

/// The prefix that the Relay's SDKs sometimes put in front of a client id; both spellings name the
/// same client, so it is stripped before anything else looks at the id.
const DID_KEY_PREFIX: &str = "did:key:";

/// A Relay client id: non-empty, at most 255 bytes, no whitespace or control characters, with any
/// leading `did:key:` removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientIdError {
    #[error("client id must not be empty")]
    Empty,
    #[error("client id is {0} bytes long; at most {MAX_CLIENT_ID_BYTES} are allowed")]
    TooLong(usize),
    #[error("client id must not contain whitespace or control characters")]
    BadCharacter,
}

impl ClientId {
    pub fn parse(raw: &str) -> Result<Self, ClientIdError> {
        let id = raw.strip_prefix(DID_KEY_PREFIX).unwrap_or(raw);
        if id.is_empty() {
            return Err(ClientIdError::Empty);
        }
        if id.len() > MAX_CLIENT_ID_BYTES {
            return Err(ClientIdError::TooLong(id.len()));
        }
        if has_space_or_control(id) {
            return Err(ClientIdError::BadCharacter);
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_did_key_prefix_once() {
        assert_eq!(ClientId::parse("did:key:z6Mk").unwrap().as_str(), "z6Mk");
        assert_eq!(ClientId::parse("z6Mk").unwrap().as_str(), "z6Mk");
        assert_eq!(ClientId::parse("did:key:did:key:a").unwrap().as_str(), "did:key:a");
    }

    #[test]
    fn bare_prefix_is_empty() {
        assert_eq!(ClientId::parse("did:key:"), Err(ClientIdError::Empty));
        assert_eq!(ClientId::parse(""), Err(ClientIdError::Empty));
    }

    #[test]
    fn length_is_counted_after_stripping() {
        let max = "a".repeat(255);
        assert!(ClientId::parse(&format!("did:key:{max}")).is_ok());
        assert_eq!(ClientId::parse(&"é".repeat(128)), Err(ClientIdError::TooLong(256)));
    }

    #[test]
    fn rejects_whitespace_and_control_characters() {
        for bad in ["a b", "a\tb", "a\nb", "a\u{0}b", "a\u{7f}b", "a\u{a0}b"] {
            assert_eq!(ClientId::parse(bad), Err(ClientIdError::BadCharacter), "{bad:?}");
        }
    }
}
