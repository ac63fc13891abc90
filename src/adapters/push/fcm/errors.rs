//! What a refusal from FCM HTTP v1 or from the OAuth token endpoint means, sorted into the
//! classes the provider acts on (delete the client, refuse the payload, refresh credentials,
//! retry, give up).

use std::time::Duration;

use serde::Deserialize;

use crate::adapters::push::retry::parse_retry_after;

/// One failed answer, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// `UNREGISTERED`: the token is dead; the client goes. Never retried.
    Unregistered(String),
    /// `INVALID_ARGUMENT` (400) or too large: the message cannot be sent as it is. Never retried,
    /// and the client is kept even when FCM's text blames the token: only `UNREGISTERED` is proof
    /// that a token is dead.
    PayloadRejected(String),
    /// 401/403, `SENDER_ID_MISMATCH`, `THIRD_PARTY_AUTH_ERROR`, or a token endpoint refusing our
    /// assertion: worth one refresh of the access token, then final.
    Credentials(String),
    /// 429, 5xx, `QUOTA_EXCEEDED`, `UNAVAILABLE`, `INTERNAL`: retried with backoff, honouring
    /// `Retry-After`.
    Transient { reason: String, retry_after: Option<Duration> },
    /// Anything else (a 404 without `UNREGISTERED` is a wrong project or endpoint, not a dead
    /// token): repeating cannot help, but the client must not be blamed either.
    Unexpected(String),
    /// Too many sends already wait for a stream to FCM; nothing was sent. Never retried here.
    Busy,
}

/// `{"error": {"code", "status", "message", "details": [{"@type": "...FcmError", "errorCode"}]}}`
#[derive(Deserialize, Default)]
struct FcmBody {
    #[serde(default)]
    error: FcmStatus,
}

#[derive(Deserialize, Default)]
struct FcmStatus {
    status: Option<String>,
    message: Option<String>,
    #[serde(default)]
    details: Vec<FcmDetail>,
}

#[derive(Deserialize)]
struct FcmDetail {
    #[serde(rename = "@type", default)]
    kind: String,
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
}

/// Classifies a non-2xx answer of `messages:send`. The FCM-specific `errorCode` decides when
/// present (it is the documented contract); the HTTP status is the fallback.
pub fn classify_send(status: u16, retry_after: Option<&str>, body: &[u8]) -> Failure {
    let parsed: FcmBody = serde_json::from_slice(body).unwrap_or_default();
    let error_code = parsed
        .error
        .details
        .iter()
        .find(|d| d.kind.ends_with("google.firebase.fcm.v1.FcmError"))
        .and_then(|d| d.error_code.clone());
    let code = error_code.as_deref().or(parsed.error.status.as_deref()).unwrap_or("");
    let reason = describe(status, code, parsed.error.message.as_deref());
    let retry_after = parse_retry_after(retry_after);
    match (error_code.as_deref(), status) {
        (Some("UNREGISTERED"), _) => Failure::Unregistered(reason),
        (Some("INVALID_ARGUMENT"), _) | (_, 400 | 413) => Failure::PayloadRejected(reason),
        (Some("SENDER_ID_MISMATCH" | "THIRD_PARTY_AUTH_ERROR"), _) | (_, 401 | 403) => Failure::Credentials(reason),
        // 407 comes from an egress proxy (an `http://` endpoint is proxied in absolute form, so
        // the proxy's refusal arrives as the answer): the proxy's problem, not the message's.
        (Some("QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL"), _) | (_, 407 | 408 | 429 | 500..=599) => {
            Failure::Transient { reason, retry_after }
        }
        _ => Failure::Unexpected(reason),
    }
}

/// `{"error": "invalid_grant", "error_description": "..."}` (RFC 6749 §5.2).
#[derive(Deserialize, Default)]
struct OAuthBody {
    error: Option<String>,
    error_description: Option<String>,
}

/// Classifies a non-2xx answer of the OAuth token endpoint. 400 (`invalid_grant`: a bad
/// signature, a deleted key, a disabled account), 401 and 403 mean our credentials are refused;
/// 429 and 5xx mean the endpoint is struggling.
pub fn classify_token(status: u16, retry_after: Option<&str>, body: &[u8]) -> Failure {
    let parsed: OAuthBody = serde_json::from_slice(body).unwrap_or_default();
    let reason = format!(
        "OAuth token endpoint: {}",
        describe(status, parsed.error.as_deref().unwrap_or(""), parsed.error_description.as_deref())
    );
    match status {
        400 | 401 | 403 => Failure::Credentials(reason),
        // 407: an egress proxy's refusal (see `classify_send`), never a verdict on our assertion.
        407 | 408 | 429 | 500..=599 => Failure::Transient { reason, retry_after: parse_retry_after(retry_after) },
        _ => Failure::Unexpected(reason),
    }
}

