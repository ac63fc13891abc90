//! The Relay's request signature: the signed bytes, the two headers and the timestamp window.
//!
//! The Relay signs `{timestamp}.{body length}.{raw body}` with Ed25519, where `{timestamp}` is the
//! `X-Ed25519-Timestamp` header text verbatim. A header problem names its header, so the HTTP
//! adapter can tell the Relay's operators exactly which header was wrong.

use std::time::Duration;

use ed25519_dalek::Signature;

use super::{PreparedSignature, RelayPublicKey};

pub const TIMESTAMP_HEADER: &str = "X-Ed25519-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Ed25519-Signature";

/// Why a signature header cannot be used. `header()` names the header; the message is the reason,
/// written for the Relay's operators.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureHeaderError {
    #[error("the timestamp header is missing")]
    TimestampMissing,
    #[error("the timestamp must be unix time in seconds, as decimal digits")]
    TimestampNotUnixSeconds,
    /// Outside the window: a replay of a captured request, or a clock far off.
    #[error("the timestamp is {skew_secs} s from the server clock; at most {max_secs} s are accepted")]
    TimestampOutsideWindow { skew_secs: u64, max_secs: u64 },
    #[error("the signature header is missing")]
    SignatureMissing,
    #[error("the signature must be 128 hexadecimal characters")]
    SignatureNotHex,
}

impl SignatureHeaderError {
    /// The header this problem is about.
    pub fn header(&self) -> &'static str {
        match self {
            Self::TimestampMissing | Self::TimestampNotUnixSeconds | Self::TimestampOutsideWindow { .. } => {
                TIMESTAMP_HEADER
            }
            Self::SignatureMissing | Self::SignatureNotHex => SIGNATURE_HEADER,
        }
    }
}

/// A request's signature headers, parsed and inside the timestamp window.
#[derive(Debug)]
pub struct SignatureHeaders<'a> {
    /// Kept as text: the Relay signs the header verbatim, so "01000" and "1000" sign differently.
    timestamp: &'a str,
    signature: Signature,
}

impl<'a> SignatureHeaders<'a> {
    /// Parses both headers, reporting every problem (timestamp first). `now` is the server's unix
    /// time in seconds.
    pub fn parse(
        timestamp: Option<&'a str>,
        signature: Option<&str>,
        now: i64,
        max_skew: Duration,
    ) -> Result<Self, Vec<SignatureHeaderError>> {
        let timestamp = timestamp.ok_or(SignatureHeaderError::TimestampMissing).and_then(|text| {
            let at = parse_unix_seconds(text).ok_or(SignatureHeaderError::TimestampNotUnixSeconds)?;
            let skew_secs = at.abs_diff(now);
            let max_secs = max_skew.as_secs();
            if skew_secs > max_secs {
                return Err(SignatureHeaderError::TimestampOutsideWindow { skew_secs, max_secs });
            }
            Ok(text)
        });
        let signature = signature
            .ok_or(SignatureHeaderError::SignatureMissing)
            .and_then(|text| parse_signature(text).ok_or(SignatureHeaderError::SignatureNotHex));
        match (timestamp, signature) {
            (Ok(timestamp), Ok(signature)) => Ok(Self { timestamp, signature }),
            (timestamp, signature) => Err([timestamp.err(), signature.err()].into_iter().flatten().collect()),
        }
    }

    /// The signature over `body` under `key`, ready to verify alone or in a batch
    /// (`domain::verify_batch`).
    pub fn prepare(&self, key: &RelayPublicKey, body: &[u8]) -> PreparedSignature {
        PreparedSignature::new(key, &self.signature, &signed_message(self.timestamp, body))
    }

    /// True when the signature is valid for `body` under `key`: strict encodings (malleable and
    /// small-order forms are refused), then the cofactored equation, exactly as in a batch.
    pub fn verify(&self, key: &RelayPublicKey, body: &[u8]) -> bool {
        self.prepare(key, body).verify()
    }
}

/// The exact bytes the Relay signs.
pub fn signed_message(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let length = body.len().to_string();
    let mut message = Vec::with_capacity(timestamp.len() + body.len() + 24);
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'.');
    message.extend_from_slice(length.as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    message
}

