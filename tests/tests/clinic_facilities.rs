#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The clinic app's facilities and practice health (issue 21; headless Chromium, the demo
//! practice): the admin registers a facility with an API key in the app, the doctor records
//! Maria's consent to it, and the key reads Maria through the gateway and no one else, until the
//! admin revokes the facility in the app. The practice health view shows the roster, no pending
//! rotation, the relay's NIP-11 and the gateway's catch-up status.

mod clinic_common;
mod demo_common;

use clinic_common::{CHROMIUM, assert_browser_ready, assert_own_origins, run_node, screenshot_dir};
use demo_common::{Seeded, everything, start_seeded, until_status};
use serde_json::{Value, json};

/// The facility the admin registers in the app (the demo's own is `demo-hospital`).
const FACILITY: &str = "regional-lab";

/// The admin's page in `phase` of clinic-facilities.mjs, checked to have failed at nothing
/// and to have talked to the clinic, the relay and the gateway only.
async fn as_admin(seeded: &Seeded, phase: &str) -> Value {
    let urls = seeded.stack.urls();
    let clinic = urls.clinic.clone().unwrap();
    let fhir = urls.fhir.clone().unwrap();
    let result = run_node(
        "clinic-facilities.mjs",
        json!({
            "clinic": clinic,
            "chromium": CHROMIUM,
            "nsec": seeded.keys.admin.nsec().as_str(),
            "phase": phase,
            "facility": FACILITY,
            "screenshots": screenshot_dir(),
        }),
    )
    .await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    assert_own_origins(&result, &clinic, &urls.relay, &[&fhir]);
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_facility_registered_in_the_app_reads_only_a_consenting_patient_until_revoked() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let seeded = start_seeded(home.path()).await;
    let clinic = seeded.stack.urls().clinic.clone().unwrap();
    let fhir = seeded.stack.urls().fhir.clone().unwrap();
    let maria = ehr_fhir_gateway::served::patient_id(&seeded.keys.patients[0].public_key());
    // The demo's consenting patient shares with demo-hospital only, not with the new facility.
    let other = ehr_fhir_gateway::served::patient_id(&seeded.keys.patients[1].public_key());

    let registered = as_admin(&seeded, "register").await;
    let key = registered["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ehrfhir_"), "{registered}");
    assert!(
        registered["note"]
            .as_str()
            .unwrap()
            .contains("Shown only now"),
        "{registered}"
    );
    assert!(
        registered["facilities"].to_string().contains(FACILITY),
        "{registered}"
    );
    assert_ne!(everything(&fhir, &key, &maria).await, 200);

    // The doctor records Maria's consent to the new facility in the app (clinic-consent.mjs).
    let granted = run_node(
        "clinic-consent.mjs",
        json!({
            "clinic": clinic,
            "chromium": CHROMIUM,
            "nsec": seeded.keys.doctor.nsec().as_str(),
            "search": "maria demo-alvarez",
            "phase": "grant",
            "facility": FACILITY,
            "until": "2099-12-31",
        }),
    )
    .await;
    assert_eq!(granted["failure"], Value::Null, "{granted}");
    assert_eq!(granted["error"], "", "{granted}");
    until_status(&fhir, &key, &maria, |s| s == 200).await;
    let refused = everything(&fhir, &key, &other).await;
    assert!(
        refused == 403 || refused == 404,
        "a patient who did not consent to {FACILITY}: {refused}"
    );

    let revoked = as_admin(&seeded, "revoke").await;
    assert_eq!(
        revoked["asked"].as_str().map(|q| q.contains(FACILITY)),
        Some(true),
        "{revoked}"
    );
    assert!(
        revoked["messages"].to_string().contains("was revoked"),
        "{revoked}"
    );
    assert_eq!(everything(&fhir, &key, &maria).await, 401);
    let Seeded { mut stack, .. } = seeded;
    stack.stop().await;
}

/// The sequence of the roster in force, as the admin's own key reads it from the relay, and
/// whether the practice root signed it.
async fn roster_in_force(seeded: &Seeded) -> (u64, bool) {
    let events = demo_common::every_event(&seeded.stack.urls().relay, &seeded.keys).await;
    let view = ehr_client::access::PracticeView::load(
        &seeded.stack.config().practice,
        events.iter(),
        &seeded.keys.admin,
    );
    let roster = view.roster().current().unwrap();
    (
        roster.content.sequence,
        roster.signer == seeded.stack.config().practice,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_practice_health_shows_the_roster_no_pending_rotation_the_relay_and_the_gateway() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let seeded = start_seeded(home.path()).await;
    let (sequence, by_root) = roster_in_force(&seeded).await;

    let health = as_admin(&seeded, "health").await;
    let roster = health["roster"].as_str().unwrap();
    assert!(
        roster.contains(&format!("Sequence\n{sequence}")),
        "{sequence}: {health}"
    );
    let signer = if by_root {
        "the practice root"
    } else {
        "an admin"
    };
    assert!(roster.contains(&format!("Signed by\n{signer}")), "{health}");
    assert!(
        health["rotation"]
            .as_str()
            .unwrap()
            .contains("Nothing pending"),
        "{health}"
    );
    assert!(
        health["relay"]
            .as_str()
            .unwrap()
            .contains("https://github.com/nostr-ehr/nostr-ehr"),
        "{health}"
    );
    let gateway = health["gateway"].as_str().unwrap();
    assert!(gateway.contains("Caught up with the relay"), "{health}");
    // The demo's patient who shares with a facility, and the one opted in to emergency access.
    assert!(gateway.contains("Patients served\n2"), "{health}");
    assert!(
        health["outbox"]
            .as_str()
            .unwrap()
            .starts_with("The outbox is empty"),
        "{health}"
    );
    assert_eq!(health["warnings"], json!([]), "{health}");
    let Seeded { mut stack, .. } = seeded;
    stack.stop().await;
}