/// A request that got no HTTP answer (refused or reset connection, timeout): always worth
/// another attempt. `what` names the call (`FCM`, `OAuth token endpoint`).
pub fn transport(what: &str, error: &reqwest::Error) -> Failure {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    Failure::Transient { reason: format!("{what}: {kind} ({})", error_chain(error)), retry_after: None }
}

/// The error and its sources on one line (reqwest's own message alone is often just "error
/// sending request").
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// `HTTP 404 UNREGISTERED: Requested entity was not found.`, with the provider's text cut short
/// and stripped of control characters: it ends up in logs and in the Relay's 400 description.
fn describe(status: u16, code: &str, message: Option<&str>) -> String {
    let mut out = format!("HTTP {status}");
    if !code.is_empty() {
        out.push(' ');
        out.push_str(code);
    }
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        out.push_str(": ");
        out.extend(message.chars().filter(|c| !c.is_control()).take(200));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fcm(code: u16, status: &str, error_code: Option<&str>) -> Vec<u8> {
        let mut details = vec![];
        if let Some(e) = error_code {
            details.push(json!({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": e}));
        }
        json!({"error": {"code": code, "message": "m", "status": status, "details": details}}).to_string().into_bytes()
    }

    #[test]
    fn unregistered_deletes_the_client() {
        assert_eq!(
            classify_send(404, None, &fcm(404, "NOT_FOUND", Some("UNREGISTERED"))),
            Failure::Unregistered("HTTP 404 UNREGISTERED: m".into())
        );
    }

    #[test]
    fn invalid_argument_is_a_rejected_payload_even_about_the_token() {
        let body = json!({"error": {"code": 400, "status": "INVALID_ARGUMENT",
            "message": "The registration token is not a valid FCM registration token",
            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"}]}});
        assert!(matches!(
            classify_send(400, None, body.to_string().as_bytes()),
            Failure::PayloadRejected(r) if r.contains("INVALID_ARGUMENT") && r.contains("not a valid FCM")
        ));
        assert!(matches!(classify_send(400, None, b"not json"), Failure::PayloadRejected(_)));
    }

    #[test]
    fn credential_refusals() {
        for (status, body) in [
            (403, fcm(403, "PERMISSION_DENIED", Some("SENDER_ID_MISMATCH"))),
            (401, fcm(401, "UNAUTHENTICATED", Some("THIRD_PARTY_AUTH_ERROR"))),
            (401, fcm(401, "UNAUTHENTICATED", None)),
            (403, b"".to_vec()),
        ] {
            assert!(matches!(classify_send(status, None, &body), Failure::Credentials(_)), "{status}");
        }
    }

    #[test]
    fn transient_failures_carry_retry_after() {
        assert_eq!(
            classify_send(429, Some("7"), &fcm(429, "RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED"))),
            Failure::Transient {
                reason: "HTTP 429 QUOTA_EXCEEDED: m".into(),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        for (status, code) in [(503, Some("UNAVAILABLE")), (500, Some("INTERNAL")), (502, None), (503, None)] {
            assert!(
                matches!(
                    classify_send(status, None, &fcm(status, "X", code)),
                    Failure::Transient { retry_after: None, .. }
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn a_404_without_unregistered_is_not_a_dead_token() {
        assert!(matches!(classify_send(404, None, &fcm(404, "NOT_FOUND", None)), Failure::Unexpected(_)));
        assert!(matches!(classify_send(404, None, b"<html>"), Failure::Unexpected(_)));
    }

    #[test]
    fn a_proxy_asking_for_credentials_is_transient_not_the_messages_fault() {
        assert!(matches!(classify_send(407, None, b""), Failure::Transient { .. }));
    }

    #[test]
    fn token_endpoint_answers() {
        let grant = json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}).to_string();
        assert_eq!(
            classify_token(400, None, grant.as_bytes()),
            Failure::Credentials("OAuth token endpoint: HTTP 400 invalid_grant: Invalid JWT Signature.".into())
        );
        assert!(matches!(classify_token(401, None, b""), Failure::Credentials(_)));
        assert!(matches!(
            classify_token(503, Some("2"), b""),
            Failure::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(2)
        ));
        assert!(matches!(classify_token(404, None, b""), Failure::Unexpected(_)));
        assert!(matches!(classify_token(407, None, b""), Failure::Transient { .. }), "a proxy's refusal");
    }

    #[test]
    fn provider_text_is_bounded_and_single_line() {
        let long = json!({"error": {"message": format!("a\nb{}", "x".repeat(500))}}).to_string();
        let Failure::PayloadRejected(reason) = classify_send(400, None, long.as_bytes()) else { panic!() };
        assert!(!reason.contains('\n'));
        assert!(reason.len() < 230, "{}", reason.len());
    }
}
