//! What an FCM provider is built from: a parsed service account and plain values, never paths or
//! settings, so the same provider can be built from the environment or from stored credentials.

use super::credentials::ServiceAccount;
use crate::adapters::{
    egress::Egress,
    push::{pool::PoolLimits, retry::RetryPolicy},
};

/// Google's FCM host, used unless a configuration names another (a local fake in tests).
pub const DEFAULT_ENDPOINT: &str = "https://fcm.googleapis.com";

pub struct FcmConfig {
    /// Who sends, the key that signs its OAuth assertions, and where access tokens come from.
    pub service_account: ServiceAccount,
    /// The Firebase project messages are sent through.
    pub project_id: String,
    /// Base URL of the FCM v1 API: `{endpoint}/v1/projects/{project_id}/messages:send`.
    pub endpoint: String,
    pub retry: RetryPolicy,
    /// Connections to FCM and sends waiting for a stream: each provider instance, so each
    /// project, has its own pool.
    pub pool: PoolLimits,
    /// Speak HTTP/2 with prior knowledge to an `http://` endpoint (benchmark fakes). Off, an
    /// `http://` endpoint gets plain HTTP/1.1 without the pool, as the local test fakes expect;
    /// `https://` always negotiates `h2` and uses the pool.
    pub cleartext_http2: bool,
    /// How every connection leaves the machine: the message pool's, the HTTP/1.1 transport's and
    /// the OAuth token endpoint's.
    pub egress: Egress,
    /// Where these credentials come from (for example the variables that set them), named in the
    /// error log when Google refuses them, so an operator knows what to fix.
    pub origin: String,
}

impl FcmConfig {
    /// A configuration for Google's endpoint, sending through `project_id`, connecting directly.
    pub fn new(service_account: ServiceAccount, project_id: String, retry: RetryPolicy) -> Self {
        Self {
            service_account,
            project_id,
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            retry,
            pool: PoolLimits::default(),
            cleartext_http2: false,
            egress: Egress::direct(),
            origin: "the FCM service account".to_owned(),
        }
    }
}

/// A configuration that cannot work, naming the part that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum FcmConfigError {
    #[error("FCM project id '{0}' is not a valid Firebase project id")]
    ProjectId(String),
    #[error("the FCM endpoint must be an http:// or https:// URL, got '{0}'")]
    Endpoint(String),
    #[error("cannot build the FCM HTTP client: {0}")]
    HttpClient(String),
    #[error("cannot set up the FCM connections: {0}")]
    Pool(String),
}
