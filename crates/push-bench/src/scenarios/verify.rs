//! `verify`: Ed25519 verification as the server does it (strict, one signed message of a send's
//! size), in this process: the per-core ceiling that every other cost of the send path is
//! measured against.

use std::time::Instant;

use clap::Args;
use ed25519_dalek::{Signer, SigningKey};

use crate::{
    common::run_id,
    requests::{PayloadKind, Shape},
};

#[derive(Args)]
pub struct VerifyArgs {
    #[arg(long, default_value_t = 20_000)]
    pub iterations: u32,
}

pub fn run(args: VerifyArgs) -> Result<(), String> {
    let iterations = args.iterations;
    let key = SigningKey::from_bytes(&[7; 32]);
    let public = key.verifying_key();
    let shape = Shape::new(run_id(), 1, PayloadKind::Encrypted, "127.0.0.1");
    let message = push_server::domain::signed_message("1700000000", &shape.notification_body(1));
    let signature = key.sign(&message);
    let started = Instant::now();
    for _ in 0..iterations {
        assert!(public.verify_strict(std::hint::black_box(&message), &signature).is_ok());
    }
    let verify = started.elapsed() / iterations;
    let started = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(key.sign(std::hint::black_box(&message)));
    }
    let sign = started.elapsed() / iterations;
    println!(
        "ed25519 over {} bytes: verify_strict {:.1} µs ({:.0}/s per core), sign {:.1} µs",
        message.len(),
        verify.as_secs_f64() * 1e6,
        1.0 / verify.as_secs_f64(),
        sign.as_secs_f64() * 1e6
    );
    Ok(())
}
