//! The cleartext notification a wallet shows: the decoded `blob` of an unencrypted payload.

use base64::{
    Engine,
    alphabet::STANDARD,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use serde_json::{Map, Value};

/// Standard base64 alphabet, accepting the text with or without `=` padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A decoded notify message: `title` and `body` are required, the rest optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyMessage {
    title: String,
    body: String,
    icon: Option<String>,
    url: Option<String>,
    kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyMessageError {
    #[error("blob is not valid base64 (standard alphabet)")]
    NotBase64,
    #[error("blob does not decode to a JSON object")]
    NotJsonObject,
    #[error("notify message field '{0}' is required and must be a string")]
    MissingField(&'static str),
    #[error("notify message field '{0}' must be a string")]
    NotAString(&'static str),
}

impl NotifyMessage {
    /// Decodes a cleartext blob: base64 of a JSON object
    /// `{"title", "body", "icon"?, "url"?, "type"?}`. Unknown keys are ignored.
    pub fn decode(blob: &str) -> Result<Self, NotifyMessageError> {
        let bytes = BASE64.decode(blob).map_err(|_| NotifyMessageError::NotBase64)?;
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(NotifyMessageError::NotJsonObject);
        };
        Ok(Self {
            title: required(&map, "title")?,
            body: required(&map, "body")?,
            icon: optional(&map, "icon")?,
            url: optional(&map, "url")?,
            kind: optional(&map, "type")?,
        })
    }

    pub fn title(&self) -> &str {
        &self.title
    }
    pub fn body(&self) -> &str {
        &self.body
    }
    pub fn icon(&self) -> Option<&str> {
        self.icon.as_deref()
    }
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }
    /// The message's `type` field (named `kind` because `type` is a Rust keyword).
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }
}

fn required(map: &Map<String, Value>, key: &'static str) -> Result<String, NotifyMessageError> {
    match map.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(NotifyMessageError::MissingField(key)),
    }
}

/// An optional key may be absent or `null`; anything else but a string is an error.
fn optional(map: &Map<String, Value>, key: &'static str) -> Result<Option<String>, NotifyMessageError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(NotifyMessageError::NotAString(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

    fn encode(json: &str) -> String {
        STANDARD.encode(json)
    }

    #[test]
    fn decodes_with_and_without_padding() {
        let json = r#"{"title":"Hi","body":"there"}"#;
        for blob in [STANDARD.encode(json), STANDARD_NO_PAD.encode(json)] {
            let m = NotifyMessage::decode(&blob).unwrap();
            assert_eq!((m.title(), m.body()), ("Hi", "there"));
            assert_eq!((m.icon(), m.url(), m.kind()), (None, None, None));
        }
    }

    #[test]
    fn keeps_optional_fields() {
        let blob = encode(r#"{"title":"T","body":"B","icon":"i","url":"u","type":"k","x":1}"#);
        let m = NotifyMessage::decode(&blob).unwrap();
        assert_eq!((m.icon(), m.url(), m.kind()), (Some("i"), Some("u"), Some("k")));
    }

    #[test]
    fn rejects_what_is_not_a_notify_message() {
        assert_eq!(NotifyMessage::decode("***"), Err(NotifyMessageError::NotBase64));
        assert_eq!(NotifyMessage::decode(&encode("[1]")), Err(NotifyMessageError::NotJsonObject));
        assert_eq!(NotifyMessage::decode(&encode("not json")), Err(NotifyMessageError::NotJsonObject));
        assert_eq!(NotifyMessage::decode(&encode(r#"{"title":"T"}"#)), Err(NotifyMessageError::MissingField("body")));
        assert_eq!(
            NotifyMessage::decode(&encode(r#"{"title":1,"body":"B"}"#)),
            Err(NotifyMessageError::MissingField("title"))
        );
        assert_eq!(
            NotifyMessage::decode(&encode(r#"{"title":"T","body":"B","url":3}"#)),
            Err(NotifyMessageError::NotAString("url"))
        );
    }

    #[test]
    fn url_safe_alphabet_is_not_standard() {
        // '-' and '_' belong to the URL-safe alphabet, which the contract does not accept.
        assert_eq!(NotifyMessage::decode("ab-_"), Err(NotifyMessageError::NotBase64));
    }
}
