//! `mixed`: signed sends at full speed (as `send`, encrypted) while registrations arrive at a
//! steady rate, as in production, where every app launch registers its token again. The figures
//! are the sends'; the registrations' rate and latency are printed beside them.

use std::sync::Arc;

use clap::Args;

use crate::{
    common::Common,
    measure::{self, SideKind, SideLoad},
    report,
    requests::PayloadKind,
    scenarios::send::{self, Sends},
};

#[derive(Args)]
pub struct MixedArgs {
    #[command(flatten)]
    pub common: Common,
    /// Registrations per second, sent open-loop (latency counted from when each was due).
    #[arg(long, default_value_t = 100.0)]
    pub register_rate: f64,
    /// Connections the registrations are spread over.
    #[arg(long, default_value_t = 8)]
    pub register_connections: usize,
    #[command(flatten)]
    pub sends: Sends,
}

pub fn run(args: MixedArgs) -> Result<(), String> {
    let MixedArgs { common, register_rate, register_connections, sends } = args;
    let side = SideLoad::new(SideKind::Registrations, register_rate, register_connections, "--register-rate")?;
    let mut setup = send::prepare(&common, PayloadKind::Encrypted, true, &sends)?;
    let shape = setup.shape.clone();
    let side = SideLoad {
        source: Arc::new(move |k| {
            // Even: the app of a client being sent to launched and registers again (same token).
            // Odd: a new install (ids and tokens past the pre-registered ones).
            let clients = u64::from(shape.clients);
            Some(shape.register_request(if k % 2 == 0 { (k / 2) % clients } else { clients + k / 2 }))
        }),
        ..side
    };
    let label = common.label.clone().unwrap_or_else(|| format!("mixed, sends + {:.0} registrations/s", side.rate));
    println!("and registering {:.0}/s on {} connections", side.rate, side.connections);
    let measured = measure::run(&setup.rt, &common, &mut setup.target, setup.source, Some(side));
    report::conclude(&label, &common, &measured, setup.pin)
}
