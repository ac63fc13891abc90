//! The client JWT a wallet may send with a registration or unregistration: signed with the
//! client's own Ed25519 key, whose did:key is the client id, so no registry is needed to know
//! that the caller holds the client it names.
//!
//! The framing is written here rather than taken from a JWT crate: the contract accepts exactly
//! one header (`{"typ":"JWT","alg":"EdDSA"}`, either key order, nothing else) and the key comes
//! from the token's own `iss`, while the well-kept crates (jsonwebtoken and the like) accept any
//! header that names the algorithm, look keys up by `kid`, and bring their own Ed25519 backend
//! beside the ed25519-dalek this server already uses (with `verify_strict`, which refuses the
//! malleable and small-order edge cases). What remains is three base64url parts and a signature
//! check: smaller than the glue a crate would need.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Signer, SigningKey};
use serde_json::{Map, Value, json};

use super::{
    ClientId,
    did_key::{DidKey, DidKeyError},
};

/// How far `iat` may be ahead of the server clock, and how long after `exp` a token is still
/// taken: clocks of phones drift.
pub const CLOCK_LEEWAY_SECS: u64 = 120;
/// A longer token is refused before any decoding: the Swift SDK's are about 400 bytes.
pub const MAX_JWT_BYTES: usize = 4096;

/// The audiences this server answers to (`PUBLIC_URL`), kept without a trailing `/` so that
/// `https://push.example.com/` and `https://push.example.com` are one audience.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audiences(Vec<String>);

impl Audiences {
    pub fn new<S: AsRef<str>>(urls: impl IntoIterator<Item = S>) -> Self {
        Self(urls.into_iter().map(|u| without_trailing_slash(u.as_ref()).to_owned()).collect())
    }

