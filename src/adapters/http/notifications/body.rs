//! The send body: its schema as the OpenAPI document shows it, its field-by-field reading into
//! the use case's raw notification, and where each of the use case's fields is in a request.
//!
//! Why two definitions of one body (the schema types and the reader): poem-openapi parses a body
//! into its schema type by stopping at the first bad member, with its own messages, and reads a
//! `oneOf` as whichever variant matches first. The contract wants every bad field reported at once
//! in its own words, both forms read from one object, and the Relay signature checked over the
//! exact bytes before anything is parsed. So the schema types only document, the reader below
//! reads, and a test here walks the documented schema and checks that the reader reads every
//! documented member under the path [`send_field_path`] names, so neither can change alone.

use poem_openapi::{Object, Union};
use serde_json::{Map, Value};

use crate::{
    adapters::http::json_body::{string, unsigned_32},
    app::{ClassicField, RawField, RawNotification, SendField},
};

// The schemas are as precise as JSON Schema (OpenAPI 3.0) allows; see `clients::body`.

/// A notification from the Relay, in the classic form (`{id, payload}`), the raw form (`{topic,
/// tag, message}`) or both in one object. A client registered with `always_raw: true` is sent
/// the raw form, any other client the classic one; a body without the form its client needs is
/// a `400` naming that form's fields.
#[derive(Debug, Union)]
#[oai(rename = "SendNotificationRequest")]
pub enum SendNotificationRequest {
    Classic(ClassicNotification),
    Raw(RawNotificationBody),
}

/// The classic form of a notification.
#[derive(Debug, Object)]
#[oai(rename = "ClassicNotification")]
pub struct ClassicNotification {
    /// The Relay's id for this notification; the same id for the same client is delivered at most
    /// once within the dedup window. Non-empty, at most 255 bytes (UTF-8).
    #[oai(validator(min_length = 1, max_length = 255))]
    pub id: String,
    pub payload: NotificationPayload,
}

/// What the device receives. The provider message built from it (topic, flags and blob, or the
/// decoded notify message) must fit the providers' 4096 bytes.
#[derive(Debug, Object)]
#[oai(rename = "NotificationPayload")]
pub struct NotificationPayload {
    /// The topic the SDK uses to find the decryption key. Non-empty.
    #[oai(validator(min_length = 1))]
    pub topic: String,
    /// Bit set: Encrypted = 1, Sign = 2, Auth = 4, Chat = 8, Notify = 16. Unknown bits are passed
    /// on untouched.
    #[oai(validator(minimum(value = "0"), maximum(value = "4294967295")))]
    pub flags: u32,
    /// With Encrypted set, an opaque non-empty string forwarded as is. Otherwise standard base64
    /// (padding optional) of a JSON notify message `{"title", "body", "icon"?, "url"?, "type"?}`
    /// with `title` and `body` strings.
    #[oai(validator(min_length = 1))]
    pub blob: String,
}

/// The raw form of a notification, sent by newer Relays to clients registered with
/// `always_raw: true`. It carries no id: the lower-case hex SHA-256 of `message` de-duplicates it,
/// in the same space and window as the classic form's ids. The provider message built from it
/// must fit the providers' 4096 bytes.
#[derive(Debug, Object)]
#[oai(rename = "RawNotification")]
pub struct RawNotificationBody {
    /// The topic the SDK uses to find the decryption key. Non-empty.
    #[oai(validator(min_length = 1))]
    pub topic: String,
    /// The Relay's tag for the message, passed on untouched.
    #[oai(validator(minimum(value = "0"), maximum(value = "4294967295")))]
    pub tag: u32,
    /// The message, an opaque non-empty string forwarded as is.
    #[oai(validator(min_length = 1))]
    pub message: String,
}

/// A send: the path's client id and the body's fields, of both forms; a missing or non-object
/// `payload` makes each of its fields report it.
pub fn read_notification<'a>(client_id: &'a str, map: &'a Map<String, Value>) -> RawNotification<'a> {
    let present = |key: &str| !matches!(map.get(key), None | Some(Value::Null));
    let (topic, flags, blob) = match map.get("payload") {
        Some(Value::Object(payload)) => {
            (string(payload, "topic"), unsigned_32(payload, "flags"), string(payload, "blob"))
        }
        missing => {
            let why = if matches!(missing, None | Some(Value::Null)) {
                "is required (payload is missing)"
            } else {
                "is required (payload must be an object)"
            };
            (Err(why), Err(why), Err(why))
        }
    };
    RawNotification {
        client_id: Ok(client_id),
        id: string(map, "id"),
        topic,
        flags,
        blob,
        raw_topic: string(map, "topic"),
        tag: unsigned_32(map, "tag"),
        message: string(map, "message"),
        has_classic: present("id") || present("payload"),
        has_raw: present("topic") || present("tag") || present("message"),
    }
}

