//! `DedupStore` adapters: in memory (one server), Redis (one node, Cluster or Sentinel; several
//! servers) and Postgres (several servers without Redis); and the watcher every one of them
//! shares to let duplicates wait for an in-flight claim cheaply.

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
mod watch;
