#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A patient's consent to FHIR sharing recorded in the clinic app (headless Chromium, the demo
//! practice): the doctor records Maria's consent for the demo facility until a date, and the
//! gateway serves her chart to it; she records Maria's withdrawal, and the gateway stops.

mod clinic_common;
mod demo_common;

use clinic_common::{CHROMIUM, assert_browser_ready, assert_same_origin, run_node};
use demo_common::{Seeded, everything, start_seeded, until_status};
use serde_json::{Value, json};

const FACILITY: &str = "demo-hospital";

async fn phase(input: Value) -> Value {
    run_node("clinic-consent.mjs", input).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_recorded_in_the_app_opens_the_gateway_and_its_withdrawal_closes_it() {
    assert_browser_ready();
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        info,
        ..
    } = start_seeded(home.path()).await;
    let clinic = stack.urls().clinic.clone().unwrap();
    let relay = stack.urls().relay.clone();
    let fhir = stack.urls().fhir.clone().unwrap();
    let maria = ehr_fhir_gateway::served::patient_id(&keys.patients[0].public_key());
    assert_ne!(everything(&fhir, &info.fhir_api_key, &maria).await, 200);
    let input = |phase: &str| {
        json!({
            "clinic": clinic,
            "chromium": CHROMIUM,
            "nsec": keys.doctor.nsec().as_str(),
            "search": "maria demo-alvarez",
            "phase": phase,
            "facility": FACILITY,
            "until": "2099-12-31",
        })
    };

    let granted = phase(input("grant")).await;
    assert_eq!(granted["failure"], Value::Null, "{granted}");
    assert_eq!(granted["error"], "", "{granted}");
    assert_same_origin(&granted, &clinic, &relay, None);
    assert!(
        granted["before"]
            .as_str()
            .unwrap()
            .contains("Does not share")
    );
    assert!(
        granted["after"].as_str().unwrap().contains(FACILITY),
        "{granted}"
    );
    until_status(&fhir, &info.fhir_api_key, &maria, |s| s == 200).await;

    let withdrawn = phase(input("withdraw")).await;
    assert_eq!(withdrawn["failure"], Value::Null, "{withdrawn}");
    assert_eq!(withdrawn["error"], "", "{withdrawn}");
    assert!(
        withdrawn["after"]
            .as_str()
            .unwrap()
            .contains("Does not share"),
        "{withdrawn}"
    );
    until_status(&fhir, &info.fhir_api_key, &maria, |s| s != 200).await;
    stack.stop().await;
}
