//! Bringing a practice over from the TypeScript "Nostr EHR" reference (DESIGN.md §10).
//!
//! - [`cipher`]: the reference's own variant of "nip44", decrypt only.
//! - [`keyring`]: the shared secrets the reference encrypts with (X₁, X₂), from the practice
//!   key or from a legacy staff member's grants.
//! - [`source`]: legacy events: kinds (including the pre-renumbering 1000–1014), tags, markers,
//!   who signed them and which patient they belong to.
//! - [`convert`]: the reference's FHIR-like payloads as standard FHIR R4, with provenance.
//! - [`plan`]: the whole import as a pure plan: members, patients, guardianships and the
//!   records to write, with every legacy event's fate (imported, skipped or unreadable).
//! - `import` (feature `relay-client`): runs the plan against the old relay, the new relay and
//!   the Blossom servers, resumably and idempotently.
//!
//! Everything but `import` is pure: no sockets, no files.

pub mod cipher;
pub mod convert;
#[cfg(feature = "relay-client")]
pub mod import;
pub mod keyring;
pub mod plan;
pub mod source;

pub use cipher::{LegacyCipherError, LegacyConversationKey};
pub use keyring::LegacyKeyring;

/// Extension: the legacy event an imported resource comes from (event id, hex).
pub const EXT_EVENT: &str = "urn:nostr-ehr:extension:legacy-event";
/// Extension: the key that signed that legacy event (hex).
pub const EXT_SIGNER: &str = "urn:nostr-ehr:extension:legacy-signer";
/// Extension: the legacy event's `created_at` (unix seconds).
pub const EXT_CREATED_AT: &str = "urn:nostr-ehr:extension:legacy-created-at";
/// Extension: the legacy event's kind number, as published (1000–1014 included).
pub const EXT_KIND: &str = "urn:nostr-ehr:extension:legacy-kind";
/// Extension: the staff member a practice-encrypted event names in `authored-by` (hex).
pub const EXT_AUTHORED_BY: &str = "urn:nostr-ehr:extension:legacy-authored-by";
/// Extension: that staff member's name, as the event gives it.
pub const EXT_AUTHORED_BY_NAME: &str = "urn:nostr-ehr:extension:legacy-authored-by-name";
/// Extension: the legacy link marker this version comes from (`status-update`, `deletion`,
/// `addendum`, `result`, `cancelled`).
pub const EXT_MARKER: &str = "urn:nostr-ehr:extension:legacy-marker";
/// Extension prefix: a plaintext tag of the legacy event (`…:legacy-tag:obs` = `vitals`).
pub const EXT_TAG_PREFIX: &str = "urn:nostr-ehr:extension:legacy-tag:";
/// Extension prefix: a prescription field of the reference, exactly as written
/// (`…:legacy-rx:qty` = `60 mL`).
pub const EXT_RX_PREFIX: &str = "urn:nostr-ehr:extension:legacy-rx:";
/// Extension: a lab analyte's value exactly as written (`23.0`).
pub const EXT_ANALYTE_VALUE: &str = "urn:nostr-ehr:extension:legacy-analyte-value";
/// Extension: a lab analyte's unit exactly as written.
pub const EXT_ANALYTE_UNIT: &str = "urn:nostr-ehr:extension:legacy-analyte-unit";
/// Extension: the value as the user entered it, before the reference converted it
/// (`98.2 F` for a temperature stored in °C).
pub const EXT_ENTERED_AS: &str = "urn:nostr-ehr:extension:legacy-entered-as";
/// Extension: the sha256 of the legacy (re-encrypted) blob of a document.
pub const EXT_LEGACY_BLOB: &str = "urn:nostr-ehr:extension:legacy-blob-sha256";
/// Extension: the legacy attachment URL of a document (informational: blobs go by hash).
pub const EXT_LEGACY_BLOB_URL: &str = "urn:nostr-ehr:extension:legacy-blob-url";
/// Identifier system of the reference's own FHIR ids.
pub const LEGACY_ID_SYSTEM: &str = "urn:nostr-ehr:nostrehr:fhir-id";
/// Identifier system of Nostr public keys (hex) in references.
pub const NOSTR_PUBKEY_SYSTEM: &str = "urn:nostr:pubkey";
