#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The clinic app's inactivity lock, the portal's own (login.js): a doctor who leaves a chart
//! open in an app that locks after a few seconds finds the page locked, with no chart, no
//! patient list and no name of a patient left in it, and the login back.

mod clinic_common;
mod demo_common;

use clinic_common::{CHROMIUM, assert_browser_ready, assert_same_origin, run_node, serve_clinic};
use demo_common::{Seeded, start_seeded};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_left_open_locks_and_leaves_no_patient_in_the_page() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        connection,
        ..
    } = start_seeded(home.path()).await;
    let relay = stack.urls().relay.clone();
    let url = serve_clinic(Some(&connection), Some(3)).await;
    let input = json!({
        "clinic": url,
        "chromium": CHROMIUM,
        "nsec": keys.doctor.nsec().as_str(),
        "search": "maria demo-alvarez",
    });
    let result = run_node("clinic-lock.mjs", input).await;
    stack.stop().await;
    assert_eq!(result["failure"], Value::Null, "{result}");
    assert_same_origin(&result, &url, &relay, None);
    assert!(result["before"].as_str().unwrap().contains("Demo-Alvarez"));
    let after = &result["after"];
    for seen in [
        after["html"].as_str().unwrap(),
        after["text"].as_str().unwrap(),
    ] {
        assert!(
            !seen.contains("Demo-Alvarez") && !seen.contains("lisinopril"),
            "{seen}"
        );
    }
    assert_eq!(after["patientRows"], 0);
    assert_eq!(after["workspaceHidden"], true);
    assert_eq!(after["loginVisible"], true);
    assert_eq!(after["sessionStorage"], 0);
    assert!(
        after["text"].as_str().unwrap().contains("locked"),
        "the member is told why: {after}"
    );
}
