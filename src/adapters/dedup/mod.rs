//! `DedupStore` adapters: in memory (one server) and Redis (several servers).

pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;
