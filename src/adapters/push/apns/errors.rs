//! What an APNS answer means: HTTP status and `reason` mapped to the classes the provider acts on.
//!
//! Apple documents the reasons in "Handling notification responses from APNs". The mapping keeps
//! three promises of the contract: a dead token deletes the client, a refused message is never
//! retried, and anything that is this server's own fault (credentials, topic, environment) keeps
//! the client and answers `502 apns_credentials`, so the Relay retries once an operator fixed it.

/// The class of one APNS answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: APNS accepted the notification.
    Delivered,
    /// The device token is dead (410, `Unregistered`, `BadDeviceToken`, `DeviceTokenNotForTopic`,
    /// `ExpiredToken`): delete the client, never retry.
    DeadToken,
    /// The message itself was refused (`PayloadTooLarge`, `PayloadEmpty`, an unknown 400 reason,
    /// ...): keep the client, never retry.
    BadPayload,
    /// 403: the provider token or certificate was refused. With token auth one fresh token is worth
    /// one more try; after that (or with certificate auth) it is a credentials failure.
    AuthRejected,
    /// The request is wrong because this server is configured wrongly (topic, push type, endpoint):
    /// no retry can help, and neither the device nor the message is at fault.
    Misconfigured,
    /// 429, 5xx, `IdleTimeout`: worth retrying with backoff.
    Transient,
    /// A status APNS does not document (1xx/3xx, or an undocumented 4xx such as a proxy's 407).
    Unexpected,
}

/// Reasons that mean the token is dead whatever the status. `BadDeviceToken` also covers a
/// sandbox token registered as `apns` (or the reverse): the wallet must re-register with the right
/// type, so deleting the client is what makes it do so. `DeviceTokenNotForTopic` would also be
/// the answer to a wrong `APNS_TOPIC`; start-up cannot check that, so operators should watch the
/// `client_unregistered` rate after changing the topic.
const DEAD_TOKEN: &[&str] = &["Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic", "ExpiredToken"];

/// 400 reasons caused by this server's settings or request building, not by the message:
/// `BadTopic`/`MissingTopic`/`TopicDisallowed` (APNS_TOPIC wrong or not allowed for the key),
/// `InvalidPushType`, `BadPriority`, `DuplicateHeaders`, `MissingDeviceToken` and `BadPath` (the
/// endpoint or path is not what APNS expects). Answering `400 payload.blob` would make the Relay
/// drop a good message, and `410` would delete a good client.
const MISCONFIGURED: &[&str] = &[
    "BadTopic",
    "MissingTopic",
    "TopicDisallowed",
    "InvalidPushType",
    "BadPriority",
    "DuplicateHeaders",
    "MissingDeviceToken",
    "BadPath",
    "MethodNotAllowed",
];

/// Classifies one answer by its status and the `reason` from its JSON body, if any.
pub fn classify(status: u16, reason: Option<&str>) -> Verdict {
    let reason = reason.unwrap_or("");
    match status {
        200..=299 => Verdict::Delivered,
        410 => Verdict::DeadToken,
        _ if DEAD_TOKEN.contains(&reason) => Verdict::DeadToken,
        403 => Verdict::AuthRejected,
        429 | 500..=599 => Verdict::Transient,
        // APNS closes idle connections with this reason; a new connection fixes it.
        400 if reason == "IdleTimeout" => Verdict::Transient,
        _ if MISCONFIGURED.contains(&reason) => Verdict::Misconfigured,
        // 404 and 405 only come from a wrong endpoint or path: configuration too.
        404 | 405 => Verdict::Misconfigured,
        400 | 413 => Verdict::BadPayload,
        _ => Verdict::Unexpected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success() {
        assert_eq!(classify(200, None), Verdict::Delivered);
    }

    #[test]
    fn dead_tokens() {
        assert_eq!(classify(410, Some("Unregistered")), Verdict::DeadToken);
        assert_eq!(classify(410, Some("ExpiredToken")), Verdict::DeadToken);
        assert_eq!(classify(410, None), Verdict::DeadToken);
        assert_eq!(classify(400, Some("BadDeviceToken")), Verdict::DeadToken);
        assert_eq!(classify(400, Some("DeviceTokenNotForTopic")), Verdict::DeadToken);
    }

    #[test]
    fn refused_payloads() {
        assert_eq!(classify(413, Some("PayloadTooLarge")), Verdict::BadPayload);
        assert_eq!(classify(400, Some("PayloadEmpty")), Verdict::BadPayload);
        assert_eq!(classify(400, Some("BadCollapseId")), Verdict::BadPayload);
        assert_eq!(classify(400, Some("BadExpirationDate")), Verdict::BadPayload);
        assert_eq!(classify(400, Some("SomethingNew")), Verdict::BadPayload);
        assert_eq!(classify(400, None), Verdict::BadPayload);
    }

    #[test]
    fn configuration_problems_are_not_blamed_on_the_message() {
        for reason in ["BadTopic", "MissingTopic", "TopicDisallowed", "InvalidPushType", "BadPriority"] {
            assert_eq!(classify(400, Some(reason)), Verdict::Misconfigured, "{reason}");
        }
        assert_eq!(classify(404, Some("BadPath")), Verdict::Misconfigured);
        assert_eq!(classify(405, Some("MethodNotAllowed")), Verdict::Misconfigured);
    }

    #[test]
    fn credentials() {
        for reason in [
            "ExpiredProviderToken",
            "InvalidProviderToken",
            "MissingProviderToken",
            "BadCertificate",
            "BadCertificateEnvironment",
            "Forbidden",
        ] {
            assert_eq!(classify(403, Some(reason)), Verdict::AuthRejected, "{reason}");
        }
    }

    #[test]
    fn transient() {
        assert_eq!(classify(429, Some("TooManyRequests")), Verdict::Transient);
        assert_eq!(classify(429, Some("TooManyProviderTokenUpdates")), Verdict::Transient);
        assert_eq!(classify(500, Some("InternalServerError")), Verdict::Transient);
        assert_eq!(classify(503, Some("ServiceUnavailable")), Verdict::Transient);
        assert_eq!(classify(503, Some("Shutdown")), Verdict::Transient);
        assert_eq!(classify(502, None), Verdict::Transient);
        assert_eq!(classify(400, Some("IdleTimeout")), Verdict::Transient);
    }

    #[test]
    fn undocumented_statuses() {
        assert_eq!(classify(302, None), Verdict::Unexpected);
        assert_eq!(classify(407, None), Verdict::Unexpected);
    }
}
