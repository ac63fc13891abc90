//! `NO_PROXY`: which targets bypass the egress proxy. Comma-separated entries, matched against the
//! name (or address literal) a connection was configured with, never against what it resolves to.
//!
//! The rules are curl's, which most deployment tooling follows: `*` alone bypasses everything; a
//! name matches itself and every name under it, with or without a leading `.` (or `*.`); an IP
//! literal matches that address, and `addr/len` a whole network; any entry may carry `:port` (IPv6
//! in brackets) to bypass only that port. Matching ignores case and a trailing dot. There are no
//! built-in exceptions: a loopback target is proxied unless an entry names it.

use std::net::IpAddr;

/// A parsed `NO_PROXY`; the default bypasses nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: Pattern,
    /// `None`: every port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// A name, lower case and without leading or trailing dots: it and the names under it.
    Domain(String),
    /// An address and a prefix length (the full length for a single address).
    Network(IpAddr, u8),
}

impl NoProxy {
    /// Parses the variable's value; an entry that cannot mean anything (a bad port or prefix
    /// length) is refused rather than silently ignored, since ignoring it would send that
    /// traffic through the proxy.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut parsed = Self::default();
        for raw in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if raw == "*" {
                parsed.all = true;
                continue;
            }
            parsed.entries.push(entry(raw).map_err(|reason| format!("'{raw}': {reason}"))?);
        }
        Ok(parsed)
    }

    /// True when a connection to `host:port` goes direct. `host` may be a name, an IP literal
    /// or a bracketed IPv6 literal.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let host = normalise(host.trim_start_matches('[').trim_end_matches(']'));
        let address = host.parse::<IpAddr>().ok();
        self.entries.iter().filter(|e| e.port.is_none_or(|p| p == port)).any(|e| match &e.host {
            Pattern::Domain(domain) => {
                host == *domain || host.strip_suffix(domain.as_str()).is_some_and(|rest| rest.ends_with('.'))
            }
            Pattern::Network(network, len) => address.is_some_and(|a| within(a, *network, *len)),
        })
    }

    /// True when nothing bypasses the proxy.
    pub fn is_empty(&self) -> bool {
        !self.all && self.entries.is_empty()
    }

    /// The entries as they will be applied, for the start-up log.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.all.then(|| "*".to_owned()).into_iter().collect();
        parts.extend(self.entries.iter().map(|e| {
            let host = match &e.host {
                Pattern::Domain(d) => d.clone(),
                Pattern::Network(a, len) if u32::from(*len) == bits(a) => a.to_string(),
                Pattern::Network(a, len) => format!("{a}/{len}"),
            };
            match e.port {
                Some(p) if host.contains(':') => format!("[{host}]:{p}"),
                Some(p) => format!("{host}:{p}"),
                None => host,
            }
        }));
        parts.join(",")
    }
}

fn entry(raw: &str) -> Result<Entry, String> {
    let (host, port) = split_port(raw)?;
    let host = normalise(host);
    let pattern = match host.split_once('/') {
        Some((address, len)) => {
            let address: IpAddr = address.parse().map_err(|_| "a network must be an IP address/prefix length")?;
            let len: u8 = len.parse().map_err(|_| "the prefix length is not a number")?;
            if u32::from(len) > bits(&address) {
                return Err(format!("the prefix length {len} is longer than the address"));
            }
            Pattern::Network(address, len)
        }
        None => match host.parse::<IpAddr>() {
            Ok(address) => Pattern::Network(address, bits(&address) as u8),
            Err(_) => {
                let domain = host.trim_start_matches("*.").trim_start_matches('.');
                if domain.is_empty() || domain.contains(['*', '/', ' ']) {
                    return Err("not a host, domain or address".to_owned());
                }
                Pattern::Domain(domain.to_owned())
            }
        },
    };
    Ok(Entry { host: pattern, port })
}

/// `host[:port]`, `[v6][:port]` or a bare IPv6 literal (more than one colon, so no port).
fn split_port(raw: &str) -> Result<(&str, Option<u16>), String> {
    let port = |p: &str| p.parse::<u16>().map(Some).map_err(|_| format!("'{p}' is not a port"));
    if let Some(rest) = raw.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("an unclosed '['")?;
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, port(p)?)),
            None if after.is_empty() => Ok((host, None)),
            None => Err("text after ']' that is not ':port'".to_owned()),
        };
    }
    match raw.rsplit_once(':') {
        Some((host, p)) if !host.contains(':') => Ok((host, port(p)?)),
        _ => Ok((raw, None)),
    }
}

