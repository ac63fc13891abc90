//! The push service a device is registered with.

use std::{fmt, str::FromStr};

/// Which push service (and, for APNS, which environment) delivers to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PushType {
    Apns,
    ApnsSandbox,
    Fcm,
    /// Delivers nothing: the WalletConnect SDKs register it for wallets that want no push. Served
    /// by the log sink only, so it is accepted exactly where the log sink is on.
    Noop,
    /// A browser's (or a UnifiedPush distributor's) RFC 8030 push service; the token is the
    /// subscription.
    WebPush,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported push type '{0}'; known types: apns, apns-sandbox, fcm, noop, webpush")]
pub struct PushTypeError(pub String);

impl PushType {
    pub const ALL: [PushType; 5] =
        [PushType::Apns, PushType::ApnsSandbox, PushType::Fcm, PushType::Noop, PushType::WebPush];

    /// Parses a type name, ignoring ASCII case (`APNS` and `apns` are the same type).
    pub fn parse(raw: &str) -> Result<Self, PushTypeError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(raw))
            .ok_or_else(|| PushTypeError(raw.to_owned()))
    }

    /// The canonical lower-case name, as stored and as written in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            PushType::Apns => "apns",
            PushType::ApnsSandbox => "apns-sandbox",
            PushType::Fcm => "fcm",
            PushType::Noop => "noop",
            PushType::WebPush => "webpush",
        }
    }

    /// APNS tokens are hex; both APNS environments share that rule.
    pub fn is_apns(self) -> bool {
        matches!(self, PushType::Apns | PushType::ApnsSandbox)
    }
}

impl FromStr for PushType {
    type Err = PushTypeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for PushType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_case() {
        assert_eq!(PushType::parse("APNS-Sandbox").unwrap(), PushType::ApnsSandbox);
        assert_eq!(PushType::parse("Fcm").unwrap(), PushType::Fcm);
        assert_eq!(PushType::parse("apns").unwrap(), PushType::Apns);
        assert_eq!(PushType::parse("NoOp").unwrap(), PushType::Noop);
        assert_eq!(PushType::parse("WebPush").unwrap(), PushType::WebPush);
    }

    #[test]
    fn rejects_unknown_names() {
        for bad in ["", "xyz", "apns_sandbox", " apns", "gcm"] {
            assert!(PushType::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trips_through_its_name() {
        for t in PushType::ALL {
            assert_eq!(PushType::parse(t.as_str()).unwrap(), t);
        }
    }
}
