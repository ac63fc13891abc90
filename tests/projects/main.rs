//! Several wallet apps on one server, black-box over HTTP: the admin API, project routes
//! delivering through each project's own credentials (local fakes of Apple and Google), isolation
//! of client ids, tokens and notification ids between projects, credentials encrypted at rest,
//! restarts, suspension of refused credentials and its lifting.

use push_testkit::binary::Binary;

/// The server binary cargo built for these tests (the maintenance commands run as operators run
/// them).
#[cfg(feature = "apns")]
const SERVER: Binary = Binary::new(env!("CARGO_BIN_EXE_push-server"));

mod admin;
#[cfg(feature = "apns")]
mod apns;
#[cfg(feature = "fcm")]
mod fcm;
mod harness;
mod migration;
#[cfg(all(feature = "postgres", feature = "apns"))]
mod postgres;
#[cfg(feature = "apns")]
mod rotation;
#[cfg(feature = "webpush")]
mod webpush;
