//! Who may call the Relay endpoint: a request's signature headers, checked against the Relay key.
//!
//! The key comes through the `RelayKey` port. When a signature fails, the port is asked once for a
//! newer key and the request is verified again, so a Relay key rotation heals by itself; how often
//! that may reach the Relay is the port's business. Signatures are verified by the one
//! `SignatureVerifier` task, in batches when requests arrive together.

use std::{sync::Arc, time::Duration};

use crate::{
    domain::{SignatureHeaderError, SignatureHeaders},
    ports::{Clock, RelayKey, RelayKeyError},
};

use super::signature_verifier::SignatureVerifier;

/// How Relay requests are checked.
pub enum RelayCheck {
    /// Signature checks are switched off (`VALIDATE_SIGNATURES=false`): every request passes.
    Disabled,
    /// Checks are on but no key source is configured: every request is refused, never let through.
    Unconfigured,
    /// Checks are on: verify with this key.
    Verify(Arc<dyn RelayKey>),
}

/// Why a Relay request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayAuthError {
    /// The signature headers are missing, malformed or outside the timestamp window; every
    /// problem is listed.
    #[error("bad signature headers")]
    Headers(Vec<SignatureHeaderError>),
    #[error("no Relay public key is configured")]
    NotConfigured,
    #[error(transparent)]
    KeyUnavailable(#[from] RelayKeyError),
    /// Well-formed, but not signed by the Relay key (nor by a newer one).
    #[error("the signature does not verify with the Relay public key")]
    BadSignature,
}

pub struct RelayAuth {
    check: RelayCheck,
    max_skew: Duration,
    /// What a request's timestamp is compared with.
    clock: Arc<dyn Clock>,
    verifier: SignatureVerifier,
}

impl RelayAuth {
    pub fn new(check: RelayCheck, max_skew: Duration, clock: Arc<dyn Clock>) -> Self {
        Self { check, max_skew, clock, verifier: SignatureVerifier::default() }
    }

    pub fn is_disabled(&self) -> bool {
        matches!(self.check, RelayCheck::Disabled)
    }

    /// Asks for the key ahead of the first request, so a fetched key is in memory before traffic
    /// arrives. A failure is the port's to log and retry; the server starts anyway.
    pub async fn warm_up(&self) {
        if let RelayCheck::Verify(key) = &self.check {
            let _ = key.current().await;
        }
    }

    /// `Ok` when the request may proceed: its timestamp is within the allowed skew of the clock
    /// and its signature over `body` verifies with the Relay key.
    pub async fn authorize(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), RelayAuthError> {
        let key = match &self.check {
            RelayCheck::Disabled => return Ok(()),
            RelayCheck::Unconfigured => return Err(RelayAuthError::NotConfigured),
            RelayCheck::Verify(key) => key,
        };
        // Headers first: a malformed request costs no key lookup.
        let headers = SignatureHeaders::parse(timestamp, signature, self.clock.unix_now(), self.max_skew)
            .map_err(RelayAuthError::Headers)?;
        let current = key.current().await?;
        if self.verifier.verify(headers.prepare(&current, body)).await {
            return Ok(());
        }
        match key.newer_than(&current).await {
            Some(newer) if self.verifier.verify(headers.prepare(&newer, body)).await => Ok(()),
            _ => Err(RelayAuthError::BadSignature),
        }
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;
    use crate::{
        domain::{RelayPublicKey, signed_message},
        ports::{MockClock, MockRelayKey},
    };

    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"n"}"#;

