//! `push-server keygen`: a fresh Ed25519 key pair for a test Relay, as lines a `.env` file takes.
//! The public key goes to the server (`RELAY_PUBLIC_KEY`), the private seed to `push-server send`
//! (`RELAY_PRIVATE_KEY`). With `--client`, a test wallet's key instead: its client id is the
//! did:key of the public half, and `push-server client-jwt` signs with the private one.

use std::process::ExitCode;

use ed25519_dalek::SigningKey;

use crate::domain::DidKey;

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
