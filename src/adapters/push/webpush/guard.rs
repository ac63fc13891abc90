//! The endpoint guard. A subscription's endpoint is a URL chosen by whoever registers, so without
//! a guard the server would POST wherever it is told, its own network included (SSRF). Only
//! `https://` to a name (never an IP literal) that resolves to public addresses only is called;
//! the connection then goes to exactly the addresses that were checked (no second lookup that a
//! DNS answer could change in between). `WEBPUSH_ALLOWED_HOSTS` restricts endpoints to the hosts
//! it names and is the only way to call a private host or `http://` (a self-hosted push service
//! inside the network, the tests' loopback fakes).
//!
//! The checks are pure functions over the URL and the resolved addresses; the lookup is a
//! [`Resolve`] the provider is given, so tests prove a refusal without any lookup or connection.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

use async_trait::async_trait;
use http::Uri;

/// Where an endpoint points, as the guard read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub https: bool,
    /// The host as written, without IPv6 brackets, lower-cased.
    pub host: String,
    pub port: u16,
    /// `/path?query` as the push service gave it.
    pub path_and_query: String,
    /// A host of `WEBPUSH_ALLOWED_HOSTS`: its addresses are not checked.
    pub allowed: bool,
}

impl Endpoint {
    /// `scheme://host[:port]`, the JWT's audience and the pool's key. The port is written only
    /// when it is not the scheme's default, as browsers write an origin.
    pub fn origin(&self) -> String {
        let (scheme, default) = if self.https { ("https", 443) } else { ("http", 80) };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == default { format!("{scheme}://{host}") } else { format!("{scheme}://{host}:{}", self.port) }
    }
}

/// One entry of `WEBPUSH_ALLOWED_HOSTS`: a host, and a port when the entry names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    /// `host` or `host:port` (an IPv6 literal in brackets, `[::1]:8443`).
    pub fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        let bad = || format!("'{entry}' is not a host or host:port");
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(bad)?;
            match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                None => return Err(bad()),
            }
        } else {
            match entry.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') => (host, Some(port)),
                _ => (entry, None),
            }
        };
        if host.is_empty() || host.contains(['/', '@', ' ', '?', '#']) {
            return Err(bad());
        }
        let port = port.map(|p| p.parse::<u16>().map_err(|_| bad())).transpose()?;
        Ok(Self { host: host.to_ascii_lowercase(), port })
    }

    fn admits(&self, host: &str, port: u16) -> bool {
        self.host == host && self.port.is_none_or(|p| p == port)
    }
}

/// Resolves a host name to addresses (the system resolver in production).
#[async_trait]
pub trait Resolve: Send + Sync {
    async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

/// The system resolver, through tokio.
pub struct SystemResolver;

#[async_trait]
impl Resolve for SystemResolver {
    async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// The guard's rules: the allowed hosts (empty: any public host).
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allowed: Vec<AllowedHost>,
}

impl Guard {
    pub fn new(allowed: Vec<AllowedHost>) -> Self {
        Self { allowed }
    }

    /// The pure half: the URL's scheme and host. `https://` to a name, or anything to an
    /// allowed host; with allowed hosts set, nothing else.
    pub fn check_url(&self, url: &str) -> Result<Endpoint, String> {
        let uri: Uri = url.parse().map_err(|_| "the endpoint is not a valid URL".to_owned())?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("the endpoint must be an https:// URL".to_owned()),
        };
        let authority = uri.authority().ok_or_else(|| "the endpoint has no host".to_owned())?;
        if authority.as_str().contains('@') {
            return Err("the endpoint must not carry user information".to_owned());
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let allowed = self.allowed.iter().any(|a| a.admits(&host, port));
        if !self.allowed.is_empty() && !allowed {
            return Err(format!("the endpoint's host '{host}' is not one of WEBPUSH_ALLOWED_HOSTS"));
        }
        if !allowed {
            if !https {
                return Err("the endpoint must be an https:// URL".to_owned());
            }
            if host.parse::<IpAddr>().is_ok() {
                return Err("the endpoint's host must be a name, not an IP address".to_owned());
            }
            if host.is_empty() {
                return Err("the endpoint has no host".to_owned());
            }
        }
        Ok(Endpoint { https, host, port, path_and_query, allowed })
    }

    /// The other pure half: refuses the lookup's answer when any address is one the server must
    /// not call (one bad address is enough: the connection could go to any of them).
    pub fn check_addresses(endpoint: &Endpoint, addresses: &[SocketAddr]) -> Result<(), String> {
        if addresses.is_empty() {
            return Err(format!("'{}' resolves to no address", endpoint.host));
        }
        if endpoint.allowed {
            return Ok(());
        }
        match addresses.iter().find(|a| !is_public(a.ip())) {
            Some(bad) => Err(format!(
                "'{}' resolves to {}, an address inside a private, loopback or otherwise special network",
                endpoint.host,
                bad.ip()
            )),
            None => Ok(()),
        }
    }

