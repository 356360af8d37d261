#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use ehr_client::keys::Identity;
use ehr_client::nostr::prelude::{Event, Timestamp};
use ehr_client::roster::Role;
use ehr_client::rotation::{self, RosterChange};
use ehr_client::schedule::{ScheduleDefinition, VisitType, WeeklyHours, schedule_event};
use serde_json::json;

use super::*;

/// Monday 2030-01-07 00:00 UTC.
const MONDAY: f64 = 1_893_974_400.0;

fn practice() -> (Identity, Identity, Vec<Event>) {
    let (root, frontdesk) = (Identity::generate(), Identity::generate());
    let now = Timestamp::from_secs(1_800_000_000);
    let (mut events, _) = rotation::genesis(&root, None, now).unwrap();
    let view = ehr_client::access::PracticeView::load(&root.public_key(), &events, &root);
    let change = RosterChange::Add {
        pubkey: frontdesk.public_key(),
        role: Role::Frontdesk,
        name: None,
    };
    events.extend(rotation::change_roster(&view, &root, &change, now).unwrap());
    let definition = ScheduleDefinition {
        id: "dr-rivera".into(),
        clinician: frontdesk.public_key().to_hex(),
        name: "Dr. Rivera".into(),
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
                code: "long".into(),
                label: "Long visit".into(),
                minutes: 60,
                bookable_online: false,
            },
        ],
        weekly: vec![WeeklyHours {
            days: vec![1],
            start: "09:00".into(),
            end: "10:00".into(),
        }],
        time_off: Vec::new(),
        active: true,
    };
    events.push(
        schedule_event(&frontdesk, &definition, Timestamp::from_secs(1_800_000_100)).unwrap(),
    );
    (root, frontdesk, events)
}

#[test]
fn a_patient_sees_the_free_slots_of_online_visit_types_and_staff_every_type() {
    let (root, _, events) = practice();
    let json = serde_json::to_string(&events).unwrap();
    let root = root.public_key().to_hex();
    let patient: Value =
        serde_json::from_str(&free_slots(&root, &json, MONDAY, MONDAY + 86_400.0, false).unwrap())
            .unwrap();
    assert_eq!(patient["slots"].as_array().unwrap().len(), 4);
    assert_eq!(
        patient["schedules"][0]["visitTypes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let staff: Value =
        serde_json::from_str(&free_slots(&root, &json, MONDAY, MONDAY + 86_400.0, true).unwrap())
            .unwrap();
    assert_eq!(
        staff["slots"].as_array().unwrap().len(),
        5,
        "four quarter hours and one hour"
    );
}

#[test]
fn her_request_is_a_proposed_appointment_for_the_slot_and_her_cancellation_its_next_version() {
    let (root, _, events) = practice();
    let json = serde_json::to_string(&events).unwrap();
    let listed: Value = serde_json::from_str(
        &free_slots(
            &root.public_key().to_hex(),
            &json,
            MONDAY,
            MONDAY + 86_400.0,
            false,
        )
        .unwrap(),
    )
    .unwrap();
    let slot = listed["slots"][0].to_string();
    let visit = listed["schedules"][0]["visitTypes"][0].to_string();
    let chart = json!({ "patient": "ab".repeat(32), "bundle": { "entry": [] } }).to_string();
    let requested: Value =
        serde_json::from_str(&request(&chart, &slot, &visit, "Fever", MONDAY - 100.0).unwrap())
            .unwrap();
    assert_eq!(requested["status"], "proposed");
    assert_eq!(
        requested["slot"][0]["reference"],
        format!("Slot/dr-rivera.{}", MONDAY as u64 + 9 * 3600)
    );
    let cancelled: Value =
        serde_json::from_str(&cancellation(&requested.to_string()).unwrap()).unwrap();
    assert_eq!(
        (
            cancelled["status"].as_str(),
            cancelled["meta"]["versionId"].as_str()
        ),
        (Some("cancelled"), Some("2"))
    );
    assert!(request(&chart, "{}", &visit, "", 0.0).is_err());
}
