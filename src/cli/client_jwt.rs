//! `push-server client-jwt`: what a wallet sends to prove it holds its client, made from the
//! wallet's key: its client id (the did:key of the public key) and a client JWT for the
//! `Authorization` header, for curl walk-throughs and tests.

use std::{
    process::ExitCode,
    time::{SystemTime, UNIX_EPOCH},
};

use clap::Args;
use ed25519_dalek::SigningKey;

use super::settings::{ClientAuthSettings, Settings};
use crate::domain::{ClientJwtClaims, DidKey, sign_client_jwt};

#[derive(Debug, Clone, Args)]
pub struct ClientJwtArgs {
    /// The wallet's private key: hex of the 32-byte Ed25519 seed (`push-server keygen --client`
    /// makes one).
    #[arg(long, env = "CLIENT_PRIVATE_KEY", hide_env_values = true)]
    pub key: String,
    /// The audience: a URL the server is configured with in PUBLIC_URL [default:
    /// http://localhost:3000]
    #[arg(long)]
    pub aud: Option<String>,
    /// The `sub` claim (the server requires one and does not interpret it).
    #[arg(long, default_value = "push-server-client-jwt")]
    pub sub: String,
    /// Seconds until the token expires (`exp`); 0 leaves `exp` out.
    #[arg(long, default_value_t = 3600)]
    pub ttl_secs: u64,
}

/// The client id and the JWT, as `NAME=value` lines a shell can `eval`.
pub fn output(args: &ClientJwtArgs, now: u64) -> Result<String, String> {
    let key = signing_key(&args.key)?;
    let aud = args.aud.clone().unwrap_or_else(|| ClientAuthSettings::local_audience(Settings::default().port));
    let exp = (args.ttl_secs > 0).then(|| now.saturating_add(args.ttl_secs));
    let jwt = sign_client_jwt(&key, &ClientJwtClaims { sub: args.sub.clone(), aud, iat: now, exp });
    let client_id = DidKey::from(key.verifying_key()).multibase();
    Ok(format!("CLIENT_ID={client_id}\nCLIENT_JWT={jwt}\n"))
}

fn signing_key(hex_seed: &str) -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(hex_seed.trim(), &mut seed)
        .map_err(|_| "the client private key must be 64 hexadecimal characters (a 32-byte seed)".to_owned())?;
    Ok(SigningKey::from_bytes(&seed))
}

pub fn run(args: &ClientJwtArgs) -> ExitCode {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    match output(args, now) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => super::fail(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Audiences, ClientId, verify_client_jwt};

    fn args(key: &str, aud: Option<&str>) -> ClientJwtArgs {
        ClientJwtArgs { key: key.into(), aud: aud.map(Into::into), sub: "s".into(), ttl_secs: 60 }
    }

    #[test]
    fn prints_a_client_id_and_a_token_the_server_accepts_for_it() {
        let text = output(&args(&"07".repeat(32), Some("https://push.example.com")), 1_800_000_000).unwrap();
        let value = |name: &str| {
            text.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("{name}"))
        };
        let client = ClientId::parse(value("CLIENT_ID")).unwrap();
        assert!(client.as_str().starts_with("z6Mk"));
        let audiences = Audiences::new(["https://push.example.com"]);
        assert!(verify_client_jwt(value("CLIENT_JWT"), &client, &audiences, 1_800_000_000).is_ok());
    }

    #[test]
    fn key_must_be_a_hex_seed() {
        assert!(output(&args("zz", None), 0).unwrap_err().contains("64 hexadecimal characters"));
    }
}
