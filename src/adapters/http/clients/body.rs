//! The registration body: its schema as the OpenAPI document shows it, and its field-by-field
//! reading into the use case's raw registration.
//!
//! The body is read from raw JSON by hand (see `json_body`), so that every invalid field is
//! reported at once and an unknown member is ignored; these types give the document its schema.
//! Why the schema and the reader are two definitions, and what keeps them together: see
//! `notifications::body`.

use poem_openapi::{Object, Union};
use serde_json::{Map, Value};

use crate::{
    adapters::http::json_body::{optional_bool, string},
    app::RawRegistration,
};

// The schemas below are as precise as JSON Schema (OpenAPI 3.0) allows, so that a schema-valid
// request is one the server accepts; a property test (`tests/api/properties.rs`) checks the patterns
// against the domain parsers. What JSON Schema cannot say is written in the descriptions: lengths
// are UTF-8 bytes on the server (`maxLength` counts characters), a leading `did:key:` is stripped
// before the client id rules apply, and a cleartext `blob` must decode to a notify message.
//
// The patterns are spelled out per field because `validator(pattern)` wants a literal; keep them
// equal to `params::CLIENT_ID_PATTERN` and the domain rules (the property test fails otherwise).

/// Register a device under a Relay client id: an APNS registration (hex token), an FCM one, a
/// browser's Web Push subscription or a `noop` one (delivers nothing). Registering an existing client id replaces its type, token and
/// `always_raw`.
#[derive(Debug, Union)]
#[oai(one_of, rename = "RegisterClientRequest")]
pub enum RegisterClientRequest {
    Apns(ApnsRegistration),
    Fcm(FcmRegistration),
    WebPush(WebPushRegistration),
    Noop(NoopRegistration),
}

/// A browser (or UnifiedPush) subscription to an RFC 8030 push service.
#[derive(Debug, Object)]
#[oai(rename = "WebPushRegistration")]
pub struct WebPushRegistration {
    /// The Relay client id; a leading `did:key:` is stripped. Non-empty after stripping, at most
    /// 255 bytes (UTF-8), no whitespace or control characters.
    #[oai(validator(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$"
    ))]
    pub client_id: String,
    /// `webpush`, in any letter case. Accepted only when this server (or the project) has a VAPID
    /// key.
    #[oai(rename = "type", validator(pattern = r"^[wW][eE][bB][pP][uU][sS][hH]$"))]
    pub push_type: String,
    /// The subscription as `PushSubscription.toJSON()` gives it, as that object or as a string
    /// holding its JSON (at most 4096 bytes). The endpoint must be an `https://` URL whose host is
    /// a name resolving to public addresses only (unless `WEBPUSH_ALLOWED_HOSTS` names it);
    /// another client registering the same subscription takes it over.
    pub token: WebPushToken,
    /// `true` asks for the raw form of notifications (`{topic, tag, message}`) when the Relay
    /// sends one. Default `false`.
    #[oai(default)]
    pub always_raw: bool,
}

/// A Web Push subscription, as an object or as its JSON text.
#[derive(Debug, Union)]
#[oai(one_of, rename = "WebPushToken")]
pub enum WebPushToken {
    Subscription(WebPushSubscriptionObject),
    Text(String),
}

/// `PushSubscription.toJSON()`; other members (`expirationTime`, ...) are ignored.
#[derive(Debug, Object)]
#[oai(rename = "WebPushSubscription")]
pub struct WebPushSubscriptionObject {
    /// The push service URL the browser was given.
    pub endpoint: String,
    pub keys: WebPushKeys,
}

/// The subscription's keys, base64url (padding optional).
#[derive(Debug, Object)]
#[oai(rename = "WebPushKeys")]
pub struct WebPushKeys {
    /// The browser's P-256 public key: 65 bytes, uncompressed.
    pub p256dh: String,
    /// The authentication secret: 16 bytes.
    pub auth: String,
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

/// A `token` sent as a JSON object (a Web Push subscription), as JSON text for the parser.
pub fn object_token(map: &Map<String, Value>) -> Option<String> {
    match map.get("token") {
        Some(token @ Value::Object(_)) => Some(token.to_string()),
        _ => None,
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
