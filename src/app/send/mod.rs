//! Use case: deliver one Relay notification to one client, at most once per id.
//!
//! The Relay may send a notification in two forms, classic (`{id, payload}`) and raw (`{topic,
//! tag, message}`), one or both in the same body. Which one a client gets depends on the client
//! (`always_raw`). The use case runs in two halves so the contract's order (body, then client)
//! holds for every body that can be judged without the client: `parse` checks every field of
//! both forms, `execute` finds the client, refuses a body without the form it needs, claims the
//! id (`claim`: taken, or waited for while another send delivers it) and delivers. Problems are
//! reported by field and form ([`SendField`]); where a field sits in a request is the HTTP
//! adapter's business.

mod claim;
mod execute;
mod field;
#[cfg(test)]
mod fixtures;
mod parse;

pub use claim::ClaimTimes;
pub use execute::{SendError, SendOutcome, Sent};
pub use field::{ClassicField, RawField, SendField};
pub use parse::{InvalidForm, RawNotification, SendRequest, parse_notification};
