#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Appointments over time: the plaintext day index the desk's views fetch by (DESIGN.md §13,
//! "Scale"), a patient's request to move her booking and the desk's two answers, and a time
//! her cancellation left held, freed by the desk.

use ehr_client::event::{ClinicalEvent, ClinicalEventBuilder};
use ehr_client::fhir::{AppointmentStatus, Resource};
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::{Event, EventBuilder, FinalizeEvent, Kind, Tag};
use ehr_client::schedule::booking::{patient_cancellation, patient_reschedule, requested_slot};
use ehr_client::schedule::reminder::reminders;
use ehr_client::schedule::{FreeSlot, Holds};

#[path = "common/practice.rs"]
mod practice_fixture;
use practice_fixture::Practice;
#[path = "common/scheduling.rs"]
mod scheduling_fixture;
use scheduling_fixture::*;

fn tag<'a>(event: &'a Event, name: &str) -> Option<&'a str> {
    event
        .tags
        .iter()
        .map(|t| t.as_slice())
        .find(|t| t[0] == name)
        .map(|t| t[1].as_str())
}

fn appointment_events(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| e.kind.as_u16() == ClinicalKind::Appointment.as_u16())
        .collect()
}

/// A booked appointment of a new patient at the first sick-visit slot of Monday; the slots of
/// that day, and the slots of Wednesday.
fn booked(p: &mut Practice) -> (ehr_client::keys::Identity, Vec<FreeSlot>, Vec<FreeSlot>) {
    let patient = p.enrol();
    let def = definition(p);
    let day = |d: u64| {
        def.free_slots(
            &Holds::default(),
            "sick",
            MONDAY + d * 86_400,
            MONDAY + (d + 1) * 86_400,
        )
        .unwrap()
    };
    let (monday, wednesday) = (day(0), day(2));
    patient_requests(p, &patient, &monday[0]);
    let frontdesk = p.frontdesk.clone();
    let view = p.view(&frontdesk);
    let requested = chart_of(p, &view, &patient).remove(0);
    let now = p.tick();
    p.store.extend(
        desk(&view, &frontdesk, now)
            .book(&patient.public_key(), &requested, &monday[0])
            .unwrap(),
    );
    (patient, monday, wednesday)
}

/// The patient signs `resource` (her next version of her appointment).
fn patient_signs(p: &mut Practice, patient: &ehr_client::keys::Identity, resource: Resource) {
    let target = p
        .view(&p.frontdesk)
        .roster()
        .patient_seal_target(ClinicalKind::Appointment)
        .unwrap();
    let now = p.tick();
    let event =
        ClinicalEventBuilder::new(ClinicalKind::Appointment, resource, patient.public_key())
            .unwrap()
            .created_at(now)
            .sign_as_patient_to(patient, &target)
            .unwrap();
    p.store.push(event.event().clone());
}

#[test]
fn appointment_versions_carry_their_day_and_requests_and_answers_their_topic() {
    let mut p = Practice::new();
    let (_, monday, _) = booked(&mut p);
    let events = appointment_events(&p.store);
    let monday_day = (MONDAY / 86_400).to_string();
    // Her request and the desk's booking: Monday's day number, and the request topic.
    assert_eq!(events.len(), 2);
    for event in &events {
        assert_eq!(tag(event, "D"), Some(monday_day.as_str()));
        assert_eq!(tag(event, "t"), Some("request"));
        assert_eq!(tag(event, "M"), None);
    }
    // Nothing else of the appointment is in the clear.
    assert!(!events[1].as_json().contains(&monday[0].slot));
}

