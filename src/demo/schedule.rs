//! The demo practice's schedule (issue 22): Dr. Rivera's hours every day, the day's booked
//! appointments for four patients (requested at the desk, then booked: a hold, the booking and
//! the reminder record each), and one request from a patient waiting for the desk tomorrow.

use ehr_client::event::ClinicalEventBuilder;
use ehr_client::keys::Identity;
use ehr_client::kinds::ClinicalKind;
use ehr_client::schedule::booking::{Desk, request};
use ehr_client::schedule::{
    FreeSlot, Holds, ScheduleDefinition, VisitType, WeeklyHours, schedule_event,
};
use nostr::prelude::{PublicKey, Timestamp};

use super::{Actor, DemoKeys};
use crate::error::StackError;
use crate::stack::Urls;

/// The demo schedule's id.
pub const SCHEDULE_ID: &str = "demo-rivera";

fn definition(doctor: &PublicKey) -> ScheduleDefinition {
    let visit = |code: &str, label: &str, minutes| VisitType {
        code: code.to_owned(),
        label: label.to_owned(),
        minutes,
        bookable_online: true,
    };
    ScheduleDefinition {
        id: SCHEDULE_ID.to_owned(),
        clinician: doctor.to_hex(),
        name: "Dr. Demo Rivera (synthetic)".to_owned(),
        utc_offset_minutes: 0,
        step_minutes: 15,
        visit_types: vec![
            visit("sick", "Sick visit", 15),
            visit("well-child", "Well-child visit", 30),
            visit("follow-up", "Follow-up", 30),
        ],
        // Every day, so the demo has a day's appointments whenever it is started.
        weekly: vec![WeeklyHours {
            days: vec![1, 2, 3, 4, 5, 6, 7],
            start: "08:00".to_owned(),
            end: "17:00".to_owned(),
        }],
        time_off: Vec::new(),
        active: true,
    }
}

fn demo(what: &'static str) -> impl Fn(ehr_client::schedule::ScheduleError) -> StackError {
    move |e| StackError::Demo(format!("{what}: {e}"))
}

/// Publish the schedule, today's appointments and tomorrow's waiting request.
pub(super) async fn seed(urls: &Urls, keys: &DemoKeys, root: &PublicKey) -> Result<(), StackError> {
    let desk = Actor::connect(&urls.relay, &keys.frontdesk).await?;
    let now = Timestamp::now();
    let definition = definition(&keys.doctor.public_key());
    desk.publish(&[
        schedule_event(&keys.frontdesk, &definition, now).map_err(demo("the schedule"))?
    ])
    .await?;
    let (view, _) = desk.view(root).await?;
    let midnight = now.as_secs() - now.as_secs() % 86_400;
    let free = |code: &str, from: u64| -> Result<FreeSlot, StackError> {
        definition
            .free_slots(&Holds::default(), code, from, from + 3600)
            .map_err(demo("a free slot"))?
            .into_iter()
            .next()
            .ok_or_else(|| StackError::Demo("no free slot in the demo schedule".into()))
    };
    let booking = Desk {
        view: &view,
        actor: &keys.frontdesk,
        now,
        practice: "Demo Family Practice (synthetic)",
        utc_offset_minutes: 0,
    };
    let visits = ["follow-up", "sick", "well-child", "follow-up"];
    for (index, (patient, code)) in keys.patients.iter().skip(2).zip(visits).enumerate() {
        let start = midnight + 9 * 3600 + 30 * 60 * index as u64;
        let slot = free(code, start)?;
        let visit = definition
            .visit_type(code)
            .ok_or_else(|| StackError::Demo("no such visit type".into()))?;
        let requested = request(
            &patient.public_key().to_hex(),
            &slot,
            visit,
            None,
            now.as_secs(),
        );
        let builder = ClinicalEventBuilder::new(
            ClinicalKind::Appointment,
            requested.clone(),
            patient.public_key(),
        )
        .map_err(|e| StackError::Demo(format!("an appointment: {e}")))?
        .created_at(now);
        let first = view
            .sign_record(&keys.frontdesk, builder)
            .map_err(|e| StackError::Demo(format!("signing an appointment: {e}")))?
            .event()
            .clone();
        let mut events = vec![first];
        events.extend(
            booking
                .book(&patient.public_key(), &requested, &slot)
                .map_err(demo("a booking"))?,
        );
        desk.publish(&events).await?;
    }
    waiting_request(
        urls,
        keys,
        &view,
        &definition,
        midnight + 86_400 + 11 * 3600,
    )
    .await?;
    desk.client.disconnect().await;
    Ok(())
}

/// Patient 1 asks for a sick visit at `start` from the portal (her own event, to the office
/// epoch): the desk's request to answer.
async fn waiting_request(
    urls: &Urls,
    keys: &DemoKeys,
    view: &ehr_client::access::PracticeView,
    definition: &ScheduleDefinition,
    start: u64,
) -> Result<(), StackError> {
    let patient: &Identity = keys
        .patients
        .get(1)
        .ok_or_else(|| StackError::Demo("no patient 1".into()))?;
    let slot = definition
        .free_slots(&Holds::default(), "sick", start, start + 900)
        .map_err(demo("a free slot"))?
        .into_iter()
        .next()
        .ok_or_else(|| StackError::Demo("no free slot tomorrow".into()))?;
    let visit = definition
        .visit_type("sick")
        .ok_or_else(|| StackError::Demo("no sick visit type".into()))?;
    let resource = request(
        &patient.public_key().to_hex(),
        &slot,
        visit,
        Some("Sore throat since Monday (synthetic)"),
        Timestamp::now().as_secs(),
    );
    let target = view
        .roster()
        .patient_seal_target(ClinicalKind::Appointment)
        .ok_or_else(|| StackError::Demo("no office epoch".into()))?;
    let event =
        ClinicalEventBuilder::new(ClinicalKind::Appointment, resource, patient.public_key())
            .and_then(|b| b.sign_as_patient_to(patient, &target))
            .map_err(|e| StackError::Demo(format!("her request: {e}")))?
            .event()
            .clone();
    let her = Actor::connect(&urls.relay, patient).await?;
    her.publish(std::slice::from_ref(&event)).await?;
    her.client.disconnect().await;
    Ok(())
}
