//! Port: turns a project's stored credentials into a working push provider.

use std::sync::Arc;

use crate::domain::{ApnsCredentials, FcmCredentials, ProjectId, Secret, WebPushCredentials};

use super::PushProvider;

/// A credential that cannot work, and which uploaded field is at fault (`key`, `certificate`,
/// `password`, `private_key`, ...). Descriptions never hold key material or a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialProblem {
    pub field: &'static str,
    pub description: String,
}

impl CredentialProblem {
    pub fn new(field: &'static str, description: impl Into<String>) -> Self {
        Self { field, description: description.into() }
    }
}

/// What an APNS check learned from the credentials that the summary shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApnsFacts {
    /// The certificate's expiry (unix seconds), for certificate auth.
    pub certificate_not_after: Option<i64>,
}

/// Turns projects' credentials into providers. Uploads are checked first and refused with every
/// problem found, so a stored project never holds credentials that could not even be loaded;
/// credentials that pass may still be refused by Apple or Google at the first send.
#[cfg_attr(test, mockall::automock)]
pub trait ProviderFactory: Send + Sync {
    /// Checks APNS credentials without building a provider (no endpoint is resolved, no
    /// connection opened): a topic that can be sent as `apns-topic`, Apple's key and team ids, a
    /// P-256 PKCS#8 key, or a `.p12` that opens with its password and whose key matches its
    /// certificate. Every problem found, each naming the uploaded field at fault; the
    /// certificate's expiry when it passes.
    fn check_apns(&self, credentials: &ApnsCredentials) -> Result<ApnsFacts, Vec<CredentialProblem>>;

    /// Checks a service account without building a provider: service-account JSON with an RSA
    /// PKCS#8 key, `client_email` and `token_uri`, and a Firebase project id. Every problem found,
    /// each naming the field at fault.
    fn check_fcm(&self, credentials: &FcmCredentials) -> Result<(), Vec<CredentialProblem>>;

    /// Checks a Web Push upload and completes it: the subject (`mailto:` or `https:`), and the
    /// private key (a P-256 PEM) or, when none is given, a freshly generated one; the public key
    /// is read from it. Every problem found, each naming the field at fault (`subject`,
    /// `private_key`).
    fn check_webpush(
        &self,
        subject: &str,
        private_key_pem: Option<Secret<String>>,
    ) -> Result<WebPushCredentials, Vec<CredentialProblem>>;

    /// A provider for both APNS types of `project`, with its own provider token and connections;
    /// `Err` with the reason when it cannot be built (this server's endpoint settings, or a
    /// stored row that no longer checks).
    fn apns(&self, project: &ProjectId, credentials: &ApnsCredentials) -> Result<Arc<dyn PushProvider>, String>;

    /// An FCM provider of `project`, with its own OAuth token and connections; `Err` as for `apns`.
    fn fcm(&self, project: &ProjectId, credentials: &FcmCredentials) -> Result<Arc<dyn PushProvider>, String>;

    /// A Web Push provider of `project`, signing with its VAPID key; `Err` as for `apns`.
    fn webpush(&self, project: &ProjectId, credentials: &WebPushCredentials) -> Result<Arc<dyn PushProvider>, String>;
}
