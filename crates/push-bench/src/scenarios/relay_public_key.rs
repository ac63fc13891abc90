//! `relay-public-key`: the hex public key of a Relay secret key, for starting a server by hand
//! (`scripts/profile.sh`) that `--relay-secret` runs can then be signed for.

use clap::Args;

use crate::common::parse_secret;

#[derive(Args)]
pub struct RelayPublicKeyArgs {
    #[arg(long, env = "BENCH_RELAY_SECRET")]
    pub relay_secret: String,
}

pub fn run(args: RelayPublicKeyArgs) -> Result<(), String> {
    let key = parse_secret(&args.relay_secret)?;
    println!("{}", hex::encode(key.verifying_key().to_bytes()));
    Ok(())
}
