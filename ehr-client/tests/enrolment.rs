#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Enrolment with details in one plan (`practice::enrol_patient_with_details`, the clinic app's
//! "Enrol a patient"), and the handover password of a new patient's `ncryptsec`.

use ehr_client::access;
use ehr_client::chart::FoldOptions;
use ehr_client::fhir::{HumanName, Patient, Resource, ResourceType};
use ehr_client::keys::{self, Identity};
use ehr_client::kinds::Domain;
use ehr_client::nostr::prelude::Timestamp;
use ehr_client::practice::{self, State};

#[path = "common/practice.rs"]
mod practice_fixture;
use practice_fixture::Practice;

fn details(given: &str) -> Resource {
    Resource::Patient(Patient {
        id: Some(format!("p-{given}")),
        name: vec![HumanName {
            given: vec![given.to_owned()],
            family: Some("Enrolled".to_owned()),
            ..HumanName::default()
        }],
        birth_date: Some("2019-03-04".to_owned()),
        ..Patient::default()
    })
}

fn enrol(
    p: &mut Practice,
    actor: &Identity,
    patient: &Identity,
    given: &str,
) -> Result<usize, String> {
    let now = p.tick();
    let actor = actor.clone();
    let state = State {
        root: p.root.public_key(),
        events: &p.store,
        actor: &actor,
        now,
    };
    let plan = practice::enrol_patient_with_details(&state, &patient.public_key(), details(given))
        .map_err(|e| e.to_string())?;
    let count = plan.len();
    p.store.extend(plan.into_events());
    Ok(count)
}

fn given_names(chart: &ehr_client::chart::Chart) -> Vec<String> {
    chart
        .of_type(ResourceType::Patient)
        .filter_map(|entry| serde_json::to_value(&entry.resource).ok())
        .map(|json| {
            json["name"][0]["given"][0]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn an_enrolment_with_details_gives_the_patient_her_chart_and_the_front_desk_her_name() {
    let mut p = Practice::new();
    let patient = Identity::generate();
    let admin = p.admin.clone();
    let published = enrol(&mut p, &admin, &patient, "Nova").unwrap();
    assert!(published >= 3, "wraps and the details: {published}");
    // She opens her own details with her key alone; the front desk reads them with the office
    // keys (no clinical key involved).
    let root = p.root.public_key();
    let (hers, _) = access::patient_chart(&root, &patient, &p.store, FoldOptions::default());
    assert_eq!(given_names(&hers), ["Nova"]);
    let frontdesk = p.view(&p.frontdesk);
    let (desk, _) = frontdesk.chart(&patient.public_key(), &p.store, FoldOptions::default());
    assert_eq!(given_names(&desk), ["Nova"]);
    assert!(
        frontdesk
            .latest_key_in(&patient.public_key(), Domain::Clinical)
            .is_none()
    );
    // Planning maintenance afterwards finds nothing to do.
    let now = Timestamp::from_secs(p.clock + 60);
    let state = State {
        root: p.root.public_key(),
        events: &p.store,
        actor: &admin,
        now,
    };
    assert!(practice::maintain(&state).unwrap().is_empty());
}

#[test]
fn enrolling_an_enrolled_key_again_or_as_the_front_desk_is_refused_and_publishes_nothing() {
    let mut p = Practice::new();
    let patient = Identity::generate();
    let (doctor, frontdesk) = (p.doctor.clone(), p.frontdesk.clone());
    enrol(&mut p, &doctor, &patient, "Nova").unwrap();
    let before = p.store.len();
    let again = enrol(&mut p, &doctor, &patient, "Other").unwrap_err();
    assert!(again.contains("already enrolled"), "{again}");
    let stranger = Identity::generate();
    let refused = enrol(&mut p, &frontdesk, &stranger, "Nope").unwrap_err();
    assert!(refused.contains("may not enrol"), "{refused}");
    assert_eq!(p.store.len(), before);
}

#[test]
fn details_that_are_not_a_patient_are_refused() {
    let p = Practice::new();
    let state = State {
        root: p.root.public_key(),
        events: &p.store,
        actor: &p.admin,
        now: Timestamp::from_secs(p.clock),
    };
    let consent = ehr_client::demo::one_of_each_kind("x")
        .into_iter()
        .map(|(_, resource)| resource)
        .find(|r| r.resource_type() == ResourceType::Observation)
        .unwrap();
    let refused =
        practice::enrol_patient_with_details(&state, &Identity::generate().public_key(), consent);
    assert!(refused.is_err());
}

#[test]
fn a_handover_password_is_sixteen_unambiguous_letters_in_groups_and_opens_the_ncryptsec() {
    let password = keys::handover_password().unwrap();
    let groups: Vec<&str> = password.split('-').collect();
    assert_eq!(groups.len(), 4, "{}", password.as_str());
    assert!(groups.iter().all(|g| g.len() == 4));
    assert!(!password.chars().any(|c| matches!(c, '0' | '1' | 'I' | 'O')));
    assert_ne!(password, keys::handover_password().unwrap());
    let patient = Identity::generate();
    let ncryptsec = keys::to_ncryptsec(patient.secret_key(), &password, 4).unwrap();
    let opened = keys::parse_secret_key(&ncryptsec, Some(password.as_str())).unwrap();
    assert_eq!(opened.secret_bytes(), patient.secret_key().secret_bytes());
}
