#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The clinic app's printouts in headless Chromium on the demo practice: the doctor makes each
//! of them for a child (immunization record, visit summary, school excuse, growth chart, sports
//! physical) and prints it to PDF through the page's print CSS; `pdftotext` reads each PDF,
//! which holds the practice, the patient, the signing clinician and what the printout is for,
//! and nothing of the app around it. Screenshots stay in `$CARGO_TARGET_DIR/clinic-screenshots/`.

mod clinic_common;
mod demo_common;

use clinic_common::{
    CHROMIUM, assert_browser_ready, assert_same_origin, pdf_text, run_node, screenshot_dir,
};
use demo_common::{Seeded, start_seeded};
use serde_json::{Value, json};

const PRACTICE: &str = "Demo practice (synthetic)";
const CLINICIAN: &str = "Dr. Demo Rivera (synthetic)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_printout_prints_the_practice_the_patient_the_clinician_and_its_content_alone() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack, keys, ..
    } = start_seeded(home.path()).await;
    let clinic = stack.urls().clinic.clone().unwrap();
    let shots = screenshot_dir();
    let pdf = |kind: &str| home.path().join(format!("{kind}.pdf"));
    let input = json!({
        "clinic": clinic,
        "chromium": CHROMIUM,
        "nsec": keys.doctor.nsec().as_str(),
        "search": "mateo",
        "printouts": [
            { "kind": "immunizations", "label": "Immunization record", "pdf": pdf("immunizations"),
              "png": shots.join("printout-immunizations-1280px.png") },
            { "kind": "visit", "label": "Visit summary for the patient", "pdf": pdf("visit") },
            { "kind": "excuse", "label": "School or work excuse", "pdf": pdf("excuse"),
              "fill": { "Seen on": "2026-12-07", "Excused from": "2026-12-07", "Through": "2026-12-08",
                        "May return on (optional)": "2026-12-09" },
              "png": shots.join("printout-excuse-1280px.png") },
            { "kind": "growth", "label": "Growth chart", "pdf": pdf("growth"),
              "png": shots.join("printout-growth-1280px.png") },
            { "kind": "sports", "label": "Sports physical (pre-participation evaluation)", "pdf": pdf("sports"),
              "fill": { "Sports (optional)": "soccer" },
              "select": { "Clearance": "Cleared for all sports without restriction" },
              "png": shots.join("printout-sports-1280px.png") },
        ],
    });
    let result = run_node("clinic-printouts.mjs", input).await;
    stack.stop().await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    assert_same_origin(&result, &clinic, &stack.urls().relay, None);
    let expected: [(&str, &[&str]); 5] = [
        ("immunizations", &["Immunization record", "Vaccine"]),
        ("visit", &["Visit summary", "Your visit", "What to do next"]),
        (
            "excuse",
            &[
                "School excuse",
                "Please excuse",
                "2026-12-08",
                "may return to school on 2026-12-09",
            ],
        ),
        ("growth", &["Growth chart", "percentile"]),
        (
            "sports",
            &[
                "Sports physical",
                "soccer",
                "BMI: 17.8 kg/m2 (computed",
                "Cleared for all sports without restriction",
            ],
        ),
    ];
    for (kind, words) in expected {
        let shown = &result["printouts"][kind];
        assert_eq!(shown["printEnabled"], true, "{kind}: {result}");
        let text = pdf_text(&pdf(kind));
        for word in [PRACTICE, "Mateo", CLINICIAN, "Signature"]
            .iter()
            .chain(words)
        {
            assert!(
                text.contains(word),
                "{kind}: {word} not in the PDF:\n{text}"
            );
        }
        // The printout alone: nothing of the app around it.
        for chrome in [
            "Log out",
            "Back to the patient list",
            "Show printout",
            "Summary",
        ] {
            assert!(!text.contains(chrome), "{kind}: {chrome} printed:\n{text}");
        }
    }
    // An excuse names no diagnosis.
    let excuse = pdf_text(&pdf("excuse"));
    assert!(
        !excuse.contains("Problem") && !excuse.contains("Otitis"),
        "{excuse}"
    );
}
