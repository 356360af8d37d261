#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The clinic app's problem, prescription, order/result and forecast forms in a real browser
//! (headless Chromium from Debian, driven by playwright-core), on the demo practice in-process
//! on ports :0. The doctor opens Maria (allergic to penicillin G), adds a problem from the
//! ICD-10-CM picker, prescribes amoxicillin and must confirm the allergy alert, orders a lipid
//! panel and enters its result, which is flagged high; then opens Mateo (a child) and reads
//! his immunization forecast. Afterwards the nurse's `ehr chart show` holds those records with
//! their codes. Screenshots of the alert and the forecast, at 1280 and 375 px, stay in
//! `$CARGO_TARGET_DIR/clinic-screenshots/`.
//!
//! Needs `scripts/build-web` (the WebAssembly), Chromium and `npm ci --prefix tests/node`;
//! `scripts/test` does all three.

mod clinic_common;
mod demo_common;

use clinic_common::{
    CHROMIUM, assert_browser_ready, assert_same_origin, has_code, of_type, screenshot_dir,
};
use demo_common::{Seeded, ehr, start_seeded};
use serde_json::{Value, json};

/// Maria's chart as the nurse's CLI folds it holds what the doctor wrote in the browser: the
/// ICD-10-CM problem, the RxNorm prescription, the completed order with its report and its
/// flagged analyte.
fn assert_maria_records(bundle: &Value, problem: &str) {
    let conditions = of_type(bundle, "Condition");
    let coded = conditions
        .iter()
        .find(|c| c["code"]["text"] == problem)
        .expect("the new problem");
    assert!(
        coded["code"]["coding"][0]["code"]
            .as_str()
            .unwrap()
            .starts_with("J45."),
        "{coded}"
    );
    assert_eq!(
        coded["code"]["coding"][0]["system"],
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
            ) && m["intent"] == "order"
                && m["dispenseRequest"].is_object()
        })
        .expect("the prescription");
    assert_eq!(prescription["dispenseRequest"]["quantity"]["value"], 30.0);
    let order = of_type(bundle, "ServiceRequest")
        .into_iter()
        .find(|s| has_code(s, "code", "http://loinc.org", "57698-3"))
        .expect("the lipid panel order");
    assert_eq!(order["status"], "completed");
    assert_eq!(order["meta"]["versionId"], "2");
    let order_ref = format!("ServiceRequest/{}", order["id"].as_str().unwrap());
    let report = of_type(bundle, "DiagnosticReport")
        .into_iter()
        .find(|r| r["basedOn"][0]["reference"] == order_ref.as_str())
        .expect("the report based on the order");
    assert_eq!(report["result"].as_array().unwrap().len(), 2);
    let cholesterol = of_type(bundle, "Observation")
        .into_iter()
        .find(|o| {
            has_code(o, "code", "http://loinc.org", "2093-3")
                && o["basedOn"][0]["reference"] == order_ref.as_str()
        })
        .expect("the cholesterol result");
    assert_eq!(cholesterol["valueQuantity"]["value"], 245.0);
    assert_eq!(cholesterol["interpretation"][0]["coding"][0]["code"], "H");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_codes_a_problem_prescribes_past_an_allergy_alert_results_an_order_and_reads_a_forecast()
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
    let shots = screenshot_dir();
    let input = json!({
        "clinic": clinic,
        "chromium": CHROMIUM,
        "nsec": keys.doctor.nsec().as_str(),
        "maria": "maria demo-alvarez",
        "mateo": "mateo",
        "shots": {
            "alert": shots.join("prescribe-allergy-alert-1280px.png"),
            "alertNarrow": shots.join("prescribe-allergy-alert-375px.png"),
            "forecast": shots.join("immunization-forecast-1280px.png"),
            "forecastNarrow": shots.join("immunization-forecast-375px.png"),
            "results": shots.join("orders-results-1280px.png"),
        },
    });
    let results = tokio::task::spawn_blocking(move || {
        ehr_tests::node::run_json_lines("clinic-orders.mjs", "playwright-core", &input)
    })
    .await
    .unwrap()
    .unwrap();
    let page = &results[0];
    assert_eq!(page["failure"], Value::Null, "{page}");
    assert!(page["maria"].as_str().unwrap().contains("Maria"));

    // The problem was chosen from the picker: coded, and listed.
    let problem = page["problem"]["value"].as_str().unwrap();
    assert!(problem.contains("asthma"), "{page}");
    assert!(
        page["problem"]["state"].as_str().unwrap().contains("J45."),
        "{page}"
    );
    assert!(page["problemRows"].to_string().contains(problem), "{page}");

    // The allergy alert names the allergy, the reason and the severity, before saving.
    assert_eq!(
        page["medication"]["value"],
        "Amoxicillin 250 MG Oral Capsule"
    );
    assert_eq!(page["unit"], "capsule");
    let alert = page["alert"].as_str().unwrap();
    assert!(
        alert.contains("Allergy to penicillin G: amoxicillin — same class (penicillins)"),
        "{alert}"
    );
    assert!(alert.contains("severity"), "{alert}");
    assert_eq!(
        page["narrowOverflow"], false,
        "the form scrolls sideways at 375 px"
    );
    assert!(
        page["currentMedications"]
            .to_string()
            .contains("1 capsule by mouth three times daily for 10 days"),
        "{page}"
    );

    // The result: the range shown, the flag as typed and in the saved report.
    assert_eq!(page["range"], "Reference: ≤ 200 mg/dL");
    assert_eq!(page["liveFlag"], "▲ High");
    let flags = page["flagRows"].as_array().unwrap();
    assert!(
        flags
            .iter()
            .any(|r| r[1] == "245 mg/dL" && r[3] == "▲ High"),
        "{page}"
    );
    assert!(
        flags.iter().any(|r| r[1] == "52 mg/dL" && r[3] == "Normal"),
        "{page}"
    );
    assert!(
        page["orderMeta"].as_str().unwrap().contains("completed"),
        "{page}"
    );

    // Mateo's forecast, above the form, overdue doses marked in words.
    assert!(page["mateo"].as_str().unwrap().contains("Mateo"));
    assert_eq!(page["formBelowForecast"], true);
    let rows = page["forecastRows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{page}");
    for row in rows {
        let status = row[2].as_str().unwrap();
        assert!(
            ["⚠ Overdue", "Due now", "Upcoming"].contains(&status),
            "{row}"
        );
    }
    // His Summary lists exactly the doses overdue or due now, by name.
    let pending: Vec<&str> = rows
        .iter()
        .filter(|row| row[2] != "Upcoming")
        .map(|row| row[0].as_str().unwrap())
        .collect();
    let summary_due = page["summaryDue"].as_array().unwrap();
    assert_eq!(summary_due.len(), pending.len(), "{page}");
    for name in pending {
        assert!(
            summary_due
                .iter()
                .any(|line| line.as_str().unwrap().contains(name)),
            "{name}: {page}"
        );
    }

    // Nothing from elsewhere, no CSP violation, no console error.
    assert_same_origin(page, &clinic, &stack.urls().relay, None);

    // The nurse's CLI reads the same records, coded.
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
    stack.stop().await;
    assert_maria_records(&bundle, problem);
    for shot in [
        "prescribe-allergy-alert-1280px.png",
        "prescribe-allergy-alert-375px.png",
        "immunization-forecast-1280px.png",
        "immunization-forecast-375px.png",
    ] {
        let png = std::fs::read(shots.join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{shot}");
    }
}