fn normalise(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn bits(address: &IpAddr) -> u32 {
    if address.is_ipv4() { 32 } else { 128 }
}

/// True when `address` is within `network/len` (an IPv4-mapped IPv6 address is not an IPv4 one:
/// a target is matched as it is written).
fn within(address: IpAddr, network: IpAddr, len: u8) -> bool {
    let (a, n, width) = match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(a.to_bits()), u128::from(n.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (a.to_bits(), n.to_bits(), 128),
        _ => return false,
    };
    let len = u32::from(len);
    if len == 0 {
        return true;
    }
    let shift = width - len;
    (a >> shift) == (n >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_proxy(value: &str) -> NoProxy {
        NoProxy::parse(value).unwrap()
    }

    #[test]
    fn nothing_is_bypassed_by_default_not_even_loopback() {
        let none = no_proxy("");
        assert!(none.is_empty());
        for host in ["localhost", "127.0.0.1", "[::1]", "api.push.apple.com"] {
            assert!(!none.matches(host, 443), "{host}");
        }
    }

    #[test]
    fn a_star_bypasses_everything() {
        let all = no_proxy(" * ");
        assert!(all.matches("fcm.googleapis.com", 443) && all.matches("10.1.2.3", 80));
        assert!(!all.is_empty());
        assert_eq!(all.describe(), "*");
    }

    #[test]
    fn a_name_matches_itself_and_names_under_it_with_or_without_a_leading_dot() {
        for entry in ["example.com", ".example.com", "*.example.com", "EXAMPLE.com."] {
            let n = no_proxy(entry);
            assert!(n.matches("example.com", 443), "{entry}");
            assert!(n.matches("api.Example.com", 443), "{entry}");
            assert!(n.matches("a.b.example.com.", 80), "{entry}");
            assert!(!n.matches("badexample.com", 443), "{entry}: a suffix of the text is not a subdomain");
            assert!(!n.matches("example.com.evil.net", 443), "{entry}");
        }
        let hosts = no_proxy("localhost, internal.corp ,,");
        assert!(hosts.matches("localhost", 8080) && hosts.matches("push.internal.corp", 443));
        assert!(!hosts.matches("corp", 443));
        assert_eq!(hosts.describe(), "localhost,internal.corp");
    }

    #[test]
    fn a_port_limits_an_entry_to_that_port() {
        let n = no_proxy("relay.example:8443,[::1]:9000,127.0.0.1:3000");
        assert!(n.matches("relay.example", 8443) && !n.matches("relay.example", 443));
        assert!(n.matches("[::1]", 9000) && n.matches("::1", 9000) && !n.matches("::1", 9001));
        assert!(n.matches("127.0.0.1", 3000) && !n.matches("127.0.0.1", 3001));
        assert_eq!(n.describe(), "relay.example:8443,[::1]:9000,127.0.0.1:3000");
    }

    #[test]
    fn ip_literals_and_networks_match_addresses_only() {
        let n = no_proxy("127.0.0.1,10.0.0.0/8,fd00::/8,::1");
        assert!(n.matches("127.0.0.1", 1) && !n.matches("127.0.0.2", 1));
        assert!(n.matches("10.200.3.4", 443) && !n.matches("11.0.0.1", 443));
        assert!(n.matches("[fd12::1]", 443) && !n.matches("fe80::1", 443));
        assert!(n.matches("[::1]", 8080));
        assert!(!n.matches("localhost", 443), "a name is not matched by what it may resolve to");
        assert!(!n.matches("::ffff:10.0.0.1", 443), "an IPv4-mapped address is written as IPv6");
        assert!(no_proxy("0.0.0.0/0").matches("192.0.2.1", 1));
        assert_eq!(n.describe(), "127.0.0.1,10.0.0.0/8,fd00::/8,::1");
    }

    #[test]
    fn entries_that_mean_nothing_are_refused() {
        for bad in ["host:http", "10.0.0.0/33", "::/129", "[::1", "[::1]x", "x/8", "*.", "a b"] {
            assert!(NoProxy::parse(bad).is_err(), "{bad}");
        }
        assert!(NoProxy::parse("10.0.0.0/33").unwrap_err().contains("'10.0.0.0/33'"));
    }
}