/// Digits only (no sign, no spaces), at most 19 so it fits an `i64`.
fn parse_unix_seconds(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_signature(text: &str) -> Option<Signature> {
    let mut bytes = [0u8; 64];
    if text.len() != 128 {
        return None;
    }
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(Signature::from_bytes(&bytes))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    const SKEW: Duration = Duration::from_secs(300);

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn public(key: &SigningKey) -> RelayPublicKey {
        RelayPublicKey::from(key.verifying_key())
    }

    fn sign(ts: &str, body: &[u8]) -> String {
        hex::encode(key().sign(&signed_message(ts, body)).to_bytes())
    }

    #[test]
    fn message_framing() {
        assert_eq!(signed_message("1700000000", b"{}"), b"1700000000.2.{}");
        assert_eq!(signed_message("1", b""), b"1.0.");
    }

    #[test]
    fn valid_signature_in_any_case_verifies() {
        let body = br#"{"id":"1"}"#;
        let sig = sign("1000", body).to_uppercase();
        let h = SignatureHeaders::parse(Some("1000"), Some(&sig), 1000, SKEW).unwrap();
        assert!(h.verify(&public(&key()), body));
        assert!(!h.verify(&public(&key()), b"other body"));
        assert!(!h.verify(&public(&SigningKey::from_bytes(&[8; 32])), body));
    }

    #[test]
    fn timestamp_is_verbatim_text() {
        // A leading zero changes the signed bytes, so a signature over "1000" fails for "01000".
        let body = b"{}";
        let h = SignatureHeaders::parse(Some("01000"), Some(&sign("1000", body)), 1000, SKEW).unwrap();
        assert!(!h.verify(&public(&key()), body));
    }

    #[test]
    fn header_problems_are_all_reported() {
        use SignatureHeaderError::*;
        let (a128, g128, a126) = ("a".repeat(128), "g".repeat(128), "a".repeat(126));
        let problems = |ts, sig| SignatureHeaders::parse(ts, sig, 10_000, SKEW).unwrap_err();
        assert_eq!(problems(None, None), [TimestampMissing, SignatureMissing]);
        assert_eq!(problems(Some("abc"), Some(a128.as_str())), [TimestampNotUnixSeconds]);
        assert_eq!(problems(Some("10000"), Some("zz")), [SignatureNotHex]);
        assert_eq!(problems(Some("10000"), Some(g128.as_str())), [SignatureNotHex]);
        assert_eq!(problems(Some("10000"), Some(a126.as_str())), [SignatureNotHex]);
        assert_eq!(problems(Some("-5"), Some(a128.as_str())), [TimestampNotUnixSeconds]);
        assert_eq!(problems(Some("99999999999999999999"), Some(a128.as_str())), [TimestampNotUnixSeconds]);
        assert_eq!(
            problems(Some("9000"), Some("zz")),
            [TimestampOutsideWindow { skew_secs: 1000, max_secs: 300 }, SignatureNotHex]
        );
        let headers: Vec<_> = problems(None, None).iter().map(SignatureHeaderError::header).collect();
        assert_eq!(headers, [TIMESTAMP_HEADER, SIGNATURE_HEADER]);
    }

    #[test]
    fn reasons_read_as_before() {
        let outside = SignatureHeaderError::TimestampOutsideWindow { skew_secs: 1000, max_secs: 300 };
        assert_eq!(outside.to_string(), "the timestamp is 1000 s from the server clock; at most 300 s are accepted");
    }

    #[test]
    fn timestamp_window_both_ways() {
        let sig = "a".repeat(128);
        assert!(SignatureHeaders::parse(Some("9700"), Some(&sig), 10_000, SKEW).is_ok());
        assert!(SignatureHeaders::parse(Some("10300"), Some(&sig), 10_000, SKEW).is_ok());
        assert!(SignatureHeaders::parse(Some("9699"), Some(&sig), 10_000, SKEW).is_err());
        assert!(SignatureHeaders::parse(Some("10301"), Some(&sig), 10_000, SKEW).is_err());
    }
}
