#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The clinic app in a real browser (headless Chromium from Debian, driven by playwright-core):
//! the demo practice runs in-process on ports :0, and staff log in with their own keys.
//! - The doctor sees every patient with a last visit, finds one by name, reads every tab,
//!   and answers her newest message; the patient reads the answer with her own key.
//! - The front desk sees the same patients without visits, only the details and messages
//!   tabs and only demographics and messages among the records, and answers a message too.
//! - A key that is not on the staff roster is told so, and is shown nothing.
//!
//! Nothing is fetched from another origin and the CSP is never violated. Screenshots stay in
//! `$CARGO_TARGET_DIR/clinic-screenshots/`.
//!
//! Needs `scripts/build-web` (the WebAssembly), Chromium and `npm ci --prefix tests/node`;
//! `scripts/test` does all three.

mod clinic_common;
mod demo_common;

use std::collections::BTreeMap;
use std::path::Path;

use clinic_common::{CHROMIUM, assert_browser_ready, assert_same_origin, screenshot_dir};
use demo_common::{Seeded, count, ehr, start_seeded};
use ehr_client::keys::Identity;
use serde_json::{Value, json};

const DOCTOR_REPLY: &str = "Your lab results are normal. (synthetic reply from the doctor)";
const FRONT_DESK_REPLY: &str = "We booked you for Tuesday at 9. (synthetic reply from the desk)";
const NEW_PHONE: &str = "555-0142";

fn record_kinds(result: &Value) -> Vec<String> {
    let mut kinds: Vec<String> = result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].as_str().unwrap().to_owned())
        .collect();
    kinds.dedup();
    kinds
}

