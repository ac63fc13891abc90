//! Use cases (register, unregister, send), the settings they run with, and the wiring that builds
//! adapters from settings and starts the server. This is the one place that knows both the ports
//! and the adapters.

mod invalid_field;
mod providers;
mod register;
mod send;
#[cfg(test)]
mod test_support;
mod unregister;

use std::{sync::Arc, time::Duration};

pub use invalid_field::InvalidField;
use crate::telemetry::Metrics;
pub use providers::Providers;
pub use register::{RawRegistration, RegisterError};
pub use send::{RawNotification, SendError, SendOutcome, parse_notification, send_outcome_label};
pub use unregister::UnregisterError;

use crate::ports::{ClientRepository, DedupStore};

/// The application: the ports it works through and the rules' tunable values. Cheap to share
/// behind an `Arc`; every use case is a method in its own file.
pub struct App {
    clients: Arc<dyn ClientRepository>,
    dedup: Arc<dyn DedupStore>,
    providers: Providers,
    dedup_ttl: Duration,
    metrics: Arc<Metrics>,
}

impl App {
    pub fn new(
        clients: Arc<dyn ClientRepository>,
        dedup: Arc<dyn DedupStore>,
        providers: Providers,
        dedup_ttl: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { clients, dedup, providers, dedup_ttl, metrics }
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}
