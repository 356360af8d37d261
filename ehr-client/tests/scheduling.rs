#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Scheduling in the core (`ehr_client::schedule`): free slots from a schedule and the holds,
//! a patient's request booked by the front desk (hold, appointment, reminder), a second
//! booking of the same time refused by the holds, the reminder agent reading only what a
//! reminder needs, and moves and cancellations folding right.

use ehr_client::access::{self, PracticeView};
use ehr_client::chart::FoldOptions;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir::{AppointmentStatus, Resource, ResourceType};
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::Timestamp;
use ehr_client::schedule::reminder::{due, reminder_text, reminders};
use ehr_client::schedule::{Holds, ScheduleError, schedule_event, schedules};

#[path = "common/practice.rs"]
mod practice_fixture;
use practice_fixture::{Practice, any_key_opens};
#[path = "common/scheduling.rs"]
mod scheduling_fixture;
use scheduling_fixture::*;

#[test]
fn free_slots_follow_the_hours_the_time_off_and_the_holds() {
    let p = Practice::new();
    let def = definition(&p);
    let holds = Holds::default();
    let week = def
        .free_slots(&holds, "sick", MONDAY, MONDAY + 7 * 86_400)
        .unwrap();
    // 12 quarter hours a day, Monday, Wednesday, Thursday, Friday; Tuesday is a holiday.
    assert_eq!(week.len(), 48);
    assert_eq!(week[0].start, MONDAY + 9 * 3600);
    assert!(week.iter().all(|s| (s.start - MONDAY) / 86_400 != 1));
    let well = def
        .free_slots(&holds, "well-child", MONDAY, MONDAY + 86_400)
        .unwrap();
    assert_eq!(well.len(), 11, "half hours starting 09:00 to 11:30");
    assert_eq!(
        def.free_slots(&holds, "dental", MONDAY, MONDAY + 86_400),
        Err(ScheduleError::VisitType)
    );
}

#[test]
fn the_desk_books_a_request_and_the_time_is_no_longer_free_for_anyone() {
    let mut p = Practice::new();
    let patient = p.enrol();
    let pk = patient.public_key();
    let frontdesk = p.frontdesk.clone();
    let now = p.tick();
    p.store
        .push(schedule_event(&frontdesk, &definition(&p), now).unwrap());
    let roster_view = p.view(&frontdesk);
    let def = schedules(roster_view.roster(), &p.store).remove(0);
    let slot = def
        .free_slots(&Holds::default(), "sick", MONDAY, MONDAY + 86_400)
        .unwrap()
        .remove(0);
    patient_requests(&mut p, &patient, &slot);

    // The front desk reads her request with the office keys alone, and books it.
    let view = p.view(&frontdesk);
    let requested = chart_of(&p, &view, &patient).remove(0);
    assert_eq!(
        requested.as_appointment().unwrap().status,
        AppointmentStatus::Proposed
    );
    let now = p.tick();
    let events = desk(&view, &frontdesk, now)
        .book(&pk, &requested, &slot)
        .unwrap();
    assert_eq!(events.len(), 3, "hold, appointment, reminder");
    p.store.extend(events);
    // The desk and she (with her own key) see one appointment, booked.
    let (practice, hers) = both_sides(&p, &frontdesk, &patient);
    assert_eq!(
        (status(&practice[0]), status(&hers[0])),
        (AppointmentStatus::Booked, AppointmentStatus::Booked)
    );
    let view = p.view(&frontdesk);
    // The time is taken: not free for any visit type that overlaps it.
    let holds = Holds::from_events(view.roster(), &p.store);
    assert!(holds.is_held(&slot.slot));
    let free = def
        .free_slots(&holds, "well-child", MONDAY, MONDAY + 86_400)
        .unwrap();
    assert!(free.iter().all(|s| s.start != slot.start));
    assert_eq!(
        def.is_free(&holds, "sick", slot.start),
        Err(ScheduleError::NotFree)
    );
}

