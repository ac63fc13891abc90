//! The OAuth 2.0 JWT-bearer assertion (RFC 7523) a service account trades for an access token:
//! an RS256-signed JWT saying "this service account wants the FCM scope".
//!
//! The JWT is three base64url parts; building it by hand with aws-lc-rs (the crypto provider that
//! rustls already uses) keeps a JWT library and a second crypto backend out of the tree.

use aws_lc_rs::{rand::SystemRandom, signature::RSA_PKCS1_SHA256};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::json;

use super::credentials::ServiceAccount;

/// The one scope FCM HTTP v1 needs.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// Google accepts assertions valid for at most one hour.
pub const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// A signed assertion for `account`, issued at `now` (unix seconds; passed in so tests can pin
/// it). `aud` is the account's own `token_uri`, which is what Google checks.
pub fn sign(account: &ServiceAccount, now: u64) -> Result<String, String> {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = &account.private_key_id {
        header["kid"] = kid.as_str().into();
    }
    let claims = json!({
        "iss": account.client_email,
        "scope": FCM_SCOPE,
        "aud": account.token_uri,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECS,
    });
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut signature = vec![0; account.key.public_modulus_len()];
    account
        .key
        .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
        .map_err(|_| "could not sign the OAuth assertion with the service-account key".to_owned())?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use serde_json::Value;

    use super::*;
    use crate::adapters::push::fcm::credentials::tests::{account_json, test_key_pem};

    fn part(jwt: &str, i: usize) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(i).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn claims_name_the_account_scope_and_token_uri() {
        let account = ServiceAccount::parse(&account_json(&test_key_pem()).to_string()).unwrap();
        let jwt = sign(&account, 1_700_000_000).unwrap();
        assert_eq!(jwt.split('.').count(), 3);
        assert_eq!(part(&jwt, 0), json!({"alg": "RS256", "typ": "JWT", "kid": "kid-1"}));
        assert_eq!(
            part(&jwt, 1),
            json!({
                "iss": "push@demo-project.iam.gserviceaccount.com",
                "scope": "https://www.googleapis.com/auth/firebase.messaging",
                "aud": "http://127.0.0.1:1/token",
                "iat": 1_700_000_000u64,
                "exp": 1_700_003_600u64,
            })
        );
    }

    #[test]
    fn signature_verifies_with_the_public_key_and_only_over_the_signed_input() {
        let account = ServiceAccount::parse(&account_json(&test_key_pem()).to_string()).unwrap();
        let jwt = sign(&account, 1_700_000_000).unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, account.key.public_key().as_ref());
        public.verify(input.as_bytes(), &sig).expect("RS256 signature verifies");
        assert!(public.verify(format!("{input}x").as_bytes(), &sig).is_err());
    }
}
