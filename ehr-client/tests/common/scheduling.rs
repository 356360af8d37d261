//! What the scheduling tests share: a schedule, a request signed by the patient, the desk, and
//! the appointments as each side folds them.
#![allow(dead_code)]

use ehr_client::access::{self, PracticeView};
use ehr_client::chart::FoldOptions;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir::{AppointmentStatus, Resource, ResourceType};
use ehr_client::keys::Identity;
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::Timestamp;
use ehr_client::schedule::booking::{Desk, request};
use ehr_client::schedule::{FreeSlot, ScheduleDefinition, TimeOff, VisitType, WeeklyHours};

use super::practice_fixture::Practice;

/// Monday 2030-01-07 00:00 UTC.
pub const MONDAY: u64 = 1_893_974_400;

pub fn definition(p: &Practice) -> ScheduleDefinition {
    ScheduleDefinition {
        id: "dr-rivera".to_owned(),
        clinician: p.doctor.public_key().to_hex(),
        name: "Dr. Rivera".to_owned(),
        utc_offset_minutes: 0,
        step_minutes: 15,
        visit_types: vec![
            VisitType {
                code: "sick".into(),
                label: "Sick visit".into(),
                minutes: 15,
                bookable_online: true,
            },
            VisitType {
                code: "well-child".into(),
                label: "Well-child visit".into(),
                minutes: 30,
                bookable_online: true,
            },
        ],
        weekly: vec![WeeklyHours {
            days: vec![1, 2, 3, 4, 5],
            start: "09:00".into(),
            end: "12:00".into(),
        }],
        time_off: vec![TimeOff {
            from: "2030-01-08".into(),
            to: "2030-01-08".into(),
            start: None,
            end: None,
            reason: "Holiday".into(),
        }],
        active: true,
    }
}

pub fn chart_of(p: &Practice, reader: &PracticeView, patient: &Identity) -> Vec<Resource> {
    let (chart, _) = reader.chart(&patient.public_key(), &p.store, FoldOptions::default());
    chart
        .of_type(ResourceType::Appointment)
        .map(|e| e.resource.clone())
        .collect()
}

/// `patient`'s appointments as the practice member `reader` folds them, and as she does.
pub fn both_sides(
    p: &Practice,
    reader: &Identity,
    patient: &Identity,
) -> (Vec<Resource>, Vec<Resource>) {
    let practice = chart_of(p, &p.view(reader), patient);
    let (hers, _) = access::patient_chart(
        &p.root.public_key(),
        patient,
        &p.store,
        FoldOptions::default(),
    );
    let hers = hers
        .of_type(ResourceType::Appointment)
        .map(|e| e.resource.clone())
        .collect();
    (practice, hers)
}

pub fn status(resource: &Resource) -> AppointmentStatus {
    resource.as_appointment().unwrap().status
}

/// The patient requests `slot`; the event she signs (practice copy to the office epoch).
pub fn patient_requests(p: &mut Practice, patient: &Identity, slot: &FreeSlot) -> Resource {
    let def = definition(p);
    let visit = def.visit_type(&slot.visit_type).unwrap();
    let resource = request(
        &patient.public_key().to_hex(),
        slot,
        visit,
        Some("Fever"),
        MONDAY,
    );
    let target = p
        .view(&p.frontdesk)
        .roster()
        .patient_seal_target(ClinicalKind::Appointment)
        .unwrap();
    let event = ClinicalEventBuilder::new(
        ClinicalKind::Appointment,
        resource.clone(),
        patient.public_key(),
    )
    .unwrap()
    .created_at(p.tick())
    .sign_as_patient_to(patient, &target)
    .unwrap();
    p.store.push(event.event().clone());
    resource
}

pub fn desk<'a>(view: &'a PracticeView, actor: &'a Identity, now: Timestamp) -> Desk<'a> {
    Desk {
        view,
        actor,
        now,
        practice: "Demo Practice",
        utc_offset_minutes: 0,
    }
}

pub fn verify(p: &Practice) -> ehr_client::roster::RosterChain {
    ehr_client::roster::verify_roster_chain(&p.root.public_key(), &p.store)
}
