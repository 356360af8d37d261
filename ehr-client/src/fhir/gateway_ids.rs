//! The ids under which the FHIR gateway serves a patient and her records (DESIGN.md §6 "Ids
//! and content"), here so that the clinic app and the portal can name the same patient the
//! gateway's access log names.

use nostr::prelude::PublicKey;
use sha2::{Digest, Sha256};

use super::ResourceType;

/// The gateway id of a patient: 24 hex digits of a hash of the key (stable, opaque).
pub fn gateway_patient_id(patient: &PublicKey) -> String {
    digest_id(&[b"nostr-ehr fhir patient", patient.to_hex().as_bytes()])
}

/// The gateway id of a practice record: the patient's id, a dash, and 24 hex digits of a hash
/// of the record's identity (type and logical id), so every version keeps it and a read finds
/// the patient without a global table.
pub fn gateway_record_id(
    patient: &PublicKey,
    resource_type: ResourceType,
    logical_id: &str,
) -> String {
    format!(
        "{}-{}",
        gateway_patient_id(patient),
        digest_id(&[
            b"nostr-ehr fhir record",
            patient.to_hex().as_bytes(),
            resource_type.as_str().as_bytes(),
            logical_id.as_bytes(),
        ])
    )
}

fn digest_id(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hex::encode(hash.finalize().get(..12).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Facilities keep these ids: they must never change. The expected values were computed
    /// apart from this code (Python's hashlib over the length-prefixed parts).
    #[test]
    fn gateway_ids_are_stable() {
        let key =
            PublicKey::from_hex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
                .unwrap();
        assert_eq!(gateway_patient_id(&key), "5163fa1bf3f6936bbefcbde1");
        assert_eq!(
            gateway_record_id(&key, ResourceType::Observation, "obs-1"),
            "5163fa1bf3f6936bbefcbde1-ce8375711d3ec950dfb322a1"
        );
    }
}
