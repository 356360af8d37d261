#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use ehr_client::event::{ClinicalEvent, PracticeKeyRef};
use ehr_client::nostr::prelude::{Event, PublicKey, Timestamp};
use ehr_client::practice::{self, State};
use ehr_client::roster::Role;
use ehr_client::rotation::{self, RosterChange};
use serde_json::Value;

use super::*;

struct Clinic {
    root: Identity,
    doctor: Identity,
    frontdesk: Identity,
    patient: PublicKey,
    events: String,
}

impl Clinic {
    fn practice(&self) -> String {
        self.root.public_key().to_hex()
    }
}

/// A practice with a doctor and a front desk, one patient with demographics and a visit.
fn clinic() -> Clinic {
    let (root, doctor, frontdesk) = (
        Identity::generate(),
        Identity::generate(),
        Identity::generate(),
    );
    let now = Timestamp::now();
    let (mut events, _) = rotation::genesis(&root, None, now).unwrap();
    for (member, role) in [(&doctor, Role::Doctor), (&frontdesk, Role::Frontdesk)] {
        let state = State {
            root: root.public_key(),
            events: &events,
            actor: &root,
            now,
        };
        let change = RosterChange::Add {
            pubkey: member.public_key(),
            role,
            name: Some(role.as_str().to_owned()),
        };
        events.extend(
            practice::change_roster(&state, &change)
                .unwrap()
                .into_events(),
        );
    }
    let patient = Identity::generate().public_key();
    let state = State {
        root: root.public_key(),
        events: &events,
        actor: &doctor,
        now,
    };
    events.extend(
        practice::enrol_patient(&state, &patient)
            .unwrap()
            .into_events(),
    );
    let view = PracticeView::load(&root.public_key(), &events, &doctor);
    let mut written: Vec<Event> = Vec::new();
    for (kind, resource) in ehr_client::demo::one_of_each_kind(&patient.to_hex()) {
        if matches!(kind, ClinicalKind::Patient | ClinicalKind::Encounter) {
            let builder = ClinicalEventBuilder::new(kind, resource, patient).unwrap();
            written.push(view.sign_record(&doctor, builder).unwrap().event().clone());
        }
    }
    events.extend(written);
    Clinic {
        root,
        doctor,
        frontdesk,
        patient,
        events: serde_json::to_string(&events).unwrap(),
    }
}

