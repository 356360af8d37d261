#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The two key domains (shared DESIGN §2, invariant 4): the front desk holds the office keys
//! only, so with a full copy of the relay database it opens demographics and messages and
//! nothing clinical; revocation rotates only the domains the member held; and `ehr rotate`
//! brings a practice created before the split to it without losing a record.

use std::collections::BTreeSet;

use ehr_client::access::{self, AccessError, PracticeView};
use ehr_client::chart::FoldOptions;
use ehr_client::demo;
use ehr_client::event::{ClinicalEvent, ClinicalEventBuilder, EventError, PracticeKeyRef};
use ehr_client::fhir::ResourceType;
use ehr_client::keys::Identity;
use ehr_client::kinds::{ClinicalKind, Domain};
use ehr_client::nostr::prelude::{Event, EventBuilder, EventId, FinalizeEvent, Kind, Tag};
use ehr_client::practice::{self, State};
use ehr_client::roster::{Role, verify_roster_chain};
use ehr_client::rotation::RosterChange;

#[path = "common/practice.rs"]
mod practice_fixture;
use practice_fixture::{Practice, any_key_opens};

/// One record of every kind by the doctor, a message by the front desk, and the patient's own
/// message and blood-pressure reading. Returns every event written.
fn chart_of_everything(p: &mut Practice, patient: &Identity) -> Vec<Event> {
    let pk = patient.public_key();
    let doctor = p.doctor.clone();
    let frontdesk = p.frontdesk.clone();
    let mut written = Vec::new();
    for (kind, resource) in demo::one_of_each_kind(&pk.to_hex()) {
        written.push(p.write(&doctor, &pk, kind, resource));
    }
    let hello = demo::message(&pk.to_hex(), "Your appointment is confirmed.");
    written.push(p.write(&frontdesk, &pk, ClinicalKind::Message, hello));
    written.push(patient_writes(p, patient, ClinicalKind::Message));
    written.push(patient_writes(p, patient, ClinicalKind::Observation));
    written
}

/// The patient's own entry of `kind`, sealed where the roster says (office epoch for a
/// message, clinical epoch for an observation).
fn patient_writes(p: &mut Practice, patient: &Identity, kind: ClinicalKind) -> Event {
    let now = p.tick();
    let pk = patient.public_key();
    let resource = match kind {
        ClinicalKind::Message => demo::message(&pk.to_hex(), "Can I come in earlier?"),
        _ => {
            demo::one_of_each_kind(&pk.to_hex())
                .into_iter()
                .find(|(k, _)| *k == kind)
                .unwrap()
                .1
        }
    };
    let target = verify_roster_chain(&p.root.public_key(), &p.store)
        .patient_seal_target(kind)
        .unwrap();
    let event = ClinicalEventBuilder::new(kind, resource, pk)
        .unwrap()
        .created_at(now)
        .sign_as_patient_to(patient, &target)
        .unwrap()
        .event()
        .clone();
    p.store.push(event.clone());
    event
}

fn domain_of(event: &Event) -> Domain {
    ClinicalKind::from_u16(event.kind.as_u16())
        .map(ClinicalKind::domain)
        .unwrap()
}

fn opened_ids(view: &PracticeView, events: &[Event]) -> BTreeSet<EventId> {
    view.open(events, None)
        .records
        .into_iter()
        .map(|record| record.event_id)
        .collect()
}

fn maintain(p: &mut Practice, actor: &Identity) -> usize {
    let now = p.tick();
    let state = State {
        root: p.root.public_key(),
        events: &p.store,
        actor,
        now,
    };
    let plan = practice::maintain(&state).unwrap().into_events();
    let count = plan.len();
    p.store.extend(plan);
    count
}

#[test]
fn a_front_desk_key_with_a_full_copy_of_the_relay_database_opens_demographics_and_messages_and_nothing_clinical()
 {
    let mut p = Practice::new();
    let patient = p.enrol();
    let written = chart_of_everything(&mut p, &patient);
    // The whole database: every event the relay holds, not only what it would serve her.
    let view = p.view(&p.frontdesk);
    let opened = opened_ids(&view, &p.store);
    for event in &written {
        let office = domain_of(event) == Domain::Office;
        assert_eq!(
            opened.contains(&event.id),
            office,
            "kind {} opened by the front desk",
            event.kind.as_u16()
        );
        if !office {
            assert!(
                !any_key_opens(&view, event),
                "no key the front desk can obtain opens kind {}",
                event.kind.as_u16()
            );
        }
    }
    assert_eq!(view.epoch_keys_in(Domain::Clinical).count(), 0);
    assert!(
        view.keys_in(&patient.public_key(), Domain::Clinical)
            .is_empty()
    );
    // The clinical roles open everything.
    let nurse = opened_ids(&p.view(&p.nurse), &p.store);
    assert!(written.iter().all(|event| nurse.contains(&event.id)));
}

