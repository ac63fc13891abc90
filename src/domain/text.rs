//! Small text predicates shared by the identifier types.

/// True when `s` contains whitespace or a control character, which no identifier may hold.
pub(crate) fn has_space_or_control(s: &str) -> bool {
    s.chars().any(|c| c.is_whitespace() || c.is_control())
}