fn parsed(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

#[test]
fn the_roster_says_what_a_doctor_and_the_front_desk_may_read_and_write() {
    let c = clinic();
    let doctor = parsed(&member(&c.practice(), &c.doctor, &c.events).unwrap());
    assert_eq!(doctor["role"], "doctor");
    assert_eq!(doctor["reads"], serde_json::json!(["clinical", "office"]));
    let frontdesk = parsed(&member(&c.practice(), &c.frontdesk, &c.events).unwrap());
    assert_eq!(frontdesk["reads"], serde_json::json!(["office"]));
    assert_eq!(frontdesk["writes"], serde_json::json!([2110, 2117, 2124]));
    assert_eq!(
        (doctor["wrapsKeys"].clone(), frontdesk["wrapsKeys"].clone()),
        (true.into(), false.into())
    );
}

#[test]
fn a_key_not_on_the_roster_is_told_so() {
    let c = clinic();
    let stranger = Identity::generate();
    assert_eq!(
        member(&c.practice(), &stranger, &c.events).unwrap_err(),
        ApiError::NotMember
    );
}

#[test]
fn the_patient_list_shows_the_last_visit_to_a_clinician_only() {
    let c = clinic();
    let doctor = parsed(&patient_list(&c.practice(), &c.doctor, &c.events).unwrap());
    assert_eq!(doctor[0]["patient"], c.patient.to_hex());
    assert!(doctor[0]["name"].is_string());
    assert!(doctor[0]["lastVisit"].is_string());
    let frontdesk = parsed(&patient_list(&c.practice(), &c.frontdesk, &c.events).unwrap());
    assert!(frontdesk[0]["name"].is_string());
    assert!(frontdesk[0]["lastVisit"].is_null());
}

#[test]
fn the_front_desk_chart_holds_demographics_and_no_clinical_record() {
    let c = clinic();
    let patient = c.patient.to_hex();
    let chart = parsed(&chart(&c.practice(), &c.frontdesk, &patient, &c.events).unwrap());
    let types: Vec<&str> = chart["bundle"]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Patient"]);
    assert_eq!(chart["refused"], serde_json::json!([]));
}

#[test]
fn the_front_desk_signs_a_message_under_the_office_key_and_may_not_sign_an_observation() {
    let c = clinic();
    let patient = c.patient.to_hex();
    let message = ehr_client::demo::message(&patient, "See you Tuesday").to_json();
    let now = Timestamp::now().as_secs() as f64;
    let signed = sign_record(
        &c.practice(),
        &c.frontdesk,
        &c.events,
        &patient,
        &message,
        now,
    );
    let event = ClinicalEvent::from_json(&signed.unwrap()).unwrap();
    assert!(matches!(event.practice_key(), PracticeKeyRef::Office(_)));
    let observation = ehr_client::demo::one_of_each_kind(&patient)
        .into_iter()
        .find(|(kind, _)| *kind == ClinicalKind::Observation)
        .unwrap()
        .1
        .to_json();
    let refused = sign_record(
        &c.practice(),
        &c.frontdesk,
        &c.events,
        &patient,
        &observation,
        now,
    );
    assert!(matches!(refused, Err(ApiError::Record(_))));
}

#[test]
fn a_session_through_a_signer_signs_only_through_that_signer() {
    let c = clinic();
    let patient = c.patient.to_hex();
    let session = pollster::block_on(MemberSession::open_with_signer(
        &c.practice(),
        &c.doctor,
        &c.events,
    ))
    .unwrap();
    assert!(session.signs_through_signer());
    assert_eq!(parsed(&session.member().unwrap())["role"], "doctor");
    let message = ehr_client::demo::message(&patient, "See you Tuesday").to_json();
    let now = Timestamp::now().as_secs() as f64;
    // No key here to sign with, and a signer holding another key is refused.
    assert!(matches!(
        session.sign_record(&patient, &message, now),
        Err(ApiError::Record(_))
    ));
    let other = pollster::block_on(session.sign_record_with(&c.frontdesk, &patient, &message, now));
    assert!(matches!(other, Err(ApiError::Record(_))));
    let signed =
        pollster::block_on(session.sign_record_with(&c.doctor, &patient, &message, now)).unwrap();
    let event = ClinicalEvent::from_json(&signed).unwrap();
    assert_eq!(event.author(), c.doctor.public_key());
}

#[test]
fn a_phrase_the_doctor_defines_is_read_back_and_a_built_in_name_is_refused() {
    let c = clinic();
    let doctor = MemberSession::open(&c.practice(), &c.doctor, &c.events).unwrap();
    let now = Timestamp::now().as_secs() as f64;
    let built_in = doctor.sign_phrase(r#"{"name": "meds", "text": "Mine."}"#, now);
    assert!(matches!(built_in, Err(ApiError::Record(m)) if m.contains("built-in")));
    let signed = doctor
        .sign_phrase(
            r#"{"name": "asthma", "text": "Action plan reviewed."}"#,
            now,
        )
        .unwrap();
    let events = format!("[{signed}]");
    let read = parsed(&doctor.practice_phrases(&events).unwrap());
    assert_eq!(read[0]["name"], "asthma");
    assert_eq!(read[0]["text"], "Action plan reviewed.");
    let frontdesk = MemberSession::open(&c.practice(), &c.frontdesk, &c.events).unwrap();
    assert_eq!(
        parsed(&frontdesk.practice_phrases(&events).unwrap()),
        serde_json::json!([])
    );
    let refused = frontdesk.sign_phrase(r#"{"name": "hello", "text": "Hi."}"#, now);
    assert!(matches!(refused, Err(ApiError::Record(_))));
}
