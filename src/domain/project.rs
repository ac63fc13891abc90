//! Which project a client, a dedup claim or a provider belongs to: the default project (the
//! providers configured by environment, served under `/clients...`) or a named one.

use std::fmt;

use super::ProjectId;

/// The project a value is scoped to. Stores key rows by [`ProjectKey::storage_key`]: the empty
/// text for the default project, which no valid `ProjectId` can be, so the default project can
/// never collide with a created one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProjectKey {
    /// The environment-configured project (`/clients...`, and `/{DEFAULT_PROJECT_ID}/clients...`).
    Default,
    Named(ProjectId),
}

impl ProjectKey {
    /// The text stores and dedup keys use for this project.
    pub fn storage_key(&self) -> &str {
        match self {
            ProjectKey::Default => "",
            ProjectKey::Named(id) => id.as_str(),
        }
    }

    /// The project back from its storage key; `None` for text no project has.
    pub fn from_storage_key(key: &str) -> Option<Self> {
        if key.is_empty() { Some(ProjectKey::Default) } else { ProjectId::parse(key).ok().map(ProjectKey::Named) }
    }

    /// A label for logs and metrics: the id, or `default`.
    pub fn label(&self) -> &str {
        match self {
            ProjectKey::Default => "default",
            ProjectKey::Named(id) => id.as_str(),
        }
    }

    pub fn is_default(&self) -> bool {
        matches!(self, ProjectKey::Default)
    }
}

impl fmt::Display for ProjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_storage_key_is_no_project_id() {
        assert_eq!(ProjectKey::Default.storage_key(), "");
        assert!(ProjectId::parse("").is_err());
        let named = ProjectKey::Named(ProjectId::parse("w1").unwrap());
        assert_eq!(ProjectKey::from_storage_key(named.storage_key()), Some(named));
        assert_eq!(ProjectKey::from_storage_key(""), Some(ProjectKey::Default));
        assert_eq!(ProjectKey::from_storage_key("a b"), None);
    }
}
