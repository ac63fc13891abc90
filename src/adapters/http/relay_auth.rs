//! The Relay signature check as the HTTP API answers it: every refusal is a `401` whose `fields`
//! name the header at fault (`location: header`), never a `500`.

use super::envelope::{Envelope, FieldDetail, Location};
use crate::{
    app::{RelayAuth, RelayAuthError},
    domain::SIGNATURE_HEADER,
};

/// `Ok` when the request may proceed; otherwise the `401` envelope.
pub async fn check(
    auth: &RelayAuth,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), Envelope> {
    auth.authorize(timestamp, signature, body).await.map_err(|e| unauthorized(&e))
}

/// One place that turns each refusal into its envelope.
fn unauthorized(error: &RelayAuthError) -> Envelope {
    match error {
        RelayAuthError::Headers(problems) => Envelope::fields(
            problems.iter().map(|p| FieldDetail::new(p.header(), Location::Header, p.to_string())).collect(),
        ),
        RelayAuthError::NotConfigured => {
            signature_field("this server has no Relay public key configured, so no request can be verified")
        }
        // The cause (the key server's address and answer) stays out of the answer; the key
        // source logs each failed fetch, not each refused request, so junk cannot flood the log.
        RelayAuthError::KeyUnavailable(_) => {
            signature_field("the Relay public key could not be fetched; try again later")
        }
        RelayAuthError::BadSignature => signature_field("the signature does not verify with the Relay public key"),
    }
}

fn signature_field(description: &str) -> Envelope {
    Envelope::field(SIGNATURE_HEADER, Location::Header, description)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{domain::SignatureHeaderError, ports::RelayKeyError};

    fn fields(error: RelayAuthError) -> Vec<FieldDetail> {
        unauthorized(&error).fields.expect("a refusal lists fields")
    }

    #[test]
    fn header_problems_name_their_headers() {
        let error = RelayAuthError::Headers(vec![
            SignatureHeaderError::TimestampMissing,
            SignatureHeaderError::SignatureNotHex,
        ]);
        assert_eq!(
            fields(error),
            [
                FieldDetail::new("X-Ed25519-Timestamp", Location::Header, "the timestamp header is missing"),
                FieldDetail::new(
                    "X-Ed25519-Signature",
                    Location::Header,
                    "the signature must be 128 hexadecimal characters"
                ),
            ]
        );
    }

    #[test]
    fn key_problems_are_about_the_signature_header_and_keep_causes_in_the_log() {
        for error in [
            RelayAuthError::NotConfigured,
            RelayAuthError::KeyUnavailable(RelayKeyError::Unavailable("HTTP 500".into())),
            RelayAuthError::BadSignature,
        ] {
            let fields = fields(error);
            assert_eq!(fields.len(), 1);
            assert_eq!((fields[0].field.as_str(), fields[0].location), (SIGNATURE_HEADER, Location::Header));
            assert!(!fields[0].description.contains("HTTP 500"));
        }
    }
}
