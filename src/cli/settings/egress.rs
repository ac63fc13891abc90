//! The egress proxy every outbound connection goes through: `HTTPS_PROXY`, `HTTP_PROXY` and
//! `NO_PROXY`, each also in the lower-case form many tools set.
//!
//! clap reads exactly the variable an argument names, and on Unix `https_proxy` is not
//! `HTTPS_PROXY`, so each lower-case form is an argument of its own (hidden, its flag spelled like
//! the variable). [`EgressSettings::config`] then takes whichever form is set; both set to
//! different values is refused, since which one is in force would be a guess.

use clap::Args;

use super::{SettingsError, non_blank, secret};
use crate::{
    adapters::egress::{EgressConfig, NoProxy, ProxyUrl},
    domain::Secret,
};

#[derive(Debug, Clone, Args)]
pub struct EgressSettings {
    /// Proxy for https:// targets (APNS, FCM, OAuth, Web Push, the Relay key), as
    /// http://[user:password@]host:port; connections are CONNECT tunnels with TLS end to end
    /// [also read from https_proxy]
    #[arg(long, env = "HTTPS_PROXY", hide_env_values = true, value_parser = secret)]
    pub https_proxy: Option<Secret<String>>,
    #[arg(long, env = "https_proxy", hide = true, value_parser = secret)]
    pub https_proxy_lower: Option<Secret<String>>,
    /// Proxy for http:// targets [also read from http_proxy]
    #[arg(long, env = "HTTP_PROXY", hide_env_values = true, value_parser = secret)]
    pub http_proxy: Option<Secret<String>>,
    #[arg(long, env = "http_proxy", hide = true, value_parser = secret)]
    pub http_proxy_lower: Option<Secret<String>>,
    /// Targets that bypass the proxy: comma-separated hosts, domain suffixes (`example.com` or
    /// `.example.com`), IP addresses or networks (`10.0.0.0/8`), each with an optional `:port`,
    /// or `*`; loopback is proxied unless listed [also read from no_proxy]
    #[arg(long, env = "NO_PROXY")]
    pub no_proxy: Option<String>,
    #[arg(long, env = "no_proxy", hide = true)]
    pub no_proxy_lower: Option<String>,
}

impl EgressSettings {
    /// The proxies and bypass list, parsed. Composition calls this once and hands the result to
    /// every adapter that connects out.
    pub fn config(&self) -> Result<EgressConfig, SettingsError> {
        let proxy =
            |upper: &'static str, lower: &'static str, a: &Option<Secret<String>>, b: &Option<Secret<String>>| {
                let value = either(upper, lower, exposed(a), exposed(b))?;
                value
                    .map(|v| ProxyUrl::parse(v).map_err(|reason| SettingsError::Proxy { variable: upper, reason }))
                    .transpose()
            };
        let no_proxy = either("NO_PROXY", "no_proxy", non_blank(&self.no_proxy), non_blank(&self.no_proxy_lower))?
            .map(|v| NoProxy::parse(v).map_err(|reason| SettingsError::Proxy { variable: "NO_PROXY", reason }))
            .transpose()?
            .unwrap_or_default();
        Ok(EgressConfig {
            https_proxy: proxy("HTTPS_PROXY", "https_proxy", &self.https_proxy, &self.https_proxy_lower)?,
            http_proxy: proxy("HTTP_PROXY", "http_proxy", &self.http_proxy, &self.http_proxy_lower)?,
            no_proxy,
        })
    }
}

fn exposed(value: &Option<Secret<String>>) -> Option<&str> {
    value.as_ref().map(|v| v.expose().trim()).filter(|v| !v.is_empty())
}

/// The one value of a variable set in either case.
fn either<'a>(
    upper: &'static str,
    lower: &'static str,
    a: Option<&'a str>,
    b: Option<&'a str>,
) -> Result<Option<&'a str>, SettingsError> {
    match (a, b) {
        (Some(a), Some(b)) if a != b => Err(SettingsError::ProxyCaseConflict { upper, lower }),
        (a, b) => Ok(a.or(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(value: &str) -> Option<Secret<String>> {
        Some(Secret::new(value.to_owned()))
    }

    #[test]
    fn either_case_is_read_and_agreeing_forms_are_one_setting() {
        assert_eq!(EgressSettings::default().config(), Ok(EgressConfig::default()), "nothing set: direct");
        let lower = EgressSettings {
            https_proxy_lower: set("http://proxy:3128"),
            no_proxy_lower: Some("localhost".into()),
            ..Default::default()
        };
        let config = lower.config().unwrap();
        assert_eq!(config.https_proxy.unwrap().to_string(), "http://proxy:3128");
        assert!(config.no_proxy.matches("localhost", 1) && config.http_proxy.is_none());
        let both = EgressSettings { https_proxy: set("http://proxy:3128"), ..lower };
        assert!(both.config().is_ok(), "the same value in both cases");
    }

    #[test]
    fn disagreeing_cases_and_unusable_values_are_refused_without_the_password() {
        let conflict =
            EgressSettings { http_proxy: set("http://a:1"), http_proxy_lower: set("http://b:1"), ..Default::default() };
        assert_eq!(
            conflict.config(),
            Err(SettingsError::ProxyCaseConflict { upper: "HTTP_PROXY", lower: "http_proxy" })
        );
        let socks = EgressSettings { https_proxy: set("socks5://u:hunter2@p:1080"), ..Default::default() };
        let e = socks.config().unwrap_err().to_string();
        assert!(e.starts_with("HTTPS_PROXY: ") && !e.contains("hunter2"), "{e}");
        let no_proxy = EgressSettings { no_proxy: Some("10.0.0.0/40".into()), ..Default::default() };
        assert!(no_proxy.config().unwrap_err().to_string().starts_with("NO_PROXY: "));
        let blank =
            EgressSettings { https_proxy: set("  "), https_proxy_lower: set("http://p:1"), ..Default::default() };
        assert!(blank.config().unwrap().https_proxy.is_some(), "a blank variable is unset");
    }

    #[test]
    fn the_lower_case_forms_are_hidden_arguments_of_their_own() {
        let command = <super::super::Settings as clap::Args>::augment_args(clap::Command::new("push-server"));
        for (upper, lower) in [("HTTPS_PROXY", "https_proxy"), ("HTTP_PROXY", "http_proxy"), ("NO_PROXY", "no_proxy")] {
            let arg = |env: &str| {
                command.get_arguments().find(|a| a.get_env().and_then(|e| e.to_str()) == Some(env)).cloned().unwrap()
            };
            let (shown, hidden) = (arg(upper), arg(lower));
            assert_eq!(hidden.get_long(), Some(lower), "spelled like its variable, apart from {upper}'s flag");
            assert!(hidden.is_hide_set() && !shown.is_hide_set());
        }
    }

    #[test]
    fn the_flags_parse_and_debug_shows_no_proxy_password() {
        let s = super::super::tests::parse(&["--https-proxy", "http://u:hunter2@p:1", "--no_proxy", ".corp"]);
        assert!(!format!("{:?}", s.egress).contains("hunter2"));
        let config = s.egress.config().unwrap();
        assert_eq!(config.https_proxy.unwrap().to_string(), "http://u@p:1");
        assert!(config.no_proxy.matches("a.corp", 443));
    }
}
