//! Sharing her records with a new practice (kind 2108, `ehr_client::share`): the plan from the
//! new practice's verified roster, and each part sealed through the patient's signer.

use ehr_client::roster::verify_roster_chain;
use ehr_client::share::{self, ShareError};
use ehr_client::signer::PatientSigner;
use serde_json::{Value, json};

use super::{ApiError, parse_events, public_key, seconds};

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

/// One part (a plaintext of the plan) sealed through the patient's `signer` as a kind 2108
/// event for epoch `epoch` of the new practice (`epoch_pubkey` from the plan): the signed event
/// (JSON), checked before it is returned.
pub async fn seal_shared_part<S: PatientSigner>(
    signer: &S,
    epoch: u64,
    epoch_pubkey: &str,
    part: &str,
    created_at: f64,
) -> Result<String, ApiError> {
    let epoch_key = public_key(epoch_pubkey, "epoch")?;
    let event = share::seal_part(signer, (epoch, &epoch_key), part, seconds(created_at)?).await?;
    serde_json::to_string(&event).map_err(|_| ApiError::Signing)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
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

        let epoch = Identity::generate().public_key().to_hex();
        let signed = pollster::block_on(seal_shared_part(&patient, 4, &epoch, "a part", 1e9));
        let event = serde_json::from_str(&signed.unwrap()).unwrap();
        let shared = SharedRecords::parse(event).unwrap();
        assert_eq!(shared.patient(), patient.public_key());
        assert_eq!(shared.epoch(), 4);
    }
}
