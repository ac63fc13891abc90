//! Outbound connections: every connection the server opens to a remote (provider pools, push
//! services, the Relay key, OAuth) leaves through `Egress`, so one place decides how it leaves the
//! machine: directly, or through the egress proxy that `HTTPS_PROXY`/`HTTP_PROXY` name, unless
//! `NO_PROXY` names the target.
//!
//! Connections the server opens itself (the HTTP/2 pools, Web Push) get a TCP stream from
//! [`Egress::connect`] (`connect_cleartext` for HTTP/2 to an `http://` target): through a proxy
//! that is an HTTP CONNECT tunnel, over which the caller
//! speaks TLS (or HTTP/2 with prior knowledge) end to end. Connections made by reqwest (the FCM
//! OAuth token endpoint, FCM over HTTP/1.1, the Relay key) get the same routes through
//! [`Egress::configure`]: reqwest tunnels `https://` targets with CONNECT and sends plain
//! `http://` requests to the proxy in absolute form.
//!
//! Layout: `proxy` parses one proxy URL, `no_proxy` the bypass list, `tunnel` opens a CONNECT
//! tunnel; this file picks the route.

mod no_proxy;
mod proxy;
mod tunnel;

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use tokio::net::TcpStream;

pub use self::{no_proxy::NoProxy, proxy::ProxyUrl};

/// How outbound connections leave the machine. Cheap to clone; shared by every adapter.
#[derive(Debug, Clone, Default)]
pub struct Egress {
    /// `None`: every connection goes direct.
    proxies: Option<Arc<EgressConfig>>,
}

/// The egress proxy configuration, parsed from the settings once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressConfig {
    /// For `https://` targets.
    pub https_proxy: Option<ProxyUrl>,
    /// For `http://` targets (HTTP/1.1 in absolute form, HTTP/2 cleartext through CONNECT).
    pub http_proxy: Option<ProxyUrl>,
    /// Targets that go direct whatever the proxies.
    pub no_proxy: NoProxy,
}

/// Where one connection goes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The name (or address literal) the caller was configured with.
    pub host: &'a str,
    pub port: u16,
    /// Addresses the caller already resolved and checked (the Web Push endpoint guard): the
    /// connection goes only to these, and the name is never looked up again. Through a proxy the
    /// tunnel is asked for the address (`CONNECT 192.0.2.7:443`), not the name, so the proxy
    /// does no lookup of its own either; `NO_PROXY` is still matched against the name.
    pub addresses: Option<&'a [SocketAddr]>,
}

/// What the connection carries, which picks the proxy variable that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// TLS to an `https://` target: `HTTPS_PROXY`.
    Https,
    /// Cleartext to an `http://` target: `HTTP_PROXY`.
    Http,
}

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("could not connect: {0}")]
    Connect(io::Error),
    #[error("could not connect: timed out after {0:?}")]
    TimedOut(Duration),
    #[error("could not connect through the egress proxy {proxy}: {error}")]
    Proxy { proxy: String, error: io::Error },
    /// The proxy answered the CONNECT request with something other than 2xx (407, 403, 502...).
    #[error("the egress proxy {proxy} refused the tunnel to {target}: {answer}")]
    Refused { proxy: String, target: String, answer: String },
}

impl Egress {
    /// Connections go straight to their target.
    pub fn direct() -> Self {
        Self { proxies: None }
    }

    /// Connections go through the proxies `config` names (direct without any).
    pub fn new(config: EgressConfig) -> Self {
        if config.https_proxy.is_none() && config.http_proxy.is_none() {
            return Self::direct();
        }
        Self { proxies: Some(Arc::new(config)) }
    }

    /// The route in one line, for the start-up log and `check-config` (no password).
    pub fn describe(&self) -> String {
        let Some(config) = &self.proxies else {
            return "direct (no HTTPS_PROXY or HTTP_PROXY)".to_owned();
        };
        let show = |p: &Option<ProxyUrl>| p.as_ref().map_or_else(|| "direct".to_owned(), ToString::to_string);
        let mut text = format!("https:// via {}, http:// via {}", show(&config.https_proxy), show(&config.http_proxy));
        if !config.no_proxy.is_empty() {
            text.push_str(&format!("; direct for NO_PROXY {}", config.no_proxy.describe()));
        }
        text
    }

    /// The proxy a connection to `host:port` over `scheme` goes through, `None` for direct.
    pub fn proxy_for(&self, scheme: Scheme, host: &str, port: u16) -> Option<&ProxyUrl> {
        let config = self.proxies.as_deref()?;
        let proxy = match scheme {
            Scheme::Https => config.https_proxy.as_ref(),
            Scheme::Http => config.http_proxy.as_ref(),
        }?;
        (!config.no_proxy.matches(host, port)).then_some(proxy)
    }

    /// Opens a TCP connection to an `https://` target within `timeout`, for the caller to speak
    /// TLS over, with Nagle off (requests are small and latency-bound). Through a proxy
    /// (`HTTPS_PROXY`) this is a CONNECT tunnel, ready for the caller's first byte.
    pub async fn connect(&self, target: &Target<'_>, timeout: Duration) -> Result<TcpStream, EgressError> {
        self.open(Scheme::Https, target, timeout).await
    }

