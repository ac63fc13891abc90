//! `RelayKey` from configuration (`RELAY_PUBLIC_KEY`): one key, trusted until a restart.

use async_trait::async_trait;

use crate::{
    domain::RelayPublicKey,
    ports::{RelayKey, RelayKeyError},
};

pub struct StaticKey(RelayPublicKey);

impl StaticKey {
    pub fn new(key: RelayPublicKey) -> Self {
        Self(key)
    }
}

#[async_trait]
impl RelayKey for StaticKey {
    async fn current(&self) -> Result<RelayPublicKey, RelayKeyError> {
        Ok(self.0)
    }

    /// A configured key is rotated by restarting with the new one; there is never a newer key.
    async fn newer_than(&self, _failed: &RelayPublicKey) -> Option<RelayPublicKey> {
        None
    }
}