#[test]
fn the_reminder_agent_reads_the_time_and_nothing_else() {
    let mut p = Practice::new();
    let patient = p.enrol();
    let frontdesk = p.frontdesk.clone();
    let def = definition(&p);
    let slot = def
        .free_slots(&Holds::default(), "sick", MONDAY, MONDAY + 86_400)
        .unwrap()
        .remove(0);
    patient_requests(&mut p, &patient, &slot);
    let view = p.view(&frontdesk);
    let requested = chart_of(&p, &view, &patient).remove(0);
    let now = p.tick();
    p.store.extend(
        desk(&view, &frontdesk, now)
            .book(&patient.public_key(), &requested, &slot)
            .unwrap(),
    );

    let billing = p.billing.clone();
    let roster = verify(&p);
    let records = reminders(&roster, &billing, &p.store);
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        (record.patient.as_str(), record.start),
        (patient.public_key().to_hex().as_str(), slot.start)
    );
    let text = reminder_text(record);
    assert!(
        text.contains("Demo Practice") && text.contains("09:00"),
        "{text}"
    );
    // Nothing clinical or of the visit: not the reason she gave, not the visit type.
    let json = serde_json::to_string(record).unwrap();
    assert!(!json.contains("Fever") && !json.contains("sick"), "{json}");
    // Due 24 h and 2 h before, once each; never after it began.
    let day = [86_400, 7_200];
    assert!(due(&records, &day, slot.start - 90_000, |_, _| false).is_empty());
    assert_eq!(
        due(&records, &day, slot.start - 86_000, |_, _| false)[0].1,
        86_400
    );
    assert_eq!(
        due(&records, &day, slot.start - 7_000, |_, _| false)[0].1,
        7_200
    );
    assert!(due(&records, &day, slot.start - 7_000, |_, b| b == 7_200).is_empty());
    assert!(due(&records, &day, slot.start + 1, |_, _| false).is_empty());
    // Its key opens no office or clinical record, with the whole store.
    let agent_view = PracticeView::load(&p.root.public_key(), &p.store, &billing);
    for event in p
        .store
        .iter()
        .filter(|e| ClinicalKind::from_u16(e.kind.as_u16()).is_some())
    {
        assert!(
            !any_key_opens(&agent_view, event),
            "the agent opened kind {}",
            event.kind
        );
    }
}

#[test]
fn a_cancellation_releases_the_slot_and_cancels_the_reminder_and_a_move_follows() {
    let mut p = Practice::new();
    let patient = p.enrol();
    let pk = patient.public_key();
    let frontdesk = p.frontdesk.clone();
    let def = definition(&p);
    let slots = def
        .free_slots(&Holds::default(), "sick", MONDAY, MONDAY + 86_400)
        .unwrap();
    patient_requests(&mut p, &patient, &slots[0]);
    let current = |p: &Practice| chart_of(p, &p.view(&p.frontdesk), &patient).remove(0);
    let view = p.view(&frontdesk);
    let now = p.tick();
    p.store.extend(
        desk(&view, &frontdesk, now)
            .book(&pk, &current(&p), &slots[0])
            .unwrap(),
    );
    // Moved to the next quarter hour: the old time free again, the new one held.
    let view = p.view(&frontdesk);
    let now = p.tick();
    p.store.extend(
        desk(&view, &frontdesk, now)
            .move_to(&pk, &current(&p), &slots[1])
            .unwrap(),
    );
    let holds = Holds::from_events(p.view(&frontdesk).roster(), &p.store);
    assert!(!holds.is_held(&slots[0].slot) && holds.is_held(&slots[1].slot));
    let moved = current(&p);
    assert_eq!(
        moved.as_appointment().unwrap().status,
        AppointmentStatus::Booked
    );
    let roster = verify(&p);
    assert_eq!(
        reminders(&roster, &p.billing, &p.store)[0].start,
        slots[1].start
    );
    // Cancelled: released, and no reminder goes out.
    let view = p.view(&frontdesk);
    let now = p.tick();
    p.store.extend(
        desk(&view, &frontdesk, now)
            .cancel(&pk, &moved, "Patient called")
            .unwrap(),
    );
    let holds = Holds::from_events(p.view(&frontdesk).roster(), &p.store);
    assert!(!holds.is_held(&slots[1].slot));
    assert_eq!(
        current(&p).as_appointment().unwrap().status,
        AppointmentStatus::Cancelled
    );
    let records = reminders(&roster, &p.billing, &p.store);
    assert!(records[0].cancelled);
    assert!(due(&records, &[7_200], slots[1].start - 100, |_, _| false).is_empty());
}

#[test]
fn a_no_show_and_an_arrival_are_status_updates_only_staff_may_make() {
    let mut p = Practice::new();
    let patient = p.enrol();
    let pk = patient.public_key();
    let def = definition(&p);
    let slot = def
        .free_slots(&Holds::default(), "sick", MONDAY, MONDAY + 86_400)
        .unwrap()
        .remove(0);
    patient_requests(&mut p, &patient, &slot);
    let frontdesk = p.frontdesk.clone();
    let view = p.view(&frontdesk);
    let requested = chart_of(&p, &view, &patient).remove(0);
    let now = p.tick();
    p.store.extend(
        desk(&view, &frontdesk, now)
            .book(&pk, &requested, &slot)
            .unwrap(),
    );
    let view = p.view(&frontdesk);
    let booked = chart_of(&p, &view, &patient).remove(0);
    let now = p.tick();
    let noshow = desk(&view, &frontdesk, now)
        .set_status(&pk, &booked, AppointmentStatus::Noshow)
        .unwrap();
    p.store.push(noshow);
    assert_eq!(
        chart_of(&p, &p.view(&frontdesk), &patient)[0]
            .as_appointment()
            .unwrap()
            .status,
        AppointmentStatus::Noshow
    );
    // The billing bot is no desk.
    let billing = p.billing.clone();
    let agent_view = p.view(&billing);
    let refused =
        desk(&agent_view, &billing, now).set_status(&pk, &booked, AppointmentStatus::Arrived);
    assert_eq!(refused.unwrap_err(), ScheduleError::NotStaff);
}

