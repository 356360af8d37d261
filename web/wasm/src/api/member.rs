//! A staff member's side, for the clinic app: who the key is on the verified roster and what
//! its role may read and write, the patient list its keys reach, a patient's chart as it reads
//! it, and a new record signed under the right key. Every decision is `ehr-client`'s
//! (`PracticeView`, `patients::patient_list`, `PracticeView::sign_record`); the key domains
//! of shared DESIGN §2 decide what opens, and the app only follows the role it is told.

use ehr_client::access::{AccessError, PracticeView};
use ehr_client::chart::FoldOptions;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::keys::Identity;
use ehr_client::kinds::{ClinicalKind, Domain};
use ehr_client::patients;
use serde_json::json;

use super::guardians::now;
use super::records::resource_of;
use super::{ApiError, chart_inputs, chart_json, public_key, seconds};

/// The member `identity` is now: `{"pubkey", "role", "name", "reads": ["clinical", "office"],
/// "writes": [kind numbers]}`. A key the verified roster does not name now (never added,
/// revoked, another practice's) is [`ApiError::NotMember`].
pub fn member(practice: &str, identity: &Identity, json: &str) -> Result<String, ApiError> {
    let (practice, events, _) = chart_inputs(practice, json)?;
    let view = PracticeView::load(&practice, &events, identity);
    let me = identity.public_key();
    let entry = view
        .roster()
        .members_at(now())
        .into_iter()
        .find(|m| m.pubkey == me)
        .filter(|m| !m.role.is_agent())
        .ok_or(ApiError::NotMember)?;
    let split = view.roster().is_split();
    // Before the split every staff role holds the one epoch, which opens both domains.
    let reads: Vec<&str> = Domain::ALL
        .into_iter()
        .filter(|domain| !split || entry.role.holds(*domain))
        .map(Domain::as_str)
        .collect();
    let writes: Vec<u16> = ClinicalKind::ALL
        .into_iter()
        .filter(|kind| entry.role.may_write(*kind))
        .map(ClinicalKind::as_u16)
        .collect();
    Ok(json!({
        "pubkey": me.to_hex(),
        "role": entry.role.as_str(),
        "name": entry.name,
        "reads": reads,
        "writes": writes,
    })
    .to_string())
}

/// Every patient `identity`'s keys reach, from `events`: `[{"patient", "name", "birthDate",
/// "gender", "identifiers", "lastVisit"}]`, sorted by name.
pub fn patient_list(practice: &str, identity: &Identity, json: &str) -> Result<String, ApiError> {
    let (practice, events, _) = chart_inputs(practice, json)?;
    let view = PracticeView::load(&practice, &events, identity);
    let list = patients::patient_list(&view, &events);
    serde_json::to_string(&list).map_err(|_| ApiError::Chart)
}

/// `patient`'s chart as `identity` reads it, patient-reported entries included (marked): the
/// same shape as the portal's (`{"patient", "bundle", "entries", "refused"}`). What the
/// member's keys do not open is listed as refused, never shown.
pub fn chart(
    practice: &str,
    identity: &Identity,
    patient: &str,
    json: &str,
) -> Result<String, ApiError> {
    let patient = public_key(patient, "patient")?;
    let (practice, events, malformed) = chart_inputs(practice, json)?;
    let view = PracticeView::load(&practice, &events, identity);
    let options = FoldOptions {
        include_patient_reported: true,
    };
    let (chart, refused) = view.chart(&patient, &events, options);
    // Records of a domain the member does not hold are not errors to show her.
    let refused: Vec<_> = refused
        .into_iter()
        .filter(|(_, error)| *error != AccessError::NoKey)
        .collect();
    Ok(chart_json(&patient, &chart, &refused, malformed))
}

/// A new record (`resource`, FHIR JSON) about `patient`, signed by `identity` at `created_at`
/// under the key its kind takes (the office key for demographics and messages, the chart key
/// otherwise), from the practice's `events`: the signed event (JSON) to publish. A kind the
/// member's role may not write, or a key it does not hold, is refused.
pub fn sign_record(
    practice: &str,
    identity: &Identity,
    json: &str,
    patient: &str,
    resource: &str,
    created_at: f64,
) -> Result<String, ApiError> {
    let patient = public_key(patient, "patient")?;
    let (practice, events, _) = chart_inputs(practice, json)?;
    let view = PracticeView::load(&practice, &events, identity);
    let resource = resource_of(resource)?;
    let kind = ClinicalKind::for_resource(&resource);
    let created_at = seconds(created_at)?;
    let may_write = view
        .roster()
        .role_at(&identity.public_key(), created_at)
        .is_some_and(|role| role.may_write(kind));
    if !may_write {
        return Err(ApiError::Record(format!(
            "your role may not write kind {}",
            kind.as_u16()
        )));
    }
    let builder = ClinicalEventBuilder::new(kind, resource, patient)
        .map_err(|e| ApiError::Record(e.to_string()))?
        .created_at(created_at);
    let event = view
        .sign_record(identity, builder)
        .map_err(|e| ApiError::Record(e.to_string()))?;
    Ok(event.to_json())
}

#[cfg(test)]
mod tests;
