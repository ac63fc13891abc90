//! The request id: taken from the caller's `x-request-id` when it is sane, generated otherwise,
//! put on the request's span (so every log line of the request carries it) and returned in the
//! response's `x-request-id`.

use std::fmt;

use poem::http::HeaderMap;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Long enough for a UUID, a trace id or a load balancer's id; short enough that a hostile caller
/// cannot bloat every log line.
const MAX_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The caller's id when it is 1 to 128 visible ASCII characters (no spaces or controls, so it
    /// cannot forge log lines or headers); a fresh one otherwise.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|s| is_sane(s))
            .map_or_else(Self::generate, |s| Self(s.to_owned()))
    }

    /// 128 random bits as 32 hex digits. Uniqueness, not secrecy, is what matters here.
    fn generate() -> Self {
        Self(format!("{:032x}", fastrand::u128(..)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_sane(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LEN && s.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use poem::http::HeaderValue;

    use super::*;

    fn with(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID_HEADER, HeaderValue::from_bytes(value).unwrap());
        h
    }

    #[test]
    fn a_sane_id_is_kept() {
        assert_eq!(RequestId::from_headers(&with(b"abc-123_X.y:z")).as_str(), "abc-123_X.y:z");
        let longest = "a".repeat(MAX_LEN);
        assert_eq!(RequestId::from_headers(&with(longest.as_bytes())).as_str(), longest);
    }

    #[test]
    fn anything_else_is_replaced_by_a_fresh_id() {
        for bad in [&b"has space"[..], b"", &[b'a'; MAX_LEN + 1], b"caf\xc3\xa9", b"tab\there"] {
            let id = RequestId::from_headers(&with(bad));
            assert_eq!(id.as_str().len(), 32, "{bad:?}");
            assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        }
        let a = RequestId::from_headers(&HeaderMap::new());
        let b = RequestId::from_headers(&HeaderMap::new());
        assert_ne!(a, b);
    }
}
