//! Sharing her records with a new practice (kind 2108, `ehr_client::share`): the plan from the
//! new practice's verified roster, and the template of each part for the patient's signer.

use ehr_client::nostr::prelude::{PublicKey, Timestamp};
use ehr_client::roster::verify_roster_chain;
use ehr_client::share::{self, ShareError};
use serde_json::{Value, json};

use super::{ApiError, parse_events, public_key};

/// The parts that carry `bundle` (the folded chart read at `source`) to the practice `target`,
/// whose rosters are among `target_events`: `{"epoch", "epoch_pubkey", "parts": [plaintext]}`.
/// The parts are to be encrypted by the patient's signer to `epoch_pubkey` and to herself.
pub fn share_plan(
    source: &str,
    target: &str,
    target_events: &str,
    bundle: &str,
    batch: &str,
    max_bytes: usize,
) -> Result<String, ApiError> {
    let source = public_key(source, "source practice")?;
    let target = public_key(target, "new practice")?;
    if source == target {
        return Err(ApiError::SamePractice);
    }
    let (events, _) = parse_events(target_events)?;
    let chain = verify_roster_chain(&target, &events);
    let roster = chain.current().ok_or(ApiError::NoRoster)?;
    let bundle: Value =
        serde_json::from_str(bundle).map_err(|_| ApiError::Share(ShareError::NotABundle))?;
    let parts = share::split(&bundle, &source, batch, max_bytes)?;
    Ok(json!({
        "epoch": roster.content.epoch,
        "epoch_pubkey": roster.content.epoch_public_key.to_hex(),
        "parts": parts,
    })
    .to_string())
}

/// The unsigned kind 2108 event of one part, as a NIP-07 template `{kind, created_at, tags,
/// content}` for the signer's `signEvent`.
pub fn share_template(
    patient: &str,
    epoch: u64,
    practice_copy: &str,
    patient_copy: &str,
    created_at: f64,
) -> Result<String, ApiError> {
    let patient: PublicKey = public_key(patient, "patient")?;
    if !(created_at.is_finite() && created_at >= 0.0) {
        return Err(ApiError::CreatedAt);
    }
    // Finite, non-negative: the cast keeps the whole seconds.
    let created_at = Timestamp::from_secs(created_at as u64);
    let unsigned = share::template(
        &patient,
        epoch,
        practice_copy.to_owned(),
        patient_copy.to_owned(),
        created_at,
    );
    Ok(json!({
        "kind": unsigned.kind.as_u16(),
        "created_at": unsigned.created_at.as_secs(),
        "tags": unsigned.tags.iter().map(|t| t.as_slice().to_vec()).collect::<Vec<_>>(),
        "content": unsigned.content,
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::api;
    use ehr_client::keys::Identity;
    use ehr_client::share::SharedRecords;

    #[test]
    fn a_plan_needs_the_new_practices_roster_and_its_parts_sign_into_valid_shares() {
        let patient = Identity::generate();
        let source = Identity::generate().public_key().to_hex();
        let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": [
            { "resource": { "resourceType": "Observation", "id": "o1", "status": "final" } }
        ]})
        .to_string();
        // No roster of the new practice among the events: refused, nothing planned.
        let target = Identity::generate().public_key().to_hex();
        assert_eq!(
            share_plan(&source, &target, "[]", &bundle, "b", 40_000),
            Err(ApiError::NoRoster)
        );
        assert_eq!(
            share_plan(&source, &source, "[]", &bundle, "b", 40_000),
            Err(ApiError::SamePractice)
        );

        let template =
            share_template(&patient.public_key().to_hex(), 4, "practice", "mine", 1e9).unwrap();
        let signed = api::sign_event(&patient, &template).unwrap();
        let event = serde_json::from_str(&signed).unwrap();
        let shared = SharedRecords::parse(event).unwrap();
        assert_eq!(shared.patient(), patient.public_key());
        assert_eq!(shared.epoch(), 4);
    }
}