    /// Looks `endpoint` up and checks the answer: the addresses to connect to, and only those.
    pub async fn resolve(&self, resolver: &dyn Resolve, endpoint: &Endpoint) -> Result<Vec<SocketAddr>, String> {
        let addresses = match endpoint.host.parse::<IpAddr>() {
            // An allowed IP literal (only allowed ones pass `check_url`) needs no lookup.
            Ok(ip) => vec![SocketAddr::new(ip, endpoint.port)],
            Err(_) => resolver
                .lookup(&endpoint.host, endpoint.port)
                .await
                .map_err(|e| format!("'{}' could not be resolved: {e}", endpoint.host))?,
        };
        Self::check_addresses(endpoint, &addresses)?;
        Ok(addresses)
    }
}

/// Whether `ip` is a global unicast address: not loopback, private (RFC 1918), shared
/// (RFC 6598), link-local, unique-local, multicast, unspecified, broadcast, documentation or
/// reserved; an IPv4-mapped or -compatible IPv6 address is judged as its IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated, still private)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b // NAT64 (may reach IPv4 private space)
        || ip.segments()[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (::a.b.c.d), deprecated
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A resolver that answers from a table and counts its lookups; no real lookup is ever made.
    struct Table(Vec<(&'static str, Vec<IpAddr>)>, AtomicUsize);

    #[async_trait]
    impl Resolve for Table {
        async fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
            self.1.fetch_add(1, Ordering::SeqCst);
            let found = self.0.iter().find(|(h, _)| *h == host).map(|(_, a)| a.clone()).unwrap_or_default();
            Ok(found.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_https_to_a_name_passes_without_allowed_hosts() {
        let guard = Guard::default();
        let e = guard.check_url("https://fcm.googleapis.com/fcm/send/abc?x=1").unwrap();
        assert_eq!(
            (e.https, e.host.as_str(), e.port, e.path_and_query.as_str()),
            (true, "fcm.googleapis.com", 443, "/fcm/send/abc?x=1")
        );
        assert_eq!(e.origin(), "https://fcm.googleapis.com");
        assert_eq!(guard.check_url("https://push.example:8443/x").unwrap().origin(), "https://push.example:8443");
        for refused in [
            "http://push.example/x",
            "ftp://push.example/x",
            "https://10.0.0.1/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://[fd00::1]:443/x",
            "https://169.254.169.254/latest/meta-data",
            "https://8.8.8.8/x",
            "https://user:pw@push.example/x",
            "not a url",
        ] {
            assert!(guard.check_url(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn allowed_hosts_admit_their_hosts_only_and_private_or_http_ones() {
        let guard = Guard::new(vec![
            AllowedHost::parse("127.0.0.1:9000").unwrap(),
            AllowedHost::parse("push.internal").unwrap(),
        ]);
        let e = guard.check_url("http://127.0.0.1:9000/x").unwrap();
        assert!(e.allowed && !e.https);
        assert!(guard.check_url("https://push.internal:1234/x").unwrap().allowed);
        for refused in ["http://127.0.0.1:9001/x", "https://fcm.googleapis.com/x", "https://10.0.0.1/x"] {
            assert!(guard.check_url(refused).is_err(), "{refused}");
        }
        assert_eq!(AllowedHost::parse("[::1]:8443").unwrap(), AllowedHost { host: "::1".into(), port: Some(8443) });
        for bad in ["", "a/b", "host:notaport", "[::1", "u@h"] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn special_addresses_are_not_public() {
        for private in [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
        for public in ["8.8.8.8", "142.250.74.110", "172.32.0.1", "2a00:1450:4001::200e", "::ffff:8.8.8.8"] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[tokio::test]
    async fn a_name_resolving_inside_the_network_is_refused_after_the_lookup_alone() {
        let resolver = Table(
            vec![
                ("inside.example", vec![ip("10.0.0.7")]),
                ("mixed.example", vec![ip("8.8.8.8"), ip("::1")]),
                ("public.example", vec![ip("8.8.4.4")]),
            ],
            AtomicUsize::new(0),
        );
        let guard = Guard::default();
        for host in ["inside.example", "mixed.example", "nowhere.example"] {
            let endpoint = guard.check_url(&format!("https://{host}/x")).unwrap();
            assert!(guard.resolve(&resolver, &endpoint).await.is_err(), "{host}");
        }
        let endpoint = guard.check_url("https://public.example/x").unwrap();
        assert_eq!(guard.resolve(&resolver, &endpoint).await.unwrap(), vec![SocketAddr::new(ip("8.8.4.4"), 443)]);
        assert_eq!(resolver.1.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn an_allowed_host_may_resolve_anywhere_and_an_allowed_literal_is_not_looked_up() {
        let resolver = Table(vec![("push.internal", vec![ip("10.0.0.7")])], AtomicUsize::new(0));
        let guard =
            Guard::new(vec![AllowedHost::parse("push.internal").unwrap(), AllowedHost::parse("127.0.0.1").unwrap()]);
        let endpoint = guard.check_url("https://push.internal/x").unwrap();
        assert_eq!(guard.resolve(&resolver, &endpoint).await.unwrap(), vec![SocketAddr::new(ip("10.0.0.7"), 443)]);
        let literal = guard.check_url("http://127.0.0.1:9000/x").unwrap();
        assert_eq!(guard.resolve(&resolver, &literal).await.unwrap(), vec![SocketAddr::new(ip("127.0.0.1"), 9000)]);
        assert_eq!(resolver.1.load(Ordering::SeqCst), 1);
    }
}
