#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Scheduling across the portal and the clinic app (headless Chromium, the demo practice):
//! Maria requests a sick visit in the portal; another patient asked for the same time; the
//! front desk confirms Maria's in the clinic's schedule, then the other one, which the relay
//! refuses (the first confirmation won) and the app declines with the reason; Maria sees hers
//! booked, the other patient sees that the time went, and exactly one hold holds the time. The
//! doctor's schedule, open meanwhile, shows the booking live; the desk moves it to another
//! time (the old one released); the week view shows it. Once Maria has arrived, the doctor's
//! "Start visit note" on her row opens her chart on a note for that visit; the signed note's
//! Encounter names the appointment (`Encounter.appointment`), and the Visits tab says so.

mod clinic_common;
mod demo_common;

use clinic_common::{CHROMIUM, assert_browser_ready, assert_same_origin, run_node, screenshot_dir};
use demo_common::{Seeded, every_event, start_seeded};
use ehr_client::access;
use ehr_client::chart::FoldOptions;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir::{AppointmentStatus, Resource, ResourceType};
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::Timestamp;
use ehr_client::roster::verify_roster_chain;
use ehr_client::schedule::booking::request;
use ehr_client::schedule::{Holds, schedules};
use nostr_ehr::demo::charts::PATIENTS;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_confirms_a_portal_request_and_a_second_booking_of_the_time_is_declined() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let clinic = stack.urls().clinic.clone().unwrap();
    let portal = stack.urls().portal.clone().unwrap();
    let relay = stack.urls().relay.clone();
    // Tomorrow at 08:00 (the demo schedule's first time; UTC): the other patient asks for it.
    let tomorrow = Timestamp::now().as_secs() / 86_400 * 86_400 + 86_400;
    let events = every_event(&relay, &keys).await;
    let roster = verify_roster_chain(&keys.root.public_key(), &events);
    let schedule = schedules(&roster, &events).remove(0);
    let slot = schedule
        .free_slots(
            &Holds::from_events(&roster, &events),
            "sick",
            tomorrow,
            tomorrow + 86_400,
        )
        .unwrap()
        .remove(0);
    assert_eq!(slot.start, tomorrow + 8 * 3600);
    let other = &keys.patients[6];
    let visit = schedule.visit_type("sick").unwrap();
    let resource = request(
        &other.public_key().to_hex(),
        &slot,
        visit,
        None,
        Timestamp::now().as_secs(),
    );
    let target = roster
        .patient_seal_target(ClinicalKind::Appointment)
        .unwrap();
    let theirs = ClinicalEventBuilder::new(ClinicalKind::Appointment, resource, other.public_key())
        .unwrap()
        .sign_as_patient_to(other, &target)
        .unwrap();
    let client =
        ehr_client::net::RelayClient::connect(&relay, other, std::time::Duration::from_secs(30))
            .await
            .unwrap();
    client
        .publish(std::slice::from_ref(theirs.event()))
        .await
        .unwrap();
    client.disconnect().await;

    let name = |i: usize| format!("{} {}", PATIENTS[i].given, PATIENTS[i].family);
    let shots = screenshot_dir();
    // The day as the pages' date fields take it (the node half writes it from seconds).
    let day = tomorrow;
    let input = json!({
        "clinic": clinic,
        "portal": portal,
        "chromium": CHROMIUM,
        "connection": connection,
        "maria": keys.patients[0].nsec().as_str(),
        "frontdesk": keys.frontdesk.nsec().as_str(),
        "doctorKey": keys.doctor.nsec().as_str(),
        "day": day,
        "mariaName": name(0),
        "otherName": name(6),
        "note": "Cough for three days, no fever.",
        "screenshots": {
            "clinic": shots.join("schedule-1280px.png"),
            "portal": shots.join("portal-appointments-375px.png"),
            "week": shots.join("schedule-week-1280px.png"),
            "visit": shots.join("schedule-visit-note-1280px.png"),
        },
    });
    let result = run_node("clinic-schedule.mjs", input).await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    assert_same_origin(&result, &clinic, &relay, None);
    assert_eq!(result["phoneErrors"], json!([]), "{result}");
    assert!(
        result["requestedTime"].as_str().unwrap().contains("Rivera"),
        "{result}"
    );
    assert!(
        result["portalAfterRequest"]
            .as_str()
            .unwrap()
            .contains("Requested"),
        "{result}"
    );
    let requests = result["requestRows"].to_string();
    assert!(
        requests.contains(&name(0)) && requests.contains(&name(6)),
        "{result}"
    );
    assert!(
        result["confirmed"].to_string().contains("is booked"),
        "{result}"
    );
    assert!(
        result["second"].to_string().contains("just taken"),
        "{result}"
    );
    assert!(
        result["portalAfterBooking"]
            .as_str()
            .unwrap()
            .contains("Booked"),
        "{result}"
    );

    // Moved to the first free time: 08:15.
    assert!(
        result["moved"].to_string().contains("was moved"),
        "{result}"
    );
    assert_eq!(result["movedTo"], "8:15 AM", "{result}");
    assert!(
        result["dayAfterMove"].to_string().contains("8:15 AM"),
        "{result}"
    );

    // On the relay: the 08:00 time was held once (hers, never the other patient's), then
    // released by the move; 08:15 is held now. The other patient reads why hers was not booked.
    let events = every_event(&relay, &keys).await;
    stack.stop().await;
    let roster = verify_roster_chain(&keys.root.public_key(), &events);
    let holds = Holds::from_events(&roster, &events);
    let quarter_past = ehr_client::schedule::slot_id(&slot.schedule, slot.start + 900);
    assert!(!holds.is_held(&slot.slot) && holds.is_held(&quarter_past));
    let held = events
        .iter()
        .filter(|e| e.kind.as_u16() == ehr_client::kinds::SLOT_HOLD)
        .filter_map(ehr_client::schedule::hold_tags)
        .filter(|(s, .., held)| *s == slot.slot && *held)
        .count();
    assert_eq!(held, 1, "exactly one booking held the time");
    let (chart, _) = access::patient_chart(
        &keys.root.public_key(),
        other,
        &events,
        FoldOptions::default(),
    );
    // The visit note, started from her arrived appointment: its Encounter names it.
    assert!(
        result["arrived"].to_string().contains("Arrived: done"),
        "{result}"
    );
    assert_eq!(result["visitErrors"], json!([]), "{result}");
    assert!(
        result["startLabel"] == "Start visit note" && result["noteTab"] == "true",
        "{result}"
    );
    // Her appointment's time, as the schedule shows it after the move.
    let at = result["movedTo"].as_str().unwrap();
    let note_for = result["noteFor"].as_str().unwrap();
    assert!(
        note_for.starts_with(&format!("For the appointment at {at} (Sick visit)")),
        "{result}"
    );
    assert_eq!(result["noteVisitType"], "Sick visit", "{result}");
    assert!(
        result["visitSignError"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{result}"
    );
    let appointment_id = result["appointmentId"].as_str().unwrap();
    assert_eq!(result["visitLinkId"], appointment_id, "{result}");
    assert!(
        result["visitLink"]
            .as_str()
            .unwrap()
            .starts_with("Visit for the appointment on "),
        "{result}"
    );
    let (marias, _) = access::patient_chart(
        &keys.root.public_key(),
        &keys.patients[0],
        &events,
        FoldOptions::default(),
    );
    let booked = marias.of_type(ResourceType::Appointment).next().unwrap();
    assert_eq!(booked.resource.id(), Some(appointment_id));
    let linked: Vec<_> = marias
        .of_type(ResourceType::Encounter)
        .filter_map(|entry| match &entry.resource {
            Resource::Encounter(e) => Some(e),
            _ => None,
        })
        .filter(|e| !e.appointment.is_empty())
        .collect();
    assert_eq!(linked.len(), 1, "one visit for the appointment");
    assert_eq!(
        linked[0].appointment[0].reference.as_deref(),
        Some(format!("Appointment/{appointment_id}").as_str())
    );
    assert_eq!(linked[0].type_[0].text.as_deref(), Some("Sick visit"));
    Resource::from(linked[0].clone()).validate().unwrap();

    let theirs = chart.of_type(ResourceType::Appointment).next().unwrap();
    let theirs = theirs.resource.as_appointment().unwrap();
    assert_eq!(theirs.status, AppointmentStatus::Cancelled);
    assert!(
        theirs
            .cancelation_reason
            .as_ref()
            .unwrap()
            .text
            .as_deref()
            .unwrap()
            .contains("just taken")
    );
}
