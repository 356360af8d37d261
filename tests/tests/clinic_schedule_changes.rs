#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A reschedule, a cancellation and a no-show, each folded in the portal and the clinic app
//! (headless Chromium, the demo practice). Three patients are booked tomorrow; one asks in the
//! portal to move hers and the desk confirms it, one cancels hers (and the desk's screen frees
//! the time her cancellation left held), one is marked a no-show. The third's guardian asks
//! for a time for her from her chart in the guardian's portal, and the desk books it.
//! The relay's holds and both sides' folds agree with what the screens say.

mod clinic_common;
mod demo_common;

use clinic_common::{CHROMIUM, assert_browser_ready, assert_same_origin, run_node, screenshot_dir};
use demo_common::{Seeded, every_event, start_seeded};
use ehr_client::access::{self, PracticeView};
use ehr_client::chart::FoldOptions;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::fhir::{AppointmentStatus, ResourceType};
use ehr_client::kinds::ClinicalKind;
use ehr_client::nostr::prelude::{Event, Timestamp};
use ehr_client::roster::verify_roster_chain;
use ehr_client::schedule::booking::{Desk, request};
use ehr_client::schedule::{FreeSlot, Holds, schedules};
use nostr_ehr::demo::DemoKeys;
use nostr_ehr::demo::charts::PATIENTS;
use serde_json::{Value, json};

/// Patients `which` book `slots` (one each): each request signed by her, then booked by the
/// front desk; per patient, her request and then the desk's events, in publication order.
fn booked(
    keys: &DemoKeys,
    events: &[Event],
    which: &[usize],
    slots: &[FreeSlot],
) -> Vec<(Event, Vec<Event>)> {
    let roster = verify_roster_chain(&keys.root.public_key(), events);
    let schedule = schedules(&roster, events).remove(0);
    let visit = schedule.visit_type("sick").unwrap();
    let target = roster
        .patient_seal_target(ClinicalKind::Appointment)
        .unwrap();
    let view = PracticeView::load(&keys.root.public_key(), events, &keys.frontdesk);
    let now = Timestamp::now();
    let desk = Desk {
        view: &view,
        actor: &keys.frontdesk,
        now,
        practice: "Demo Practice",
        utc_offset_minutes: 0,
    };
    let mut out = Vec::new();
    for (i, slot) in which.iter().zip(slots) {
        let patient = &keys.patients[*i];
        let resource = request(
            &patient.public_key().to_hex(),
            slot,
            visit,
            None,
            now.as_secs(),
        );
        let asked = ClinicalEventBuilder::new(
            ClinicalKind::Appointment,
            resource.clone(),
            patient.public_key(),
        )
        .unwrap()
        .created_at(Timestamp::from_secs(now.as_secs() - 60))
        .sign_as_patient_to(patient, &target)
        .unwrap();
        let answer = desk.book(&patient.public_key(), &resource, slot).unwrap();
        out.push((asked.event().clone(), answer));
    }
    out
}