#[test]
fn a_patient_seals_her_messages_to_the_office_epoch_and_her_clinical_entries_to_the_clinical_epoch()
{
    let mut p = Practice::new();
    let patient = p.enrol();
    let message = patient_writes(&mut p, &patient, ClinicalKind::Message);
    let reading = patient_writes(&mut p, &patient, ClinicalKind::Observation);
    let parsed = |event: &Event| ClinicalEvent::parse(event.clone()).unwrap().practice_key();
    assert_eq!(parsed(&message), PracticeKeyRef::OfficeEpoch(0));
    assert_eq!(parsed(&reading), PracticeKeyRef::Epoch(0));
    // She reads both with her own key.
    let roster = verify_roster_chain(&p.root.public_key(), &p.store);
    assert_eq!(
        access::open_as_patient(&roster, &patient, &p.store)
            .records
            .len(),
        2
    );
}

#[test]
fn a_clinical_kind_is_never_written_or_read_under_an_office_key() {
    let mut p = Practice::new();
    let patient = p.enrol();
    let pk = patient.public_key();
    let view = p.view(&p.doctor);
    let office_key = view.write_key_in(&pk, Domain::Office).unwrap();
    let encounter =
        ClinicalEventBuilder::new(ClinicalKind::Encounter, demo::encounter(&pk.to_hex()), pk)
            .unwrap();
    assert_eq!(
        encounter
            .sign_in(&p.doctor, Domain::Office, office_key)
            .unwrap_err(),
        EventError::WrongDomain(2111)
    );
    // An encounter signed by hand under an office key is refused when parsed.
    let by_hand = EventBuilder::new(Kind::from(2111), office_key.encrypt("{}").unwrap())
        .tags([
            Tag::public_key(pk),
            Tag::custom("patient-content", ["x"]),
            Tag::custom("office-key", ["1"]),
            Tag::custom("ehr", ["1"]),
        ])
        .finalize(p.doctor.keys())
        .unwrap();
    assert_eq!(
        ClinicalEvent::parse(by_hand).unwrap_err(),
        EventError::WrongDomain(2111)
    );
    // Nor does a patient seal a clinical entry to the office epoch.
    let target = view.roster().patient_seal_target(ClinicalKind::Message);
    let office_epoch = target.unwrap();
    let sealed_wrongly = ClinicalEventBuilder::new(
        ClinicalKind::Observation,
        demo::one_of_each_kind(&pk.to_hex())
            .into_iter()
            .find(|(k, _)| *k == ClinicalKind::Observation)
            .unwrap()
            .1,
        pk,
    )
    .unwrap()
    .sign_as_patient_to(&patient, &office_epoch);
    assert_eq!(sealed_wrongly.unwrap_err(), EventError::WrongDomain(2113));
}

#[test]
fn revoking_the_front_desk_rotates_the_office_keys_alone_and_revoking_a_nurse_rotates_both() {
    let mut p = Practice::new();
    let patient = p.enrol();
    let pk = patient.public_key();
    let epochs = |p: &Practice| {
        let roster = verify_roster_chain(&p.root.public_key(), &p.store);
        (
            roster.current_epoch_of(Domain::Clinical).unwrap().0,
            roster.current_epoch_of(Domain::Office).unwrap().0,
        )
    };
    let versions = |p: &Practice| {
        let view = p.view(&p.admin);
        (
            view.newest_version_in(&pk, Domain::Clinical).unwrap(),
            view.newest_version_in(&pk, Domain::Office).unwrap(),
        )
    };
    assert_eq!((epochs(&p), versions(&p)), ((0, 0), (1, 1)));
    let admin = p.admin.clone();
    let frontdesk = p.frontdesk.public_key();
    p.change(&admin, RosterChange::Revoke { pubkey: frontdesk });
    p.maintain();
    assert_eq!((epochs(&p), versions(&p)), ((0, 1), (1, 2)));
    let nurse = p.nurse.public_key();
    p.change(&admin, RosterChange::Revoke { pubkey: nurse });
    p.maintain();
    assert_eq!((epochs(&p), versions(&p)), ((1, 2), (2, 3)));
}

