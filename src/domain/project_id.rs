//! The id of a project (one wallet app) as it appears in `/{project_id}/clients...`.

use std::fmt;

/// Longest project id accepted, in characters (all ASCII, so also bytes).
pub const MAX_PROJECT_ID_LEN: usize = 64;

/// Ids that name other routes of the server (`/admin/...`, `/clients`, `/health`, ...); a project
/// under one of them could never be reached, so none may be created.
pub const RESERVED_PROJECT_IDS: &[&str] =
    &["admin", "clients", "health", "metrics", "docs", "openapi.json", "openapi.yaml"];

/// A project id: 1 to 64 characters of `A-Z a-z 0-9 _ -`, not one of the reserved names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectIdError {
    #[error("project id must not be empty")]
    Empty,
    #[error("project id is {0} characters long; at most {MAX_PROJECT_ID_LEN} are allowed")]
    TooLong(usize),
    #[error("project id may only hold the characters A-Z a-z 0-9 _ -")]
    BadCharacter,
    #[error("project id '{0}' is reserved")]
    Reserved(String),
}

impl ProjectId {
    pub fn parse(raw: &str) -> Result<Self, ProjectIdError> {
        if raw.is_empty() {
            return Err(ProjectIdError::Empty);
        }
        // The reserved names are checked first: `openapi.json` has a dot and would otherwise be
        // reported as a bad character, which hides the real reason.
        if RESERVED_PROJECT_IDS.contains(&raw) {
            return Err(ProjectIdError::Reserved(raw.to_owned()));
        }
        if !raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(ProjectIdError::BadCharacter);
        }
        if raw.len() > MAX_PROJECT_ID_LEN {
            return Err(ProjectIdError::TooLong(raw.len()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet_up_to_64() {
        assert!(ProjectId::parse("a").is_ok());
        assert!(ProjectId::parse("Wallet_app-01").is_ok());
        assert!(ProjectId::parse(&"x".repeat(64)).is_ok());
        assert_eq!(ProjectId::parse(&"x".repeat(65)), Err(ProjectIdError::TooLong(65)));
    }

    #[test]
    fn refuses_other_characters_and_empty() {
        assert_eq!(ProjectId::parse(""), Err(ProjectIdError::Empty));
        for bad in ["a b", "a/b", "a.b", "é", "a:b", "did:key:z"] {
            assert_eq!(ProjectId::parse(bad), Err(ProjectIdError::BadCharacter), "{bad:?}");
        }
    }

    #[test]
    fn refuses_reserved_names() {
        for name in RESERVED_PROJECT_IDS {
            assert!(matches!(ProjectId::parse(name), Err(ProjectIdError::Reserved(_))), "{name}");
        }
        assert!(ProjectId::parse("Admin").is_ok(), "reserved names are matched exactly, as routes are");
    }
}
