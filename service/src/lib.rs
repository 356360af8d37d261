//! `ehr-service`: what every nostr-ehr service (relay, Blossom, FHIR gateway, billing bot,
//! portal, and the launcher running them all) does the same way, so none of them needs another
//! service's crate for it.
//!
//! - [`process`]: logs on stderr, the listening socket announced on stdout, a graceful stop.
//! - [`metrics`]: the process's Prometheus registry and the per-request middleware.
//! - [`database`]: the sqlx `Any` database the services beside the relay keep their own tables in.
//! - [`config`]: database URLs, files a configuration names, an agent's own key.
//! - [`membership`]: the practice's members, read-only from the relay's database.

pub mod config;
pub mod database;
pub mod membership;
pub mod metrics;
pub mod process;

pub use process::{init_tracing, listen, shutdown_signal};
