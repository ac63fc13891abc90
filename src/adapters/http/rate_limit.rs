//! Per-client-IP rate limiting for the unauthenticated endpoints (register, unregister): a token
//! bucket per address, refilled continuously. The Relay's signed endpoint is not limited here.
//!
//! IPv6 clients are keyed by a prefix (`/56` by default: a home or office usually gets a /56 or
//! a /48, and could otherwise rotate addresses to escape the limit). Memory is bounded: each shard
//! tracks at most a fixed number of addresses. A full shard first drops buckets that have refilled
//! (they carry no information), then the stalest eighth of the rest, so a flood of fresh addresses
//! cannot wipe out the limits of the clients that are active right now.

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

/// Whose budget a request spends: an IPv4 address, or an IPv6 prefix (the prefix's bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Key {
    V4(u32),
    V6(u128),
}

impl Key {
    fn shard(self) -> usize {
        let low = match self {
            Key::V4(v) => v as usize,
            Key::V6(prefix) => prefix as usize,
        };
        low % SHARDS
    }
}

pub struct RateLimiter {
    shards: Box<[Mutex<HashMap<Key, Bucket>>]>,
    per_second: f64,
    burst: f64,
    ipv6_prefix: u8,
}

impl RateLimiter {
    /// `None` when `per_minute` is 0 (limiting off). `ipv6_prefix` (1 to 128) is how many leading
    /// bits of an IPv6 address name one client.
    pub fn new(per_minute: u32, burst: u32, ipv6_prefix: u8) -> Option<Self> {
        if per_minute == 0 {
            return None;
        }
        Some(Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            ipv6_prefix: ipv6_prefix.clamp(1, 128),
        })
    }

    /// Takes one token for `ip`; when none is left, says how long until one is.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let key = key(ip, self.ipv6_prefix);
        let now = Instant::now();
        let mut shard = self.shards[key.shard()].lock().expect("rate limiter poisoned");
        if shard.len() >= MAX_TRACKED_PER_SHARD && !shard.contains_key(&key) {
            self.make_room(&mut shard, now);
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

    /// Frees at least one place in a full shard: refilled buckets go first (forgetting them
    /// changes nothing), then the stalest eighth, so eviction runs once per many insertions.
    fn make_room(&self, shard: &mut HashMap<Key, Bucket>, now: Instant) {
        let full_after = Duration::from_secs_f64(self.burst / self.per_second);
        shard.retain(|_, b| now.duration_since(b.last) < full_after);
        if shard.len() < MAX_TRACKED_PER_SHARD {
            return;
        }
        let mut seen: Vec<Instant> = shard.values().map(|b| b.last).collect();
        let evict = (seen.len() / 8).max(1);
        let (_, cutoff, _) = seen.select_nth_unstable(evict - 1);
        let cutoff = *cutoff;
        let mut quota = evict;
        shard.retain(|_, b| {
            // Buckets at the cutoff instant itself are evicted only while the quota lasts.
            let stale = b.last < cutoff || (b.last == cutoff && quota > 0);
            if stale {
                quota = quota.saturating_sub(1);
            }
            !stale
        });
    }
}

fn key(ip: IpAddr, ipv6_prefix: u8) -> Key {
    match ip {
        IpAddr::V4(v4) => Key::V4(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Key::V4(u32::from(v4)),
            None => Key::V6(u128::from(v6) >> (128 - u32::from(ipv6_prefix))),
        },
    }
}

/// The client's address. With `header` (the server sits behind proxies that append the address
/// they saw to it), the `trusted_proxies`-th address from the right of the comma-separated list:
/// the addresses right of it were appended by trusted proxies behind the one facing clients (a
/// load balancer that appends its own address, say), the ones left of it are whatever the client
/// sent. A shorter list means the client sent none, so its first address is the client's. Without
/// a header, or when that entry is not an address, the TCP peer.
pub fn client_ip(req: &Request, header: Option<&str>, trusted_proxies: usize) -> Option<IpAddr> {
    if let Some(name) = header {
        let entries: Vec<&str> = req
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let from_right = trusted_proxies.max(1).min(entries.len());
        let chosen = entries.len().checked_sub(from_right).and_then(|i| entries.get(i));
        if let Some(ip) = chosen.and_then(|s| s.parse::<IpAddr>().ok()) {
            return Some(ip);
        }
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
        let limiter = RateLimiter::new(60, 3, 56).unwrap();
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
    fn ipv6_hosts_share_their_prefix() {
        let a: IpAddr = "2001:db8:1:200::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2ff:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:300::1".parse().unwrap();
        assert_eq!(key(a, 56), key(b, 56));
        assert_ne!(key(a, 56), key(c, 56));
        assert_ne!(key(a, 64), key(b, 64));
        assert_ne!(key(a, 128), key("2001:db8:1:200::2".parse().unwrap(), 128));
        assert_eq!(key(a, 1), key(c, 1));
        assert_eq!(key("::ffff:10.0.0.1".parse().unwrap(), 56), key("10.0.0.1".parse().unwrap(), 56));
        // Prefixes spread over the shards (a key's low bits are its prefix's last bits).
        let shards: std::collections::HashSet<_> =
            (0..64u128).map(|i| key(IpAddr::V6((i << 72).into()), 56).shard()).collect();
        assert_eq!(shards.len(), SHARDS);
    }

    #[test]
    fn zero_switches_it_off() {
        assert!(RateLimiter::new(0, 10, 56).is_none());
    }

    #[tokio::test]
    async fn memory_stays_bounded() {
        let limiter = RateLimiter::new(60, 1, 56).unwrap();
        for i in 0..(SHARDS * MAX_TRACKED_PER_SHARD * 2) as u32 {
            let _ = limiter.check(IpAddr::V4(i.into()));
        }
        let tracked: usize = limiter.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(tracked <= SHARDS * MAX_TRACKED_PER_SHARD);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_new_addresses_does_not_reset_active_clients() {
        // One token a minute: a spent bucket stays informative for a minute.
        let limiter = RateLimiter::new(1, 1, 56).unwrap();
        // Addresses that are multiples of SHARDS all land in shard 0.
        let in_shard_0 = |i: u32| IpAddr::V4((i * SHARDS as u32).into());
        for i in 1..MAX_TRACKED_PER_SHARD as u32 {
            let _ = limiter.check(in_shard_0(i));
        }
        tokio::time::advance(Duration::from_secs(1)).await;
        // An active client spends its budget...
        let active = in_shard_0(0);
        assert!(limiter.check(active).is_ok());
        assert!(limiter.check(active).is_err());
        // ...then a flood of fresh addresses overflows its shard...
        tokio::time::advance(Duration::from_secs(1)).await;
        for i in 0..(MAX_TRACKED_PER_SHARD as u32 / 2) {
            let _ = limiter.check(in_shard_0(100_000 + i));
        }
        // ...but only the stalest buckets were forgotten: it is still limited.
        assert!(limiter.check(active).is_err(), "the active client's bucket was evicted");
        assert!(limiter.shards[0].lock().unwrap().len() <= MAX_TRACKED_PER_SHARD);
    }
}
