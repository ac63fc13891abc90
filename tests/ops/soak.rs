//! Bounded soak: the real binary under steady signed load with fresh notification ids for a few
//! minutes, its resident memory (VmRSS) sampled every few seconds; after a warm-up it must stay
//! flat. Ignored by default (minutes long); `scripts/soak.sh` runs it.
//!
//! Fresh ids are what would make a leaky dedup store grow, so the dedup window is short
//! (`DEDUP_TTL_SECS=5`) and the cap small (`DEDUP_MAX_ENTRIES=512`) with a load above what
//! both allow: claims expire and are swept, and the cap evicts, all through the run. Memory is
//! therefore expected to plateau once the allocator has settled, and any growth past the
//! tolerance is a leak.
//!
//! Settings (environment): `SOAK_SECS` (default 180), `SOAK_WARMUP_SECS` (30), `SOAK_RATE`
//! requests a second (150; a debug-built load generator signs about 200 a second on
//! two cores), `SOAK_TOLERANCE_MB` (8) and `SOAK_TOLERANCE_PCT` (10): the run fails
//! when the last sample exceeds the first post-warm-up sample by more than the larger of the two.
//! `PUSH_SERVER_BIN` picks the binary (default: the one cargo built with this test).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::SigningKey;
use serde_json::json;

use push_testkit::{
    Signature, SignedRequest,
    binary::start_with,
    launcher::{Launch, Ready, Sink, memory},
};

use crate::SERVER;

const CLIENTS: u64 = 10;
const WORKERS: u64 = 8;
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    memory(pid).expect("the server is running").rss_kib
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    refused: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
}

