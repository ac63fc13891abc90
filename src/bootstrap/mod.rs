//! Composition, and nothing else: builds the adapters from the settings sections, wraps the ports
//! in their instrumenting decorators, plugs them into the application, and starts and stops the
//! server. Beside the adapter module declarations, this is the only place cargo features are
//! looked at: a setting that needs an adapter this binary lacks is a start-up error naming the
//! feature.
//!
//! - `wiring`: the application from the settings (`build`).
//! - `stores`: the client store, the projects beside it and the dedup store; the maintenance
//!   commands open them here too.
//! - `providers`: the provider factory's defaults, and the default project's push providers from
//!   the environment's credentials (the factory in `adapters::push::factory` builds them all).
//! - `server`: binding, serving and the graceful stop.
//! - `error`: why a start fails.

mod error;
pub mod providers;
pub mod server;
pub mod stores;
pub mod wiring;

pub use error::StartError;
