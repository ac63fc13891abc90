//! A browser's Web Push subscription (`PushSubscription.toJSON()`): the push service endpoint and
//! the keys a message is encrypted to, read from the registration's token and kept in one
//! canonical text form.

use base64::{
    Engine,
    alphabet::URL_SAFE,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    prelude::BASE64_URL_SAFE_NO_PAD,
};
use serde_json::{Value, json};

/// base64url, with or without `=` padding (browsers leave it out; some libraries add it).
const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An uncompressed P-256 point: `0x04`, then x and y.
pub const P256DH_BYTES: usize = 65;
/// The subscription's authentication secret.
pub const AUTH_BYTES: usize = 16;

/// A parsed subscription: an absolute URL as the endpoint, a 65-byte uncompressed P-256 public key
/// (`p256dh`) and a 16-byte `auth` secret. Whether the endpoint is one this server may call (its
/// scheme, its host and where that resolves) is the provider's question, not the domain's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebPushSubscription {
    endpoint: String,
    p256dh: Vec<u8>,
    auth: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebPushSubscriptionError {
    #[error(
        "a webpush token must be the browser's subscription, {{\"endpoint\": \"https://…\", \"keys\": {{\"p256dh\": \"…\", \"auth\": \"…\"}}}}, as an object or as JSON text"
    )]
    NotASubscription,
    #[error("the subscription's endpoint must be an absolute URL (scheme://host/...)")]
    Endpoint,
    #[error("the subscription's keys.p256dh must be base64url of a 65-byte uncompressed P-256 public key")]
    P256dh,
    #[error("the subscription's keys.auth must be base64url of 16 bytes")]
    Auth,
}

impl WebPushSubscription {
    /// Reads a subscription from its JSON text; members other than `endpoint` and `keys.p256dh`,
    /// `keys.auth` (`expirationTime`, ...) are ignored.
    pub fn parse(raw: &str) -> Result<Self, WebPushSubscriptionError> {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(raw) else {
            return Err(WebPushSubscriptionError::NotASubscription);
        };
        let (Some(Value::String(endpoint)), Some(Value::Object(keys))) = (map.get("endpoint"), map.get("keys")) else {
            return Err(WebPushSubscriptionError::NotASubscription);
        };
        if !is_absolute_url(endpoint) {
            return Err(WebPushSubscriptionError::Endpoint);
        }
        let decode = |name: &str| match keys.get(name) {
            Some(Value::String(text)) => URL_SAFE_ANY_PADDING.decode(text).ok(),
            _ => None,
        };
        let p256dh = decode("p256dh")
            .filter(|k| k.len() == P256DH_BYTES && k[0] == 0x04)
            .ok_or(WebPushSubscriptionError::P256dh)?;
        let auth = decode("auth").filter(|a| a.len() == AUTH_BYTES).ok_or(WebPushSubscriptionError::Auth)?;
        Ok(Self { endpoint: endpoint.clone(), p256dh, auth })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The user agent's public key, uncompressed (65 bytes).
    pub fn p256dh(&self) -> &[u8] {
        &self.p256dh
    }

    /// The authentication secret (16 bytes).
    pub fn auth(&self) -> &[u8] {
        &self.auth
    }

    /// The form stored as the client's token: compact JSON with the keys in base64url without
    /// padding, so the same subscription sent with other spacing, member order or padding is
    /// the same token (one client per subscription).
    pub fn canonical(&self) -> String {
        json!({
            "endpoint": self.endpoint,
            "keys": {"p256dh": BASE64_URL_SAFE_NO_PAD.encode(&self.p256dh), "auth": BASE64_URL_SAFE_NO_PAD.encode(&self.auth)},
        })
        .to_string()
    }
}

/// `scheme://authority...` with a letter-led scheme, a non-empty authority and no whitespace or
/// control characters: what the Push API hands out. Which schemes and hosts may be called is
/// decided where the call is made.
fn is_absolute_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else { return false };
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    scheme_ok && !authority.is_empty() && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256DH: &str = "BLn9b-VR0ca83knDNZ32dCHGyjJp-1riX9ZTN40MqV8K_LpQmLqxC_DoHvqvFXO_nGdAB4W9dogZb_sM-uV4JbY";
    const AUTH: &str = "_ordMnz7uTCmrpBTeUV4Bw";

    fn subscription(endpoint: &str, p256dh: &str, auth: &str) -> String {
        json!({"endpoint": endpoint, "expirationTime": null, "keys": {"p256dh": p256dh, "auth": auth}}).to_string()
    }

    #[test]
    fn reads_what_the_push_api_gives_and_ignores_extra_members() {
        let s = WebPushSubscription::parse(&subscription("https://push.example/abc", P256DH, AUTH)).unwrap();
        assert_eq!((s.endpoint(), s.p256dh().len(), s.auth().len()), ("https://push.example/abc", 65, 16));
    }

    #[test]
    fn the_canonical_form_ignores_spacing_order_and_padding() {
        let padded = format!(
            r#"{{ "keys": {{"auth": "{AUTH}==", "p256dh": "{P256DH}"}}, "endpoint": "https://push.example/abc" }}"#
        );
        let a = WebPushSubscription::parse(&padded).unwrap();
        let b = WebPushSubscription::parse(&subscription("https://push.example/abc", P256DH, AUTH)).unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(WebPushSubscription::parse(&a.canonical()).unwrap(), a);
        assert!(!a.canonical().contains(' '));
    }

    #[test]
    fn refuses_what_is_not_a_subscription() {
        use WebPushSubscriptionError::*;
        let cases = [
            ("not json".to_owned(), NotASubscription),
            ("\"https://push.example\"".to_owned(), NotASubscription),
            (json!({"endpoint": "https://push.example/a"}).to_string(), NotASubscription),
            (subscription("push.example/a", P256DH, AUTH), Endpoint),
            (subscription("https:///a", P256DH, AUTH), Endpoint),
            (subscription("https://push.example/a b", P256DH, AUTH), Endpoint),
            (subscription("https://push.example/a", AUTH, AUTH), P256dh),
            (subscription("https://push.example/a", "!!", AUTH), P256dh),
            (subscription("https://push.example/a", P256DH, P256DH), Auth),
        ];
        for (raw, expected) in cases {
            assert_eq!(WebPushSubscription::parse(&raw), Err(expected), "{raw}");
        }
    }
}
