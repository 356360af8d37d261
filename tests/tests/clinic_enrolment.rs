#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Enrolment in the clinic app (headless Chromium, the demo practice): the admin enrols a new
//! patient with a new key; the handover sheet carries the practice's signed connection string
//! and her key as an `ncryptsec` (QR codes and text) and not the password, which is shown
//! apart; the printed sheet holds nothing else of the screen; her key is allowed on the relay;
//! and she logs in to the portal with the sheet and the password and sees her own details.

mod clinic_common;
mod demo_common;

use clinic_common::{
    CHROMIUM, assert_browser_ready, assert_own_origins, pdf_text, run_node, screenshot_dir,
};
use demo_common::{Seeded, start_seeded};
use ehr_client::keys;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_enrolled_in_the_app_logs_in_to_the_portal_with_her_handover_sheet() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack, keys, ..
    } = start_seeded(home.path()).await;
    let clinic = stack.urls().clinic.clone().unwrap();
    let portal = stack.urls().portal.clone().unwrap();
    let relay = stack.urls().relay.clone();
    let fhir = stack.urls().fhir.clone().unwrap();
    let shots = screenshot_dir();
    let pdf = shots.join("handover-sheet.pdf");
    let input = json!({
        "clinic": clinic,
        "portal": portal,
        "chromium": CHROMIUM,
        "nsec": keys.admin.nsec().as_str(),
        "given": "Nova",
        "family": "Handover (synthetic)",
        "birthDate": "2019-05-06",
        "pdf": pdf,
        "screenshots": {
            "wide": shots.join("enrolment-1280px.png"),
            "narrow": shots.join("handover-sheet-375px.png"),
            "portal": shots.join("handover-portal-375px.png"),
        },
    });
    let result = run_node("clinic-enrol.mjs", input).await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    // The administration view also asks the FHIR gateway (facilities, its status).
    assert_own_origins(&result, &clinic, &relay, &[&fhir]);
    assert!(
        result["status"].to_string().contains("was enrolled"),
        "{result}"
    );

    // The sheet: two QR codes, the signed connection, the ncryptsec; the password apart.
    assert_eq!(result["qrCodes"], 2, "{result}");
    assert_eq!(result["sheetHasPassword"], false);
    let connection = result["connection"].as_str().unwrap();
    assert!(ehr_client::connection::Connection::parse_signed(connection).is_ok());
    let ncryptsec = result["ncryptsec"].as_str().unwrap();
    let password = result["password"].as_str().unwrap();
    let patient = keys::parse_secret_key(ncryptsec, Some(password)).unwrap();
    let patient = ehr_client::keys::Identity::from_secret_key(patient);

    // Printed: the sheet and nothing else of the screen, and never the password.
    let printed = pdf_text(&pdf);
    assert!(
        printed.contains("Your patient portal key: Nova"),
        "{printed}"
    );
    assert!(printed.contains("The practice connection"), "{printed}");
    assert!(!printed.contains(password), "{printed}");
    assert!(!printed.contains("Staff and agents"), "{printed}");
    assert_eq!(printed.matches('\u{c}').count(), 1, "one page: {printed}");

    // Her key is allowed on the relay, and her first login opens her own details.
    let management = ehr_client::management::ManagementClient::for_relay(&relay).unwrap();
    let allowed = management
        .call(&keys.admin, "listallowedpubkeys", Vec::new())
        .await
        .unwrap();
    assert!(
        allowed.to_string().contains(&patient.public_key().to_hex()),
        "{allowed}"
    );
    assert_eq!(result["portal"]["error"], "", "{result}");
    assert!(
        result["portal"]["chart"].as_str().unwrap().contains("Nova"),
        "{result}"
    );
    // Done: the password leaves the page, and she is on the patient list.
    assert_eq!(result["passwordLeft"], false);
    assert!(
        result["listed"].as_str().unwrap().contains("Nova"),
        "{result}"
    );
    stack.stop().await;
}