    fn signer(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn public(seed: u8) -> RelayPublicKey {
        RelayPublicKey::from(signer(seed).verifying_key())
    }

    fn signature(seed: u8) -> String {
        hex::encode(signer(seed).sign(&signed_message(&NOW.to_string(), BODY)).to_bytes())
    }

    fn clock_at(now: i64) -> Arc<MockClock> {
        let mut clock = MockClock::new();
        clock.expect_unix_now().return_const(now);
        Arc::new(clock)
    }

    fn with_check(check: RelayCheck) -> RelayAuth {
        RelayAuth::new(check, Duration::from_secs(300), clock_at(NOW))
    }

    fn auth(key: MockRelayKey) -> RelayAuth {
        with_check(RelayCheck::Verify(Arc::new(key)))
    }

    async fn authorize(auth: &RelayAuth, signed_by: u8) -> Result<(), RelayAuthError> {
        auth.authorize(Some(&NOW.to_string()), Some(&signature(signed_by)), BODY).await
    }

    #[tokio::test]
    async fn the_current_key_verifies_without_asking_for_a_newer_one() {
        let mut key = MockRelayKey::new();
        key.expect_current().times(1).returning(|| Ok(public(1)));
        key.expect_newer_than().never();
        assert_eq!(authorize(&auth(key), 1).await, Ok(()));
    }

    #[tokio::test]
    async fn a_failed_signature_is_verified_once_more_with_a_newer_key() {
        let mut key = MockRelayKey::new();
        key.expect_current().returning(|| Ok(public(1)));
        key.expect_newer_than().withf(|failed| *failed == public(1)).times(1).returning(|_| Some(public(2)));
        assert_eq!(authorize(&auth(key), 2).await, Ok(()));
    }

    #[tokio::test]
    async fn a_stranger_is_refused_whatever_the_port_answers() {
        for newer in [None, Some(public(2))] {
            let mut key = MockRelayKey::new();
            key.expect_current().returning(|| Ok(public(1)));
            key.expect_newer_than().times(1).returning(move |_| newer);
            assert_eq!(authorize(&auth(key), 9).await, Err(RelayAuthError::BadSignature));
        }
    }

    #[tokio::test]
    async fn bad_headers_are_refused_before_the_key_is_asked() {
        let mut key = MockRelayKey::new();
        key.expect_current().never();
        let r = auth(key).authorize(None, Some("zz"), BODY).await;
        assert_eq!(
            r,
            Err(RelayAuthError::Headers(vec![
                SignatureHeaderError::TimestampMissing,
                SignatureHeaderError::SignatureNotHex
            ]))
        );
    }

    #[tokio::test]
    async fn an_unavailable_key_refuses() {
        let mut key = MockRelayKey::new();
        key.expect_current().returning(|| Err(RelayKeyError::Unavailable("HTTP 500".into())));
        let r = authorize(&auth(key), 1).await;
        assert_eq!(r, Err(RelayAuthError::KeyUnavailable(RelayKeyError::Unavailable("HTTP 500".into()))));
    }

    #[tokio::test]
    async fn disabled_lets_anything_through_and_unconfigured_nothing() {
        let disabled = with_check(RelayCheck::Disabled);
        assert!(disabled.is_disabled());
        assert_eq!(disabled.authorize(None, None, BODY).await, Ok(()));
        let unconfigured = with_check(RelayCheck::Unconfigured);
        assert_eq!(authorize(&unconfigured, 1).await, Err(RelayAuthError::NotConfigured));
    }

    #[tokio::test]
    async fn the_timestamp_window_is_judged_by_the_clock() {
        let signed_at = |now| {
            let mut key = MockRelayKey::new();
            key.expect_current().returning(|| Ok(public(1)));
            RelayAuth::new(RelayCheck::Verify(Arc::new(key)), Duration::from_secs(300), clock_at(now))
        };
        // The request says NOW; a server clock 300 s on still accepts it, 301 s on does not.
        assert_eq!(authorize(&signed_at(NOW + 300), 1).await, Ok(()));
        assert_eq!(authorize(&signed_at(NOW - 300), 1).await, Ok(()));
        assert_eq!(
            authorize(&signed_at(NOW + 301), 1).await,
            Err(RelayAuthError::Headers(vec![SignatureHeaderError::TimestampOutsideWindow {
                skew_secs: 301,
                max_secs: 300
            }]))
        );
    }
}