#[test]
fn a_move_to_another_day_is_indexed_on_both_days_and_later_versions_are_no_request() {
    let mut p = Practice::new();
    let (patient, _, wednesday) = booked(&mut p);
    let frontdesk = p.frontdesk.clone();
    let view = p.view(&frontdesk);
    let current = chart_of(&p, &view, &patient).remove(0);
    let now = p.tick();
    let events = desk(&view, &frontdesk, now)
        .move_to(&patient.public_key(), &current, &wednesday[0])
        .unwrap();
    let moved = appointment_events(&events)[0].clone();
    assert_eq!(
        tag(&moved, "D"),
        Some((MONDAY / 86_400 + 2).to_string().as_str())
    );
    assert_eq!(
        tag(&moved, "M"),
        Some((MONDAY / 86_400).to_string().as_str())
    );
    assert_eq!(tag(&moved, "t"), None, "a move answers no request");
}

#[test]
fn day_tags_are_refused_on_other_kinds_and_malformed_ones_on_appointments() {
    let p = Practice::new();
    let build = |kind: u16, extra: Tag| {
        let event = EventBuilder::new(Kind::from(kind), "x")
            .tags([
                Tag::public_key(p.doctor.public_key()),
                Tag::custom(ehr_client::tags::TAG_PATIENT_CONTENT, ["y"]),
                Tag::custom(ehr_client::tags::TAG_OFFICE_KEY, ["1"]),
                Tag::custom(ehr_client::tags::TAG_FORMAT, ["1"]),
                extra,
            ])
            .finalize(p.doctor.keys())
            .unwrap();
        ClinicalEvent::parse(event)
    };
    let day = || Tag::custom(ehr_client::tags::TAG_DAY, ["20000"]);
    assert!(build(ClinicalKind::Appointment.as_u16(), day()).is_ok());
    assert!(build(ClinicalKind::Patient.as_u16(), day()).is_err());
    let bad_day = Tag::custom(ehr_client::tags::TAG_DAY, ["soon"]);
    assert!(build(ClinicalKind::Appointment.as_u16(), bad_day).is_err());
    let bad_topic = Tag::custom(ehr_client::tags::TAG_TOPIC, ["flu"]);
    assert!(build(ClinicalKind::Appointment.as_u16(), bad_topic).is_err());
}

#[test]
fn her_reschedule_request_keeps_the_booking_until_the_desk_moves_it() {
    let mut p = Practice::new();
    let (patient, monday, _) = booked(&mut p);
    let pk = patient.public_key();
    let frontdesk = p.frontdesk.clone();
    let current = chart_of(&p, &p.view(&frontdesk), &patient).remove(0);
    patient_signs(
        &mut p,
        &patient,
        patient_reschedule(&current, &monday[4], None).unwrap(),
    );
    // Both sides read: proposed, asking for 10:00, still at 09:00, the time still held.
    let (practice, hers) = both_sides(&p, &frontdesk, &patient);
    for side in [&practice[0], &hers[0]] {
        let a = side.as_appointment().unwrap();
        assert_eq!(a.status, AppointmentStatus::Proposed);
        assert_eq!(requested_slot(a).unwrap().start, monday[4].start);
    }
    let holds = Holds::from_events(p.view(&frontdesk).roster(), &p.store);
    assert!(holds.is_held(&monday[0].slot));
    // The desk confirms: 10:00 held, 09:00 free, booked there, the reminder moved.
    let view = p.view(&frontdesk);
    let slot = requested_slot(practice[0].as_appointment().unwrap()).unwrap();
    let now = p.tick();
    p.store.extend(
        desk(&view, &frontdesk, now)
            .book(&pk, &practice[0], &slot)
            .unwrap(),
    );
    let holds = Holds::from_events(p.view(&frontdesk).roster(), &p.store);
    assert!(holds.is_held(&monday[4].slot) && !holds.is_held(&monday[0].slot));
    let (practice, hers) = both_sides(&p, &frontdesk, &patient);
    for side in [&practice[0], &hers[0]] {
        let a = side.as_appointment().unwrap();
        assert_eq!(a.status, AppointmentStatus::Booked);
        assert!(a.requested_period.is_empty());
        assert!(a.start.as_deref().unwrap().starts_with("2030-01-07T10:00"));
    }
    let roster = verify(&p);
    assert_eq!(
        reminders(&roster, &p.billing, &p.store)[0].start,
        monday[4].start
    );
}

