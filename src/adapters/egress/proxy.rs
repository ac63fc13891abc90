//! One egress proxy as `HTTPS_PROXY`/`HTTP_PROXY` name it: `http://[user[:password]@]host[:port]`.
//! The password is held in a `Secret` and never shown: [`ProxyUrl`]'s `Display` (what the logs and
//! `check-config` print) carries the user name at most.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::domain::Secret;

/// The port of a proxy URL that names none: the HTTP default, as for any `http://` URL.
const DEFAULT_PORT: u16 = 80;

#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    host: String,
    port: u16,
    /// From the user-info, percent-decoded.
    user: Option<String>,
    password: Option<Secret<String>>,
}

impl ProxyUrl {
    /// Parses a proxy URL. Only `http://` proxies are spoken to (the CONNECT request goes in the
    /// clear to the proxy; what goes through the tunnel is TLS end to end); a value without a
    /// scheme is taken as `http://`, as curl does.
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        let rest = match value.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!("a '{scheme}://' proxy is not supported; name an http:// proxy"));
            }
            None => value,
        };
        // A path is allowed (`http://proxy:3128/`) and means nothing; a query is not.
        let authority = rest.split_once('/').map_or(rest, |(authority, _)| authority);
        if authority.contains(['?', '#']) {
            return Err("a proxy URL has no query or fragment".to_owned());
        }
        let (user_info, host_port) = match authority.rsplit_once('@') {
            Some((user_info, host_port)) => (Some(user_info), host_port),
            None => (None, authority),
        };
        let (host, port) = split_host_port(host_port)?;
        let (user, password) = match user_info {
            None => (None, None),
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((user, password)) => (user, Some(password)),
                    None => (info, None),
                };
                (Some(percent_decode(user)?), password.map(percent_decode).transpose()?.map(Secret::new))
            }
        };
        Ok(Self { host, port, user, password })
    }

    /// The proxy's host (a name or an address literal, without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user-info as `(user, password)`, for clients that take them apart (reqwest).
    pub fn credentials(&self) -> Option<(&str, &str)> {
        let user = self.user.as_deref()?;
        Some((user, self.password.as_ref().map_or("", |p| p.expose().as_str())))
    }

    /// `Basic base64(user:password)` when the URL has user-info: the `Proxy-Authorization` value.
    pub fn authorization(&self) -> Option<Secret<String>> {
        let (user, password) = self.credentials()?;
        Some(Secret::new(format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))))
    }

    /// `http://host:port`, without user-info: the address reqwest is given (it gets the
    /// credentials apart).
    pub fn address(&self) -> String {
        format!("http://{}", authority(&self.host, self.port))
    }
}

/// `http://user@host:port`: the proxy as the logs show it, never with its password.
impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.user {
            Some(user) => write!(f, "http://{user}@{}", authority(&self.host, self.port)),
            None => write!(f, "http://{}", authority(&self.host, self.port)),
        }
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

/// `host:port`, an IPv6 literal in brackets: what a CONNECT request and a URL carry.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

fn split_host_port(host_port: &str) -> Result<(String, u16), String> {
    let parse_port = |p: &str| p.parse::<u16>().map_err(|_| format!("'{p}' is not a port"));
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("an unclosed '[' in the proxy host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return Err("text after the bracketed proxy address".to_owned()),
        };
        (host, port)
    } else {
        match host_port.rsplit_once(':') {
            Some((host, p)) => (host, parse_port(p)?),
            None => (host_port, DEFAULT_PORT),
        }
    };
    if host.is_empty() || host.contains([' ', '[', ']']) {
        return Err("the proxy URL has no usable host".to_owned());
    }
    Ok((host.to_owned(), port))
}

/// `%XX` escapes of user-info decoded (a password may hold `@` or `:` written as `%40`, `%3A`).
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).ok_or("a '%' escape in the proxy credentials is cut short")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "a bad '%' escape in the proxy credentials")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the proxy credentials are not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_url_with_credentials_shows_only_the_user() {
        let p = ProxyUrl::parse("http://ops%40corp:p%3Ass@proxy.internal:3128/").unwrap();
        assert_eq!((p.host(), p.port()), ("proxy.internal", 3128));
        assert_eq!(p.credentials(), Some(("ops@corp", "p:ss")));
        assert_eq!(p.to_string(), "http://ops@corp@proxy.internal:3128");
        assert_eq!(format!("{p:?}"), "ProxyUrl(http://ops@corp@proxy.internal:3128)");
        assert_eq!(p.address(), "http://proxy.internal:3128");
        // base64("ops@corp:p:ss")
        assert_eq!(p.authorization().unwrap().expose(), "Basic b3BzQGNvcnA6cDpzcw==");
    }

    #[test]
    fn scheme_and_port_default_like_curl_and_ipv6_goes_in_brackets() {
        let p = ProxyUrl::parse(" proxy:8080 ").unwrap();
        assert_eq!((p.to_string(), p.credentials()), ("http://proxy:8080".to_owned(), None));
        assert_eq!(ProxyUrl::parse("HTTP://proxy").unwrap().port(), 80);
        let v6 = ProxyUrl::parse("http://[::1]:3128").unwrap();
        assert_eq!((v6.host(), v6.address()), ("::1", "http://[::1]:3128".to_owned()));
        assert_eq!(ProxyUrl::parse("http://u@p:1").unwrap().credentials(), Some(("u", "")));
    }

    #[test]
    fn unusable_proxy_urls_are_refused() {
        for bad in ["https://proxy:443", "socks5://proxy:1080", "http://:3128", "http://proxy:port", "http://p?x=1"] {
            assert!(ProxyUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(ProxyUrl::parse("http://u:%zz@proxy").is_err());
    }
}