/// Where a send's field is in the request: the path's `client_id`, or the body's member by its
/// JSON path (`payload.blob`). The one place that knows the body's layout beside the schemas.
pub fn send_field_path(field: SendField) -> &'static str {
    match field {
        SendField::ClientId => "client_id",
        SendField::Classic(ClassicField::Id) => "id",
        SendField::Classic(ClassicField::Topic) => "payload.topic",
        SendField::Classic(ClassicField::Flags) => "payload.flags",
        SendField::Classic(ClassicField::Blob) => "payload.blob",
        SendField::Raw(RawField::Topic) => "topic",
        SendField::Raw(RawField::Tag) => "tag",
        SendField::Raw(RawField::Message) => "message",
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::{
        registry::{MetaSchemaRef, Registry},
        types::Type,
    };
    use serde_json::json;

    use super::*;
    use crate::{app::parse_notification, domain::ProjectKey};

    #[test]
    fn reads_types_strictly() {
        let v = json!({"id": 5, "payload": {"topic": "t", "flags": -1, "blob": null}});
        let raw = read_notification("c", v.as_object().unwrap());
        assert_eq!(raw.id, Err("must be a string"));
        assert_eq!(raw.topic, Ok("t"));
        assert_eq!(raw.flags, Err("must be an unsigned 32-bit integer"));
        assert_eq!(raw.blob, Err("is required"));
        let big = json!({"payload": {"flags": 4294967296u64}});
        assert!(read_notification("c", big.as_object().unwrap()).flags.is_err());
        let max = json!({"payload": {"flags": 4294967295u64}});
        assert_eq!(read_notification("c", max.as_object().unwrap()).flags, Ok(u32::MAX));
    }

    #[test]
    fn reads_the_raw_form_beside_the_classic_one() {
        let v = json!({"topic": "t", "tag": 1100, "message": "m"});
        let raw = read_notification("c", v.as_object().unwrap());
        assert_eq!((raw.raw_topic, raw.tag, raw.message), (Ok("t"), Ok(1100), Ok("m")));
        assert_eq!((raw.has_classic, raw.has_raw), (false, true));
        let v = json!({"id": "n", "tag": "1", "message": null});
        let raw = read_notification("c", v.as_object().unwrap());
        assert_eq!((raw.tag, raw.message), (Err("must be an unsigned 32-bit integer"), Err("is required")));
        assert_eq!((raw.has_classic, raw.has_raw), (true, true));
        let v = json!({"message": null});
        let none = read_notification("c", v.as_object().unwrap());
        assert_eq!((none.has_classic, none.has_raw), (false, false));
    }

    /// Every member path the document shows for the send body (`payload.blob`, ...), walking
    /// the registered schemas from `SendNotificationRequest` down.
    fn documented_paths() -> Vec<String> {
        fn walk(registry: &Registry, schema: &MetaSchemaRef, prefix: &str, paths: &mut Vec<String>) {
            let schema = match schema {
                MetaSchemaRef::Reference(name) => &registry.schemas[name],
                MetaSchemaRef::Inline(schema) => schema,
            };
            for variant in schema.one_of.iter().chain(&schema.any_of) {
                walk(registry, variant, prefix, paths);
            }
            for (name, member) in &schema.properties {
                let path = format!("{prefix}{name}");
                match member {
                    MetaSchemaRef::Reference(_) => walk(registry, member, &format!("{path}."), paths),
                    MetaSchemaRef::Inline(_) => paths.push(path),
                }
            }
        }
        let mut registry = Registry::new();
        SendNotificationRequest::register(&mut registry);
        let mut paths = Vec::new();
        walk(&registry, &SendNotificationRequest::schema_ref(), "", &mut paths);
        paths
    }

    #[test]
    fn the_reader_reads_every_documented_member_under_the_path_the_adapter_names() {
        let paths = documented_paths();
        assert_eq!(paths, ["id", "payload.topic", "payload.flags", "payload.blob", "topic", "tag", "message"]);
        for path in paths {
            // A value of no documented type at that path, and nothing else.
            let body = match path.split_once('.') {
                Some((outer, inner)) => json!({ outer: { inner: [] } }),
                None => json!({ path.as_str(): [] }),
            };
            let fields = parse_notification(read_notification("c", body.as_object().unwrap()), &ProjectKey::Default)
                .expect_err("no form is usable");
            let problem = fields.iter().find(|f| send_field_path(f.field) == path);
            let problem = problem.unwrap_or_else(|| panic!("{path} is documented but not read: {fields:?}"));
            assert!(problem.description.contains(" must be "), "{path}: {}", problem.description);
        }
    }
}
