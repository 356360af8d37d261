#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The front desk edits Dr. Rivera's schedule in the clinic app (headless Chromium, the demo
//! practice): a whole day off and a new visit type, "Vaccine only" (15 minutes). An edit whose
//! hours end before they start is refused with the rule, and nothing is published. On the
//! relay afterwards: the day off has no free time, the new visit type is there, and the
//! schedule has exactly one new version. Then `ehr schedule list` reads it back and `ehr
//! schedule set` adds a second schedule from a file.

mod clinic_common;
mod demo_common;

use clinic_common::{CHROMIUM, assert_browser_ready, assert_same_origin, run_node, screenshot_dir};
use demo_common::{Seeded, ehr, ehr_output, every_event, start_seeded};
use ehr_client::kinds;
use ehr_client::nostr::prelude::{Timestamp, ToBech32};
use ehr_client::roster::verify_roster_chain;
use ehr_client::schedule::{Holds, schedules};
use nostr_ehr::demo::schedule::SCHEDULE_ID;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_desk_edits_a_schedule_and_the_day_off_has_no_free_time() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let clinic = stack.urls().clinic.clone().unwrap();
    let relay = stack.urls().relay.clone();
    // Three days from now (UTC, the demo schedule's clock): nothing is booked then.
    let day = Timestamp::now().as_secs() / 86_400 * 86_400 + 3 * 86_400;
    let events = every_event(&relay, &keys).await;
    let roster = verify_roster_chain(&keys.root.public_key(), &events);
    let before = schedules(&roster, &events);
    let rivera = before.iter().find(|s| s.id == SCHEDULE_ID).unwrap().clone();
    assert!(
        !rivera
            .free_slots(&Holds::default(), "sick", day, day + 86_400)
            .unwrap()
            .is_empty(),
        "the demo's day is open before the edit"
    );

    let shots = screenshot_dir();
    let input = json!({
        "clinic": clinic,
        "chromium": CHROMIUM,
        "frontdesk": keys.frontdesk.nsec().as_str(),
        "day": day,
        "schedule": rivera.name,
        "screenshots": {
            "wide": shots.join("schedule-editor-1280px.png"),
            "wideError": shots.join("schedule-editor-refused-1280px.png"),
            "wideList": shots.join("schedule-editor-saved-1280px.png"),
            "phone": shots.join("schedule-editor-375px.png"),
        },
    });
    let result = run_node("clinic-schedule-editor.mjs", input).await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    assert_same_origin(&result, &clinic, &relay, None);
    assert_eq!(result["phoneErrors"], json!([]), "{result}");
    let text = |field: &str| result[field].to_string();
    assert!(text("list").contains(&rivera.name), "{result}");
    assert!(
        text("focused").contains("Edit:"),
        "the form's heading has the focus: {result}"
    );
    assert_eq!(
        result["offFocused"], "date",
        "Add time off focuses its day: {result}"
    );
    // The refusal names the rule, and nothing went to the relay.
    assert!(
        text("refused").contains("Not saved") && text("refused").contains("end after they start"),
        "{result}"
    );
    assert_eq!(result["sentOnRefusal"], 0, "{result}");
    assert!(
        text("saved").contains("Saved: patients see the new free times now."),
        "{result}"
    );
    assert!(
        text("listAfter").contains("4 visit types, 1 time off"),
        "{result}"
    );
    assert_eq!(result["phoneVisit"], "Vaccine only", "{result}");
    assert!(
        result["phoneOff"]
            .as_str()
            .is_some_and(|d| !d.is_empty() && d.len() == 10),
        "{result}"
    );
    assert!(
        result["phoneWidth"].as_u64().unwrap() <= 375,
        "no sideways scrolling at 375 px: {result}"
    );
    assert!(
        text("dayOff").contains("No appointment that day"),
        "{result}"
    );

    // On the relay: one new version of the schedule, by the front desk; the day off has no free
    // time for any visit type, the day after still has; the new visit type is there.
    let events = every_event(&relay, &keys).await;
    let versions: Vec<_> = events
        .iter()
        .filter(|e| {
            e.kind.as_u16() == kinds::SCHEDULE
                && e.tags.identifier().as_deref() == Some(SCHEDULE_ID)
        })
        .collect();
    assert_eq!(versions.len(), 2, "the seeded one and the saved one");
    assert!(
        versions
            .iter()
            .all(|e| e.pubkey == keys.frontdesk.public_key())
    );
    let roster = verify_roster_chain(&keys.root.public_key(), &events);
    let holds = Holds::from_events(&roster, &events);
    let after = schedules(&roster, &events);
    let edited = after.iter().find(|s| s.id == SCHEDULE_ID).unwrap();
    let vaccine = edited.visit_type("vaccine").expect("the new visit type");
    assert_eq!(
        (vaccine.label.as_str(), vaccine.minutes),
        ("Vaccine only", 15)
    );
    assert_eq!(
        edited.weekly, rivera.weekly,
        "the refused end time was put right"
    );
    assert_eq!(edited.time_off.len(), 1);
    assert_eq!(edited.time_off[0].reason, "Training day");
    for visit in &edited.visit_types {
        let free = edited
            .free_slots(&holds, &visit.code, day, day + 86_400)
            .unwrap();
        assert!(free.is_empty(), "{} is free on the day off", visit.code);
    }
    assert!(
        !edited
            .free_slots(&holds, "vaccine", day + 86_400, day + 2 * 86_400)
            .unwrap()
            .is_empty(),
        "the day after is open, for the new visit type too"
    );

    // `ehr schedule`: the front desk lists the schedules, and sets a second one from a file.
    let desk_home = home.path().join("frontdesk");
    ehr(
        &desk_home,
        &keys.frontdesk,
        &["practice", "connect", &connection],
    );
    let listed = ehr(&desk_home, &keys.frontdesk, &["schedule", "list"]);
    let listed = listed["schedules"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0]["visit_types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["code"] == "vaccine")
    );
    let mut lee = listed[0].clone();
    lee["id"] = json!("nurse-lee");
    lee["name"] = json!("Nurse Lee (synthetic)");
    lee["clinician"] = json!(keys.nurse.public_key().to_bech32().unwrap());
    lee["time_off"] = json!([]);
    let file = home.path().join("lee.json");
    std::fs::write(&file, lee.to_string()).unwrap();
    let set = ehr(
        &desk_home,
        &keys.frontdesk,
        &["schedule", "set", file.to_str().unwrap()],
    );
    assert_eq!(set["kind"], kinds::SCHEDULE, "{set}");
    assert_eq!(set["publish"]["accepted"], 1, "{set}");
    assert_eq!(set["event_id"].as_str().unwrap().len(), 64, "{set}");
    // A schedule breaking a rule is refused before anything is signed.
    lee["step_minutes"] = json!(7);
    std::fs::write(&file, lee.to_string()).unwrap();
    let refused = ehr_output(
        &desk_home,
        &keys.frontdesk,
        &["schedule", "set", file.to_str().unwrap()],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("multiple of the step"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let listed = ehr(&desk_home, &keys.frontdesk, &["schedule", "list"]);
    let ids: Vec<&str> = listed["schedules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [SCHEDULE_ID, "nurse-lee"]);
    assert_eq!(
        listed["schedules"][1]["clinician"],
        keys.nurse.public_key().to_hex()
    );
    stack.stop().await;
}
