//! A stored project: its credentials, whether a provider is suspended, and its revision.

use super::{ApnsCredentials, FcmCredentials, ProjectId, ProviderKind, WebPushCredentials};

/// Why and since when (unix seconds) a project's provider is suspended: it refused the project's
/// credentials, so sends fail at once instead of presenting them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspension {
    pub reason: String,
    pub since: i64,
}

/// A project as stored. `revision` grows with every change of its credentials, which is how every
/// instance tells that the providers it built from them are out of date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub revision: i64,
    pub apns: Option<ApnsCredentials>,
    pub fcm: Option<FcmCredentials>,
    pub webpush: Option<WebPushCredentials>,
    pub apns_suspended: Option<Suspension>,
    pub fcm_suspended: Option<Suspension>,
    pub webpush_suspended: Option<Suspension>,
}

impl Project {
    pub fn new(id: ProjectId) -> Self {
        Self {
            id,
            revision: 0,
            apns: None,
            fcm: None,
            webpush: None,
            apns_suspended: None,
            fcm_suspended: None,
            webpush_suspended: None,
        }
    }

    pub fn suspension(&self, kind: ProviderKind) -> Option<&Suspension> {
        match kind {
            ProviderKind::Apns => self.apns_suspended.as_ref(),
            ProviderKind::Fcm => self.fcm_suspended.as_ref(),
            ProviderKind::WebPush => self.webpush_suspended.as_ref(),
        }
    }
}
