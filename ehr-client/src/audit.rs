//! Disclosure audit events (kind 2107, DESIGN.md §6): what the FHIR gateway disclosed about one
//! patient, to which facility, and when, as a FHIR `AuditEvent` readable by the practice and by
//! that patient only.
//!
//! The layout is the one of a patient-authored clinical event, signed by the gateway:
//!
//! ```text
//! content  NIP-44 v2 from the gateway to the epoch public key E_n (every staff member holds E_n)
//! tags     ["p", patient] ["patient-content", NIP-44 v2 from the gateway to the patient]
//!          ["epoch", n] ["ehr", "1"]
//! ```
//!
//! The gateway needs no chart key to write one, so a disclosure is logged even in the moment a
//! patient withdraws consent, and an audit event never widens who can read a chart.

use nostr::prelude::{Event, EventBuilder, EventId, FinalizeEvent, Kind, PublicKey, Timestamp};
use serde_json::Value;

use crate::crypto::{self, CryptoError};
use crate::event::{EpochLayout, epoch_layout_tags, read_epoch_layout};
use crate::grants::EpochKey;
use crate::keys::Identity;
use crate::kinds::AUDIT_EVENT;
use crate::signer::{Nip44Decrypt, SignerError};

/// The code system of this project's own AuditEvent subtypes (the gateway writes them, the
/// portal's access log reads them).
pub const AUDIT_SUBTYPE_SYSTEM: &str = "urn:nostr-ehr:audit";

/// The subtype of an opened SMART Health Link manifest.
pub const SHL_MANIFEST: &str = "shl-manifest";

/// Why an audit event could not be built, parsed or opened. No variant carries PHI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// Not kind 2107.
    #[error("not an audit event (kind 2107)")]
    WrongKind,
    /// Id or signature do not verify.
    #[error("invalid event id or signature")]
    InvalidSignature,
    /// A tag is missing, repeated, malformed or not part of the format.
    #[error("audit event tags are not the audit layout")]
    BadTags,
    /// The payload is not a FHIR AuditEvent.
    #[error("the payload is not a FHIR AuditEvent")]
    NotAnAuditEvent,
    /// The epoch key given is not the one the event names.
    #[error("audit event is under epoch {expected}, key given is for epoch {given}")]
    WrongEpoch {
        /// Epoch in the event.
        expected: u64,
        /// Epoch of the key given.
        given: u64,
    },
    /// The reader is not the patient of this event.
    #[error("this audit event is about another patient")]
    NotThisPatient,
    /// Encryption or decryption failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The signer failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// Signing failed.
    #[error("signing failed")]
    Signing,
}

/// A verified audit event, still encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    event: Event,
    patient: PublicKey,
    epoch: u64,
    patient_content: String,
}

/// The payload, if it is a FHIR AuditEvent.
fn audit_event_of(json: &str) -> Result<Value, AuditError> {
    let value: Value = serde_json::from_str(json).map_err(|_| AuditError::NotAnAuditEvent)?;
    if value.get("resourceType").and_then(Value::as_str) == Some("AuditEvent") {
        Ok(value)
    } else {
        Err(AuditError::NotAnAuditEvent)
    }
}

impl AuditRecord {
    /// Seal `audit_event` (FHIR AuditEvent JSON about `patient`) as `gateway`: the practice copy
    /// to epoch `epoch` (`E_n` public), the patient copy to the patient.
    pub fn seal(
        gateway: &Identity,
        patient: &PublicKey,
        epoch: (u64, PublicKey),
        audit_event: &str,
        created_at: Timestamp,
    ) -> Result<Self, AuditError> {
        audit_event_of(audit_event)?;
        let practice_copy = crypto::nip44_encrypt(gateway.secret_key(), &epoch.1, audit_event)?;
        let patient_copy = crypto::nip44_encrypt(gateway.secret_key(), patient, audit_event)?;
        let event = EventBuilder::new(Kind::Custom(AUDIT_EVENT), practice_copy)
            .tags(epoch_layout_tags(patient, patient_copy.clone(), epoch.0))
            .custom_created_at(created_at)
            .finalize(gateway.keys())
            .map_err(|_| AuditError::Signing)?;
        Ok(Self {
            event,
            patient: *patient,
            epoch: epoch.0,
            patient_content: patient_copy,
        })
    }

    /// Verify an event as an audit event: kind, id and signature, and exactly the four tags.
    /// Who may sign one (the gateway or the root) is the relay's and the reader's check.
    pub fn parse(event: Event) -> Result<Self, AuditError> {
        if event.kind != Kind::Custom(AUDIT_EVENT) {
            return Err(AuditError::WrongKind);
        }
        event.verify().map_err(|_| AuditError::InvalidSignature)?;
        let EpochLayout {
            patient,
            epoch,
            patient_content,
        } = read_epoch_layout(&event).ok_or(AuditError::BadTags)?;
        Ok(Self {
            event,
            patient,
            epoch,
            patient_content,
        })
    }

