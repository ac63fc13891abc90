//! Who may register or unregister a client: the policy (`CLIENT_AUTH`) over the client JWT a
//! wallet sends in `Authorization`, judged against the client the request names.

use std::{fmt, sync::Arc};

use crate::domain::{Audiences, ClientId, ClientJwtError, verify_client_jwt};
use crate::ports::Clock;

/// What the server does with the client JWT of a registration or unregistration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuthMode {
    /// Verified when present, accepted when absent: what WalletConnect's own server does, so the
    /// SDKs that send no JWT (Kotlin, JS, Flutter) keep working.
    #[default]
    Optional,
    /// A request without a JWT is refused.
    Required,
    /// The JWT is not looked at.
    Off,
}

impl ClientAuthMode {
    /// `optional`, `required` or `off`, in any case.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "optional" => Ok(Self::Optional),
            "required" => Ok(Self::Required),
            "off" => Ok(Self::Off),
            _ => Err(format!("'{s}' is not a client auth mode; use optional, required or off")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Optional => "optional",
            Self::Required => "required",
            Self::Off => "off",
        }
    }
}

impl fmt::Display for ClientAuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request may not touch the client it names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientAuthError {
    #[error("a JWT signed with the client's key is required (Authorization: <JWT>)")]
    Missing,
    #[error(transparent)]
    Invalid(#[from] ClientJwtError),
}

/// The client-auth policy of one server: its mode, the audiences (`PUBLIC_URL`) it answers to,
/// and the clock a JWT's `iat` and `exp` are judged by.
#[derive(Clone)]
pub struct ClientAuth {
    mode: ClientAuthMode,
    audiences: Audiences,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAuth")
            .field("mode", &self.mode)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl ClientAuth {
    pub fn new(mode: ClientAuthMode, audiences: Audiences, clock: Arc<dyn Clock>) -> Self {
        Self { mode, audiences, clock }
    }

    pub fn mode(&self) -> ClientAuthMode {
        self.mode
    }

    /// Whether a request carrying `authorization` (the header's value as sent, if any) may
    /// register or unregister `client` now. The value is the raw JWT, as the Swift SDK sends it,
    /// or `Bearer <JWT>`; an empty value counts as absent.
    pub fn check(&self, authorization: Option<&str>, client: &ClientId) -> Result<(), ClientAuthError> {
        if self.mode == ClientAuthMode::Off {
            return Ok(());
        }
        match authorization.map(without_bearer).filter(|token| !token.is_empty()) {
            None if self.mode == ClientAuthMode::Required => Err(ClientAuthError::Missing),
            None => Ok(()),
            Some(token) => {
                // A clock before 1970 reads as 1970: every JWT is then issued in the future.
                let now = u64::try_from(self.clock.unix_now()).unwrap_or(0);
                verify_client_jwt(token, client, &self.audiences, now).map(drop).map_err(Into::into)
            }
        }
    }
}

/// The token of an `Authorization` value `Bearer <token>`, the scheme in any case (RFC 9110
/// §11.1); `None` for another scheme or none. The admin API's token comes this way too.
pub fn bearer_token(value: &str) -> Option<&str> {
    match value.trim().split_at_checked(7) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer ") => Some(token.trim_start()),
        _ => None,
    }
}

/// The token of `Bearer <token>`, or the whole value (the Swift SDK sends the bare JWT).
fn without_bearer(value: &str) -> &str {
    bearer_token(value).unwrap_or(value.trim())
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::{
        domain::{ClientJwtClaims, DidKey, sign_client_jwt},
        ports::MockClock,
    };

    const NOW: u64 = 1_800_000_000;
    const AUD: &str = "http://localhost:3000";

    fn setup() -> (String, ClientId) {
        let key = SigningKey::from_bytes(&[9; 32]);
        let claims = ClientJwtClaims { sub: "s".into(), aud: AUD.into(), iat: NOW, exp: None };
        let client = ClientId::parse(&DidKey::from(key.verifying_key()).to_string()).unwrap();
        (sign_client_jwt(&key, &claims), client)
    }

    fn auth_at(mode: ClientAuthMode, now: u64) -> ClientAuth {
        let mut clock = MockClock::new();
        clock.expect_unix_now().return_const(now as i64);
        ClientAuth::new(mode, Audiences::new([AUD]), Arc::new(clock))
    }

    fn auth(mode: ClientAuthMode) -> ClientAuth {
        auth_at(mode, NOW)
    }

    #[test]
    fn optional_verifies_what_is_there_and_accepts_nothing() {
        let (jwt, client) = setup();
        let optional = auth(ClientAuthMode::Optional);
        assert_eq!(optional.check(Some(&jwt), &client), Ok(()));
        assert_eq!(optional.check(None, &client), Ok(()));
        assert_eq!(optional.check(Some(""), &client), Ok(()));
        assert!(matches!(optional.check(Some("garbage"), &client), Err(ClientAuthError::Invalid(_))));
    }

    #[test]
    fn required_refuses_a_missing_token_and_off_looks_at_nothing() {
        let (_, client) = setup();
        assert_eq!(auth(ClientAuthMode::Required).check(None, &client), Err(ClientAuthError::Missing));
        assert_eq!(auth(ClientAuthMode::Off).check(Some("garbage"), &client), Ok(()));
    }

    #[test]
    fn a_bearer_prefix_is_accepted_in_any_case() {
        let (jwt, client) = setup();
        for value in [format!("Bearer {jwt}"), format!("bearer  {jwt}"), format!(" BEARER {jwt} ")] {
            assert_eq!(auth(ClientAuthMode::Required).check(Some(&value), &client), Ok(()), "{value}");
        }
    }

    #[test]
    fn the_token_is_judged_by_the_clock() {
        let (jwt, client) = setup();
        // Issued at NOW: a clock well before that refuses it as issued in the future.
        let early = auth_at(ClientAuthMode::Required, NOW - 3600).check(Some(&jwt), &client);
        assert!(matches!(early, Err(ClientAuthError::Invalid(_))), "{early:?}");
        assert_eq!(auth_at(ClientAuthMode::Required, NOW + 60).check(Some(&jwt), &client), Ok(()));
    }

    #[test]
    fn modes_parse_in_any_case() {
        assert_eq!(ClientAuthMode::parse("Required"), Ok(ClientAuthMode::Required));
        assert_eq!(ClientAuthMode::parse("OFF"), Ok(ClientAuthMode::Off));
        assert!(ClientAuthMode::parse("yes").is_err());
        assert_eq!(ClientAuthMode::default().to_string(), "optional");
    }
}
