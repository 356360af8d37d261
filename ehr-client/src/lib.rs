//! `ehr-client`: the protocol core of nostr-ehr.
//!
//! - [`tags`]: the protocol's tag names, the strict reader of its own events and the lenient one
//!   for NIP-standard events; the lowest module, on `nostr` only.
//! - [`connection`]: the connection string `nostr-ehr:<npub>?relay=<url>`.
//! - [`keys`]: hex, `npub`/`nsec`, NIP-49 `ncryptsec`; [`keys::Identity`] and [`keys::ChartKey`].
//! - [`crypto`]: NIP-44 v2 through the `nostr` crate, with version, size and encoding checks.
//! - [`kinds`]: the event kinds of DESIGN.md §3.
//! - [`fhir`]: typed FHIR R4 payloads with standard elements only.
//! - [`event`]: build, sign, parse and decrypt clinical events (practice copy and patient copy).
//! - [`document`]: AES-256-GCM document encryption, single message or streamed in segments.
//! - [`signer`]: the [`signer::Nip44Decrypt`] trait a patient's key, extension or bunker implements.
//! - [`chart`]: the pure, order-independent chart fold.
//! - [`roster`]: the roster chain (kind 2102) and who was authorised for what, when.
//! - [`grants`]: epoch grants, chart-key wraps and guardianships.
//! - [`access`]: what one reader can verify and open; authorisation before folding.
//! - [`rotation`]: plans for roster changes, grants and chart-key rotation.
//! - [`practice`]: the practice's operations, each a whole plan ending in key maintenance.
//! - [`ips`]: the International Patient Summary of a folded chart, and its offline checks.
//! - [`legacy`]: the Nostr EHR legacy cipher (decrypt only) and the import of such a practice
//!   (its `import` runner needs the feature `relay-client`).
//! - `net` (feature `relay-client`): the relay client, with NIP-42 AUTH, on `nostr-sdk` 0.44.
//! - `management` (feature `relay-client`): the NIP-86 client, with NIP-98 HTTP auth.
//! - `blossom` (feature `relay-client`): the Blossom client and the DocumentReference of a file.
//!
//! The core does no I/O: no sockets, no files, no async runtime. The relay client ([`net`],
//! feature `relay-client`) and the local mirror and outbox (`store`, feature `local-store`) are
//! separate features; the `cli` feature turns both on, and `default-features = false` leaves
//! only the core.

pub mod access;
pub mod allergy;
pub mod attachment;
pub mod audit;
#[cfg(feature = "blob-file")]
pub mod blob_file;
#[cfg(feature = "relay-client")]
pub mod blossom;
pub mod bud11;
pub mod chart;
pub mod connection;
pub mod crypto;
pub mod demo;
pub mod dm;
pub mod document;
pub mod error;
pub mod event;
pub mod fhir;
pub mod grants;
pub mod growth;
pub mod http_auth;
pub mod immunization;
pub mod ips;
pub mod keys;
pub mod kinds;
pub mod legacy;
pub mod local_cache;
#[cfg(feature = "relay-client")]
pub mod management;
#[cfg(feature = "relay-client")]
pub mod net;
pub mod patients;
pub mod phrases;
pub mod practice;
pub mod reconcile;
pub mod roster;
pub mod rotation;
pub mod schedule;
pub mod share;
pub mod shl;
pub mod signer;
#[cfg(feature = "local-store")]
pub mod store;
pub mod tags;

pub use error::Error;
/// The `nostr` crate this library is built on, so dependants use the same version.
pub use nostr;
