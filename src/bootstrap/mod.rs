//! The one ring that knows every other: settings (one source of defaults), the wiring that builds
//! adapters from settings and plugs them into the ports, and starting and stopping the server.

pub mod project_providers;
pub mod providers;
pub mod server;
pub mod wiring;
