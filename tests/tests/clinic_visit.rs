#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A doctor's whole visit in the clinic app, in headless Chromium on the demo practice, logged
//! in through a NIP-07 extension (nostr-tools in Node behind `window.nostr`, the key never in
//! the page): vitals, a note from a template, a problem, a prescription past the allergy alert,
//! a lab order and its result, an addendum. The extension is asked to decrypt only the
//! member's grants and signs every record. The nurse's `ehr chart show` holds every record,
//! and Maria's portal folds the same chart. A screenshot of the chart's summary after the
//! visit stays in `$CARGO_TARGET_DIR/clinic-screenshots/`.
//!
//! Needs `scripts/build-web`, Chromium and `npm ci --prefix tests/node`; `scripts/test` does all
//! three.

mod clinic_common;
mod demo_common;

use clinic_common::{
    CHROMIUM, assert_browser_ready, assert_same_origin, has_code, note_text, of_type,
    screenshot_dir,
};
use demo_common::{Seeded, ehr, start_seeded};
use serde_json::{Value, json};

const PLAN: &str = "Start the new inhaler; lipid panel today. (synthetic)";
const ADDENDUM: &str = "Lipid panel reviewed with the patient by phone. (synthetic)";
/// The forms the doctor submits: vitals, note, problem, prescription, order, result, addendum.
const WRITES: u64 = 7;

