//! Use cases (register, unregister, send, and who may call the Relay endpoint): domain values and
//! ports in, nothing of adapters, settings or the command line. Each use case is parsed first
//! (every invalid field reported at once) and then executed: `parse_registration` then
//! `App::register`, and so on.

mod client_auth;
mod in_flight;
mod invalid_field;
mod providers;
mod register;
mod relay_auth;
mod send;
#[cfg(test)]
mod test_support;
mod unregister;

use std::{sync::Arc, time::Duration};

pub use client_auth::{ClientAuth, ClientAuthError, ClientAuthMode};
pub use in_flight::{Drained, InFlight};
pub use invalid_field::{InvalidField, InvalidFields};
pub use providers::Providers;
pub use register::{RawRegistration, RegisterError, parse_registration};
pub use relay_auth::{RelayAuth, RelayAuthError, RelayCheck};
pub use send::{RawNotification, SendError, SendOutcome, SendRequest, Sent, parse_notification};
pub use unregister::{UnregisterError, parse_unregistration};

use crate::ports::{ClientRepository, DedupStore};

/// The application: the ports it works through and the rules' tunable values. Cheap to share
/// behind an `Arc`; every use case is a method in its own file.
pub struct App {
    clients: Arc<dyn ClientRepository>,
    dedup: Arc<dyn DedupStore>,
    providers: Providers,
    dedup_ttl: Duration,
    sends: InFlight,
}

impl App {
    pub fn new(
        clients: Arc<dyn ClientRepository>,
        dedup: Arc<dyn DedupStore>,
        providers: Providers,
        dedup_ttl: Duration,
    ) -> Self {
        Self { clients, dedup, providers, dedup_ttl, sends: InFlight::default() }
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// Sends in progress: what a shutdown waits for (see [`InFlight`]).
    pub fn sends(&self) -> &InFlight {
        &self.sends
    }
}