#[test]
fn the_patient_sees_the_request_the_desk_declined_as_the_slot_gone() {
    let mut p = Practice::new();
    let (first, second) = (p.enrol(), p.enrol());
    let def = definition(&p);
    let slot = def
        .free_slots(&Holds::default(), "sick", MONDAY, MONDAY + 86_400)
        .unwrap()
        .remove(0);
    patient_requests(&mut p, &first, &slot);
    patient_requests(&mut p, &second, &slot);
    let frontdesk = p.frontdesk.clone();
    let view = p.view(&frontdesk);
    let now = p.tick();
    let one = chart_of(&p, &view, &first).remove(0);
    let two = chart_of(&p, &view, &second).remove(0);
    p.store.extend(
        desk(&view, &frontdesk, now)
            .book(&first.public_key(), &one, &slot)
            .unwrap(),
    );
    // The second confirmation: the slot is held, so the desk declines it.
    let holds = Holds::from_events(p.view(&frontdesk).roster(), &p.store);
    assert!(holds.is_held(&slot.slot));
    let view = p.view(&frontdesk);
    let now = p.tick();
    p.store.push(
        desk(&view, &frontdesk, now)
            .decline(&second.public_key(), &two, "This time was just taken")
            .unwrap(),
    );
    let (hers, _) = access::patient_chart(
        &p.root.public_key(),
        &second,
        &p.store,
        FoldOptions::default(),
    );
    let declined = hers.of_type(ResourceType::Appointment).next().unwrap();
    let declined = declined.resource.as_appointment().unwrap();
    assert_eq!(declined.status, AppointmentStatus::Cancelled);
    assert_eq!(
        declined
            .cancelation_reason
            .as_ref()
            .unwrap()
            .text
            .as_deref(),
        Some("This time was just taken")
    );
}

#[test]
fn her_request_and_the_desks_answer_fold_into_one_record_and_she_cannot_book_herself() {
    let mut p = Practice::new();
    let patient = p.enrol();
    let pk = patient.public_key();
    let def = definition(&p);
    let slot = def
        .free_slots(&Holds::default(), "sick", MONDAY, MONDAY + 86_400)
        .unwrap()
        .remove(0);
    let requested = patient_requests(&mut p, &patient, &slot);
    // She signs a "booked" version herself: ignored by every reader.
    let mut forged = requested.clone();
    if let Resource::Appointment(a) = &mut forged {
        a.status = AppointmentStatus::Booked;
    }
    forged.set_version(2, ehr_client::fhir::RecordAction::StatusUpdate);
    let target = p
        .view(&p.frontdesk)
        .roster()
        .patient_seal_target(ClinicalKind::Appointment)
        .unwrap();
    let event = ClinicalEventBuilder::new(ClinicalKind::Appointment, forged, pk)
        .unwrap()
        .created_at(p.tick())
        .sign_as_patient_to(&patient, &target)
        .unwrap();
    p.store.push(event.event().clone());
    let frontdesk = p.frontdesk.clone();
    let seen = chart_of(&p, &p.view(&frontdesk), &patient);
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].as_appointment().unwrap().status,
        AppointmentStatus::Proposed
    );
    // Nor does she read her forgery as booked in her own chart.
    let (_, hers) = both_sides(&p, &frontdesk, &patient);
    assert_eq!(
        hers.iter().map(status).collect::<Vec<_>>(),
        [AppointmentStatus::Proposed]
    );
    // The desk's booking is the record's next version: one entry, booked, for both sides.
    let view = p.view(&frontdesk);
    let now = p.tick();
    p.store.extend(
        desk(&view, &frontdesk, now)
            .book(&pk, &seen[0], &slot)
            .unwrap(),
    );
    let (practice, hers) = both_sides(&p, &frontdesk, &patient);
    assert_eq!((practice.len(), hers.len()), (1, 1));
    assert_eq!(status(&hers[0]), AppointmentStatus::Booked);
}

#[test]
fn a_time_held_and_released_in_the_same_second_is_free_whatever_order_the_events_come_in() {
    let p = Practice::new();
    let def = definition(&p);
    let slot = def
        .free_slots(&Holds::default(), "sick", MONDAY, MONDAY + 86_400)
        .unwrap()
        .remove(0);
    let at = Timestamp::from_secs(p.clock);
    let held = ehr_client::schedule::hold_event(&p.frontdesk, &slot, true, at).unwrap();
    let released = ehr_client::schedule::hold_event(&p.frontdesk, &slot, false, at).unwrap();
    // Two holds of one time by one desk in one second are two events (a resend is one).
    assert_ne!(
        held.id,
        ehr_client::schedule::hold_event(&p.frontdesk, &slot, true, at)
            .unwrap()
            .id
    );
    let roster = verify(&p);
    for events in [[&held, &released], [&released, &held]] {
        let mut all = p.store.clone();
        all.extend(events.into_iter().cloned());
        assert!(!Holds::from_events(&roster, &all).is_held(&slot.slot));
    }
}
