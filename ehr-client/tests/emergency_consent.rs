#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The opt-in to emergency access (DESIGN.md §15): a Consent whose purpose is v3-ActReason
//! ETREAT. It is a decision of its own, beside sharing: it shares with no facility, a sharing
//! consent is not an opt-in, each has its own newest record, and either one lets the gateway
//! read the chart. It fails closed like sharing does.

#[path = "common/practice.rs"]
mod practice;

use ehr_client::chart::FoldOptions;
use ehr_client::fhir::*;
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::Timestamp;
use ehr_client::rotation;
use practice::Practice;

fn opt_in() -> Consent {
    Consent::emergency_access("pt-1", "2026-12-01")
        .as_consent()
        .cloned()
        .unwrap()
}

fn now() -> Timestamp {
    Timestamp::from(1_800_000_000)
}

#[test]
fn an_opt_in_permits_emergency_access_and_shares_with_no_facility() {
    let consent = opt_in();
    assert!(consent.is_emergency_access());
    assert!(consent.permits_emergency_access(now()));
    assert!(consent.fhir_recipients(now()).is_empty());
    assert!(!consent.permits_fhir_sharing(now()));
    // It is a valid R4 Consent.
    let resource = Consent::emergency_access("pt-1", "2026-12-01");
    assert!(Resource::from_json(&resource.to_json()).is_ok());
}

#[test]
fn a_sharing_consent_is_not_an_opt_in() {
    let sharing = ehr_client::demo::fhir_sharing_consent("pt-1", &["fac-a"]);
    let sharing = sharing.as_consent().unwrap();
    assert!(!sharing.is_emergency_access());
    assert!(!sharing.permits_emergency_access(now()));
}

#[test]
fn an_opt_in_that_names_or_limits_anything_permits_nothing() {
    let variants: [fn(&mut ConsentProvision); 6] = [
        |p| p.actor = opt_in_with_actor(),
        |p| p.code = vec![CodeableConcept::coded("http://loinc.org", "1-8", "x")],
        |p| {
            p.purpose
                .push(Coding::new(ACT_REASON_SYSTEM, TREATMENT, "treatment"));
        },
        |p| p.type_ = Some(ConsentProvisionType::Deny),
        |p| {
            p.period = Some(Period {
                start: None,
                end: Some("2020-01-01".into()),
            });
        },
        |p| p.provision = vec![ConsentProvision::default()],
    ];
    for change in variants {
        let mut consent = opt_in();
        change(consent.provision.as_mut().unwrap());
        assert!(!consent.permits_emergency_access(now()), "{consent:?}");
    }
    let withdrawn = Consent::emergency_access("pt-1", "2026-12-01")
        .as_consent()
        .unwrap()
        .withdrawal();
    let withdrawn = withdrawn.as_consent().unwrap();
    assert!(
        withdrawn.is_emergency_access(),
        "a withdrawal stays an emergency decision"
    );
    assert!(!withdrawn.permits_emergency_access(now()));
}

fn opt_in_with_actor() -> Vec<ConsentActor> {
    ehr_client::demo::fhir_sharing_consent("pt-1", &["fac-a"])
        .as_consent()
        .unwrap()
        .provision
        .clone()
        .unwrap()
        .actor
}

#[test]
fn an_opt_in_alone_lets_the_gateway_read_the_chart_and_its_withdrawal_ends_that() {
    let mut practice = Practice::new();
    let patient = practice.enrol();
    let doctor = practice.doctor.clone();
    assert!(!practice.policy().consenting.contains(&patient.public_key()));
    practice.write(
        &doctor,
        &patient.public_key(),
        ClinicalKind::Consent,
        Consent::emergency_access("pt", "2026-12-01"),
    );
    assert!(practice.policy().consenting.contains(&patient.public_key()));
    let (chart, _) = practice.view(&doctor).chart(
        &patient.public_key(),
        practice.store.iter(),
        FoldOptions::default(),
    );
    let withdrawal = chart
        .newest_emergency_consent()
        .unwrap()
        .resource
        .as_consent()
        .unwrap()
        .withdrawal();
    practice.write(
        &doctor,
        &patient.public_key(),
        ClinicalKind::Consent,
        withdrawal,
    );
    assert!(!practice.policy().consenting.contains(&patient.public_key()));
}

#[test]
fn her_own_opt_in_is_recorded_by_the_practice_beside_her_sharing_decision() {
    let mut practice = Practice::new();
    let patient = practice.enrol();
    let doctor = practice.doctor.clone();
    // The practice recorded her sharing; she then signs an opt-in herself (under the epoch
    // key, as the portal does).
    practice.consent(&patient.public_key());
    let view = practice.view(&doctor);
    let epoch = view.current_epoch_key().unwrap();
    let at = practice.tick();
    let hers = ehr_client::event::ClinicalEventBuilder::new(
        ClinicalKind::Consent,
        Consent::emergency_access("pt", "2026-12-01"),
        patient.public_key(),
    )
    .unwrap()
    .created_at(at)
    .sign_as_patient(&patient, epoch.number, &epoch.public_key())
    .unwrap();
    practice.store.push(hers.event().clone());
    let now = practice.tick();
    let recorded = rotation::record_patient_consents(
        &practice.view(&doctor),
        &doctor,
        &practice.store,
        None,
        now,
    )
    .unwrap();
    assert_eq!(recorded.len(), 1, "only her new decision is recorded");
    let opened = practice.view(&doctor).open(recorded.iter(), None).records;
    assert!(
        opened[0]
            .resource
            .as_consent()
            .unwrap()
            .is_emergency_access()
    );
}

#[test]
fn a_new_opt_in_in_the_same_second_as_a_withdrawal_is_the_newer_decision() {
    use ehr_client::practice::{self, State};
    let mut practice = Practice::new();
    let patient = practice.enrol().public_key();
    let doctor = practice.doctor.clone();
    let root = practice.root.public_key();
    // Three decisions planned at the very same second.
    let now = Timestamp::from_secs(practice.clock + 10);
    for step in 0..3 {
        let state = State {
            root,
            events: &practice.store,
            actor: &doctor,
            now,
        };
        let plan = match step {
            1 => practice::withdraw_emergency_access(&state, &patient),
            _ => practice::opt_in_emergency_access(&state, &patient, "2026-12-01"),
        }
        .unwrap();
        practice.store.extend(plan.into_events());
    }
    let (chart, _) =
        practice
            .view(&doctor)
            .chart(&patient, practice.store.iter(), FoldOptions::default());
    let newest = chart.newest_emergency_consent().unwrap();
    assert!(
        newest
            .resource
            .as_consent()
            .unwrap()
            .permits_emergency_access(now),
        "the withdrawal outranked the opt-in made after it"
    );
}
