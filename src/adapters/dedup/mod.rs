//! `DedupStore` adapters: in memory (one server), Redis (one node, Cluster or Sentinel; several
//! servers) and Postgres (several servers without Redis).

pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