    fn contains(&self, aud: &str) -> bool {
        let aud = without_trailing_slash(aud);
        self.0.iter().any(|a| a == aud)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

fn without_trailing_slash(url: &str) -> &str {
    url.strip_suffix('/').unwrap_or(url)
}

/// A client JWT whose signature verified with the key its `iss` names. Whether it authorizes a
/// request is [`ClientJwt::authorizes`]'s question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientJwt {
    issuer: DidKey,
    audience: Vec<String>,
    issued_at: u64,
    expires_at: Option<u64>,
}

/// Why a client JWT was refused; each reason is a sentence for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientJwtError {
    #[error("the JWT is empty")]
    Empty,
    #[error("the JWT is {0} bytes long; at most {MAX_JWT_BYTES} are allowed")]
    TooLong(usize),
    #[error("the JWT must be three base64url parts separated by '.'")]
    NotThreeParts,
    #[error("the JWT {0} is not base64url without padding")]
    NotBase64Url(&'static str),
    #[error(r#"the JWT header must be exactly {{"typ":"JWT","alg":"EdDSA"}}"#)]
    Header,
    #[error("the JWT claims are not a JSON object")]
    ClaimsNotObject,
    #[error("the JWT claim {0}")]
    Claim(&'static str),
    #[error("the JWT iss {0}")]
    Issuer(DidKeyError),
    #[error("the JWT signature is not 64 bytes")]
    SignatureLength,
    #[error("the JWT signature does not verify with the key of its iss")]
    Signature,
    #[error("the JWT iss names another client than the one in the request")]
    OtherClient,
    #[error("the JWT aud is not this server (expected one of: {expected})")]
    Audience { expected: String },
    #[error("the JWT iat is {0} s in the future; at most {CLOCK_LEEWAY_SECS} s are allowed")]
    IssuedInFuture(u64),
    #[error("the JWT expired {0} s ago")]
    Expired(u64),
}

impl ClientJwt {
    /// Decodes `token` and checks its signature with the key of its `iss`: the parts, the exact
    /// header, the claims' types, the issuer's did:key, then the signature.
    pub fn decode(token: &str) -> Result<Self, ClientJwtError> {
        if token.is_empty() {
            return Err(ClientJwtError::Empty);
        }
        if token.len() > MAX_JWT_BYTES {
            return Err(ClientJwtError::TooLong(token.len()));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ClientJwtError::NotThreeParts);
        };
        check_header(&decode_part(header, "header")?)?;
        let claims_json = decode_part(claims, "claims")?;
        let signature = decode_part(signature, "signature")?;
        let jwt = Self::from_claims(&claims_json)?;
        let signature = Signature::from_slice(&signature).map_err(|_| ClientJwtError::SignatureLength)?;
        // The signing input is the text as sent, `header.claims`, not a re-encoding.
        let signed = &token[..header.len() + 1 + claims.len()];
        jwt.issuer.key().verify_strict(signed.as_bytes(), &signature).map_err(|_| ClientJwtError::Signature)?;
        Ok(jwt)
    }

    fn from_claims(json: &[u8]) -> Result<Self, ClientJwtError> {
        let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(json) else {
            return Err(ClientJwtError::ClaimsNotObject);
        };
        let iss = string_claim(&claims, "iss", "iss is required and must be a string")?;
        let issuer = DidKey::parse(iss).map_err(ClientJwtError::Issuer)?;
        string_claim(&claims, "sub", "sub is required and must be a string")?;
        // RFC 7519 allows one audience or a list of them.
        let audience = match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(list)) if !list.is_empty() && list.iter().all(Value::is_string) => {
                list.iter().filter_map(Value::as_str).map(str::to_owned).collect()
            }
            _ => return Err(ClientJwtError::Claim("aud is required and must be a string")),
        };
        let issued_at = seconds_claim(&claims, "iat")?
            .ok_or(ClientJwtError::Claim("iat is required and must be whole seconds since 1970"))?;
        let expires_at = seconds_claim(&claims, "exp")?;
        Ok(Self { issuer, audience, issued_at, expires_at })
    }

    /// Whether this token lets its holder (un)register `client` on a server that answers to
    /// `audiences`, at `now` (Unix seconds).
    pub fn authorizes(&self, client: &ClientId, audiences: &Audiences, now: u64) -> Result<(), ClientJwtError> {
        // A client id is the did:key without its prefix (`ClientId` strips it), and base58 is
        // canonical, so equal text is the same key.
        if self.issuer.multibase() != client.as_str() {
            return Err(ClientJwtError::OtherClient);
        }
        if !self.audience.iter().any(|aud| audiences.contains(aud)) {
            return Err(ClientJwtError::Audience { expected: audiences.as_slice().join(", ") });
        }
        if self.issued_at > now.saturating_add(CLOCK_LEEWAY_SECS) {
            return Err(ClientJwtError::IssuedInFuture(self.issued_at - now));
        }
        if let Some(exp) = self.expires_at
            && exp.saturating_add(CLOCK_LEEWAY_SECS) < now
        {
            return Err(ClientJwtError::Expired(now - exp));
        }
        Ok(())
    }

    pub fn issuer(&self) -> &DidKey {
        &self.issuer
    }
}

/// Decodes `token` and checks it authorizes `client` (see [`ClientJwt::authorizes`]).
pub fn verify_client_jwt(
    token: &str,
    client: &ClientId,
    audiences: &Audiences,
    now: u64,
) -> Result<ClientJwt, ClientJwtError> {
    let jwt = ClientJwt::decode(token)?;
    jwt.authorizes(client, audiences, now)?;
    Ok(jwt)
}

/// What a wallet puts in a client JWT; [`sign_client_jwt`] fills `iss` from the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientJwtClaims {
    pub sub: String,
    pub aud: String,
    pub iat: u64,
    pub exp: Option<u64>,
}

/// A client JWT signed with `key`, as a wallet makes one (for the command line and tests).
pub fn sign_client_jwt(key: &SigningKey, claims: &ClientJwtClaims) -> String {
    let iss = DidKey::from(key.verifying_key()).to_string();
    let mut body = json!({"iss": iss, "sub": claims.sub, "aud": claims.aud, "iat": claims.iat});
    if let Some(exp) = claims.exp {
        body["exp"] = exp.into();
    }
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(body.to_string())
    );
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

