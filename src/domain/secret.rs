//! A value that must never be printed: key material and passwords.

use std::fmt;

/// Holds a secret; `Debug` prints a placeholder, and there is no `Display`. Reading it takes an
/// explicit `expose()`, which makes every use easy to find.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}
