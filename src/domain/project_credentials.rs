//! A project's provider credentials as the operator uploaded them, and the secret-free summaries
//! that are all the admin API ever shows of them.

use super::Secret;

/// Which provider of a project: each has its own credentials and its own suspension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderKind {
    Apns,
    Fcm,
    WebPush,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 3] = [ProviderKind::Apns, ProviderKind::Fcm, ProviderKind::WebPush];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Apns => "apns",
            ProviderKind::Fcm => "fcm",
            ProviderKind::WebPush => "webpush",
        }
    }
}

/// APNS credentials of a project: the app's topic and either token or certificate auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsCredentials {
    /// The app's bundle id, sent as `apns-topic`.
    pub topic: String,
    pub auth: ApnsCredentialsAuth,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApnsCredentialsAuth {
    /// A `.p8` signing key (PKCS#8 PEM text) and Apple's ids for it and its team.
    Token { key_id: String, team_id: String, key_pem: Secret<String> },
    /// A `.p12` identity and its password. `not_after` is the certificate's expiry in unix
    /// seconds, read when it was checked.
    Certificate { p12: Secret<Vec<u8>>, password: Secret<String>, not_after: Option<i64> },
}

/// An FCM service account of a project: the JSON as Google issued it, with the fields the
/// summary shows read out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcmCredentials {
    pub project_id: String,
    pub client_email: String,
    /// The whole service-account JSON (it holds the private key).
    pub service_account: Secret<String>,
}

/// A project's Web Push identity: its VAPID key pair (the private key as PKCS#8 PEM) and the
/// subject push services can reach its operator at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebPushCredentials {
    /// `mailto:` or `https:`.
    pub subject: String,
    pub private_key_pem: Secret<String>,
    /// The public half, base64url (uncompressed P-256): what pages subscribe with.
    pub public_key: String,
}

/// What the admin API shows of a Web Push identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebPushSummary {
    pub subject: String,
    pub public_key: String,
}

impl WebPushCredentials {
    pub fn summary(&self) -> WebPushSummary {
        WebPushSummary { subject: self.subject.clone(), public_key: self.public_key.clone() }
    }
}

/// What the admin API shows of APNS credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsSummary {
    pub topic: String,
    /// `token` or `certificate`.
    pub auth: &'static str,
    pub key_id: Option<String>,
    pub team_id: Option<String>,
    pub certificate_not_after: Option<i64>,
}

/// What the admin API shows of an FCM service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcmSummary {
    pub project_id: String,
    pub client_email: String,
}

impl ApnsCredentials {
    pub fn summary(&self) -> ApnsSummary {
        let (auth, key_id, team_id, not_after) = match &self.auth {
            ApnsCredentialsAuth::Token { key_id, team_id, .. } => {
                ("token", Some(key_id.clone()), Some(team_id.clone()), None)
            }
            ApnsCredentialsAuth::Certificate { not_after, .. } => ("certificate", None, None, *not_after),
        };
        ApnsSummary { topic: self.topic.clone(), auth, key_id, team_id, certificate_not_after: not_after }
    }
}

impl FcmCredentials {
    pub fn summary(&self) -> FcmSummary {
        FcmSummary { project_id: self.project_id.clone(), client_email: self.client_email.clone() }
    }
}
