//! The exports of what a patient writes and takes with her (DESIGN.md §11): thin wrappers of
//! [`crate::api::records`].

use wasm_bindgen::prelude::*;

use crate::api;
use crate::signer::JsPatientSigner;

/// Sign `resource` (FHIR JSON) as a patient-authored event through `signer` (the portal's
/// signer object): practice copy to the current epoch key of `practice`'s roster in `events`,
/// patient copy to herself. The signed event (JSON), checked before it is returned.
#[wasm_bindgen(js_name = signPatientEvent)]
pub async fn sign_patient_event(
    signer: JsValue,
    practice: String,
    events: String,
    resource: String,
    created_at: f64,
) -> Result<String, JsError> {
    let signer = JsPatientSigner::new(signer)?;
    Ok(
        api::records::sign_patient_event(&signer, &practice, &events, &resource, created_at)
            .await?,
    )
}

/// A medication or supplement the patient reports taking (MedicationRequest, FHIR JSON).
#[wasm_bindgen(js_name = reportedMedication)]
pub fn reported_medication(
    chart: &str,
    name: &str,
    dosage: &str,
    today: &str,
) -> Result<String, JsError> {
    Ok(api::records::reported_medication(
        chart, name, dosage, today,
    )?)
}

/// A message to the practice (Communication, FHIR JSON): a new thread, or a reply.
#[wasm_bindgen(js_name = patientMessage)]
pub fn patient_message(
    chart: &str,
    topic: &str,
    text: &str,
    in_response_to: &str,
    sent: &str,
) -> Result<String, JsError> {
    Ok(api::records::message(
        chart,
        topic,
        text,
        in_response_to,
        sent,
    )?)
}

/// Consent to FHIR sharing with the facilities of `facilities` (a JSON array of client ids).
#[wasm_bindgen(js_name = consentGrant)]
pub fn consent_grant(chart: &str, facilities: &str, date: &str) -> Result<String, JsError> {
    Ok(api::records::consent_grant(chart, facilities, date)?)
}

/// The withdrawal of `consent` (its next version, inactive).
#[wasm_bindgen(js_name = consentWithdrawal)]
pub fn consent_withdrawal(consent: &str) -> Result<String, JsError> {
    Ok(api::records::consent_withdrawal(consent)?)
}

/// The message threads of a chart, senders named from the roster, the patient as
/// `patientLabel` ("You" when absent: the portal).
#[wasm_bindgen(js_name = messageThreads)]
pub fn message_threads(
    practice: &str,
    events: &str,
    chart: &str,
    patient_label: Option<String>,
) -> Result<String, JsError> {
    let label = patient_label.as_deref().unwrap_or("You");
    Ok(api::records::message_threads(
        practice, events, chart, label,
    )?)
}

/// Whether her newest Consent shares the chart: `{"sharing", "facilities", "consent"}`.
#[wasm_bindgen(js_name = sharingState)]
pub fn sharing_state(chart: &str) -> Result<String, JsError> {
    Ok(api::records::sharing_state(chart)?)
}

/// Her verified raw events as JSON Lines: the practice's rosters, then her clinical events.
#[wasm_bindgen(js_name = exportEvents)]
pub fn export_events(practice: &str, patient: &str, events: &str) -> Result<String, JsError> {
    Ok(api::records::export_events(practice, patient, events)?)
}
