//! Which key a clinical event's practice copy is under, as its tags name it, and the rule that
//! a clinical kind never goes in the office key domain (shared DESIGN §2).

use nostr::prelude::Tag;

use super::EventError;
use crate::kinds::{ClinicalKind, Domain};
use crate::roster::SealTarget;
use crate::tags::{
    TAG_CHART_KEY, TAG_DOMAIN, TAG_EPOCH, TAG_FORMAT, TAG_OFFICE_KEY, TAG_PATIENT,
    TAG_PATIENT_CONTENT, parse_number,
};

/// Which key encrypts the practice copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PracticeKeyRef {
    /// Chart key `K_{p,v}`, version `v`.
    Chart(u32),
    /// Office key `O_{p,v}`, version `v` (demographics and messages in a split practice).
    Office(u32),
    /// Clinical epoch key `E_n` (patient-authored events).
    Epoch(u64),
    /// Office epoch key `F_n` (patient-authored messages in a split practice).
    OfficeEpoch(u64),
}

impl PracticeKeyRef {
    /// The key domain of the practice copy.
    pub fn domain(self) -> Domain {
        match self {
            Self::Chart(_) | Self::Epoch(_) => Domain::Clinical,
            Self::Office(_) | Self::OfficeEpoch(_) => Domain::Office,
        }
    }

    /// Whether the practice copy is sealed to an epoch (a patient-authored event).
    pub fn is_epoch(self) -> bool {
        matches!(self, Self::Epoch(_) | Self::OfficeEpoch(_))
    }
}

/// The tags naming the practice copy's key.
pub(super) fn practice_key_tags(practice_key: PracticeKeyRef) -> Vec<Tag> {
    match practice_key {
        PracticeKeyRef::Chart(version) => vec![Tag::custom(TAG_CHART_KEY, [version.to_string()])],
        PracticeKeyRef::Office(version) => {
            vec![Tag::custom(TAG_OFFICE_KEY, [version.to_string()])]
        }
        PracticeKeyRef::Epoch(number) => vec![Tag::custom(TAG_EPOCH, [number.to_string()])],
        PracticeKeyRef::OfficeEpoch(number) => vec![
            Tag::custom(TAG_EPOCH, [number.to_string()]),
            Tag::custom(TAG_DOMAIN, [crate::tags::DOMAIN_OFFICE]),
        ],
    }
}

pub(super) fn epoch_ref(target: &SealTarget) -> PracticeKeyRef {
    match target.domain {
        Domain::Clinical => PracticeKeyRef::Epoch(target.number),
        Domain::Office => PracticeKeyRef::OfficeEpoch(target.number),
    }
}

/// A clinical kind never goes under an office key: the front desk holds those.
pub(super) fn check_domain(
    kind: ClinicalKind,
    practice_key: PracticeKeyRef,
) -> Result<(), EventError> {
    if practice_key.domain() == Domain::Office && kind.domain() != Domain::Office {
        return Err(EventError::WrongDomain(kind.as_u16()));
    }
    Ok(())
}

/// The practice key named by a clinical event's tags: exactly one of `chart-key`, `office-key`
/// and `epoch`, and `domain` (only `office`) only beside `epoch`.
pub(super) fn read_practice_key(
    chart: Option<String>,
    office: Option<String>,
    epoch: Option<String>,
    domain: Option<String>,
) -> Result<PracticeKeyRef, EventError> {
    let version = |value: &str, tag| parse_number(value).ok_or(EventError::MalformedTag(tag));
    match (chart, office, epoch, domain) {
        (Some(v), None, None, None) => Ok(PracticeKeyRef::Chart(version(&v, TAG_CHART_KEY)?)),
        (None, Some(v), None, None) => Ok(PracticeKeyRef::Office(version(&v, TAG_OFFICE_KEY)?)),
        (None, None, Some(n), domain) => {
            let number = parse_number(&n).ok_or(EventError::MalformedTag(TAG_EPOCH))?;
            match Domain::from_tag(domain.as_deref()) {
                Some(Domain::Clinical) => Ok(PracticeKeyRef::Epoch(number)),
                Some(Domain::Office) => Ok(PracticeKeyRef::OfficeEpoch(number)),
                None => Err(EventError::MalformedTag(TAG_DOMAIN)),
            }
        }
        (_, _, None, Some(_)) => Err(EventError::UnexpectedTag(TAG_DOMAIN.to_owned())),
        _ => Err(EventError::AmbiguousPracticeKey),
    }
}

pub(super) fn malformed_or_unexpected(name: &str) -> EventError {
    match name {
        TAG_PATIENT => EventError::MalformedTag(TAG_PATIENT),
        TAG_PATIENT_CONTENT => EventError::MalformedTag(TAG_PATIENT_CONTENT),
        TAG_CHART_KEY => EventError::MalformedTag(TAG_CHART_KEY),
        TAG_OFFICE_KEY => EventError::MalformedTag(TAG_OFFICE_KEY),
        TAG_EPOCH => EventError::MalformedTag(TAG_EPOCH),
        TAG_DOMAIN => EventError::MalformedTag(TAG_DOMAIN),
        TAG_FORMAT => EventError::MalformedTag(TAG_FORMAT),
        other => EventError::UnexpectedTag(sanitise_tag_name(other)),
    }
}

/// Tag names go into error messages; keep only a short printable name.
pub(super) fn sanitise_tag_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect()
}
