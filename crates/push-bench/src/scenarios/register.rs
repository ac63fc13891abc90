//! `register`: registrations of new clients (each a new client id and token) at full speed on
//! every connection: the write path of the client store.

use std::sync::Arc;

use clap::Args;

use crate::{
    common::{Common, Target, run_id, runtime, should_pin},
    measure, report,
    requests::{PayloadKind, Shape, Source},
    server,
};

#[derive(Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub common: Common,
}

pub fn run(args: RegisterArgs) -> Result<(), String> {
    let common = args.common;
    let pin = should_pin(&common);
    let mut target = Target::new(&common, None, true, pin)?;
    let shape = Arc::new(Shape::new(run_id(), 1, PayloadKind::Encrypted, &target.addr.to_string()));
    let rt = runtime()?;
    if pin {
        server::pin_self(&common.bench_cpus)?;
    }
    let source: Source = Arc::new(move |k| Some(shape.register_request(k)));
    let label = common.label.clone().unwrap_or_else(|| "register".to_owned());
    println!(
        "registering new clients for {:.0}+{:.0} s on {} connections",
        common.warmup, common.duration, common.connections
    );
    let measured = measure::run(&rt, &common, &mut target, source, None);
    report::conclude(&label, &common, &measured, pin)
}
