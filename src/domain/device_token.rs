//! The token that APNS or FCM gave a device, or a browser's Web Push subscription.

use std::fmt;

use super::{PushType, WebPushSubscription, WebPushSubscriptionError, text::has_space_or_control};

/// Longest device token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// A device token: non-empty, at most 4096 bytes, no whitespace or control characters, and hex for
/// the APNS types; for `webpush` a subscription, kept in its canonical JSON form. Its `Debug` and `Display` show only a short prefix, so a token never lands whole
/// in a log line by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DeviceToken(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceTokenError {
    #[error("token must not be empty")]
    Empty,
    #[error("token is {0} bytes long; at most {MAX_TOKEN_BYTES} are allowed")]
    TooLong(usize),
    #[error("token must not contain whitespace or control characters")]
    BadCharacter,
    #[error("an APNS token must be hexadecimal")]
    NotHex,
    #[error(transparent)]
    WebPush(#[from] WebPushSubscriptionError),
}

impl DeviceToken {
    pub fn parse(push_type: PushType, raw: &str) -> Result<Self, DeviceTokenError> {
        if raw.is_empty() {
            return Err(DeviceTokenError::Empty);
        }
        if raw.len() > MAX_TOKEN_BYTES {
            return Err(DeviceTokenError::TooLong(raw.len()));
        }
        if push_type == PushType::WebPush {
            // The canonical form is never longer than what was sent but for base64 padding
            // removed, so the length rule above still holds for what is stored.
            return Ok(Self(WebPushSubscription::parse(raw)?.canonical()));
        }
        if push_type.is_apns() {
            if !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(DeviceTokenError::NotHex);
            }
        } else if has_space_or_control(raw) {
            return Err(DeviceTokenError::BadCharacter);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The whole token, for the adapters that must send or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The subscription of a `webpush` token (`None` for a token of another type).
    pub fn web_push_subscription(&self) -> Option<WebPushSubscription> {
        WebPushSubscription::parse(&self.0).ok()
    }

    /// A short, log-safe prefix of the token.
    pub fn redacted(&self) -> String {
        let end = self.0.char_indices().nth(6).map_or(self.0.len(), |(i, _)| i);
        format!("{}…", &self.0[..end])
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceToken({})", self.redacted())
    }
}

impl fmt::Display for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apns_tokens_must_be_hex_in_any_case() {
        assert!(DeviceToken::parse(PushType::Apns, "00aaBBff").is_ok());
        assert!(DeviceToken::parse(PushType::ApnsSandbox, "abc").is_ok());
        assert_eq!(DeviceToken::parse(PushType::Apns, "xyz"), Err(DeviceTokenError::NotHex));
    }

    #[test]
    fn fcm_tokens_are_free_text_without_spaces() {
        assert!(DeviceToken::parse(PushType::Fcm, "dA1:APA91b-x_y").is_ok());
        assert_eq!(DeviceToken::parse(PushType::Fcm, "a b"), Err(DeviceTokenError::BadCharacter));
    }

    #[test]
    fn webpush_tokens_are_subscriptions_kept_canonical() {
        let raw = r#"{"endpoint": "https://push.example/x", "keys": {"auth": "_ordMnz7uTCmrpBTeUV4Bw",
            "p256dh": "BLn9b-VR0ca83knDNZ32dCHGyjJp-1riX9ZTN40MqV8K_LpQmLqxC_DoHvqvFXO_nGdAB4W9dogZb_sM-uV4JbY"}}"#;
        let token = DeviceToken::parse(PushType::WebPush, raw).unwrap();
        assert!(token.expose().starts_with(r#"{"endpoint":"https://push.example/x","keys":{"p256dh":"BLn9"#));
        assert_eq!(token.web_push_subscription().unwrap().endpoint(), "https://push.example/x");
        assert!(matches!(DeviceToken::parse(PushType::WebPush, "abc"), Err(DeviceTokenError::WebPush(_))));
    }

    #[test]
    fn length_limits() {
        assert_eq!(DeviceToken::parse(PushType::Fcm, ""), Err(DeviceTokenError::Empty));
        assert!(DeviceToken::parse(PushType::Fcm, &"a".repeat(4096)).is_ok());
        assert_eq!(DeviceToken::parse(PushType::Fcm, &"a".repeat(4097)), Err(DeviceTokenError::TooLong(4097)));
    }

    #[test]
    fn debug_output_does_not_reveal_the_token() {
        let token = DeviceToken::parse(PushType::Fcm, "secret-device-token").unwrap();
        assert!(!format!("{token:?}").contains("secret-device-token"));
        assert!(!token.to_string().contains("device-token"));
    }
}
