//! One file per command of `push-bench`: its options and how it runs, from setting up the server
//! to handing the figures to `report`.

pub mod dedup_memory;
pub mod deliver;
pub mod mixed;
pub mod register;
pub mod relay_public_key;
pub mod send;
pub mod verify;
