//! `push-server keygen`: a fresh Ed25519 key pair for a test Relay, as lines a `.env` file takes.
//! The public key goes to the server (`RELAY_PUBLIC_KEY`), the private seed to `push-server send`
//! (`RELAY_PRIVATE_KEY`). With `--client`, a test wallet's key instead: its client id is the
//! did:key of the public half, and `push-server client-jwt` signs with the private one. With
//! `--vapid`, a Web Push VAPID key (P-256) as PEM, and the public key pages subscribe with.

use std::process::ExitCode;

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;

use crate::{adapters::pem::armour, domain::DidKey};

/// A key pair from the operating system's random source (a signing key must be unguessable).
pub fn generate() -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("the operating system gave no random bytes: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

pub fn run(client: bool) -> ExitCode {
    match generate() {
        Ok(key) if client => {
            println!(
                "# A test wallet key: register as CLIENT_ID; `push-server client-jwt` signs with CLIENT_PRIVATE_KEY."
            );
            println!("CLIENT_PRIVATE_KEY={}", hex::encode(key.to_bytes()));
            println!("CLIENT_ID={}", DidKey::from(key.verifying_key()).multibase());
            ExitCode::SUCCESS
        }
        Ok(key) => {
            println!(
                "# A test Relay key pair: give the server RELAY_PUBLIC_KEY; `push-server send` signs with RELAY_PRIVATE_KEY."
            );
            println!("RELAY_PRIVATE_KEY={}", hex::encode(key.to_bytes()));
            println!("RELAY_PUBLIC_KEY={}", hex::encode(key.verifying_key().to_bytes()));
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e),
    }
}

/// A VAPID key pair: the PKCS#8 PEM of the private key and the base64url public key.
pub fn generate_vapid() -> Result<(String, String), String> {
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| "the operating system gave no random bytes".to_owned())?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| "a fresh P-256 key did not load".to_owned())?;
    Ok((armour("PRIVATE KEY", pkcs8.as_ref()), URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())))
}

/// Prints a VAPID key as a `.env` file takes it (the PEM on one line, in quotes, `\n` for its
/// line breaks) and its public key as a comment.
pub fn run_vapid() -> ExitCode {
    match generate_vapid() {
        Ok((pem, public)) => {
            println!("# A Web Push VAPID key: pages subscribe with the public key {public}");
            println!("# (also served at GET /webpush/vapid-public-key). Set WEBPUSH_SUBJECT too.");
            println!("WEBPUSH_VAPID_PRIVATE_KEY=\"{}\"", pem.trim_end().replace('\n', "\\n"));
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vapid_key_is_pkcs8_pem_with_a_65_byte_public_key() {
        let (pem, public) = generate_vapid().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(URL_SAFE_NO_PAD.decode(public).unwrap().len(), 65);
    }
}
