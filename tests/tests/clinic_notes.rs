#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Encounter notes in the clinic app, in headless Chromium on the demo practice: the doctor
//! defines a dot-phrase for the practice (kind 2122, which the nurse then reads) and writes a
//! note from a template whose dot-phrases fill in from the chart and from the practice's book;
//! the draft survives a reload sealed under her key (nothing readable in the browser's
//! storage), she signs it and an addendum; the nurse writes a nursing note. Another member reads them all with the `ehr` CLI,
//! and the patient in the portal sees the same folded chart.

mod clinic_common;
mod demo_common;

use clinic_common::{CHROMIUM, assert_same_origin, note_text, screenshot_dir};
use demo_common::{Seeded, ehr, start_seeded};
use serde_json::{Value, json};

const PLAN: &str = "Continue lisinopril; recheck blood pressure in four weeks. (synthetic)";
const ADDENDUM: &str = "Called the patient: home readings reviewed. (synthetic)";
const NURSING: &str = "Blood pressure rechecked seated, 128/82. (synthetic)";
const PHRASE_NAME: &str = "bpplan";
const PHRASE_TEXT: &str = "Home blood pressure log twice daily for two weeks. (synthetic)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctor_signs_a_templated_note_and_an_addendum_and_a_nurse_a_nursing_note() {
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let shots = screenshot_dir();
    let input = json!({
        "clinic": stack.urls().clinic.clone().unwrap(),
        "chromium": CHROMIUM,
        "doctor": keys.doctor.nsec().as_str(),
        "nurse": keys.nurse.nsec().as_str(),
        "search": "maria demo-alvarez",
        "plan": PLAN, "addendum": ADDENDUM, "nursing": NURSING,
        "phrase": { "name": PHRASE_NAME, "text": PHRASE_TEXT },
        "screenshots": {
            "writing": shots.join("note-writing-1280px.png"),
            "visits": shots.join("note-signed-1280px.png"),
        },
    });
    let result = tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("clinic-notes.mjs", "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap()
    .remove(0);
    assert_eq!(result["failure"], Value::Null, "{result}");
    let clinic = stack.urls().clinic.clone().unwrap();
    assert_same_origin(&result, &clinic, &stack.urls().relay, None);
    // The template's dot-phrases came from her chart.
    let subjective = result["subjective"].as_str().unwrap();
    assert!(
        subjective.contains("lisinopril") && subjective.contains("penicillin"),
        "{result}"
    );
    let assessment = result["assessment"].as_str().unwrap();
    assert!(assessment.contains("Hypertension"), "{result}");
    // The practice's phrase became its text, and the nurse finds it in the practice's book.
    assert!(
        assessment.contains(PHRASE_TEXT) && !assessment.contains(".bpplan"),
        "{result}"
    );
    let nurse_phrases = result["nursePhrases"].as_str().unwrap();
    assert!(
        nurse_phrases.contains(".bpplan") && nurse_phrases.contains(PHRASE_TEXT),
        "{nurse_phrases}"
    );
    // The draft came back, and what the browser stored of it was sealed.
    assert_eq!(result["restoredPlan"], PLAN);
    let stored = result["storage"].as_str().unwrap();
    assert!(
        !stored.is_empty() && !stored.contains("lisinopril") && !stored.contains("recheck"),
        "{stored}"
    );
    assert_eq!(result["draftsLeft"], 0, "the draft is dropped once signed");
    assert_eq!(result["nurseKind"], "nursing");

    // Another member reads the signed note, its addendum and the nursing note.
    let admin_home = home.path().join("admin");
    ehr(
        &admin_home,
        &keys.admin,
        &["practice", "connect", &connection],
    );
    let maria = keys.patients[0].npub();
    let bundle = ehr(
        &admin_home,
        &keys.admin,
        &["chart", "show", "--patient", &maria, "--format", "bundle"],
    );
    // And Maria, in the portal, sees the same folded chart: one row per record.
    let portal = json!({
        "portal": stack.urls().portal.clone().unwrap(),
        "chromium": CHROMIUM,
        "connection": connection,
        "logins": [{ "name": "maria", "nsec": keys.patients[0].nsec().as_str() }],
    });
    let hers = tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("portal-browser.mjs", "playwright-core", &portal)
    })
    .await
    .unwrap()
    .unwrap()
    .remove(0);
    stack.stop().await;
    assert_eq!(hers["error"], "", "{hers}");
    assert_eq!(
        hers["rows"].as_array().unwrap().len(),
        bundle["entry"].as_array().unwrap().len(),
        "the portal and the practice fold the same chart"
    );
    let her_rows = hers["rows"].to_string();
    assert!(her_rows.contains("Follow-up visit"), "{her_rows}");
    let documents: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "DocumentReference")
        .collect();
    let note = documents
        .iter()
        .find(|d| note_text(d).contains(PLAN))
        .expect("the signed note");
    assert_eq!(note["type"]["coding"][0]["code"], "11506-3");
    assert!(note_text(note).starts_with("Subjective:\nInterval history:"));
    assert!(note_text(note).contains(PHRASE_TEXT));
    let addendum = documents
        .iter()
        .find(|d| note_text(d) == ADDENDUM)
        .expect("the addendum");
    assert_eq!(addendum["relatesTo"][0]["code"], "appends");
    assert_eq!(
        addendum["relatesTo"][0]["target"]["reference"],
        format!("DocumentReference/{}", note["id"].as_str().unwrap())
    );
    assert_eq!(addendum["context"], note["context"]);
    let nursing = documents
        .iter()
        .find(|d| note_text(d).contains(NURSING))
        .expect("the nursing note");
    assert_eq!(nursing["type"]["coding"][0]["code"], "34746-8");
}
