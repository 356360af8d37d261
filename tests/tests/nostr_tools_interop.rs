#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Interop proof: events built by `ehr-client` are checked by independent code under node.
//! nostr-tools verifies each signature and opens the patient copy with the patient's key (and
//! the practice copy with the chart key); ajv validates the FHIR against the official R4 schema.
//!
//! Needs `npm ci --prefix tests/node` (the test script runs it).

use std::path::PathBuf;

use ehr_client::demo;
use ehr_client::event::ClinicalEventBuilder;
use ehr_client::keys::{ChartKey, Identity};
use ehr_client::kinds::ClinicalKind;
use serde_json::{Value, json};

#[test]
fn nostr_tools_verifies_and_decrypts_every_kind() {
    ehr_tests::node::node_dir("nostr-tools").unwrap();
    let doctor = Identity::generate();
    let patient = Identity::generate();
    let chart_key = ChartKey::generate(1);

    let mut cases = Vec::new();
    // Beyond one sample per kind: a withdrawn consent naming two facilities (status inactive,
    // a status-update tag) goes through the same checks, the R4 schema included.
    let withdrawn_consent = demo::fhir_sharing_consent("interop-patient", &["fac-a", "fac-b"])
        .as_consent()
        .unwrap()
        .withdrawal();
    let samples = demo::one_of_each_kind("interop-patient")
        .into_iter()
        .chain([(ClinicalKind::Consent, withdrawn_consent)]);
    for (kind, resource) in samples {
        let event = ClinicalEventBuilder::new(kind, resource.clone(), patient.public_key())
            .unwrap()
            .sign(&doctor, &chart_key)
            .unwrap();
        cases.push(json!({
            "event": serde_json::from_str::<Value>(&event.to_json()).unwrap(),
            "patient_secret_hex": patient.secret_key().to_secret_hex(),
            "chart_secret_hex": hex_encode(&*chart_key.to_bytes()),
            "expected": serde_json::from_str::<Value>(&resource.to_json()).unwrap(),
        }));
    }
    let kinds: std::collections::BTreeSet<u64> = cases
        .iter()
        .map(|c| c["event"]["kind"].as_u64().unwrap())
        .collect();
    assert_eq!(
        kinds.len(),
        ClinicalKind::ALL.len(),
        "one case per clinical kind"
    );
    assert!(
        kinds.contains(&2105),
        "the Consent sample (kind 2105) is checked too"
    );

    let schema =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fhir/fhir.r4.schema.json");
    let input = json!({ "schema": schema, "cases": cases });
    let lines = ehr_tests::node::run_json_lines("check-events.mjs", "nostr-tools", &input).unwrap();
    assert_eq!(lines.len(), cases.len() + 1);
    for line in &lines[..cases.len()] {
        let checks = line["checks"].as_object().unwrap();
        assert_eq!(checks.len(), 6, "{line}");
        assert!(checks.values().all(|v| v == true), "{line}");
    }
    assert_eq!(lines[cases.len()]["failed"], 0);
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
