//! `send`: Relay-signed notifications, each with a fresh id, to clients registered before the
//! run, round robin, at full speed on every connection. Also the set-up `mixed` and `deliver`
//! build on: a server with the clients registered and the requests signed ahead. With
//! `--bad-signature-rate`, a flood of wrongly signed notifications runs beside the valid ones
//! (open loop): the figures are the valid sends', which the flood must not fail.

use std::sync::Arc;

use clap::Args;
use ed25519_dalek::SigningKey;
use hyper::header::HeaderValue;

use crate::{
    common::{Common, Target, parse_secret, register_clients, run_id, runtime, should_pin},
    measure::{self, SideKind, SideLoad},
    report,
    requests::{self, PayloadKind, Shape, Source},
    server,
};

#[derive(Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub common: Common,
    /// Encrypted (forwarded as is) or cleartext (decoded and rendered) blobs.
    #[arg(long, value_enum, default_value = "encrypted")]
    pub payload: PayloadKind,
    /// Start the server with VALIDATE_SIGNATURES=false and send unsigned requests.
    #[arg(long)]
    pub no_signatures: bool,
    /// Also send this many notifications per second with a wrong signature (a valid request's
    /// signature with one bit of `s` flipped: well-formed, so the server does the whole
    /// verification before refusing it). Every one must be answered 401.
    #[arg(long, conflicts_with = "no_signatures")]
    pub bad_signature_rate: Option<f64>,
    /// Connections the bad signatures are spread over.
    #[arg(long, default_value_t = 16)]
    pub bad_signature_connections: usize,
    #[command(flatten)]
    pub sends: Sends,
}

// What `send` and `mixed` share: the clients notified and the Relay that signs for them.
#[derive(Args)]
pub struct Sends {
    /// Clients registered before the run; notifications go to them round robin.
    #[arg(long, default_value_t = 1000)]
    pub clients: u32,
    /// Requests per second to sign ahead for (times warm-up plus duration). Signing happens
    /// before the timed phase; a run that uses them all up stops and says so.
    #[arg(long, default_value_t = 40_000)]
    pub rate_hint: u64,
    /// Hex Ed25519 secret key of the Relay, when `--url` names a server configured with its
    /// public half (a spawned server gets a fresh key pair).
    #[arg(long, env = "BENCH_RELAY_SECRET")]
    pub relay_secret: Option<String>,
}

pub fn run(args: SendArgs) -> Result<(), String> {
    let SendArgs { common, payload, no_signatures, bad_signature_rate, bad_signature_connections, sends } = args;
    let signed = !no_signatures;
    let flood = bad_signature_rate
        .map(|rate| SideLoad::new(SideKind::BadSignatures, rate, bad_signature_connections, "--bad-signature-rate"))
        .transpose()?;
    let mut setup = prepare(&common, payload, signed, &sends)?;
    let label = common.label.clone().unwrap_or_else(|| {
        format!(
            "send, {}, signatures {}",
            match payload {
                PayloadKind::Encrypted => "encrypted",
                PayloadKind::Cleartext => "cleartext",
            },
            if signed { "on" } else { "off" }
        )
    });
    let side = flood.map(|flood| {
        println!("and {:.0} bad signatures/s on {} connections", flood.rate, flood.connections);
        SideLoad { source: bad_signatures(&setup.source), ..flood }
    });
    let measured = measure::run(&setup.rt, &common, &mut setup.target, setup.source, side);
    report::conclude(&label, &common, &measured, setup.pin)
}

/// Notifications with a wrong but well-formed signature: the valid request `k` with bit 0 of its
/// signature's `s` flipped, which keeps `s` canonical (below the group order) but for a
/// negligible share, so the server does the whole verification before refusing it. (Its id may be
/// a valid send's too: the signature is judged before the id is claimed.)
fn bad_signatures(valid: &Source) -> Source {
    let valid = valid.clone();
    Arc::new(move |k| {
        let mut request = valid(k)?;
        let header = request.headers_mut().get_mut(push_server::domain::SIGNATURE_HEADER)?;
        let mut signature = header.as_bytes().to_vec();
        // Hex digits 64 and 65 are s's first (least significant) byte; 65 its low nibble.
        let digit = char::from(signature[65]).to_digit(16)? ^ 1;
        signature[65] = char::from_digit(digit, 16)? as u8;
        *header = HeaderValue::from_bytes(&signature).ok()?;
        Some(request)
    })
}

/// A server with `clients` registered and the requests to send them, signed ahead when `signed`.
pub struct SendSetup {
    pub rt: tokio::runtime::Runtime,
    pub target: Target,
    pub shape: Arc<Shape>,
    pub source: Source,
    pub pin: bool,
}

pub fn prepare(common: &Common, payload: PayloadKind, signed: bool, sends: &Sends) -> Result<SendSetup, String> {
    check_window(common)?;
    let key = match &sends.relay_secret {
        Some(hex_key) => parse_secret(hex_key)?,
        None => SigningKey::from_bytes(&std::array::from_fn(|_| fastrand::u8(..))),
    };
    let pin = should_pin(common);
    let target = Target::new(common, Some(hex::encode(key.verifying_key().to_bytes())), signed, pin)?;
    let shape = Arc::new(Shape::new(run_id(), sends.clients, payload, &target.addr.to_string()));
    let rt = runtime()?;

    // Registration goes first, unmeasured: every notification must find its client.
    let registered = rt.block_on(register_clients(target.addr, &shape))?;
    let source: Source = if signed {
        signed_source(&shape, &key, common, sends.rate_hint)
    } else {
        let shape = shape.clone();
        Arc::new(move |i| Some(shape.send_request(i, None)))
    };
    if pin {
        server::pin_self(&common.bench_cpus)?;
    }
    println!(
        "registered {registered} clients; sending for {:.0}+{:.0} s on {} connections",
        common.warmup, common.duration, common.connections
    );
    Ok(SendSetup { rt, target, shape, source, pin })
}

/// Every request is signed over one timestamp taken before the run; the server accepts
/// timestamps up to 300 s old.
pub fn check_window(common: &Common) -> Result<(), String> {
    if common.warmup + common.duration > 240.0 {
        return Err("warm-up plus duration must stay within 240 s (the signatures' timestamp window)".into());
    }
    Ok(())
}

/// The notifications of `shape`, signed ahead on every core for `rate_hint` requests per second
/// over the whole run.
pub fn signed_source(shape: &Arc<Shape>, key: &SigningKey, common: &Common, rate_hint: u64) -> Source {
    let count = (rate_hint as f64 * (common.warmup + common.duration)).ceil() as usize;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pool = Arc::new(requests::sign_pool(shape, key, count, threads));
    println!("signed {count} requests ahead on {threads} threads in {:.1} s", pool.took.as_secs_f64());
    let shape = shape.clone();
    Arc::new(move |i| {
        let signature = pool.signatures.get(i as usize)?;
        Some(shape.send_request(i, Some((&pool.timestamp, signature))))
    })
}
