//! `verify`: Ed25519 verification of one signed message of a send's size, in this process:
//! `verify_strict` one at a time, and the server's way (`domain::verify_batch`: strict encoding
//! checks, then the cofactored batch equation) at batch sizes 1 to 64. The per-core ceiling that
//! every other cost of the send path is measured against.

use std::time::Instant;

use clap::Args;
use ed25519_dalek::{Signer, SigningKey};
use push_server::domain::{PreparedSignature, RelayPublicKey, verify_batch};
use rand_core::UnwrapErr;

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
    let relay_key = RelayPublicKey::from(public);
    for size in [1usize, 2, 4, 8, 16, 32, 64] {
        // Distinct messages, as distinct requests are: each signature's k differs.
        let batch: Vec<_> = (0..size)
            .map(|n| {
                let message =
                    push_server::domain::signed_message(&(1_700_000_000 + n).to_string(), &shape.notification_body(1));
                PreparedSignature::new(&relay_key, &key.sign(&message), &message)
            })
            .collect();
        let rounds = (iterations as usize / size).max(1);
        let started = Instant::now();
        for _ in 0..rounds {
            let answers = verify_batch(std::hint::black_box(&batch), UnwrapErr(getrandom::SysRng));
            assert!(answers.iter().all(|valid| *valid));
        }
        let each = started.elapsed() / (rounds * size) as u32;
        println!(
            "batch of {size:>2}: {:.1} µs per signature ({:.0}/s per core, {:.2}x verify_strict)",
            each.as_secs_f64() * 1e6,
            1.0 / each.as_secs_f64(),
            verify.as_secs_f64() / each.as_secs_f64()
        );
    }
    Ok(())
}
