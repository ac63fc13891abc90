//! One rejected input value and why, as reported back to the caller.

/// A value the caller supplied that broke a rule. `field` is the name the caller used
/// (`client_id`, `payload.blob`, ...); the HTTP adapter adds where it was (body, path, header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidField {
    pub field: &'static str,
    pub description: String,
}

impl InvalidField {
    pub fn new(field: &'static str, description: impl Into<String>) -> Self {
        Self { field, description: description.into() }
    }
}
