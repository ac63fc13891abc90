//! Request bodies as documented in the OpenAPI document, and their field-by-field reading.
//!
//! The bodies are read from raw JSON by hand (see `json_body`), so that every invalid field is
//! reported at once and the Relay signature covers the exact bytes; these types give the
//! document its schemas, and the `read_*` functions below are the one place that knows the field
//! names, so the two cannot drift apart unnoticed (the OpenAPI drift test covers the schemas).

use poem_openapi::{Object, Union};
use serde_json::{Map, Value};

use super::envelope::Envelope;
use crate::app::{ClassicField, RawField, RawNotification, RawRegistration, SendField};

// The schemas below are as precise as JSON Schema (OpenAPI 3.0) allows, so that a schema-valid
// request is one the server accepts; a property test (`tests/properties.rs`) checks the patterns
// against the domain parsers. What JSON Schema cannot say is written in the descriptions: lengths
// are UTF-8 bytes on the server (`maxLength` counts characters), a leading `did:key:` is stripped
// before the client id rules apply, and a cleartext `blob` must decode to a notify message.
//
// The patterns are spelled out per field because `validator(pattern)` wants a literal; keep them
// equal to `params::CLIENT_ID_PATTERN` and the domain rules (the property test fails otherwise).

/// Register a device under a Relay client id: an APNS registration (hex token), an FCM one or a
/// `noop` one (delivers nothing). Registering an existing client id replaces its type, token and
/// `always_raw`.
#[derive(Debug, Union)]
#[oai(one_of, rename = "RegisterClientRequest")]
pub enum RegisterClientRequest {
    Apns(ApnsRegistration),
    Fcm(FcmRegistration),
    Noop(NoopRegistration),
}

/// A device registered with Apple Push Notification service.
#[derive(Debug, Object)]
#[oai(rename = "ApnsRegistration")]
pub struct ApnsRegistration {
    /// The Relay client id; a leading `did:key:` is stripped. Non-empty after stripping, at most
    /// 255 bytes (UTF-8), no whitespace or control characters.
    #[oai(validator(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$"
    ))]
    pub client_id: String,
    /// `apns` (production) or `apns-sandbox`, in any letter case. Accepted only when this server
    /// has a provider for it.
    #[oai(rename = "type", validator(pattern = r"^[aA][pP][nN][sS](-[sS][aA][nN][dD][bB][oO][xX])?$"))]
    pub push_type: String,
    /// The APNS device token: hexadecimal, any case, at most 4096 characters.
    #[oai(validator(min_length = 1, max_length = 4096, pattern = r"^[0-9a-fA-F]+$"))]
    pub token: String,
    /// `true` asks for the raw form of notifications (`{topic, tag, message}`) when the Relay
    /// sends one; sent by the WalletConnect SDKs. Default `false`.
    #[oai(default)]
    pub always_raw: bool,
}

/// A device registered with Firebase Cloud Messaging.
#[derive(Debug, Object)]
#[oai(rename = "FcmRegistration")]
pub struct FcmRegistration {
    /// The Relay client id; a leading `did:key:` is stripped. Non-empty after stripping, at most
    /// 255 bytes (UTF-8), no whitespace or control characters.
    #[oai(validator(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$"
    ))]
    pub client_id: String,
    /// `fcm`, in any letter case. Accepted only when this server has a provider for it.
    #[oai(rename = "type", validator(pattern = r"^[fF][cC][mM]$"))]
    pub push_type: String,
    /// The FCM registration token: at most 4096 bytes (UTF-8), no whitespace or control
    /// characters.
    #[oai(validator(
        min_length = 1,
        max_length = 4096,
        pattern = r"^[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$"
    ))]
    pub token: String,
    /// `true` asks for the raw form of notifications (`{topic, tag, message}`) when the Relay
    /// sends one; sent by the WalletConnect SDKs. Default `false`.
    #[oai(default)]
    pub always_raw: bool,
}

/// A device that receives nothing: the WalletConnect SDKs register `noop` for wallets without
/// push. Accepted only where this server's log sink is on; a send to it is written to the log
/// sink's log (and file) and delivered nowhere.
#[derive(Debug, Object)]
#[oai(rename = "NoopRegistration")]
pub struct NoopRegistration {
    /// The Relay client id; a leading `did:key:` is stripped. Non-empty after stripping, at most
    /// 255 bytes (UTF-8), no whitespace or control characters.
    #[oai(validator(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$"
    ))]
    pub client_id: String,
    /// `noop`, in any letter case.
    #[oai(rename = "type", validator(pattern = r"^[nN][oO][oO][pP]$"))]
    pub push_type: String,
    /// Any token, by the FCM token rules: at most 4096 bytes (UTF-8), no whitespace or control
    /// characters.
    #[oai(validator(
        min_length = 1,
        max_length = 4096,
        pattern = r"^[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$"
    ))]
    pub token: String,
    /// `true` asks for the raw form of notifications (`{topic, tag, message}`). Default `false`.
    #[oai(default)]
    pub always_raw: bool,
}

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

/// Parses the body as a JSON object, or says why it is not one.
pub fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, Envelope> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Envelope::error("invalid_body", "the request body must be a JSON object")),
        Err(e) => Err(Envelope::error("malformed_json", format!("the request body is not valid JSON: {e}"))),
    }
}

fn string<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a str, &'static str> {
    match map.get(key) {
        None | Some(Value::Null) => Err("is required"),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err("must be a string"),
    }
}

fn unsigned_32(map: &Map<String, Value>, key: &str) -> Result<u32, &'static str> {
    match map.get(key) {
        None | Some(Value::Null) => Err("is required"),
        Some(Value::Number(n)) => {
            n.as_u64().and_then(|v| u32::try_from(v).ok()).ok_or("must be an unsigned 32-bit integer")
        }
        Some(_) => Err("must be an unsigned 32-bit integer"),
    }
}

/// An optional boolean: absent is `false`; `null` is refused like any other non-boolean, as the
/// documented schema says (the SDKs leave the member out or send a boolean).
fn optional_bool(map: &Map<String, Value>, key: &str) -> Result<bool, &'static str> {
    match map.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err("must be a boolean"),
    }
}

/// A registration's fields; any other member of the object is ignored (SDKs add their own).
pub fn read_registration(map: &Map<String, Value>) -> RawRegistration<'_> {
    RawRegistration {
        client_id: string(map, "client_id"),
        push_type: string(map, "type"),
        token: string(map, "token"),
        always_raw: optional_bool(map, "always_raw"),
    }
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
    use serde_json::json;

    use super::*;

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

    #[test]
    fn non_objects_are_refused_whole() {
        assert!(json_object(b"[1]").is_err());
        assert!(json_object(b"{").is_err());
        assert!(json_object(br#"{"a":1}"#).is_ok());
    }
}
