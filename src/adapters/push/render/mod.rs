//! Provider message renderers: pure functions from a domain notification (either form) to the
//! JSON a provider gets.

pub mod apns;
pub mod fcm;
pub mod noop;

use serde_json::Value;

use crate::{
    domain::{Delivery, Form, PushType},
    ports::PushError,
};

/// APNS and FCM both refuse messages over 4 KiB; the limit is enforced before any network call.
pub const MAX_PROVIDER_PAYLOAD_BYTES: usize = 4096;

/// Web Push: push services take 4096 bytes of encrypted body (RFC 8030 §7.2 asks at least that
/// much of them), and one aes128gcm record adds 103 (RFC 8291: an 86-byte header with the
/// 65-byte key id, the 16-byte tag, the 1-byte padding delimiter), so this much plaintext fits.
pub const MAX_WEBPUSH_PLAINTEXT_BYTES: usize = MAX_PROVIDER_PAYLOAD_BYTES - 103;

/// The provider-specific message for a delivery, as JSON text, or `PayloadRejected` when it
/// exceeds the provider limit. For FCM the measured message excludes the device token, which is
/// addressing rather than payload. A `noop` client gets the provider-neutral form, and so does a
/// `webpush` one: that JSON is the plaintext the service worker decrypts, measured against what
/// fits in one encrypted record.
pub fn render(delivery: &Delivery, placeholder_title: &str, provider: &'static str) -> Result<Value, PushError> {
    let message = match (delivery.push_type, &delivery.notification.form) {
        (PushType::Apns | PushType::ApnsSandbox, Form::Classic(payload)) => apns::payload(payload, placeholder_title),
        (PushType::Apns | PushType::ApnsSandbox, Form::Raw(raw)) => apns::raw_payload(raw, placeholder_title),
        (PushType::Fcm, Form::Classic(payload)) => fcm::message(payload),
        (PushType::Fcm, Form::Raw(raw)) => fcm::raw_message(raw),
        (PushType::Noop, form) => noop::message(form),
        (PushType::WebPush, form) => {
            let message = noop::message(form);
            check_size_within(&message, MAX_WEBPUSH_PLAINTEXT_BYTES, provider)?;
            return Ok(message);
        }
    };
    check_size(&message, provider)?;
    Ok(message)
}

/// Refuses a message whose serialized form exceeds the provider limit.
pub fn check_size(message: &Value, provider: &'static str) -> Result<(), PushError> {
    check_size_within(message, MAX_PROVIDER_PAYLOAD_BYTES, provider)
}

fn check_size_within(message: &Value, limit: usize, provider: &'static str) -> Result<(), PushError> {
    let len = serde_json::to_vec(message).map(|v| v.len()).unwrap_or(usize::MAX);
    if len > limit {
        return Err(PushError::PayloadRejected {
            provider,
            reason: format!("the provider message would be {len} bytes; at most {limit} are allowed"),
        });
    }
    Ok(())
}
