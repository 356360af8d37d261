//! Office copies (DESIGN.md §2, "Two key domains"): an office record written before the
//! practice had its two key domains, carried into the office domain by a new event under the
//! office key whose plaintext holds the original resource and the original event's id, author
//! and time. Readers turn it back into the original's record, so the two fold as one.

use nostr::prelude::{EventId, PublicKey, Timestamp};

use super::{ClinicalEvent, ClinicalRecord, EventError, PracticeKeyRef, SignedParts};
use crate::fhir::Resource;
use crate::keys::{ChartKey, Identity};
use crate::kinds::Domain;

/// The original event an office copy carries into the office domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOf {
    /// The original event's id.
    pub id: EventId,
    /// Its signer.
    pub author: PublicKey,
    /// Its `created_at`.
    pub created_at: Timestamp,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireCopyOf {
    id: String,
    author: String,
    created_at: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireOfficeCopy {
    copy_of: WireCopyOf,
    resource: Box<serde_json::value::RawValue>,
}

/// The record an office copy stands for (the original's id, author and time, `copied_by` the
/// copier), or `None` when `json` is not an office copy.
pub(super) fn copied_record(
    event: &ClinicalEvent,
    json: &str,
) -> Result<Option<ClinicalRecord>, EventError> {
    let Some(copy) = read_office_copy(json)? else {
        return Ok(None);
    };
    let resource = Resource::from_json(copy.resource.get())?;
    event.kind.check_resource(&resource)?;
    let original = copy.copy_of;
    Ok(Some(ClinicalRecord {
        event_id: EventId::from_hex(&original.id).map_err(|_| EventError::MalformedCopy)?,
        author: crate::keys::parse_hex_public_key(&original.author)
            .map_err(|_| EventError::MalformedCopy)?,
        created_at: Timestamp::from_secs(original.created_at),
        kind: event.kind,
        patient: event.patient,
        resource,
        copied_by: Some(event.event.pubkey),
        guardian: None,
    }))
}

impl ClinicalEvent {
    /// Carry `original`, an office record written before the practice had its two key domains
    /// (under a chart key or the clinical epoch), into the office domain: a new event by
    /// `author` under the office key `office_key`, whose plaintext (both copies) holds the
    /// resource and the original event's id, author and time. Readers fold it and the original
    /// as one record; the front desk, which holds no chart key, reads it through the copy.
    pub fn office_copy(
        author: &Identity,
        original: &ClinicalRecord,
        office_key: &ChartKey,
        created_at: Timestamp,
    ) -> Result<Self, EventError> {
        if original.kind.domain() != Domain::Office || original.copied_by.is_some() {
            return Err(EventError::WrongDomain(original.kind.as_u16()));
        }
        let resource = original.resource.to_json();
        let wire = WireOfficeCopy {
            copy_of: WireCopyOf {
                id: original.event_id.to_hex(),
                author: original.author.to_hex(),
                created_at: original.created_at.as_secs(),
            },
            resource: serde_json::value::RawValue::from_string(resource)
                .map_err(|_| EventError::MalformedCopy)?,
        };
        let json = serde_json::to_string(&wire).map_err(|_| EventError::MalformedCopy)?;
        let parts = SignedParts {
            kind: original.kind,
            patient: original.patient,
            practice_key: PracticeKeyRef::Office(office_key.version()),
            created_at: Some(created_at),
            index: super::AppointmentIndex::default(),
        };
        parts.sign(author, office_key.encrypt(&json)?, &json)
    }
}

/// The office copy in a practice copy's plaintext, if it is one (an object with `copyOf`; a
/// FHIR resource never has that element).
fn read_office_copy(json: &str) -> Result<Option<WireOfficeCopy>, EventError> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "copyOf")]
        copy_of: Option<serde::de::IgnoredAny>,
    }
    let probe: Probe = serde_json::from_str(json).map_err(|_| EventError::MalformedCopy)?;
    if probe.copy_of.is_none() {
        return Ok(None);
    }
    serde_json::from_str(json)
        .map(Some)
        .map_err(|_| EventError::MalformedCopy)
}
