//! Why the server (or a maintenance command) cannot start: one variant per kind of cause, each
//! displayed as the one line an operator reads.

use std::{io, net::SocketAddr, path::PathBuf};

use crate::{cli::settings::SettingsError, ports::ProjectStoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The settings break a rule (see `Settings::validate`).
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The settings ask for an adapter this binary was built without.
    #[error("{what}, but this binary was built without the `{feature}` feature")]
    NotCompiledIn { what: &'static str, feature: &'static str },
    /// The client store could not be opened, migrated or checked.
    #[error("{0}")]
    Store(String),
    /// The dedup store could not be reached.
    #[error("{0}")]
    Dedup(String),
    /// The Relay key cannot be fetched as configured.
    #[error("{0}")]
    RelayKey(String),
    /// A provider's credentials or settings cannot work, worded after the setting to fix.
    #[error("{0}")]
    Provider(String),
    #[error("cannot open LOG_SINK_PATH {}: {error}", path.display())]
    LogSink { path: PathBuf, error: io::Error },
    #[error("cannot read the projects: {0}")]
    Projects(ProjectStoreError),
    #[error("cannot listen on {addr}: {error}")]
    Listen { addr: SocketAddr, error: io::Error },
}
