//! The Relay client id a device is registered under.

use std::fmt;

use super::{ProjectKey, text::has_space_or_control};

/// Longest client id accepted, in bytes (after the `did:key:` prefix is stripped).
pub const MAX_CLIENT_ID_BYTES: usize = 255;

/// The prefix that the Relay's SDKs sometimes put in front of a client id; both spellings name the
/// same client, so it is stripped before anything else looks at the id.
const DID_KEY_PREFIX: &str = "did:key:";

/// A Relay client id: non-empty, at most 255 bytes, no whitespace or control characters, with any
/// leading `did:key:` removed; scoped to its project.
///
/// The project is part of the id because the same client id in two projects names two clients:
/// equality, stores and dedup keys all see it. `parse` gives an id of the default project;
/// `in_project` moves it to another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId {
    project: ProjectKey,
    id: String,
}

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
        Ok(Self { project: ProjectKey::Default, id: id.to_owned() })
    }

    /// The same id in `project`.
    pub fn in_project(self, project: ProjectKey) -> Self {
        Self { project, ..self }
    }

    /// The id as the client knows it, without its project.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    pub fn project(&self) -> &ProjectKey {
        &self.project
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
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
    fn the_same_id_in_two_projects_is_two_ids() {
        let a = ClientId::parse("c").unwrap();
        let p = crate::domain::ProjectId::parse("p").unwrap();
        let b = a.clone().in_project(ProjectKey::Named(p));
        assert_ne!(a, b);
        assert_eq!(a.as_str(), b.as_str());
        assert!(a.project().is_default());
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