#[test]
fn a_declined_reschedule_leaves_the_booking_where_it_was_and_tells_her_why() {
    let mut p = Practice::new();
    let (patient, monday, _) = booked(&mut p);
    let frontdesk = p.frontdesk.clone();
    let current = chart_of(&p, &p.view(&frontdesk), &patient).remove(0);
    patient_signs(
        &mut p,
        &patient,
        patient_reschedule(&current, &monday[4], None).unwrap(),
    );
    let view = p.view(&frontdesk);
    let asking = chart_of(&p, &view, &patient).remove(0);
    let now = p.tick();
    p.store.push(
        desk(&view, &frontdesk, now)
            .decline(
                &patient.public_key(),
                &asking,
                "The doctor is in surgery then",
            )
            .unwrap(),
    );
    let (_, hers) = both_sides(&p, &frontdesk, &patient);
    let a = hers[0].as_appointment().unwrap();
    assert_eq!(a.status, AppointmentStatus::Booked);
    assert!(a.start.as_deref().unwrap().starts_with("2030-01-07T09:00"));
    assert!(
        a.patient_instruction
            .as_deref()
            .unwrap()
            .contains("surgery")
    );
    let holds = Holds::from_events(p.view(&frontdesk).roster(), &p.store);
    assert!(holds.is_held(&monday[0].slot) && !holds.is_held(&monday[4].slot));
}

#[test]
fn she_cannot_ask_to_move_to_another_clinicians_schedule_or_a_request_not_booked() {
    let mut p = Practice::new();
    let (patient, monday, _) = booked(&mut p);
    let current = chart_of(&p, &p.view(&p.frontdesk), &patient).remove(0);
    let mut elsewhere = monday[4].clone();
    elsewhere.schedule = "dr-other".into();
    assert!(patient_reschedule(&current, &elsewhere, None).is_err());
    let proposed = patient_reschedule(&current, &monday[4], None).unwrap();
    assert!(patient_reschedule(&proposed, &monday[5], None).is_err());
}

#[test]
fn the_time_her_cancellation_left_held_is_freed_by_the_desk_with_its_reminder() {
    let mut p = Practice::new();
    let (patient, monday, _) = booked(&mut p);
    let frontdesk = p.frontdesk.clone();
    let current = chart_of(&p, &p.view(&frontdesk), &patient).remove(0);
    patient_signs(&mut p, &patient, patient_cancellation(&current).unwrap());
    let holds = Holds::from_events(p.view(&frontdesk).roster(), &p.store);
    assert!(
        holds.is_held(&monday[0].slot),
        "her event cannot release the desk's hold"
    );
    let view = p.view(&frontdesk);
    let cancelled = chart_of(&p, &view, &patient).remove(0);
    let now = p.tick();
    let desk_view = desk(&view, &frontdesk, now);
    // Only a cancelled appointment is released.
    assert!(desk_view.release(&patient.public_key(), &current).is_err());
    p.store.extend(
        desk_view
            .release(&patient.public_key(), &cancelled)
            .unwrap(),
    );
    let holds = Holds::from_events(p.view(&frontdesk).roster(), &p.store);
    assert!(!holds.is_held(&monday[0].slot));
    let roster = verify(&p);
    assert!(reminders(&roster, &p.billing, &p.store)[0].cancelled);
}

/// A ward, her guardian (in force), and the ward's first sick-visit slot of Monday.
fn ward_with_guardian(
    p: &mut Practice,
) -> (
    ehr_client::keys::Identity,
    ehr_client::keys::Identity,
    FreeSlot,
) {
    let ward = p.enrol();
    let parent = ehr_client::keys::Identity::generate();
    let doctor = p.doctor.clone();
    let now = p.tick();
    let link = ehr_client::rotation::set_guardianship(
        &p.view(&doctor),
        &doctor,
        &ward.public_key(),
        &parent.public_key(),
        ehr_client::grants::GuardianshipStatus::Active,
        now,
    )
    .unwrap();
    p.store.extend(link);
    p.maintain();
    let slot = definition(p)
        .free_slots(&Holds::default(), "sick", MONDAY, MONDAY + 86_400)
        .unwrap()
        .remove(0);
    (ward, parent, slot)
}