/// Maria's chart as another member folds it holds the whole visit.
fn assert_visit_records(bundle: &Value, problem: &str) {
    let documents = of_type(bundle, "DocumentReference");
    let note = documents
        .iter()
        .find(|d| note_text(d).contains(PLAN))
        .expect("the signed note");
    let addendum = documents
        .iter()
        .find(|d| note_text(d) == ADDENDUM)
        .expect("the addendum");
    assert_eq!(addendum["relatesTo"][0]["code"], "appends");
    assert_eq!(
        addendum["relatesTo"][0]["target"]["reference"],
        format!("DocumentReference/{}", note["id"].as_str().unwrap())
    );
    let heart_rate = of_type(bundle, "Observation")
        .into_iter()
        .find(|o| {
            has_code(o, "code", "http://loinc.org", "8867-4") && o["valueQuantity"]["value"] == 72.0
        })
        .expect("the heart rate of the visit");
    assert_eq!(heart_rate["valueQuantity"]["code"], "/min");
    of_type(bundle, "Observation")
        .into_iter()
        .find(|o| {
            has_code(o, "code", "http://loinc.org", "85354-9")
                && o["component"][0]["valueQuantity"]["value"] == 128.0
        })
        .expect("the blood pressure of the visit");
    let condition = of_type(bundle, "Condition")
        .into_iter()
        .find(|c| c["code"]["text"] == problem)
        .expect("the new problem");
    assert_eq!(
        condition["code"]["coding"][0]["system"],
        "http://hl7.org/fhir/sid/icd-10-cm"
    );
    let prescription = of_type(bundle, "MedicationRequest")
        .into_iter()
        .find(|m| {
            has_code(
                m,
                "medicationCodeableConcept",
                "http://www.nlm.nih.gov/research/umls/rxnorm",
                "308182",
            ) && m["dispenseRequest"].is_object()
        })
        .expect("the prescription");
    assert_eq!(prescription["dispenseRequest"]["quantity"]["value"], 30.0);
    let order = of_type(bundle, "ServiceRequest")
        .into_iter()
        .find(|s| has_code(s, "code", "http://loinc.org", "57698-3"))
        .expect("the lipid panel order");
    assert_eq!(order["status"], "completed");
    let order_ref = format!("ServiceRequest/{}", order["id"].as_str().unwrap());
    of_type(bundle, "DiagnosticReport")
        .into_iter()
        .find(|r| r["basedOn"][0]["reference"] == order_ref.as_str())
        .expect("the report based on the order");
    let cholesterol = of_type(bundle, "Observation")
        .into_iter()
        .find(|o| {
            has_code(o, "code", "http://loinc.org", "2093-3")
                && o["basedOn"][0]["reference"] == order_ref.as_str()
        })
        .expect("the cholesterol result");
    assert_eq!(cholesterol["valueQuantity"]["value"], 245.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doctor_logged_in_through_an_extension_documents_a_whole_visit_that_the_practice_and_the_patient_read_alike()
 {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let clinic = stack.urls().clinic.clone().unwrap();
    let screenshot = screenshot_dir().join("visit-overview-1280px.png");
    let input = json!({
        "clinic": clinic,
        "chromium": CHROMIUM,
        "doctor": keys.doctor.nsec().as_str(),
        "search": "maria demo-alvarez",
        "vitals": {
            "Weight": "68", "Height": "165", "Temperature": "36.8", "Heart rate (/min)": "72",
            "Respiratory rate (/min)": "16", "SpO2 (%)": "98", "Systolic": "128", "Diastolic": "82",
        },
        "problem": "asthma",
        "medication": "amoxicillin 250",
        "test": "lipid",
        "results": {
            "Cholesterol [Mass/volume] in Serum or Plasma (mg/dL)": "245",
            "Cholesterol in HDL [Mass/volume] in Serum or Plasma (mg/dL)": "52",
        },
        "plan": PLAN,
        "addendum": ADDENDUM,
        "screenshot": screenshot,
        "timelineScreenshot": screenshot_dir().join("visit-timeline-1280px.png"),
    });
    let result = tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("clinic-visit.mjs", "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap()
    .remove(0);
    assert_eq!(result["failure"], Value::Null, "{result}");
    assert_eq!(result["error"], "", "{result}");
    assert!(result["heading"].as_str().unwrap().contains("Maria"));
    assert_eq!(result["formErrors"], json!([]), "{result}");
    assert_eq!(result["signError"], "", "{result}");
    // Today's block of the timeline holds the visit, its note, the problem and the order.
    let today = result["timelineToday"].as_str().unwrap();
    for written in [
        "Visit",
        "Document",
        "Problem",
        "Order",
        "asthma",
        "Lipid panel",
    ] {
        assert!(today.contains(written), "{written}: {today}");
    }
    // The template filled in her chart, the vitals just entered among it.
    let subjective = result["subjective"].as_str().unwrap();
    assert!(subjective.contains("penicillin"), "{result}");
    assert!(
        result["objective"].as_str().unwrap().contains("128/82"),
        "{result}"
    );
    let alert = result["alert"].as_str().unwrap();
    assert!(
        alert.contains("Allergy to penicillin G: amoxicillin — same class (penicillins)"),
        "{alert}"
    );
    assert!(
        result["orderMeta"].as_str().unwrap().contains("completed"),
        "{result}"
    );

    // Every write was signed by the extension; it decrypted the grants only, at login.
    let asked = &result["asked"];
    assert!(asked["signEvent"].as_u64().unwrap() >= WRITES, "{asked}");
    let decrypted = asked["decrypt"].as_u64().unwrap();
    assert!((1..=4).contains(&decrypted), "{asked}");
    assert_eq!(result["askedAtLogin"]["decrypt"], decrypted, "{asked}");
    assert!(asked["encrypt"].as_u64().unwrap() >= 1, "{asked}");
    assert_same_origin(&result, &clinic, &stack.urls().relay, None);
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));

    // The nurse reads the whole visit with the CLI.
    let nurse_home = home.path().join("nurse");
    ehr(
        &nurse_home,
        &keys.nurse,
        &["practice", "connect", &connection],
    );
    let maria = &keys.patients[0];
    let bundle = ehr(
        &nurse_home,
        &keys.nurse,
        &[
            "chart",
            "show",
            "--patient",
            &maria.npub(),
            "--format",
            "bundle",
        ],
    );
    assert_visit_records(&bundle, result["problem"]["value"].as_str().unwrap());

    // And Maria, in the portal, sees the same folded chart: one row per record.
    let portal = json!({
        "portal": stack.urls().portal.clone().unwrap(),
        "chromium": CHROMIUM,
        "connection": connection,
        "logins": [{ "name": "maria", "nsec": maria.nsec().as_str() }],
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
}
