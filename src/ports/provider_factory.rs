//! Port: turns a project's stored credentials into a working push provider.

use std::sync::Arc;

use crate::domain::{ApnsCredentials, FcmCredentials, ProjectId};

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

/// Builds providers from credentials. Building is also the upload check: credentials that build
/// are stored, credentials that do not are refused with the problems found, so a stored project
/// never holds credentials that could not even be loaded.
#[cfg_attr(test, mockall::automock)]
pub trait ProviderFactory: Send + Sync {
    /// Checks APNS credentials (a P-256 PKCS#8 key; a `.p12` that opens with its password and
    /// whose key matches its certificate) without building a provider.
    fn check_apns(&self, credentials: &ApnsCredentials) -> Result<ApnsFacts, Vec<CredentialProblem>>;

    /// Checks a service account (an RSA key, `client_email`, `token_uri`, `project_id`).
    fn check_fcm(&self, credentials: &FcmCredentials) -> Result<(), Vec<CredentialProblem>>;

    /// A provider for both APNS types of `project`, with its own provider token and connections.
    fn apns(&self, project: &ProjectId, credentials: &ApnsCredentials) -> Result<Arc<dyn PushProvider>, String>;

    /// An FCM provider of `project`, with its own OAuth token.
    fn fcm(&self, project: &ProjectId, credentials: &FcmCredentials) -> Result<Arc<dyn PushProvider>, String>;
}
