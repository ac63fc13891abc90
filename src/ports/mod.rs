//! The traits the application needs from the world, one per file, each with its own error enum.
//!
//! Adapters implement these; use cases depend only on them. Every port has a mockall mock
//! (`MockClientRepository`, ...) for use-case tests.

mod client_repository;
mod clock;
mod dedup_store;
mod project_repository;
mod provider_factory;
mod push_provider;
mod relay_key;
mod walletconnect_source;

pub use client_repository::{ClientRepository, StoreError};
pub use clock::Clock;
pub use dedup_store::{Claim, ClaimToken, Completed, DedupError, DedupStore, Waited};
pub use project_repository::{ProjectCensus, ProjectRepository, ProjectStoreError};
pub use provider_factory::{ApnsFacts, CredentialProblem, ProviderFactory};
pub use push_provider::{Delivered, PushError, PushFailure, PushProvider};
pub use relay_key::{RelayKey, RelayKeyError};
pub use walletconnect_source::{
    SourceError, THEIR_DEFAULT_TENANT, TheirClient, TheirNotification, TheirTenant, WalletConnectSource,
};

#[cfg(test)]
pub use client_repository::MockClientRepository;
#[cfg(test)]
pub use clock::MockClock;
#[cfg(test)]
pub use dedup_store::MockDedupStore;
#[cfg(test)]
pub use project_repository::MockProjectRepository;
#[cfg(test)]
pub use provider_factory::MockProviderFactory;
#[cfg(test)]
pub use push_provider::MockPushProvider;
#[cfg(test)]
pub use relay_key::MockRelayKey;
#[cfg(test)]
pub use walletconnect_source::MockWalletConnectSource;
