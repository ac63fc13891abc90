//! Builders shared by the use-case tests: an `App` over mocked ports.

use std::{sync::Arc, time::Duration};

use super::{App, ClaimTimes, Providers};
use crate::{
    domain::{Client, ClientId, DeviceToken, PushType},
    ports::{MockClientRepository, MockDedupStore, MockPushProvider},
};

/// The claim times of the use-case tests: a minute's window, a 16 s lease, 25 s of patience.
pub const CLAIMS: ClaimTimes =
    ClaimTimes { window: Duration::from_secs(60), lease: Duration::from_secs(16), patience: Duration::from_secs(25) };

pub fn app_with(repo: MockClientRepository, dedup: MockDedupStore, providers: Providers) -> App {
    App::new(Arc::new(repo), Arc::new(dedup), providers, CLAIMS)
}

/// Every type served by one mock provider that must never be called.
pub fn log_only_providers() -> Providers {
    let mut p = MockPushProvider::new();
    p.expect_name().return_const("log_sink");
    p.expect_send().never();
    p.expect_check_token().returning(|_| Ok(()));
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
