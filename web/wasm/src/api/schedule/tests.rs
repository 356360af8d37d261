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

/// The front desk's session (it may schedule) and a definition of Dr. Rivera's schedule, edited.
fn desk_and_definition() -> (Identity, MemberSession, Vec<Event>, Value) {
    let (root, frontdesk, events) = practice();
    let json = serde_json::to_string(&events).unwrap();
    let session = MemberSession::open(&root.public_key().to_hex(), &frontdesk, &json).unwrap();
    let listed: Value =
        serde_json::from_str(&practice_schedules(&root.public_key().to_hex(), &json).unwrap())
            .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    (root, session, events, listed[0].clone())
}

#[test]
fn the_schedules_in_force_are_listed_and_an_edited_one_signed_replaces_them() {
    let (root, session, mut events, mut definition) = desk_and_definition();
    assert_eq!(definition["id"], "dr-rivera");
    assert_eq!(definition["weekly"][0]["start"], "09:00");
    definition["visit_types"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "code": "vaccine", "label": "Vaccine only", "minutes": 15, "bookable_online": true }));
    definition["time_off"] =
        json!([{ "from": "2030-01-07", "to": "2030-01-07", "reason": "Training" }]);
    let signed = sign_schedule(&session, &definition.to_string(), MONDAY - 3600.0).unwrap();
    let event: Event = serde_json::from_str(&signed).unwrap();
    assert_eq!(event.kind.as_u16(), ehr_client::kinds::SCHEDULE);
    assert!(event.verify().is_ok());
    events.push(event);
    let json = serde_json::to_string(&events).unwrap();
    let root = root.public_key().to_hex();
    let listed: Value = serde_json::from_str(&practice_schedules(&root, &json).unwrap()).unwrap();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "the newest version of the id"
    );
    assert_eq!(listed[0]["visit_types"][2]["code"], "vaccine");
    // The day off: no free time that Monday.
    let free: Value =
        serde_json::from_str(&free_slots(&root, &json, MONDAY, MONDAY + 86_400.0, true).unwrap())
            .unwrap();
    assert_eq!(free["slots"].as_array().unwrap().len(), 0);
}

#[test]
fn a_clinician_given_as_an_npub_is_signed_as_hex() {
    use ehr_client::nostr::prelude::ToBech32;
    let (_, session, _, mut definition) = desk_and_definition();
    let clinician: String = definition["clinician"].as_str().unwrap().to_owned();
    let key = ehr_client::nostr::prelude::PublicKey::from_hex(&clinician).unwrap();
    definition["clinician"] = json!(key.to_bech32().unwrap());
    let event: Event =
        serde_json::from_str(&sign_schedule(&session, &definition.to_string(), MONDAY).unwrap())
            .unwrap();
    let content: Value = serde_json::from_str(&event.content).unwrap();
    assert_eq!(content["clinician"], clinician);
}

#[test]
fn an_invalid_schedule_is_refused_with_the_rule_it_breaks() {
    let (_, session, _, definition) = desk_and_definition();
    let refused = |edit: &dyn Fn(&mut Value)| {
        let mut d = definition.clone();
        edit(&mut d);
        sign_schedule(&session, &d.to_string(), MONDAY)
            .unwrap_err()
            .to_string()
    };
    // A step of 7 minutes: the 15-minute visit is not a multiple of it.
    let step = refused(&|d| d["step_minutes"] = json!(7));
    assert!(step.contains("a multiple of the step"), "{step}");
    let step = refused(&|d| d["step_minutes"] = json!(4));
    assert!(step.contains("step_minutes must be 5 to 60"), "{step}");
    let hours = refused(&|d| d["weekly"][0]["end"] = json!("08:00"));
    assert!(hours.contains("end after they start"), "{hours}");
    let visit = refused(&|d| d["visit_types"][0]["minutes"] = json!(20));
    assert!(visit.contains("a multiple of the step"), "{visit}");
    let off = refused(&|d| {
        d["time_off"] = json!([{ "from": "2030-01-08", "to": "2030-01-07", "reason": "" }]);
    });
    assert!(off.contains("time off"), "{off}");
    let shape = refused(&|d| d["colour"] = json!("red"));
    assert!(shape.contains("is not a schedule definition"), "{shape}");
}

#[test]
fn a_key_that_may_not_schedule_is_refused() {
    let (root, _, events, definition) = desk_and_definition();
    let json = serde_json::to_string(&events).unwrap();
    let stranger = Identity::generate();
    let session = MemberSession::open(&root.public_key().to_hex(), &stranger, &json).unwrap();
    let refused = sign_schedule(&session, &definition.to_string(), MONDAY)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("may not manage the schedule"), "{refused}");
}
