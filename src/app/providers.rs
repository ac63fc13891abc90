//! Which push provider serves which push type on this server.

use std::{collections::BTreeMap, sync::Arc};

use crate::{domain::PushType, ports::PushProvider};

/// The configured providers, by push type. A type without an entry is refused at registration.
#[derive(Clone, Default)]
pub struct Providers {
    by_type: BTreeMap<PushType, Arc<dyn PushProvider>>,
    /// The VAPID public key (base64url) of the `webpush` provider, which pages subscribe with.
    vapid_public_key: Option<String>,
}

impl Providers {
    pub fn with(mut self, push_type: PushType, provider: Arc<dyn PushProvider>) -> Self {
        self.by_type.insert(push_type, provider);
        self
    }

    /// With the public key of the Web Push provider's VAPID key pair.
    pub fn with_vapid_public_key(mut self, public_key: String) -> Self {
        self.vapid_public_key = Some(public_key);
        self
    }

    /// The VAPID public key pages subscribe with, when Web Push is configured.
    pub fn vapid_public_key(&self) -> Option<&str> {
        self.vapid_public_key.as_deref()
    }

    pub fn get(&self, push_type: PushType) -> Option<&Arc<dyn PushProvider>> {
        self.by_type.get(&push_type)
    }

    pub fn supports(&self, push_type: PushType) -> bool {
        self.by_type.contains_key(&push_type)
    }

    /// The served type names, for messages such as "supported: apns, fcm".
    pub fn supported_names(&self) -> Vec<&'static str> {
        self.by_type.keys().map(|t| t.as_str()).collect()
    }

    /// `(type, provider name)` pairs, for the start-up log.
    pub fn describe(&self) -> Vec<(PushType, &'static str)> {
        self.by_type.iter().map(|(t, p)| (*t, p.name())).collect()
    }
}
