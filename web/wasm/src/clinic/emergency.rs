//! Emergency (break-glass) access in the clinic app (DESIGN.md §12, issue 23): the patient's
//! decision as the core reads it (`Chart::newest_emergency_consent`), and the gateway's id of
//! a patient, which its access log names. The opt-in and its withdrawal are `planPractice`
//! operations (`emergency-opt-in`, `emergency-withdraw`: `ehr_client::practice`, the Consent,
//! then her chart keys wrapped to the gateway or rotated away).

use ehr_client::chart::{Chart, ChartEntry, FoldOptions};
use ehr_client::fhir::ResourceType;
use ehr_client::nostr::prelude::Timestamp;
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;

use crate::MemberSession;
use crate::api::{ApiError, parse_events, public_key, seconds};

#[wasm_bindgen]
impl MemberSession {
    /// `patient`'s decision on emergency access in `events` (her chart's events) at `now`
    /// (seconds): `{"optedIn", "current", "recorded"}`. `optedIn` is the core's rule on her
    /// newest emergency consent, hers or the practice's; `current` is that consent and
    /// `recorded` the practice's newest record of one, each `{"optIn", "status", "date", "at",
    /// "reportedByPatient"}` or null. A `current` reported by the patient is her own decision
    /// in the portal that the practice has not recorded yet (maintenance records it).
    #[wasm_bindgen(js_name = emergencyAccess)]
    pub fn emergency_access(
        &self,
        patient: &str,
        events: &str,
        now: f64,
    ) -> Result<String, JsError> {
        Ok(emergency_state(&self.session, patient, events, now)?)
    }
}

/// The id the FHIR gateway gives `patient` (npub or hex): `Patient/<id>` in its answers and
/// its access log (`ehr_client::fhir::gateway_patient_id`).
#[wasm_bindgen(js_name = gatewayPatientId)]
pub fn gateway_patient_id(patient: &str) -> Result<String, JsError> {
    Ok(ehr_client::fhir::gateway_patient_id(&public_key(
        patient, "patient",
    )?))
}

/// [`MemberSession::emergency_access`].
pub(crate) fn emergency_state(
    session: &crate::api::member::MemberSession,
    patient: &str,
    events: &str,
    now: f64,
) -> Result<String, ApiError> {
    let patient = public_key(patient, "patient")?;
    let now = seconds(now)?;
    let (events, _) = parse_events(events)?;
    let fold = FoldOptions {
        include_patient_reported: true,
    };
    let (chart, _) = session.view().chart(&patient, &events, fold);
    Ok(state_of(&chart, now).to_string())
}

fn state_of(chart: &Chart, now: Timestamp) -> Value {
    let current = chart.newest_emergency_consent();
    // The practice's own newest record of the decision (its copy of hers included).
    let recorded = chart
        .of_type(ResourceType::Consent)
        .filter(|entry| !entry.patient_reported)
        .filter(|entry| {
            entry
                .resource
                .as_consent()
                .is_some_and(|c| c.is_emergency_access())
        })
        .max_by_key(|entry| entry.recency());
    json!({
        "optedIn": current
            .and_then(|entry| entry.resource.as_consent())
            .is_some_and(|c| c.permits_emergency_access(now)),
        "current": current.map(|entry| decision(entry, now)),
        "recorded": recorded.map(|entry| decision(entry, now)),
    })
}

fn decision(entry: &ChartEntry, now: Timestamp) -> Value {
    let consent = entry.resource.as_consent();
    json!({
        "optIn": consent.is_some_and(|c| c.permits_emergency_access(now)),
        "status": consent.map(|c| serde_json::to_value(c.status).unwrap_or(Value::Null)),
        "date": consent.and_then(|c| c.date_time.clone()),
        "at": entry.updated_at.as_secs(),
        "reportedByPatient": entry.patient_reported,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use ehr_client::access::PracticeView;
    use ehr_client::keys::Identity;
    use ehr_client::nostr::prelude::Event;
    use ehr_client::practice::State;
    use ehr_client::rotation;
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_800_000_100;

    #[test]
    fn an_opt_in_and_its_withdrawal_are_planned_by_plan_practice_and_read_back() {
        let (root, admin) = (Identity::generate(), Identity::generate());
        let (mut events, _) = rotation::genesis(
            &root,
            Some((admin.public_key(), None)),
            Timestamp::from_secs(1_800_000_000),
        )
        .unwrap();
        let patient = Identity::generate().public_key();
        let practice = root.public_key().to_hex();
        let plan_json = |events: &[Event], op: Value| -> Result<Vec<Event>, ApiError> {
            let json = crate::api::practice::plan(
                &admin,
                &practice,
                &serde_json::to_string(events).unwrap(),
                &op.to_string(),
                NOW as f64,
            )?;
            Ok(serde_json::from_str(&json).unwrap())
        };
        let enrol = ehr_client::practice::enrol_patient(
            &State {
                root: root.public_key(),
                events: &events,
                actor: &admin,
                now: Timestamp::from_secs(NOW),
            },
            &patient,
        )
        .unwrap()
        .into_events();
        events.extend(enrol);
        let state = |events: &[Event]| {
            let view = PracticeView::load(&root.public_key(), events, &admin);
            let fold = FoldOptions {
                include_patient_reported: true,
            };
            state_of(
                &view.chart(&patient, events, fold).0,
                Timestamp::from_secs(NOW + 1),
            )
        };
        assert_eq!(state(&events)["optedIn"], false);
        assert_eq!(state(&events)["current"], Value::Null);
        // Withdrawing what was never given is refused.
        let never = plan_json(
            &events,
            json!({"op": "emergency-withdraw", "patient": patient.to_hex()}),
        );
        assert!(matches!(never, Err(ApiError::Plan(_))), "{never:?}");

        let opt_in =
            json!({"op": "emergency-opt-in", "patient": patient.to_hex(), "date": "2027-01-15"});
        events.extend(plan_json(&events, opt_in.clone()).unwrap());
        let opted = state(&events);
        assert_eq!(opted["optedIn"], true, "{opted}");
        assert_eq!(opted["current"]["date"], "2027-01-15");
        assert_eq!(opted["current"]["reportedByPatient"], false);
        assert_eq!(opted["recorded"], opted["current"]);
        // Twice is refused: she has already opted in.
        assert!(matches!(plan_json(&events, opt_in), Err(ApiError::Plan(_))));

        let withdraw = json!({"op": "emergency-withdraw", "patient": patient.to_hex()});
        events.extend(plan_json(&events, withdraw).unwrap());
        let withdrawn = state(&events);
        assert_eq!(withdrawn["optedIn"], false, "{withdrawn}");
        assert_eq!(withdrawn["current"]["status"], "inactive");

        let unknown = plan_json(
            &events,
            json!({"op": "break-glass", "patient": patient.to_hex()}),
        );
        assert_eq!(unknown.unwrap_err(), ApiError::Operation("unknown shape"));
    }

    #[test]
    fn the_gateway_id_export_takes_an_npub_or_hex_and_gives_the_cores_id() {
        let key = Identity::generate();
        let core = ehr_client::fhir::gateway_patient_id(&key.public_key());
        assert_eq!(gateway_patient_id(&key.npub()).ok(), Some(core.clone()));
        assert_eq!(
            gateway_patient_id(&key.public_key().to_hex()).ok(),
            Some(core)
        );
        let other = Identity::generate();
        assert_ne!(
            gateway_patient_id(&other.npub()).ok(),
            gateway_patient_id(&key.npub()).ok()
        );
    }
}
