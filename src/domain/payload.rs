//! The `payload` of a notification: topic, flags and the blob, decoded according to the flags.

use super::{Flags, NotifyMessage, NotifyMessageError};

/// The topic the SDK uses to find the key that decrypts the blob. Non-empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("topic must not be empty")]
pub struct TopicError;

impl Topic {
    pub fn parse(raw: &str) -> Result<Self, TopicError> {
        if raw.is_empty() {
            return Err(TopicError);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the blob holds, decided by the `Encrypted` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// An opaque ciphertext that only the device can read; forwarded as is.
    Encrypted(String),
    /// A decoded cleartext message that the device shows directly.
    Cleartext(NotifyMessage),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("an encrypted blob must not be empty")]
    EmptyEncryptedBlob,
    #[error(transparent)]
    Message(#[from] NotifyMessageError),
}

/// A notification payload whose blob has been checked against its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    topic: Topic,
    flags: Flags,
    content: Content,
}

impl Payload {
    /// Builds the payload, decoding the blob unless the `Encrypted` flag is set.
    pub fn new(topic: Topic, flags: Flags, blob: &str) -> Result<Self, PayloadError> {
        let content = if flags.is_encrypted() {
            if blob.is_empty() {
                return Err(PayloadError::EmptyEncryptedBlob);
            }
            Content::Encrypted(blob.to_owned())
        } else {
            Content::Cleartext(NotifyMessage::decode(blob)?)
        };
        Ok(Self { topic, flags, content })
    }

    pub fn topic(&self) -> &Topic {
        &self.topic
    }
    pub fn flags(&self) -> Flags {
        self.flags
    }
    pub fn content(&self) -> &Content {
        &self.content
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{Engine, engine::general_purpose::STANDARD};

    #[test]
    fn encrypted_blob_is_kept_verbatim() {
        let p = Payload::new(Topic::parse("t").unwrap(), Flags::new(17), "not base64 at all!").unwrap();
        assert_eq!(p.content(), &Content::Encrypted("not base64 at all!".into()));
    }

    #[test]
    fn cleartext_blob_is_decoded() {
        let blob = STANDARD.encode(r#"{"title":"a","body":"b"}"#);
        let p = Payload::new(Topic::parse("t").unwrap(), Flags::new(16), &blob).unwrap();
        assert!(matches!(p.content(), Content::Cleartext(m) if m.title() == "a"));
        assert!(Payload::new(Topic::parse("t").unwrap(), Flags::new(0), "!!").is_err());
    }

    #[test]
    fn topic_must_not_be_empty() {
        assert_eq!(Topic::parse(""), Err(TopicError));
    }
}