#[test]
fn a_guardian_requests_for_her_ward_and_the_desk_books_it_as_the_wards_request() {
    let mut p = Practice::new();
    let (ward, parent, slot) = ward_with_guardian(&mut p);
    let def = definition(&p);
    let visit = def.visit_type("sick").unwrap();
    let asked = ehr_client::schedule::booking::request(
        &ward.public_key().to_hex(),
        &slot,
        visit,
        Some("Ear ache"),
        MONDAY,
    );
    let now = p.tick();
    let event = p
        .view(&parent)
        .sign_for_ward(&parent, &ward.public_key(), asked, now)
        .unwrap();
    assert_eq!(tag(event.event(), "t"), Some("request"));
    p.store.push(event.event().clone());
    // The desk reads it as the ward's request, and books it.
    let frontdesk = p.frontdesk.clone();
    let view = p.view(&frontdesk);
    let requested = chart_of(&p, &view, &ward).remove(0);
    assert_eq!(
        requested.as_appointment().unwrap().status,
        AppointmentStatus::Proposed
    );
    let now = p.tick();
    p.store.extend(
        desk(&view, &frontdesk, now)
            .book(&ward.public_key(), &requested, &slot)
            .unwrap(),
    );
    // The guardian reads it booked in the ward's chart.
    let theirs = chart_of(&p, &p.view(&parent), &ward).remove(0);
    assert_eq!(
        theirs.as_appointment().unwrap().status,
        AppointmentStatus::Booked
    );
}

#[test]
fn a_guardian_cannot_book_and_a_stranger_or_an_ended_guardian_cannot_request() {
    let mut p = Practice::new();
    let (ward, parent, slot) = ward_with_guardian(&mut p);
    let def = definition(&p);
    let visit = def.visit_type("sick").unwrap();
    let asked = || {
        ehr_client::schedule::booking::request(
            &ward.public_key().to_hex(),
            &slot,
            visit,
            None,
            MONDAY,
        )
    };
    let now = p.tick();
    // Booking is the desk's: refused when signing, and ignored if forged.
    let mut booked = asked();
    if let Resource::Appointment(a) = &mut booked {
        a.status = AppointmentStatus::Booked;
    }
    let view = p.view(&parent);
    assert!(
        view.sign_for_ward(&parent, &ward.public_key(), booked.clone(), now)
            .is_err()
    );
    let key = view
        .write_key_in(&ward.public_key(), ehr_client::kinds::Domain::Office)
        .unwrap();
    let forged = ClinicalEventBuilder::new(ClinicalKind::Appointment, booked, ward.public_key())
        .unwrap()
        .created_at(now)
        .sign_in(&parent, ehr_client::kinds::Domain::Office, key)
        .unwrap();
    p.store.push(forged.event().clone());
    assert!(
        chart_of(&p, &p.view(&p.frontdesk), &ward).is_empty(),
        "a guardian's booking is no booking"
    );
    // A stranger with no guardianship.
    let stranger = ehr_client::keys::Identity::generate();
    assert!(
        p.view(&stranger)
            .sign_for_ward(&stranger, &ward.public_key(), asked(), now)
            .is_err()
    );
    // The guardianship ends: no more requests for the ward.
    let doctor = p.doctor.clone();
    let now = p.tick();
    let end = ehr_client::rotation::set_guardianship(
        &p.view(&doctor),
        &doctor,
        &ward.public_key(),
        &parent.public_key(),
        ehr_client::grants::GuardianshipStatus::Ended,
        now,
    )
    .unwrap();
    p.store.extend(end);
    p.maintain();
    let later = p.tick();
    assert!(
        p.view(&parent)
            .sign_for_ward(&parent, &ward.public_key(), asked(), later)
            .is_err()
    );
}