fn decode_part(part: &str, name: &'static str) -> Result<Vec<u8>, ClientJwtError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| ClientJwtError::NotBase64Url(name))
}

/// Exactly `typ: JWT` and `alg: EdDSA`: a token that asks for anything else (another algorithm,
/// a `kid`, a `crit` extension) is not one this server knows how to judge.
fn check_header(json: &[u8]) -> Result<(), ClientJwtError> {
    match serde_json::from_slice::<Value>(json) {
        Ok(Value::Object(header))
            if header.len() == 2
                && header.get("typ").and_then(Value::as_str) == Some("JWT")
                && header.get("alg").and_then(Value::as_str) == Some("EdDSA") =>
        {
            Ok(())
        }
        _ => Err(ClientJwtError::Header),
    }
}

fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
    missing: &'static str,
) -> Result<&'a str, ClientJwtError> {
    claims.get(name).and_then(Value::as_str).ok_or(ClientJwtError::Claim(missing))
}

/// A time claim: absent is `None`; present, it must be a whole number of seconds.
fn seconds_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, ClientJwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value.as_u64().map(Some).ok_or(ClientJwtError::Claim(match name {
            "iat" => "iat must be whole seconds since 1970",
            _ => "exp must be whole seconds since 1970",
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const AUD: &str = "https://push.example.com";

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn client_of(key: &SigningKey) -> ClientId {
        ClientId::parse(&DidKey::from(key.verifying_key()).to_string()).unwrap()
    }

    fn claims() -> ClientJwtClaims {
        ClientJwtClaims { sub: "s".into(), aud: AUD.into(), iat: NOW, exp: Some(NOW + 3600) }
    }

    fn audiences() -> Audiences {
        Audiences::new(["http://localhost:3000", "https://push.example.com/"])
    }

    fn verify(token: &str, client: &ClientId) -> Result<ClientJwt, ClientJwtError> {
        verify_client_jwt(token, client, &audiences(), NOW)
    }

    /// A token with the given header and claims JSON, signed by `key` over exactly those texts.
    fn forge(key: &SigningKey, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()).to_bytes()))
    }

    #[test]
    fn a_wallet_token_authorizes_its_own_client() {
        let k = key(1);
        let jwt = verify(&sign_client_jwt(&k, &claims()), &client_of(&k)).unwrap();
        assert_eq!(jwt.issuer().key(), &k.verifying_key());
    }

    #[test]
    fn header_key_order_does_not_matter_but_nothing_else_is_taken() {
        let k = key(1);
        let body = json!({"iss": DidKey::from(k.verifying_key()).to_string(), "sub": "s", "aud": AUD, "iat": NOW});
        let body = body.to_string();
        assert!(verify(&forge(&k, r#"{"typ":"JWT","alg":"EdDSA"}"#, &body), &client_of(&k)).is_ok());
        for header in [
            r#"{"alg":"EdDSA"}"#,
            r#"{"typ":"JWT","alg":"ES256"}"#,
            r#"{"typ":"JWT","alg":"EdDSA","kid":"x"}"#,
            r#"{"typ":"jwt","alg":"EdDSA"}"#,
            r#"["JWT","EdDSA"]"#,
        ] {
            assert_eq!(verify(&forge(&k, header, &body), &client_of(&k)), Err(ClientJwtError::Header), "{header}");
        }
    }

    #[test]
    fn another_key_or_another_client_is_refused() {
        let (k, other) = (key(1), key(2));
        let token = sign_client_jwt(&k, &claims());
        assert_eq!(verify(&token, &client_of(&other)), Err(ClientJwtError::OtherClient));
        // Claims that name `k` but signed by `other`.
        let body = json!({"iss": DidKey::from(k.verifying_key()).to_string(), "sub": "s", "aud": AUD, "iat": NOW});
        let forged = forge(&other, r#"{"alg":"EdDSA","typ":"JWT"}"#, &body.to_string());
        assert_eq!(verify(&forged, &client_of(&k)), Err(ClientJwtError::Signature));
        // A client id that is no did:key at all can never be named.
        assert_eq!(verify(&token, &ClientId::parse("wallet-1").unwrap()), Err(ClientJwtError::OtherClient));
    }

    #[test]
    fn audience_is_compared_without_a_trailing_slash() {
        let k = key(1);
        for aud in ["https://push.example.com", "https://push.example.com/", "http://localhost:3000/"] {
            let token = sign_client_jwt(&k, &ClientJwtClaims { aud: aud.into(), ..claims() });
            assert!(verify(&token, &client_of(&k)).is_ok(), "{aud}");
        }
        let token = sign_client_jwt(&k, &ClientJwtClaims { aud: "https://evil.example".into(), ..claims() });
        let err = verify(&token, &client_of(&k)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the JWT aud is not this server (expected one of: http://localhost:3000, https://push.example.com)"
        );
    }

    #[test]
    fn times_have_two_minutes_of_leeway() {
        let k = key(1);
        let at = |iat: u64, exp: Option<u64>| {
            verify(&sign_client_jwt(&k, &ClientJwtClaims { iat, exp, ..claims() }), &client_of(&k))
        };
        assert!(at(NOW + 120, None).is_ok());
        assert_eq!(at(NOW + 121, None), Err(ClientJwtError::IssuedInFuture(121)));
        assert!(at(NOW - 3600, Some(NOW - 120)).is_ok());
        assert_eq!(at(NOW - 3600, Some(NOW - 121)), Err(ClientJwtError::Expired(121)));
        assert!(at(NOW - 86_400 * 365, None).is_ok(), "exp is optional");
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong() {
        let k = key(1);
        let good = sign_client_jwt(&k, &claims());
        let c = client_of(&k);
        assert_eq!(verify("", &c), Err(ClientJwtError::Empty));
        assert_eq!(verify("a.b", &c), Err(ClientJwtError::NotThreeParts));
        assert_eq!(verify(&format!("{good}.x"), &c), Err(ClientJwtError::NotThreeParts));
        assert_eq!(verify(&format!("{good}="), &c), Err(ClientJwtError::NotBase64Url("signature")));
        assert_eq!(verify("!!.e30.AA", &c), Err(ClientJwtError::NotBase64Url("header")));
        assert_eq!(verify(&"a".repeat(5000), &c), Err(ClientJwtError::TooLong(5000)));
        let header = r#"{"typ":"JWT","alg":"EdDSA"}"#;
        assert_eq!(verify(&forge(&k, header, "[]"), &c), Err(ClientJwtError::ClaimsNotObject));
        let no_iat = json!({"iss": DidKey::from(k.verifying_key()).to_string(), "sub": "s", "aud": AUD});
        assert!(matches!(verify(&forge(&k, header, &no_iat.to_string()), &c), Err(ClientJwtError::Claim(_))));
        let bad_iss = json!({"iss": "z6Mk", "sub": "s", "aud": AUD, "iat": NOW});
        assert_eq!(
            verify(&forge(&k, header, &bad_iss.to_string()), &c),
            Err(ClientJwtError::Issuer(DidKeyError::NotDidKey))
        );
        let mut short_sig = good.rsplit_once('.').unwrap().0.to_owned();
        short_sig.push_str(".AAAA");
        assert_eq!(verify(&short_sig, &c), Err(ClientJwtError::SignatureLength));
    }

    #[test]
    fn a_list_audience_is_taken_when_one_entry_matches() {
        let k = key(1);
        let body =
            json!({"iss": DidKey::from(k.verifying_key()).to_string(), "sub": "s", "aud": ["x", AUD], "iat": NOW});
        assert!(verify(&forge(&k, r#"{"typ":"JWT","alg":"EdDSA"}"#, &body.to_string()), &client_of(&k)).is_ok());
    }
}
