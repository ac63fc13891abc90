//! Builders shared by the use-case tests: an `App` over mocked ports.

use std::{sync::Arc, time::Duration};

use super::{App, Providers};
use crate::{
    domain::{Client, ClientId, DeviceToken, PushType},
    ports::{MockClientRepository, MockDedupStore, MockPushProvider},
};

pub fn app_with(repo: MockClientRepository, dedup: MockDedupStore, providers: Providers) -> App {
    App::new(Arc::new(repo), Arc::new(dedup), providers, Duration::from_secs(60))
}

/// Every type served by one mock provider that must never be called.
pub fn log_only_providers() -> Providers {
    let mut p = MockPushProvider::new();
    p.expect_name().return_const("log_sink");
    p.expect_send().never();
    let p: Arc<MockPushProvider> = Arc::new(p);
    PushType::ALL.into_iter().fold(Providers::default(), |acc, t| acc.with(t, p.clone()))
}

/// `apns` served by the given mock.
pub fn providers_with(provider: MockPushProvider) -> Providers {
    Providers::default().with(PushType::Apns, Arc::new(provider))
}

pub fn client(id: &str) -> Client {
    Client {
        id: ClientId::parse(id).unwrap(),
        push_type: PushType::Apns,
        token: DeviceToken::parse(PushType::Apns, "00aa").unwrap(),
        always_raw: false,
    }
}
