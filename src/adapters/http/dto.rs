//! Request bodies as documented in the OpenAPI document, and their field-by-field reading.
//!
//! The bodies are read from raw JSON by hand (see `json_body`), so that every invalid field is
//! reported at once and the Relay signature covers the exact bytes; these types give the
//! document its schemas, and the `read_*` functions below are the one place that knows the field
//! names, so the two cannot drift apart unnoticed (the OpenAPI drift test covers the schemas).

use poem_openapi::Object;
use serde_json::{Map, Value};

use super::envelope::Envelope;
use crate::app::{RawNotification, RawRegistration};

/// Register a device under a Relay client id.
#[derive(Debug, Object)]
#[oai(rename = "RegisterClientRequest")]
pub struct RegisterClientRequest {
    /// The Relay client id; a leading `did:key:` is stripped. Non-empty after stripping, at most
    /// 255 bytes, no whitespace or control characters.
    #[oai(validator(min_length = 1))]
    pub client_id: String,
    /// The push service, case-insensitive: `apns`, `apns-sandbox` or `fcm`. Only the types this
    /// server has a provider for are accepted.
    #[oai(rename = "type")]
    pub push_type: String,
    /// The device token from APNS (hex) or FCM. Non-empty, at most 4096 bytes.
    #[oai(validator(min_length = 1, max_length = 4096))]
    pub token: String,
}

/// A notification from the Relay.
#[derive(Debug, Object)]
#[oai(rename = "SendNotificationRequest")]
pub struct SendNotificationRequest {
    /// The Relay's id for this notification; the same id for the same client is delivered at most
    /// once within the dedup window. Non-empty, at most 255 bytes.
    #[oai(validator(min_length = 1))]
    pub id: String,
    pub payload: NotificationPayload,
}

/// What the device receives.
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
    /// With Encrypted set, an opaque string forwarded as is. Otherwise standard base64 (padding
    /// optional) of a JSON notify message `{"title", "body", "icon"?, "url"?, "type"?}`.
    pub blob: String,
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

pub fn read_registration(map: &Map<String, Value>) -> RawRegistration<'_> {
    RawRegistration { client_id: string(map, "client_id"), push_type: string(map, "type"), token: string(map, "token") }
}

/// The notification fields; a missing or non-object `payload` makes each of its fields report it.
pub fn read_notification(map: &Map<String, Value>) -> RawNotification<'_> {
    match map.get("payload") {
        Some(Value::Object(payload)) => RawNotification {
            id: string(map, "id"),
            topic: string(payload, "topic"),
            flags: unsigned_32(payload, "flags"),
            blob: string(payload, "blob"),
        },
        missing => {
            let why = if matches!(missing, None | Some(Value::Null)) {
                "is required (payload is missing)"
            } else {
                "is required (payload must be an object)"
            };
            RawNotification { id: string(map, "id"), topic: Err(why), flags: Err(why), blob: Err(why) }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_types_strictly() {
        let v = json!({"id": 5, "payload": {"topic": "t", "flags": -1, "blob": null}});
        let raw = read_notification(v.as_object().unwrap());
        assert_eq!(raw.id, Err("must be a string"));
        assert_eq!(raw.topic, Ok("t"));
        assert_eq!(raw.flags, Err("must be an unsigned 32-bit integer"));
        assert_eq!(raw.blob, Err("is required"));
        let big = json!({"payload": {"flags": 4294967296u64}});
        assert!(read_notification(big.as_object().unwrap()).flags.is_err());
        let max = json!({"payload": {"flags": 4294967295u64}});
        assert_eq!(read_notification(max.as_object().unwrap()).flags, Ok(u32::MAX));
    }

    #[test]
    fn non_objects_are_refused_whole() {
        assert!(json_object(b"[1]").is_err());
        assert!(json_object(b"{").is_err());
        assert!(json_object(br#"{"a":1}"#).is_ok());
    }
}