fn status_of(keys: &DemoKeys, events: &[Event], i: usize) -> AppointmentStatus {
    let (chart, _) = access::patient_chart(
        &keys.root.public_key(),
        &keys.patients[i],
        events,
        FoldOptions::default(),
    );
    chart
        .of_type(ResourceType::Appointment)
        .map(|e| e.resource.as_appointment().unwrap().clone())
        .max_by_key(|a| a.start.clone())
        .unwrap()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reschedule_a_cancellation_and_a_no_show_fold_alike_in_the_clinic_and_the_portal() {
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
    // The day after tomorrow (the demo's own request is tomorrow), 09:00, 09:30 and 10:00 UTC.
    let day = Timestamp::now().as_secs() / 86_400 * 86_400 + 2 * 86_400;
    let events = every_event(&relay, &keys).await;
    let roster = verify_roster_chain(&keys.root.public_key(), &events);
    let schedule = schedules(&roster, &events).remove(0);
    let free = schedule
        .free_slots(
            &Holds::from_events(&roster, &events),
            "sick",
            day,
            day + 86_400,
        )
        .unwrap();
    let at = |hour: u64, minute: u64| {
        free.iter()
            .find(|s| s.start == day + hour * 3600 + minute * 60)
            .unwrap()
            .clone()
    };
    let slots = [at(9, 0), at(9, 30), at(10, 0)];
    // Patients with nothing else booked in the demo (2 to 5 are seen today, 1 asked); Cleo is
    // a child, the ward of patient 0.
    let (ana, ben, cleo) = (7, 6, 9);
    let seeded = booked(&keys, &events, &[ana, ben, cleo], &slots);
    let desk = ehr_client::net::RelayClient::connect(
        &relay,
        &keys.frontdesk,
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
    // Each patient's request is hers: published on her own connection, the desk's after.
    for ((asked, answer), patient) in seeded.iter().zip([ana, ben, cleo]) {
        let client = ehr_client::net::RelayClient::connect(
            &relay,
            &keys.patients[patient],
            std::time::Duration::from_secs(30),
        )
        .await
        .unwrap();
        client.publish(std::slice::from_ref(asked)).await.unwrap();
        client.disconnect().await;
        let outcomes = desk.publish(answer).await.unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, ehr_client::net::PublishOutcome::Accepted)),
            "{outcomes:?}"
        );
    }
    desk.disconnect().await;

    let name = |i: usize| format!("{} {}", PATIENTS[i].given, PATIENTS[i].family);
    let patient = |i: usize| json!({ "nsec": keys.patients[i].nsec().as_str(), "name": name(i) });
    let shots = screenshot_dir();
    let input = json!({
        "clinic": clinic,
        "portal": portal,
        "chromium": CHROMIUM,
        "connection": connection,
        "day": day,
        "frontdesk": keys.frontdesk.nsec().as_str(),
        "patients": [patient(ana), patient(ben), patient(cleo)],
        "guardian": {
            "nsec": keys.patients[0].nsec().as_str(),
            "ward": keys.patients[cleo].public_key().to_hex(),
        },
        "screenshots": {
            "clinic": shots.join("schedule-changes-1280px.png"),
            "portal": shots.join("portal-rescheduled-375px.png"),
            "guardian": shots.join("portal-guardian-booking-375px.png"),
        },
    });
    let result = run_node("clinic-schedule-changes.mjs", input).await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    assert_same_origin(&result, &clinic, &relay, None);
    assert_eq!(result["phoneErrors"], json!([]), "{result}");
    let text = |field: &str| result[field].to_string();
    // The portal says she asked; the desk sees the request with the time asked for.
    assert!(text("anaAsked").contains("asked to move it"), "{result}");
    assert!(text("benCancelled").contains("Cancelled"), "{result}");
    assert!(
        text("requestRows").contains(&name(ana)) && text("requestRows").contains("Asks to move to"),
        "{result}"
    );
    assert!(text("confirmed").contains("is booked"), "{result}");
    assert_eq!(
        result["anaLive"], true,
        "her open portal shows the move live: {result}"
    );
    assert!(text("guardianAsked").contains("Requested:"), "{result}");
    assert!(
        text("wardConfirmed").contains(&name(cleo)) && text("wardConfirmed").contains("is booked"),
        "{result}"
    );
    assert!(text("noshow").contains("No-show: done"), "{result}");
    // The day: Ana at her new time, Ben cancelled, Cleo a no-show at 10:00 and booked at 8:00.
    let row = |i: usize, at: &str| {
        result["day"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .find(|r| r.contains(&name(i)) && r.starts_with(at))
            .unwrap_or_default()
    };
    assert!(row(ana, "2:00 PM").contains("booked"), "{result}");
    assert!(row(ben, "9:30 AM").contains("cancelled"), "{result}");
    assert!(row(cleo, "10:00 AM").contains("no-show"), "{result}");
    assert!(row(cleo, "8:00 AM").contains("booked"), "{result}");
    // Each patient reads the same in the portal.
    assert!(
        text("anaAfter").contains("Booked") && !text("anaAfter").contains("asked to move"),
        "{result}"
    );
    assert!(text("benAfter").contains("Cancelled"), "{result}");
    assert!(text("cleoAfter").contains("Missed"), "{result}");

    // On the relay: Ana's 14:00 held and her 09:00 free; Ben's 09:30 freed by the desk's screen;
    // Cleo's 10:00 still held (a no-show keeps its time). Both sides fold the same statuses.
    let events = every_event(&relay, &keys).await;
    stack.stop().await;
    let roster = verify_roster_chain(&keys.root.public_key(), &events);
    let holds = Holds::from_events(&roster, &events);
    assert!(holds.is_held(&at(14, 0).slot));
    assert!(!holds.is_held(&slots[0].slot));
    assert!(
        !holds.is_held(&slots[1].slot),
        "her cancellation's time was freed"
    );
    assert!(holds.is_held(&slots[2].slot));
    assert_eq!(status_of(&keys, &events, ana), AppointmentStatus::Booked);
    assert_eq!(status_of(&keys, &events, ben), AppointmentStatus::Cancelled);
    assert_eq!(status_of(&keys, &events, cleo), AppointmentStatus::Noshow);
    // Her guardian's request: signed by the guardian's key, about her, and booked at 08:00.
    let guardian = keys.patients[0].public_key();
    let by_guardian: Vec<_> = events
        .iter()
        .filter(|e| e.kind.as_u16() == ClinicalKind::Appointment.as_u16() && e.pubkey == guardian)
        .collect();
    assert_eq!(by_guardian.len(), 1);
    assert!(
        by_guardian[0]
            .tags
            .public_keys()
            .any(|p| p == keys.patients[cleo].public_key())
    );
    assert!(
        holds.is_held(&at(8, 0).slot),
        "the ward's request was booked"
    );
    // Ana's reminder record, written when the desk moved her, carries her email address (from
    // her demographics) for the agent's email reminder, and her new time.
    let records = ehr_client::schedule::reminder::reminders(&roster, &keys.billing, &events);
    let hers = records
        .iter()
        .find(|r| r.patient == keys.patients[ana].public_key().to_hex())
        .unwrap();
    assert_eq!(hers.start, at(14, 0).start);
    assert!(
        hers.email.as_deref().unwrap().ends_with("@example.org"),
        "{hers:?}"
    );
    let view = PracticeView::load(&keys.root.public_key(), &events, &keys.frontdesk);
    for (i, want) in [
        (ana, AppointmentStatus::Booked),
        (ben, AppointmentStatus::Cancelled),
        (cleo, AppointmentStatus::Noshow),
    ] {
        let (chart, _) = view.chart(
            &keys.patients[i].public_key(),
            &events,
            FoldOptions::default(),
        );
        let current = chart
            .of_type(ResourceType::Appointment)
            .map(|e| e.resource.as_appointment().unwrap().clone())
            .max_by_key(|a| a.start.clone())
            .unwrap();
        assert_eq!(current.status, want, "the desk's fold of patient {i}");
    }
}
