//! Black-box tests of the HTTP contract on the embedded default (SQLite, in-memory dedup, log
//! sink): the real server on port 0, driven over HTTP like a wallet and a Relay would; what a
//! `200` promises while a delivery is in flight (against the fake FCM); the committed OpenAPI
//! document, kept equal to the one the code generates; property tests of every parser that
//! sees the requests' untrusted input; and the Relay signature's batch verification against known
//! vectors, `verify_strict` and a flood of bad signatures.

mod cors;
mod errors;
mod hostile;
#[cfg(feature = "fcm")]
mod in_flight;
mod openapi;
mod properties;
mod raw_send;
mod register;
mod relay_key;
mod sdk_replay;
mod send;
mod signature;
mod signature_batch;
mod wallets;
