//! The Relay's request signature: header parsing, the timestamp window and the signed bytes.
//!
//! The Relay signs `{timestamp}.{body length}.{raw body}` with Ed25519, where `{timestamp}` is the
//! `X-Ed25519-Timestamp` header text verbatim. Header problems become `fields` with
//! `location: header`, so the Relay's operators see exactly which header was wrong.

use std::time::Duration;

use ed25519_dalek::{Signature, VerifyingKey};

use super::envelope::{FieldDetail, Location};

pub const TIMESTAMP_HEADER: &str = "X-Ed25519-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Ed25519-Signature";

/// A request's signature headers, parsed and inside the timestamp window.
#[derive(Debug)]
pub struct SignatureHeaders<'a> {
    timestamp: &'a str,
    signature: Signature,
}

fn header_problem(header: &str, description: impl Into<String>) -> FieldDetail {
    FieldDetail::new(header, Location::Header, description)
}

impl<'a> SignatureHeaders<'a> {
    /// Parses both headers, reporting every problem. `now` is the server's unix time in seconds.
    pub fn parse(
        timestamp: Option<&'a str>,
        signature: Option<&str>,
        now: i64,
        max_skew: Duration,
    ) -> Result<Self, Vec<FieldDetail>> {
        let mut problems = Vec::new();
        let timestamp = match timestamp {
            None => {
                problems.push(header_problem(TIMESTAMP_HEADER, "the timestamp header is missing"));
                None
            }
            Some(text) => match parse_unix_seconds(text) {
                None => {
                    problems.push(header_problem(
                        TIMESTAMP_HEADER,
                        "the timestamp must be unix time in seconds, as decimal digits",
                    ));
                    None
                }
                Some(ts) => {
                    let skew = ts.abs_diff(now);
                    if skew > max_skew.as_secs() {
                        problems.push(header_problem(
                            TIMESTAMP_HEADER,
                            format!(
                                "the timestamp is {skew} s from the server clock; at most {} s are accepted",
                                max_skew.as_secs()
                            ),
                        ));
                        None
                    } else {
                        Some(text)
                    }
                }
            },
        };
        let signature = match signature {
            None => {
                problems.push(header_problem(SIGNATURE_HEADER, "the signature header is missing"));
                None
            }
            Some(text) => match parse_signature(text) {
                Some(sig) => Some(sig),
                None => {
                    problems.push(header_problem(SIGNATURE_HEADER, "the signature must be 128 hexadecimal characters"));
                    None
                }
            },
        };
        match (timestamp, signature) {
            (Some(timestamp), Some(signature)) if problems.is_empty() => Ok(Self { timestamp, signature }),
            _ => Err(problems),
        }
    }

    /// True when the signature is valid for `body` under `key`. Strict verification: malleable
    /// and small-order forms are refused.
    pub fn verify(&self, key: &VerifyingKey, body: &[u8]) -> bool {
        key.verify_strict(&signed_message(self.timestamp, body), &self.signature).is_ok()
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

/// Parses a hex Ed25519 public key (64 hex characters, surrounding whitespace ignored).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes)
        .map_err(|_| "a Relay public key must be 64 hexadecimal characters (32 bytes)".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "the Relay public key is not a valid Ed25519 point".to_owned())
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;

    const SKEW: Duration = Duration::from_secs(300);

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
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
        assert!(h.verify(&key().verifying_key(), body));
        assert!(!h.verify(&key().verifying_key(), b"other body"));
        assert!(!h.verify(&SigningKey::from_bytes(&[8; 32]).verifying_key(), body));
    }

    #[test]
    fn timestamp_is_verbatim_text() {
        // A leading zero changes the signed bytes, so a signature over "1000" fails for "01000".
        let body = b"{}";
        let h = SignatureHeaders::parse(Some("01000"), Some(&sign("1000", body)), 1000, SKEW).unwrap();
        assert!(!h.verify(&key().verifying_key(), body));
    }

    #[test]
    fn header_problems_are_all_reported() {
        let (a128, g128, a126) = ("a".repeat(128), "g".repeat(128), "a".repeat(126));
        let fields = |ts, sig| SignatureHeaders::parse(ts, sig, 10_000, SKEW).unwrap_err();
        let names = |f: Vec<FieldDetail>| f.into_iter().map(|d| d.field).collect::<Vec<_>>();
        assert_eq!(names(fields(None, None)), [TIMESTAMP_HEADER, SIGNATURE_HEADER]);
        assert_eq!(names(fields(Some("abc"), Some(a128.as_str()))), [TIMESTAMP_HEADER]);
        assert_eq!(names(fields(Some("10000"), Some("zz"))), [SIGNATURE_HEADER]);
        assert_eq!(names(fields(Some("10000"), Some(g128.as_str()))), [SIGNATURE_HEADER]);
        assert_eq!(names(fields(Some("10000"), Some(a126.as_str()))), [SIGNATURE_HEADER]);
        assert_eq!(names(fields(Some("-5"), Some(a128.as_str()))), [TIMESTAMP_HEADER]);
        assert_eq!(names(fields(Some("99999999999999999999"), Some(a128.as_str()))), [TIMESTAMP_HEADER]);
    }

    #[test]
    fn timestamp_window_both_ways() {
        let sig = "a".repeat(128);
        assert!(SignatureHeaders::parse(Some("9700"), Some(&sig), 10_000, SKEW).is_ok());
        assert!(SignatureHeaders::parse(Some("10300"), Some(&sig), 10_000, SKEW).is_ok());
        assert!(SignatureHeaders::parse(Some("9699"), Some(&sig), 10_000, SKEW).is_err());
        assert!(SignatureHeaders::parse(Some("10301"), Some(&sig), 10_000, SKEW).is_err());
    }

    #[test]
    fn public_key_parsing() {
        let hex_key = hex::encode(key().verifying_key().to_bytes());
        assert_eq!(parse_public_key(&format!(" {hex_key}\n")).unwrap(), key().verifying_key());
        assert!(parse_public_key("abcd").is_err());
    }
}
