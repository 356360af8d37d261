//! `ehr-client`: the protocol core of nostr-ehr.
//!
//! - [`keys`]: hex, `npub`/`nsec`, NIP-49 `ncryptsec`; [`keys::Identity`] and [`keys::ChartKey`].
//! - [`crypto`]: NIP-44 v2 through the `nostr` crate, with version, size and encoding checks.
//! - [`kinds`]: the event kinds of DESIGN.md §3.
//! - [`fhir`]: typed FHIR R4 payloads with standard elements only.
//! - [`event`]: build, sign, parse and decrypt clinical events (practice copy and patient copy).
//! - [`signer`]: the [`signer::Nip44Decrypt`] trait a patient's key, extension or bunker implements.
//! - [`chart`]: the pure, order-independent chart fold.
//!
//! This core does no I/O: no sockets, no files, no async runtime. Relay clients and local stores
//! will come behind default-off features.

pub mod chart;
pub mod crypto;
pub mod demo;
pub mod error;
pub mod event;
pub mod fhir;
pub mod keys;
pub mod kinds;
pub mod signer;

pub use error::Error;
/// The `nostr` crate this library is built on, so dependants use the same version.
pub use nostr;
