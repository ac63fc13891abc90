//! `dedup-memory`: the in-memory dedup store at scale: how many bytes one live claim costs at a
//! million claims, measured in this process (the store alone, no server around it) from `VmRSS`
//! before and after, and the time per claim (taken in flight and completed, as a delivered send
//! does).

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use clap::Args;

use push_server::{
    adapters::dedup::memory::MemoryDedupStore,
    domain::{ClientId, NotificationId},
    ports::{Claim, Completed, DedupStore},
};

#[derive(Args)]
pub struct DedupMemoryArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub entries: usize,
    /// Append a markdown table row to this file.
    #[arg(long)]
    pub markdown_out: Option<PathBuf>,
}

pub fn run(args: DedupMemoryArgs) -> Result<(), String> {
    let report = measure(args.entries)?;
    crate::report::dedup_memory(&report, args.markdown_out.as_deref())?;
    if report.live != args.entries {
        return Err(format!("expected {} live entries, found {}", args.entries, report.live));
    }
    Ok(())
}

/// What one measurement found.
pub struct DedupMemory {
    pub entries: usize,
    pub live: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub claim_ns: f64,
}

impl DedupMemory {
    pub fn bytes_per_entry(&self) -> f64 {
        (self.rss_after_kib.saturating_sub(self.rss_before_kib) * 1024) as f64 / self.live.max(1) as f64
    }
}

fn rss_kib() -> u64 {
    crate::server::memory(std::process::id()).map_or(0, |m| m.rss_kib)
}

/// Claims and completes `entries` distinct (client, id) pairs, spread over 1,000 clients like
/// real traffic, with the default 24 h window so every claim stays live.
fn measure(entries: usize) -> Result<DedupMemory, String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().map_err(|e| e.to_string())?;
    let clients: Vec<ClientId> =
        (0..1000).map(|k| ClientId::parse(&format!("bench-client-{k}")).expect("valid client id")).collect();
    let (lease, window) = (Duration::from_secs(16), Duration::from_secs(86_400));
    let before = rss_kib();
    let store = MemoryDedupStore::new();
    let started = Instant::now();
    runtime.block_on(async {
        let mut id = String::with_capacity(48);
        for i in 0..entries {
            id.clear();
            // Ids shaped like the Relay's: 36 characters.
            use std::fmt::Write;
            let _ = write!(id, "{:08x}-{:04x}-4000-8000-{:012x}", i, i % 65_536, i);
            let nid = NotificationId::parse(&id).expect("valid notification id");
            let client = &clients[i % clients.len()];
            let token = match store.try_claim(client, &nid, lease).await {
                Ok(Claim::Claimed(token)) => token,
                Ok(other) => return Err(format!("claim {i} was refused: {other:?}")),
                Err(e) => return Err(e.to_string()),
            };
            match store.complete(client, &nid, token, window).await {
                Ok(Completed::Done) => {}
                Ok(Completed::NotHeld) => return Err(format!("claim {i} was lost before it was completed")),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    })?;
    let claim_ns = started.elapsed().as_nanos() as f64 / entries.max(1) as f64;
    let after = rss_kib();
    let live = store.len();
    drop(store);
    Ok(DedupMemory { entries, live, rss_before_kib: before, rss_after_kib: after, claim_ns })
}
