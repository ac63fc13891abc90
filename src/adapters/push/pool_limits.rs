//! How far one HTTP/2 connection pool may grow. A file of its own, outside the pool (which only
//! builds with a provider feature), so that the provider factory's defaults can hold it in every
//! build.

/// Bounds of a pool whose configuration names none.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8;
pub const DEFAULT_MAX_PENDING: usize = 10_000;

/// How far one pool may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Connections open at once (draining ones not counted), at least 1.
    pub max_connections: usize,
    /// Sends waiting for a stream before further sends are refused with `Busy`, at least 1.
    pub max_pending: usize,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self { max_connections: DEFAULT_MAX_CONNECTIONS, max_pending: DEFAULT_MAX_PENDING }
    }
}
