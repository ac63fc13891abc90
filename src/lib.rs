//! # push-server
//!
//! A push-notification gateway. Wallet apps register their APNS or FCM device token under their
//! Relay client id; the Relay sends Ed25519-signed requests to notify a client; push-server checks
//! the signature, de-duplicates, finds the device and delivers through Apple or Google.
//!
//! ## Layout
//!
//! A hexagon: the domain knows nothing of HTTP, SQL, Redis or Apple; ports are the traits it
//! needs from the world; adapters plug real technology into them; `app` holds the use cases;
//! `bootstrap` is the one ring that knows every other and wires adapters to ports. Dependencies
//! point inwards, and `tests/architecture` checks it. docs/ARCHITECTURE.md has the whole design.
//!
//! - [`domain`]: pure types and rules (`ClientId`, `DeviceToken`, `PushType`, `NotificationId`,
//!   `Flags`, `Payload`, `NotifyMessage`, `RawPayload`, a `Notification` in either `Form`,
//!   `Delivery`), the Relay's signed-message framing, signature headers and `RelayPublicKey`, a
//!   wallet's `DidKey` and `ClientJwt`, and projects (`ProjectId`, `ProjectKey`, project
//!   credentials and their summaries), and `Secret`.
//! - [`ports`]: `ClientRepository`, `DedupStore`, `PushProvider`, `RelayKey`,
//!   `ProjectRepository` (with `rotate`), `ProviderFactory`, each with its error type, and the
//!   `Clock`.
//! - [`app`]: the use cases (`register`, `unregister`, `send` split into `parse` and `execute`,
//!   project admin) and who may call them (the Relay check, the client-auth policy of
//!   `CLIENT_AUTH`), each parsed then executed; `PushService` and `AdminService`, the use cases as
//!   a driving adapter calls them; the invalid-field accumulator, the providers by push type, the
//!   sends in flight, the project catalog (providers per project, cached and refreshed) and the
//!   suspension rule; domain and ports only.
//! - [`bootstrap`]: composition only: `wiring` builds the application from the settings
//!   sections, `stores` and `providers` build the adapters (the place features choose backends),
//!   `server` starts and stops the server, `error` is `StartError`. Nothing of it runs on the
//!   request path.
//! - [`adapters::http`]: the poem-openapi API: the public operations in `routes`, a module per
//!   resource (`clients`, `notifications`, `admin`, `docs`), the one state (`HttpState`), the
//!   one error mapping (`ApiError`), the envelope, the layers around the routes and `/metrics`.
//! - [`adapters::relay_key`]: `RelayKey` from configuration, or fetched from the Relay and cached.
//! - [`adapters::store`]: `ClientRepository` and `ProjectRepository` on SQLite and Postgres,
//!   and the AES-256-GCM cipher of projects' credentials.
//! - [`adapters::dedup`]: `DedupStore` in memory, on Redis (one node, Cluster, Sentinel; TLS) and
//!   on Postgres, and the watcher their waiting duplicates share.
//! - `adapters::pg_database`: the Postgres pool the Postgres adapters share, and its PgBouncer
//!   mode.
//! - [`adapters::push`]: `PushProvider` for APNS, FCM and the log sink, the message renderers,
//!   the retry policy, the stream-aware HTTP/2 connection pool (`pool`) that APNS and FCM
//!   deliver through, and the one factory (`factory::PushProviderFactory`, the `ProviderFactory`
//!   port) that builds every provider from (defaults, credentials), the default project's and
//!   each project's, through the decorator composition hands it.
//! - [`adapters::clock`]: `SystemClock`, the `Clock` port on the system clock.
//! - [`adapters::pem`]: PEM armour, written once.
//! - [`telemetry`]: logs (text or JSON lines, `RUST_LOG`), Prometheus metrics, the instrumenting
//!   decorators that wrap each port with its span and metrics (`telemetry::instrumented`) and,
//!   with the `otel` feature, OTLP trace export and W3C `traceparent` propagation.
//! - [`cli`]: the command line: one file per command under `cli/` (the maintenance commands
//!   `migrate` and `rotate_credentials` among them), and `cli::settings`, every setting declared
//!   once (flag, variable, default, doc) in a clap `Args` section, flattened into `Settings`,
//!   with the rules that span settings (`Settings::validate`, `SettingsError`).
//!
//! Beside the library: `src/main.rs` (the `push-server` binary), and two more workspace members,
//! `crates/push-testkit` (test code shared by the tests and the benchmark) and
//! `crates/push-bench` (the load benchmark).

pub mod adapters;
pub mod app;
pub mod bootstrap;
pub mod cli;
pub mod domain;
pub mod ports;
pub mod telemetry;