#[test]
fn rotate_splits_a_practice_created_before_the_domains_and_the_front_desk_loses_new_clinical_records()
 {
    let mut p = Practice::before_split();
    let patient = p.enrol();
    let before = chart_of_everything(&mut p, &patient);
    let admin = p.admin.clone();
    assert!(maintain(&mut p, &admin) > 0);
    let roster = verify_roster_chain(&p.root.public_key(), &p.store);
    assert!(roster.is_split());
    assert_eq!(roster.current_epoch_of(Domain::Clinical).unwrap().0, 1);
    assert_eq!(maintain(&mut p, &admin), 0, "planning again is empty");

    let doctor = p.doctor.clone();
    let pk = patient.public_key();
    let after = p.encounter(&doctor, &pk);
    let frontdesk = p.view(&p.frontdesk);
    assert!(
        !any_key_opens(&frontdesk, &after),
        "new clinical records are closed to her"
    );
    assert!(frontdesk.current_epoch_key_in(Domain::Clinical).is_none());
    assert!(frontdesk.current_epoch_key_in(Domain::Office).is_some());
    // What she could open before, she still opens (nothing undoes a read).
    let opened = opened_ids(&frontdesk, &p.store);
    assert!(before.iter().all(|event| opened.contains(&event.id)));
}

#[test]
fn after_the_split_a_new_front_desk_member_reads_every_earlier_demographic_and_message_once() {
    let mut p = Practice::before_split();
    let patient = p.enrol();
    let before = chart_of_everything(&mut p, &patient);
    let admin = p.admin.clone();
    maintain(&mut p, &admin);
    let newcomer = Identity::generate();
    p.change(
        &admin,
        RosterChange::Add {
            pubkey: newcomer.public_key(),
            role: Role::Frontdesk,
            name: None,
        },
    );
    // Through the office copies: the originals' ids, so each record is read once.
    let opened = opened_ids(&p.view(&newcomer), &p.store);
    for event in &before {
        let office = domain_of(event) == Domain::Office;
        assert_eq!(
            opened.contains(&event.id),
            office,
            "kind {}",
            event.kind.as_u16()
        );
    }
    let pk = patient.public_key();
    let all = FoldOptions {
        include_patient_reported: true,
    };
    let (chart, _) = p.view(&newcomer).chart(&pk, &p.store, all);
    assert_eq!(chart.of_type(ResourceType::Communication).count(), 3);
    assert_eq!(chart.of_type(ResourceType::Patient).count(), 1);
    let theirs = chart
        .of_type(ResourceType::Communication)
        .filter(|entry| entry.patient_reported)
        .count();
    assert_eq!(theirs, 1, "her own message stays hers");
    // The doctor and the patient see each record once too, copies folded into originals.
    let (doctor_chart, _) = p.view(&p.doctor).chart(&pk, &p.store, all);
    assert_eq!(doctor_chart.len(), before.len());
    let (own, refused) = access::patient_chart(&p.root.public_key(), &patient, &p.store, all);
    assert!(refused.is_empty());
    assert_eq!(own.len(), before.len());
}

#[test]
fn an_office_copy_that_names_an_author_who_could_not_write_the_original_is_refused() {
    let mut p = Practice::new();
    let patient = p.enrol();
    let pk = patient.public_key();
    let now = p.tick();
    let view = p.view(&p.admin);
    // The admin claims the billing bot wrote a message, which its role may never write.
    let forged = ehr_client::event::ClinicalRecord {
        event_id: EventId::from_byte_array([7; 32]),
        author: p.billing.public_key(),
        created_at: now,
        kind: ClinicalKind::Message,
        patient: pk,
        resource: demo::message(&pk.to_hex(), "Pay now"),
        copied_by: None,
        guardian: None,
    };
    let key = view.write_key_in(&pk, Domain::Office).unwrap();
    let copy = ClinicalEvent::office_copy(&p.admin, &forged, key, now).unwrap();
    let opened = view.open([copy.event()], None);
    assert_eq!(opened.refused[0].1, AccessError::NotAuthorised);
}
