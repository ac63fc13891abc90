//! The Relay's id for one notification, the de-duplication key.

use std::fmt;

/// Longest notification id accepted, in bytes.
pub const MAX_NOTIFICATION_ID_BYTES: usize = 255;

/// A notification id chosen by the Relay: non-empty, at most 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotificationId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationIdError {
    #[error("id must not be empty")]
    Empty,
    #[error("id is {0} bytes long; at most {MAX_NOTIFICATION_ID_BYTES} are allowed")]
    TooLong(usize),
}

impl NotificationId {
    pub fn parse(raw: &str) -> Result<Self, NotificationIdError> {
        if raw.is_empty() {
            return Err(NotificationIdError::Empty);
        }
        if raw.len() > MAX_NOTIFICATION_ID_BYTES {
            return Err(NotificationIdError::TooLong(raw.len()));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NotificationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(NotificationId::parse(""), Err(NotificationIdError::Empty));
        assert!(NotificationId::parse(&"x".repeat(255)).is_ok());
        assert_eq!(NotificationId::parse(&"x".repeat(256)), Err(NotificationIdError::TooLong(256)));
        assert_eq!(NotificationId::parse("0000-0000").unwrap().as_str(), "0000-0000");
    }
}
