//! The APNS payload (the HTTP/2 request body) for a notification.

use serde_json::{Map, Value, json};

use crate::domain::{Content, Payload, RawPayload};

/// Encrypted: a placeholder alert with `mutable-content` so the app's notification service
/// extension can decrypt and replace it. Cleartext: the decoded title and body as the alert.
/// `topic`, `flags` and the optional fields are custom top-level keys.
pub fn payload(payload: &Payload, placeholder_title: &str) -> Value {
    let mut body = Map::new();
    body.insert("topic".into(), payload.topic().as_str().into());
    body.insert("flags".into(), payload.flags().bits().into());
    match payload.content() {
        Content::Encrypted(blob) => {
            body.insert(
                "aps".into(),
                json!({"alert": {"title": placeholder_title}, "mutable-content": 1, "content-available": 1}),
            );
            body.insert("blob".into(), blob.as_str().into());
        }
        Content::Cleartext(m) => {
            body.insert("aps".into(), json!({"alert": {"title": m.title(), "body": m.body()}}));
            for (key, value) in [("url", m.url()), ("icon", m.icon()), ("type", m.kind())] {
                if let Some(v) = value {
                    body.insert(key.into(), v.into());
                }
            }
        }
    }
    Value::Object(body)
}

/// The raw form, which the wallet always decrypts itself: the same placeholder alert as an
/// encrypted payload, with `topic`, `tag` (a number, as `flags` is) and `message` as custom keys.
pub fn raw_payload(raw: &RawPayload, placeholder_title: &str) -> Value {
    json!({
        "aps": {"alert": {"title": placeholder_title}, "mutable-content": 1, "content-available": 1},
        "topic": raw.topic().as_str(),
        "tag": raw.tag(),
        "message": raw.message(),
    })
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::STANDARD};

    use super::*;
    use crate::domain::{Flags, RawMessage, Topic};

    #[test]
    fn encrypted_payload_shape() {
        let p = Payload::new(Topic::parse("t1").unwrap(), Flags::new(17), "CIPHER").unwrap();
        assert_eq!(
            payload(&p, "You have new notifications"),
            json!({"aps": {"alert": {"title": "You have new notifications"}, "mutable-content": 1, "content-available": 1},
                   "topic": "t1", "flags": 17, "blob": "CIPHER"})
        );
    }

    #[test]
    fn raw_payload_shape() {
        let raw = RawPayload::new(Topic::parse("t1").unwrap(), 4294967295, RawMessage::parse("SEALED").unwrap());
        assert_eq!(
            raw_payload(&raw, "You have new notifications"),
            json!({"aps": {"alert": {"title": "You have new notifications"}, "mutable-content": 1, "content-available": 1},
                   "topic": "t1", "tag": 4294967295u32, "message": "SEALED"})
        );
    }

    #[test]
    fn cleartext_payload_shape() {
        let blob = STANDARD.encode(r#"{"title":"Hi","body":"Yo","url":"https://x","type":"k"}"#);
        let p = Payload::new(Topic::parse("t1").unwrap(), Flags::new(16), &blob).unwrap();
        assert_eq!(
            payload(&p, "unused"),
            json!({"aps": {"alert": {"title": "Hi", "body": "Yo"}}, "topic": "t1", "flags": 16, "url": "https://x", "type": "k"})
        );
    }
}
