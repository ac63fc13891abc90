//! The notification as the Relay meant it, provider-neutral: what the log sink writes for a `noop`
//! client, and the plaintext a Web Push service worker decrypts.

use serde_json::{Map, Value, json};

use crate::domain::{Content, Form};

/// Classic encrypted: `{topic, flags, blob}`; classic cleartext: `{topic, flags}` with the
/// decoded `title`, `body` and the optional fields; raw: `{topic, tag, message}`.
pub fn message(form: &Form) -> Value {
    match form {
        Form::Raw(raw) => json!({"topic": raw.topic().as_str(), "tag": raw.tag(), "message": raw.message()}),
        Form::Classic(payload) => {
            let mut body = Map::new();
            body.insert("topic".into(), payload.topic().as_str().into());
            body.insert("flags".into(), payload.flags().bits().into());
            match payload.content() {
                Content::Encrypted(blob) => {
                    body.insert("blob".into(), blob.as_str().into());
                }
                Content::Cleartext(m) => {
                    body.insert("title".into(), m.title().into());
                    body.insert("body".into(), m.body().into());
                    for (key, value) in [("url", m.url()), ("icon", m.icon()), ("type", m.kind())] {
                        if let Some(v) = value {
                            body.insert(key.into(), v.into());
                        }
                    }
                }
            }
            Value::Object(body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Flags, Payload, RawMessage, RawPayload, Topic};

    #[test]
    fn each_form_as_the_relay_sent_it() {
        let raw = RawPayload::new(Topic::parse("t").unwrap(), 3, RawMessage::parse("M").unwrap());
        assert_eq!(message(&Form::Raw(raw)), json!({"topic": "t", "tag": 3, "message": "M"}));
        let classic = Payload::new(Topic::parse("t").unwrap(), Flags::new(17), "C").unwrap();
        assert_eq!(message(&Form::Classic(classic)), json!({"topic": "t", "flags": 17, "blob": "C"}));
    }
}
