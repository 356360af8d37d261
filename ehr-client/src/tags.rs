//! The protocol's tag names and the two ways of reading them (DESIGN.md §2: "All tags are
//! single-valued; `["ehr","1"]` is on every event; anything else is refused").
//!
//! The lowest module of the core: it depends on `nostr` only, so every other module (and every
//! service) names and reads tags through it rather than by string literal.
//!
//! - [`Tags`]: the strict reader of the project's own events: every tag exactly a name and one
//!   value, no name twice, the format version present; [`Tags::only`] refuses unknown names.
//! - [`tag_values`] and [`first_value`]: the lenient reader, for NIP-standard events (BUD-11
//!   tokens, NIP-98, deletions) whose tags may repeat or carry extra fields.

use std::collections::BTreeMap;

use nostr::prelude::{Event, PublicKey};

/// Tag holding the patient's pubkey (a clinical event's subject, a grant's member, a ward).
pub const TAG_PATIENT: &str = "p";
/// Tag naming the grantee of a direct wrap (FHIR gateway, guardian) or a guardianship.
pub const TAG_GRANTEE: &str = "P";
/// Tag holding the patient copy of a clinical event.
pub const TAG_PATIENT_CONTENT: &str = "patient-content";
/// Tag holding the chart-key version of a practice copy or wrap.
pub const TAG_CHART_KEY: &str = "chart-key";
/// Tag holding an epoch number.
pub const TAG_EPOCH: &str = "epoch";
/// Tag holding the office-key version of an office record's practice copy (DESIGN.md §2).
pub const TAG_OFFICE_KEY: &str = "office-key";
/// Tag naming the key domain of an epoch grant, a wrap or a patient-authored event; absent
/// means clinical, so everything written before the split keeps its meaning.
pub const TAG_DOMAIN: &str = "domain";
/// The only value [`TAG_DOMAIN`] takes.
pub const DOMAIN_OFFICE: &str = "office";
/// Tag holding the wire-format version.
pub const TAG_FORMAT: &str = "ehr";
/// The wire-format version this library writes and reads.
pub const FORMAT_VERSION: &str = "1";
/// Tag holding a guardianship's status.
pub const TAG_STATUS: &str = "status";
/// A slot hold's slot id (`<schedule>.<start>`, kind 2125).
pub const TAG_SLOT: &str = "slot";
/// A slot hold's schedule id.
pub const TAG_SCHEDULE: &str = "schedule";
/// A slot hold's start (Unix seconds).
pub const TAG_START: &str = "start";
/// A slot hold's end (Unix seconds).
pub const TAG_END: &str = "end";
/// Whether a slot hold holds its time: [`HOLD_HELD`] or [`HOLD_RELEASED`].
pub const TAG_HOLD: &str = "hold";
/// The time is held.
pub const HOLD_HELD: &str = "held";
/// The time is released.
pub const HOLD_RELEASED: &str = "released";
/// Random hex that makes an event unique: two holds of one time by one desk in one second
/// are two events, and a resent one is the same event (the relay's duplicate).
pub const TAG_NONCE: &str = "nonce";

/// An appointment version's day: its start's UTC day number (`floor(start / 86400)`, NIP-52's
/// `D`), so the desk fetches a day or a week, not a year (DESIGN.md §13, "Scale").
pub const TAG_DAY: &str = "D";
/// The day an appointment version moved its time from, so that day's view sees it leave.
pub const TAG_MOVED_FROM: &str = "M";
/// An appointment version's topic: [`TOPIC_REQUEST`] on a patient's request and the desk's
/// answer, so the desk fetches the requests waiting without every week they name.
pub const TAG_TOPIC: &str = "t";
/// The only value [`TAG_TOPIC`] takes.
pub const TOPIC_REQUEST: &str = "request";

/// Why the strict reader refused an event's tags. No variant carries a tag value.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum TagError {
    /// A tag is not exactly a name and one value.
    #[error("tag shape")]
    Shape,
    /// A tag name appears twice.
    #[error("repeated tag")]
    Repeated,
    /// The format tag is missing or names another version.
    #[error("format version")]
    FormatVersion,
    /// A tag this event type does not carry.
    #[error("unexpected tag")]
    Unexpected,
    /// The named tag is missing or its value does not parse.
    #[error("{0}")]
    Malformed(&'static str),
}

impl TagError {
    /// A short, PHI-free description, for errors that carry a `&'static str`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shape => "tag shape",
            Self::Repeated => "repeated tag",
            Self::FormatVersion => "format version",
            Self::Unexpected => "unexpected tag",
            Self::Malformed(name) => name,
        }
    }
}

/// The strict reader: the single-valued tags of one of the project's events, each at most once,
/// with the project's format version.
#[derive(Debug)]
pub struct Tags<'a> {
    values: BTreeMap<&'a str, &'a str>,
}

impl<'a> Tags<'a> {
    /// Read `event`'s tags; refuse a tag that is not `[name, value]`, a repeated name, or a
    /// missing or other format version.
    pub fn read(event: &'a Event) -> Result<Self, TagError> {
        let mut values = BTreeMap::new();
        for tag in event.tags.iter() {
            match tag.as_slice() {
                [name, value] => {
                    if values.insert(name.as_str(), value.as_str()).is_some() {
                        return Err(TagError::Repeated);
                    }
                }
                _ => return Err(TagError::Shape),
            }
        }
        if values.get(TAG_FORMAT) != Some(&FORMAT_VERSION) {
            return Err(TagError::FormatVersion);
        }
        Ok(Self { values })
    }

    /// The value of tag `name`, if present.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.values.get(name).copied()
    }

    /// Refuse any tag not named in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), TagError> {
        if self.values.keys().all(|name| allowed.contains(name)) {
            Ok(())
        } else {
            Err(TagError::Unexpected)
        }
    }

    /// Tag `name` as a hex public key on the curve.
    pub fn public_key(&self, name: &'static str) -> Result<PublicKey, TagError> {
        self.get(name)
            .and_then(parse_public_key)
            .ok_or(TagError::Malformed(name))
    }

    /// Tag `name` as a canonical decimal number.
    pub fn number(&self, name: &'static str) -> Result<u64, TagError> {
        self.get(name)
            .and_then(parse_number)
            .ok_or(TagError::Malformed(name))
    }
}

/// The lenient reader: the values of an event's tags named `name` (the second field of each),
/// in order; repeated tags and extra fields are allowed.
pub fn tag_values<'a>(event: &'a Event, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    event.tags.iter().filter_map(move |tag| {
        let fields = tag.as_slice();
        match (fields.first(), fields.get(1)) {
            (Some(n), Some(v)) if n == name => Some(v.as_str()),
            _ => None,
        }
    })
}

/// The first value of an event's tag named `name` (lenient, as [`tag_values`]).
pub fn first_value<'a>(event: &'a Event, name: &'a str) -> Option<&'a str> {
    tag_values(event, name).next()
}

/// A tag's number in canonical decimal, as this format writes it.
pub fn parse_number<T: std::str::FromStr>(value: &str) -> Option<T> {
    // Canonical decimal only: no sign, no leading zeros.
    let canonical = !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit())
        && (value == "0" || !value.starts_with('0'));
    canonical.then(|| value.parse().ok()).flatten()
}

/// A tag's public key: 64 hex digits that are the x-coordinate of a secp256k1 point (`nostr`
/// parses keys lazily, so an off-curve key would otherwise fail only at first use).
pub fn parse_public_key(value: &str) -> Option<PublicKey> {
    PublicKey::from_hex(value)
        .ok()
        .filter(|key| key.xonly().is_ok())
}
