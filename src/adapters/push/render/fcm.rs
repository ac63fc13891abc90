//! The FCM HTTP v1 `message` object for a notification (without the device token).

use serde_json::{Map, Value, json};

use crate::domain::{Content, Payload, RawPayload};

/// Every `data` value is a string (FCM's rule); Android priority is always `HIGH` so the wallet
/// wakes up. Encrypted: data-only `{topic, flags, blob}`. Cleartext: a `notification` with title,
/// body and `image` from `icon`, plus `data {topic, flags, url?, type?}`.
pub fn message(payload: &Payload) -> Value {
    let mut data = Map::new();
    data.insert("topic".into(), payload.topic().as_str().into());
    data.insert("flags".into(), payload.flags().bits().to_string().into());
    let mut message = Map::new();
    match payload.content() {
        Content::Encrypted(blob) => {
            data.insert("blob".into(), blob.as_str().into());
        }
        Content::Cleartext(m) => {
            let mut notification = Map::new();
            notification.insert("title".into(), m.title().into());
            notification.insert("body".into(), m.body().into());
            if let Some(icon) = m.icon() {
                notification.insert("image".into(), icon.into());
            }
            message.insert("notification".into(), Value::Object(notification));
            for (key, value) in [("url", m.url()), ("type", m.kind())] {
                if let Some(v) = value {
                    data.insert(key.into(), v.into());
                }
            }
        }
    }
    message.insert("data".into(), Value::Object(data));
    message.insert("android".into(), json!({"priority": "HIGH"}));
    Value::Object(message)
}

/// The raw form: a data-only message `{topic, tag, message}`, every value a string (`tag` in
/// decimal, as `flags` is), priority `HIGH`.
pub fn raw_message(raw: &RawPayload) -> Value {
    json!({
        "data": {"topic": raw.topic().as_str(), "tag": raw.tag().to_string(), "message": raw.message()},
        "android": {"priority": "HIGH"},
    })
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::STANDARD};

    use super::*;
    use crate::domain::{Flags, RawMessage, Topic};

    #[test]
    fn encrypted_is_data_only_with_string_values() {
        let p = Payload::new(Topic::parse("t1").unwrap(), Flags::new(17), "CIPHER").unwrap();
        assert_eq!(
            message(&p),
            json!({"data": {"topic": "t1", "flags": "17", "blob": "CIPHER"}, "android": {"priority": "HIGH"}})
        );
    }

    #[test]
    fn raw_is_data_only_with_string_values() {
        let raw = RawPayload::new(Topic::parse("t1").unwrap(), 1100, RawMessage::parse("SEALED").unwrap());
        assert_eq!(
            raw_message(&raw),
            json!({"data": {"topic": "t1", "tag": "1100", "message": "SEALED"}, "android": {"priority": "HIGH"}})
        );
    }

    #[test]
    fn cleartext_has_a_notification_and_image_from_icon() {
        let blob = STANDARD.encode(r#"{"title":"Hi","body":"Yo","icon":"https://i","url":"https://u"}"#);
        let p = Payload::new(Topic::parse("t1").unwrap(), Flags::new(16), &blob).unwrap();
        assert_eq!(
            message(&p),
            json!({"notification": {"title": "Hi", "body": "Yo", "image": "https://i"},
                   "data": {"topic": "t1", "flags": "16", "url": "https://u"},
                   "android": {"priority": "HIGH"}})
        );
    }
}