/// One request of the mix, chosen by its sequence number: mostly signed sends with fresh ids
/// (encrypted and cleartext), plus duplicates, bad signatures and re-registrations.
async fn one_request(http: &reqwest::Client, base: &str, key: &SigningKey, i: u64) -> reqwest::Result<(u16, u16)> {
    let client = format!("soak-{}", i % CLIENTS);
    if i % 50 == 0 {
        // The same client with a rotating token of its own (a token moved to another client
        // would remove that client and turn its sends into 404s).
        let body = json!({"client_id": client, "type": "fcm", "token": format!("token-{client}-{}", i % 3)});
        let r = http
            .post(format!("{base}/clients"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?;
        return Ok((r.status().as_u16(), 200));
    }
    let id = if i % 20 == 2 { format!("n-{}", i - 1) } else { format!("n-{i}") };
    let blob = if i % 10 == 3 {
        (16, STANDARD.encode(json!({"title": "Soak", "body": format!("message {i}")}).to_string()))
    } else {
        (17, format!("ciphertext-{i}-{}", "x".repeat((i % 200) as usize)))
    };
    let body = json!({"id": id, "payload": {"topic": "soak", "flags": blob.0, "blob": blob.1}}).to_string();
    let mut signed = Signature::now(key, body.as_bytes());
    let expected = if i % 25 == 1 {
        let sig = &mut signed.signature;
        sig.replace_range(0..2, if sig.starts_with("00") { "11" } else { "00" });
        401
    } else {
        200
    };
    let r = http
        .post(format!("{base}/clients/{client}"))
        .header("content-type", "application/json")
        .signature(&signed)
        .body(body)
        .send()
        .await?;
    Ok((r.status().as_u16(), expected))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long; run by scripts/soak.sh"]
async fn rss_stays_flat_under_steady_load() {
    let secs = env_or("SOAK_SECS", 180);
    let warmup = env_or("SOAK_WARMUP_SECS", 30).min(secs / 2);
    let rate = env_or("SOAK_RATE", 150).max(1);
    let tolerance_kib = env_or("SOAK_TOLERANCE_MB", 8) * 1024;
    let tolerance_pct = env_or("SOAK_TOLERANCE_PCT", 10);
    let bin = std::env::var("PUSH_SERVER_BIN").unwrap_or_else(|_| SERVER.path().to_owned());

    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[9; 32]);
    let server = start_with(
        Launch::new(bin, dir.path())
            .env("RELAY_PUBLIC_KEY", hex::encode(key.verifying_key().to_bytes()))
            .env("DEDUP_TTL_SECS", "5")
            // The dedup window must cover twice the accepted clock skew (replays).
            .env("SIGNATURE_MAX_SKEW_SECS", "2")
            .env("DEDUP_MAX_ENTRIES", "512")
            .env("RATE_LIMIT_PER_MINUTE", "0")
            .env("SQLITE_SYNCHRONOUS", "normal")
            .env("RUST_LOG", "warn")
            .stdout(Sink::File(dir.path().join("server.log")))
            .stderr(Sink::File(dir.path().join("server.err")))
            .ready(Ready::Healthy),
    );
    let pid = server.pid();
    let base = server.url();
    let http = reqwest::Client::builder().pool_max_idle_per_host(WORKERS as usize).build().unwrap();
    for c in 0..CLIENTS {
        let body = json!({"client_id": format!("soak-{c}"), "type": "fcm", "token": format!("token-{c}")});
        assert_eq!(
            http.post(format!("{base}/clients"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }

    // Bounded in count and time: at most `rate * secs` requests, over `secs` seconds.
    let total = rate * secs;
    let next = Arc::new(AtomicU64::new(0));
    let counts = Arc::new(Counts::default());
    let began = Instant::now();
    let deadline = began + Duration::from_secs(secs);
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (http, base, key, next, counts) =
                (http.clone(), base.clone(), key.clone(), next.clone(), counts.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total || Instant::now() >= deadline {
                        break;
                    }
                    // Paced: request i is due at i / rate seconds after the start.
                    let due = began + Duration::from_secs_f64(i as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                    match one_request(&http, &base, &key, i).await {
                        Ok((status, expected)) if status == expected => counts.ok.fetch_add(1, Ordering::Relaxed),
                        Ok((status, _)) if status >= 500 => counts.server_errors.fetch_add(1, Ordering::Relaxed),
                        Ok(_) => counts.refused.fetch_add(1, Ordering::Relaxed),
                        Err(_) => counts.transport_errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    let mut samples = Vec::new();
    while Instant::now() < deadline {
        let t = began.elapsed().as_secs();
        let rss = rss_kib(pid);
        println!(
            "t={t:>4} s  rss={:>7.1} MiB  requests={}",
            rss as f64 / 1024.0,
            next.load(Ordering::Relaxed).min(total)
        );
        samples.push((t, rss));
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    for w in workers {
        w.await.unwrap();
    }
    let final_rss = rss_kib(pid);
    samples.push((began.elapsed().as_secs(), final_rss));
    println!("t={:>4} s  rss={:>7.1} MiB  (final)", began.elapsed().as_secs(), final_rss as f64 / 1024.0);

    let ok = counts.ok.load(Ordering::Relaxed);
    let (refused, server_errors, transport) = (
        counts.refused.load(Ordering::Relaxed),
        counts.server_errors.load(Ordering::Relaxed),
        counts.transport_errors.load(Ordering::Relaxed),
    );
    println!("requests: {ok} as expected, {refused} other 4xx, {server_errors} 5xx, {transport} transport errors");
    assert_eq!(server_errors, 0, "no 5xx under load");
    assert_eq!(transport, 0, "no dropped connections under load");
    assert_eq!(refused, 0, "every request got the status its kind expects");
    // The generator may fall behind its pace on a busy machine; what matters is that the server
    // saw a substantial load throughout, not the exact rate.
    let achieved = ok as f64 / secs as f64;
    println!("achieved {achieved:.0} requests/s of {rate} planned");
    assert!(ok >= total / 4, "too little load to judge: {ok} of {total} planned requests");

    let baseline = samples.iter().find(|(t, _)| *t >= warmup).map(|(_, rss)| *rss).expect("a post-warm-up sample");
    let allowed = tolerance_kib.max(baseline * tolerance_pct / 100);
    let growth = final_rss.saturating_sub(baseline);
    println!(
        "after warm-up ({warmup} s): {:.1} MiB -> {:.1} MiB, growth {:.1} MiB, allowed {:.1} MiB",
        baseline as f64 / 1024.0,
        final_rss as f64 / 1024.0,
        growth as f64 / 1024.0,
        allowed as f64 / 1024.0
    );
    assert!(growth <= allowed, "resident memory grew by {growth} KiB after warm-up (allowed {allowed} KiB)");
    drop(server);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    let evictions = log.lines().filter(|l| l.contains("dedup store is full")).count();
    println!("dedup eviction warnings logged (at most one a minute): {evictions}");
}
