//! Per-client-IP rate limiting for the unauthenticated endpoints (register, unregister): a token
//! bucket per address, refilled continuously. The Relay's signed endpoint is not limited here.
//!
//! IPv6 clients are keyed by their /64 prefix, since one host usually owns a whole /64 and could
//! otherwise rotate addresses to escape the limit. Memory is bounded: each shard tracks at most a
//! fixed number of addresses, dropping buckets that have refilled (they carry no information)
//! and, if that is not enough, forgetting the shard's whole history (erring towards letting
//! clients through rather than growing without bound).

use std::{collections::HashMap, net::IpAddr, sync::Mutex, time::Duration};

use poem::{Request, web::RemoteAddr};
use tokio::time::Instant;

const SHARDS: usize = 32;
const MAX_TRACKED_PER_SHARD: usize = 8192;

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct RateLimiter {
    shards: Box<[Mutex<HashMap<u128, Bucket>>]>,
    per_second: f64,
    burst: f64,
}

impl RateLimiter {
    /// `None` when `per_minute` is 0 (limiting off).
    pub fn new(per_minute: u32, burst: u32) -> Option<Self> {
        if per_minute == 0 {
            return None;
        }
        Some(Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
        })
    }

    /// Takes one token for `ip`; when none is left, says how long until one is.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let key = key(ip);
        let now = Instant::now();
        let mut shard = self.shards[(key % SHARDS as u128) as usize].lock().expect("rate limiter poisoned");
        if shard.len() >= MAX_TRACKED_PER_SHARD && !shard.contains_key(&key) {
            let full_after = Duration::from_secs_f64(self.burst / self.per_second);
            shard.retain(|_, b| now.duration_since(b.last) < full_after);
            if shard.len() >= MAX_TRACKED_PER_SHARD {
                shard.clear();
            }
        }
        let bucket = shard.entry(key).or_insert(Bucket { tokens: self.burst, last: now });
        let refill = now.duration_since(bucket.last).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.per_second))
        }
    }
}

fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4)),
            // The /64 prefix, tagged so it cannot collide with an IPv4 key.
            None => (u128::from(v6) >> 64) | (1 << 127),
        },
    }
}

/// The client's address: from `header` when the server sits behind a proxy that sets it (the last
/// address of a comma-separated list, the one the nearest proxy appended), else the TCP peer.
pub fn client_ip(req: &Request, header: Option<&str>) -> Option<IpAddr> {
    if let Some(name) = header
        && let Some(ip) = req
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
    {
        return Some(ip);
    }
    match req.remote_addr() {
        RemoteAddr(poem::Addr::SocketAddr(addr)) => Some(addr.ip()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_refill() {
        let limiter = RateLimiter::new(60, 3).unwrap();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(ip).is_ok());
        }
        let wait = limiter.check(ip).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        // Another address has its own bucket.
        assert!(limiter.check("10.0.0.2".parse().unwrap()).is_ok());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(limiter.check(ip).is_ok());
        assert!(limiter.check(ip).is_err());
    }

    #[test]
    fn ipv6_hosts_share_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(key(a), key(b));
        assert_ne!(key(a), key(c));
        assert_eq!(key("::ffff:10.0.0.1".parse().unwrap()), key("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn zero_switches_it_off() {
        assert!(RateLimiter::new(0, 10).is_none());
    }

    #[tokio::test]
    async fn memory_stays_bounded() {
        let limiter = RateLimiter::new(60, 1).unwrap();
        for i in 0..(SHARDS * MAX_TRACKED_PER_SHARD * 2) as u32 {
            let _ = limiter.check(IpAddr::V4(i.into()));
        }
        let tracked: usize = limiter.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(tracked <= SHARDS * MAX_TRACKED_PER_SHARD);
    }
}