    /// The signed event.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The event id.
    pub fn id(&self) -> EventId {
        self.event.id
    }

    /// Who wrote it (the gateway).
    pub fn author(&self) -> PublicKey {
        self.event.pubkey
    }

    /// The patient it is about.
    pub fn patient(&self) -> PublicKey {
        self.patient
    }

    /// The epoch of the practice copy.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Open the practice copy with the epoch secret it names.
    pub fn open_with_epoch_key(&self, epoch_key: &EpochKey) -> Result<Value, AuditError> {
        if epoch_key.number != self.epoch {
            return Err(AuditError::WrongEpoch {
                expected: self.epoch,
                given: epoch_key.number,
            });
        }
        let json =
            crypto::nip44_decrypt(&epoch_key.secret, &self.event.pubkey, &self.event.content)?;
        audit_event_of(&json)
    }

    /// Open the patient copy through any NIP-44 signer holding the patient's key.
    pub async fn open_as_patient<S: Nip44Decrypt>(&self, signer: &S) -> Result<Value, AuditError> {
        if signer.public_key() != self.patient {
            return Err(AuditError::NotThisPatient);
        }
        let json = signer
            .nip44_decrypt(&self.event.pubkey, &self.patient_content)
            .await?;
        audit_event_of(&json)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::event::TAG_PATIENT_CONTENT;
    use nostr::prelude::Tag;

    #[test]
    fn practice_and_patient_open_it_and_nobody_else() {
        let gateway = Identity::generate();
        let patient = Identity::generate();
        let epoch = EpochKey::generate(3);
        let audit = r#"{"resourceType":"AuditEvent","outcome":"0"}"#;
        let sealed = AuditRecord::seal(
            &gateway,
            &patient.public_key(),
            (3, epoch.public_key()),
            audit,
            Timestamp::from(1_800_000_000),
        )
        .unwrap();
        let parsed = AuditRecord::parse(sealed.event().clone()).unwrap();
        assert_eq!(parsed, sealed);
        assert_eq!(parsed.open_with_epoch_key(&epoch).unwrap()["outcome"], "0");
        let opened = pollster::block_on(parsed.open_as_patient(&patient)).unwrap();
        assert_eq!(opened["resourceType"], "AuditEvent");

        // Another patient, another epoch, a stranger's key: nothing opens.
        let other = Identity::generate();
        assert_eq!(
            pollster::block_on(parsed.open_as_patient(&other)).unwrap_err(),
            AuditError::NotThisPatient
        );
        // The copies themselves, with plain NIP-44 (as any library would): the patient and
        // the epoch key open theirs, another patient's key opens neither.
        let copy = |name: &str| {
            parsed.event().tags.iter().find_map(|t| {
                let v = t.as_slice();
                (v[0] == name).then(|| v[1].clone())
            })
        };
        let patient_copy = copy(TAG_PATIENT_CONTENT).unwrap();
        let author = gateway.public_key();
        assert!(crypto::nip44_decrypt(patient.secret_key(), &author, &patient_copy).is_ok());
        assert!(crypto::nip44_decrypt(other.secret_key(), &author, &patient_copy).is_err());
        let practice_copy = &parsed.event().content;
        assert!(crypto::nip44_decrypt(&epoch.secret, &author, practice_copy).is_ok());
        assert!(crypto::nip44_decrypt(other.secret_key(), &author, practice_copy).is_err());
        assert!(matches!(
            parsed.open_with_epoch_key(&EpochKey::generate(2)),
            Err(AuditError::WrongEpoch { .. })
        ));
        assert!(matches!(
            parsed.open_with_epoch_key(&EpochKey::generate(3)),
            Err(AuditError::Crypto(CryptoError::InvalidMac))
        ));

        // Not an AuditEvent; an extra plaintext tag; a forged signature.
        assert_eq!(
            AuditRecord::seal(
                &gateway,
                &patient.public_key(),
                (3, epoch.public_key()),
                r#"{"resourceType":"Patient"}"#,
                Timestamp::now()
            )
            .unwrap_err(),
            AuditError::NotAnAuditEvent
        );
        let mut json: Value = serde_json::from_str(&sealed.event().as_json()).unwrap();
        json["tags"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(["client", "hospital-a"]));
        let event = Event::from_json(json.to_string()).unwrap();
        assert_eq!(
            AuditRecord::parse(event).unwrap_err(),
            AuditError::InvalidSignature
        );
        // The four tags of a good event plus one more, signed properly.
        let mut tags: Vec<Tag> = sealed.event().tags.iter().cloned().collect();
        tags.push(Tag::custom("client", ["hospital-a"]));
        let extra = EventBuilder::new(Kind::Custom(AUDIT_EVENT), sealed.event().content.clone())
            .tags(tags)
            .custom_created_at(sealed.event().created_at)
            .finalize(gateway.keys())
            .unwrap();
        assert_eq!(AuditRecord::parse(extra).unwrap_err(), AuditError::BadTags);
    }
}
