//! The raw form of a notification that newer Relays send: `{topic, tag, message}`, and the
//! de-duplication id it gets from the SHA-256 of its message.

use aws_lc_rs::digest::{SHA256, digest};

use super::{NotificationId, Topic};

/// The raw form's `message`: an opaque, non-empty string that only the wallet can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("message must not be empty")]
pub struct RawMessageError;

impl RawMessage {
    pub fn parse(raw: &str) -> Result<Self, RawMessageError> {
        if raw.is_empty() {
            return Err(RawMessageError);
        }
        Ok(Self(raw.to_owned()))
    }
}

/// A raw notification: the topic, the Relay's `tag` (an unsigned 32-bit integer, passed on
/// untouched) and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPayload {
    topic: Topic,
    tag: u32,
    message: RawMessage,
}

impl RawPayload {
    pub fn new(topic: Topic, tag: u32, message: RawMessage) -> Self {
        Self { topic, tag, message }
    }

    pub fn topic(&self) -> &Topic {
        &self.topic
    }
    pub fn tag(&self) -> u32 {
        self.tag
    }
    pub fn message(&self) -> &str {
        &self.message.0
    }

    /// The raw form carries no id, so the message itself names it: the lower-case hex SHA-256
    /// of `message`, in the same dedup space as the Relay's ids (64 characters fit an id's 255
    /// bytes). The same message to the same client is then delivered at most once per window,
    /// whichever Relay instance forwards it.
    pub fn dedup_id(&self) -> NotificationId {
        let hash = hex::encode(digest(&SHA256, self.message().as_bytes()));
        NotificationId::parse(&hash).expect("64 hex characters are a valid notification id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(message: &str) -> RawPayload {
        RawPayload::new(Topic::parse("t").unwrap(), 7, RawMessage::parse(message).unwrap())
    }

    #[test]
    fn dedup_id_is_the_hex_sha256_of_the_message() {
        // SHA-256("abc"), the FIPS 180-2 test vector.
        assert_eq!(raw("abc").dedup_id().as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let elsewhere = RawPayload::new(Topic::parse("other").unwrap(), 1, RawMessage::parse("abc").unwrap());
        assert_eq!(raw("abc").dedup_id(), elsewhere.dedup_id());
        assert_ne!(raw("abc").dedup_id(), raw("abd").dedup_id());
    }

    #[test]
    fn message_must_not_be_empty_and_is_kept_verbatim() {
        assert_eq!(RawMessage::parse(""), Err(RawMessageError));
        let p = raw(" any text, not base64! ");
        assert_eq!((p.topic().as_str(), p.tag(), p.message()), ("t", 7, " any text, not base64! "));
    }
}