/// The texts of the messages in `patient`'s own chart, as she reads it with the CLI.
fn messages_she_reads(home: &Path, patient: &Identity, connection: &str) -> Vec<String> {
    let own = home.join(format!("patient-{}", patient.public_key().to_hex()));
    ehr(&own, patient, &["practice", "connect", connection]);
    let bundle = ehr(
        &own,
        patient,
        &[
            "chart",
            "show",
            "--patient",
            &patient.npub(),
            "--format",
            "bundle",
        ],
    );
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Communication")
        .filter_map(|e| e["resource"]["payload"][0]["contentString"].as_str())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_read_and_answer_charts_as_their_role_allows_and_strangers_are_refused() {
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
    let maria = &keys.patients[0];
    ehr(
        &home.path().join("doctor"),
        &keys.doctor,
        &["practice", "connect", &connection],
    );
    let doctor_cli = ehr(
        &home.path().join("doctor"),
        &keys.doctor,
        &[
            "chart",
            "show",
            "--patient",
            &maria.npub(),
            "--format",
            "bundle",
        ],
    );
    let shots = screenshot_dir();
    let input = json!({
        "clinic": clinic,
        "chromium": CHROMIUM,
        "logins": [
            {
                "name": "doctor", "nsec": keys.doctor.nsec().as_str(), "width": 1280,
                "search": "maria", "reply": DOCTOR_REPLY,
                "screenshots": {
                    "list": shots.join("patients-doctor-1280px.png"),
                    "chart": shots.join("chart-doctor-1280px.png"),
                },
            },
            {
                "name": "frontdesk", "nsec": keys.frontdesk.nsec().as_str(), "width": 375,
                "search": "maria demo-alvarez", "reply": FRONT_DESK_REPLY, "phone": NEW_PHONE,
                "screenshots": {
                    "list": shots.join("patients-frontdesk-375px.png"),
                    "chart": shots.join("chart-frontdesk-375px.png"),
                },
            },
            {
                "name": "stranger", "nsec": Identity::generate().nsec().as_str(), "width": 375,
                "search": "maria",
            },
        ],
    });
    let results = tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("clinic-browser.mjs", "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap();
    let by_name: BTreeMap<&str, &Value> = results
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r))
        .collect();
    let (doctor, desk, stranger) = (by_name["doctor"], by_name["frontdesk"], by_name["stranger"]);

    // The doctor: every patient, with visits; Maria's whole chart, as the CLI folds it.
    assert_eq!(doctor["error"], "", "{doctor}");
    assert_eq!(doctor["failure"], Value::Null, "{doctor}");
    assert_eq!(doctor["offered"], connection);
    assert!(doctor["member"].as_str().unwrap().ends_with("· doctor"));
    assert_eq!(doctor["focused"], "patient-search");
    let patients = doctor["patients"].as_array().unwrap();
    assert_eq!(patients.len(), keys.patients.len());
    assert!(
        patients.iter().any(|p| p[4] != ""),
        "no last visit: {doctor}"
    );
    assert_eq!(doctor["matches"], 1);
    assert!(doctor["heading"].as_str().unwrap().contains("Maria"));
    let tabs: Vec<&str> = doctor["tabs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for tab in [
        "Summary",
        "Timeline",
        "Visits",
        "Problems",
        "Medications",
        "Details",
        "Messages",
    ] {
        assert!(tabs.contains(&tab), "{tab}: {tabs:?}");
    }
    let entries = doctor_cli["entry"].as_array().unwrap().len();
    assert_eq!(
        doctor["rows"].as_array().unwrap().len(),
        entries,
        "{doctor}"
    );
    assert_eq!(doctor["replied"], true);

    // The front desk: the same patients without visits, demographics and messages only.
    assert_eq!(desk["error"], "", "{desk}");
    assert_eq!(desk["failure"], Value::Null, "{desk}");
    assert!(desk["member"].as_str().unwrap().ends_with("· frontdesk"));
    let listed = desk["patients"].as_array().unwrap();
    assert_eq!(listed.len(), keys.patients.len());
    assert!(listed.iter().all(|p| p[4] == ""), "a visit shown: {desk}");
    assert_eq!(desk["tabs"], json!(["Details", "Messages", "All records"]));
    assert_eq!(record_kinds(desk), ["Message", "Patient details"]);
    assert_eq!(
        desk["rows"].as_array().unwrap().len(),
        count(&doctor_cli, "Communication") + count(&doctor_cli, "Patient") + 1,
        "every message (and the doctor's new reply) and the demographics: {desk}"
    );
    assert_eq!(desk["replied"], true);
    assert_eq!(desk["phoneSaved"], true);

    // A stranger's key: told so, shown nothing.
    let refused = stranger["error"].as_str().unwrap();
    assert!(
        refused.contains("not on the practice's staff roster"),
        "{stranger}"
    );
    assert_eq!(stranger["patients"], Value::Null);
    for result in [doctor, desk, stranger] {
        assert_eq!(result["secretLeftInForm"], "");
        assert_same_origin(result, &clinic, &relay, None);
    }
    for result in [doctor, desk] {
        assert_eq!(result["patientsAfterLogout"], 0);
        assert_eq!(result["chartRowsAfterLogout"], 0);
        assert_eq!(result["workspaceVisibleAfterLogout"], false);
    }

    // The desk's new phone number is the current version of her details, for every member.
    let after = ehr(
        &home.path().join("doctor"),
        &keys.doctor,
        &[
            "chart",
            "show",
            "--patient",
            &maria.npub(),
            "--format",
            "bundle",
        ],
    );
    let details: Vec<&Value> = after["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Patient")
        .collect();
    assert_eq!(details.len(), 1);
    assert_eq!(details[0]["telecom"][0]["value"], NEW_PHONE);
    assert_eq!(details[0]["meta"]["versionId"], "2");

    // Both answers reach Maria, who reads them with her own key.
    let hers = messages_she_reads(home.path(), maria, &connection);
    stack.stop().await;
    assert!(hers.iter().any(|m| m == DOCTOR_REPLY), "{hers:?}");
    assert!(hers.iter().any(|m| m == FRONT_DESK_REPLY), "{hers:?}");
    for shot in ["chart-doctor-1280px.png", "chart-frontdesk-375px.png"] {
        let png = std::fs::read(shots.join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{shot}");
    }
}