    /// As [`Egress::connect`], for cleartext to an `http://` target (HTTP/2 with prior
    /// knowledge): through `HTTP_PROXY`, again by CONNECT, since the absolute form of plain
    /// HTTP/1.1 proxying cannot carry HTTP/2.
    pub async fn connect_cleartext(&self, target: &Target<'_>, timeout: Duration) -> Result<TcpStream, EgressError> {
        self.open(Scheme::Http, target, timeout).await
    }

    async fn open(&self, scheme: Scheme, target: &Target<'_>, timeout: Duration) -> Result<TcpStream, EgressError> {
        let open = async {
            let tcp = match self.proxy_for(scheme, target.host, target.port) {
                None => match target.addresses {
                    Some(addresses) => TcpStream::connect(addresses).await,
                    None => TcpStream::connect((target.host, target.port)).await,
                }
                .map_err(EgressError::Connect)?,
                Some(proxy) => through(proxy, target).await?,
            };
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        };
        tokio::time::timeout(timeout, open).await.map_err(|_| EgressError::TimedOut(timeout))?
    }

    /// `builder` with this route and no other: reqwest's own reading of the proxy variables is
    /// turned off first (its `NO_PROXY` rules are not ours, and a setting must mean one thing),
    /// then each proxy is added with its credentials as `Proxy-Authorization: Basic`.
    pub fn configure(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let mut builder = builder.no_proxy();
        for scheme in [Scheme::Https, Scheme::Http] {
            let Some(config) = self.proxies.clone() else { break };
            let proxy = match scheme {
                Scheme::Https => config.https_proxy.clone(),
                Scheme::Http => config.http_proxy.clone(),
            };
            let Some(proxy) = proxy else { continue };
            let wanted = if scheme == Scheme::Https { "https" } else { "http" };
            let address = proxy.address();
            let mut route = reqwest::Proxy::custom(move |url| {
                let host = url.host_str()?;
                let port = url.port_or_known_default()?;
                (url.scheme() == wanted && !config.no_proxy.matches(host, port)).then(|| address.clone())
            });
            if let Some((user, password)) = proxy.credentials() {
                route = route.basic_auth(user, password);
            }
            builder = builder.proxy(route);
        }
        builder
    }
}

/// A CONNECT tunnel through `proxy` to `target`: to each checked address in turn when the caller
/// resolved the name (moving on only when the proxy could not reach one), else to the name.
async fn through(proxy: &ProxyUrl, target: &Target<'_>) -> Result<TcpStream, EgressError> {
    let dial = || async {
        TcpStream::connect((proxy.host(), proxy.port()))
            .await
            .map_err(|error| EgressError::Proxy { proxy: proxy.to_string(), error })
    };
    let Some(addresses) = target.addresses.filter(|a| !a.is_empty()) else {
        return tunnel::open(dial().await?, proxy, &proxy::authority(target.host, target.port)).await;
    };
    let mut last = None;
    for address in addresses {
        let authority = proxy::authority(&address.ip().to_string(), address.port());
        match tunnel::open(dial().await?, proxy, &authority).await {
            Ok(tcp) => return Ok(tcp),
            // 502/504: the proxy could not reach this address; another may do.
            Err(EgressError::Refused { answer, .. }) if answer.contains(" 502") || answer.contains(" 504") => {
                last = Some(EgressError::Refused { proxy: proxy.to_string(), target: authority, answer });
            }
            Err(other) => return Err(other),
        }
    }
    Err(last.expect("at least one address was tried"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress(https: Option<&str>, http: Option<&str>, no_proxy: &str) -> Egress {
        Egress::new(EgressConfig {
            https_proxy: https.map(|p| ProxyUrl::parse(p).unwrap()),
            http_proxy: http.map(|p| ProxyUrl::parse(p).unwrap()),
            no_proxy: NoProxy::parse(no_proxy).unwrap(),
        })
    }

    #[test]
    fn each_scheme_takes_its_own_proxy_and_no_proxy_wins() {
        let e = egress(Some("http://u:secret@secure:3128"), None, "api.sandbox.push.apple.com");
        assert_eq!(
            e.proxy_for(Scheme::Https, "api.push.apple.com", 443).map(ToString::to_string).as_deref(),
            Some("http://u@secure:3128")
        );
        assert!(e.proxy_for(Scheme::Http, "api.push.apple.com", 80).is_none(), "no HTTP_PROXY: http:// goes direct");
        assert!(e.proxy_for(Scheme::Https, "api.sandbox.push.apple.com", 443).is_none());
        assert_eq!(
            e.describe(),
            "https:// via http://u@secure:3128, http:// via direct; direct for NO_PROXY api.sandbox.push.apple.com"
        );
        assert!(!format!("{e:?}").contains("secret"));
        assert_eq!(Egress::new(EgressConfig::default()).describe(), "direct (no HTTPS_PROXY or HTTP_PROXY)");
        assert!(egress(None, Some("p:1"), "").proxy_for(Scheme::Http, "127.0.0.1", 80).is_some(), "loopback too");
    }
}
