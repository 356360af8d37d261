//! Third-party proof: the gateway driven by FHIR software written by others, and every resource
//! it returned checked by independent validators (tests/python/fhir_third_party.py):
//!
//! - SMART on FHIR's Python client, `fhirclient` 4.4, runs Backend Services against the gateway
//!   (discovery, RS384 and ES384 `private_key_jwt`, the token) and reads, searches, pages and
//!   runs `$everything` through its own models, and issue 23's search parameters through its
//!   own search and pagination: `_sort=-date`, `_elements`, `_summary=true`, the patient
//!   compartment `Patient/[id]/Observation`, and through its `include()`
//!   `_include=Observation:subject`, `_include=DiagnosticReport:result` and
//!   `_revinclude=Provenance:target`, each Provenance's Nostr signature verified by the script's
//!   own BIP-340 code;
//! - every answer of this suite's tour of the API (searches of every type, reads, includes,
//!   counts, sorts, `_elements` and `_summary` views tagged SUBSETTED, compartments,
//!   `_include`s, `_revinclude=Provenance:target`, Provenance searches and reads,
//!   `$everything`, Bulk Data NDJSON, OperationOutcomes, the AuditEvents of the access log)
//!   validates with fhirclient's R4 models, `fhir.resources` (R4B) and the official R4 JSON
//!   schema at `../shared/fhir/fhir.r4.schema.json`.
//!
//! The Python packages come from `scripts/python-tools` (run by `scripts/test`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../fhir-gateway/tests/common/mod.rs"]
mod gateway_common;

use std::io::Write;
use std::path::{Path, PathBuf};

use ehr_client::demo;
use ehr_client::kinds::ClinicalKind;
use ehr_fhir_gateway::served::patient_id;
use ehr_tests::practice::TestPractice;
use gateway_common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The Python side (fhirclient, fhir.resources, the R4 schema): its answer.
fn python(args: &[&str]) -> Value {
    ehr_tests::python::fhir_third_party(args).unwrap()
}

fn schema() -> PathBuf {
    ehr_tests::python::r4_schema()
}

/// Three more heart-rate Observations of different dates (one a Period) in the chart, so
/// `_sort` has an order to prove.
async fn dated_observations(
    practice: &TestPractice,
    patient: &nostr::prelude::PublicKey,
    chart: &str,
) {
    for resource in demo::dated_heart_rates(chart) {
        practice
            .write(patient, ClinicalKind::Observation, resource)
            .await
            .unwrap();
    }
}

async fn get_json(gateway: &Running, token: Option<&str>, url: &str) -> (StatusCode, Value) {
    let mut request = gateway.http.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

/// Every resource a tour of the API returns, errors included.
async fn tour(gateway: &Running, practice: &TestPractice, token: &str, out: &Path) -> usize {
    let base = &gateway.base;
    let mut collected: Vec<Value> = Vec::new();
    let (_, metadata) = get_json(gateway, None, &format!("{base}/metadata")).await;
    collected.push(metadata);
    for kind in [
        "Patient",
        "Encounter",
        "Observation",
        "Condition",
        "MedicationRequest",
        "AllergyIntolerance",
        "Immunization",
        "ServiceRequest",
        "DiagnosticReport",
        "DocumentReference",
    ] {
        let (status, bundle) =
            get_json(gateway, Some(token), &format!("{base}/{kind}?_count=100")).await;
        assert_eq!(status, StatusCode::OK);
        for entry in bundle["entry"].as_array().into_iter().flatten() {
            let id = entry["resource"]["id"].as_str().unwrap();
            let (status, read) =
                get_json(gateway, Some(token), &format!("{base}/{kind}/{id}")).await;
            assert_eq!(status, StatusCode::OK);
            collected.push(read);
        }
        collected.push(bundle);
        let (_, count) = get_json(
            gateway,
            Some(token),
            &format!("{base}/{kind}?_summary=count"),
        )
        .await;
        collected.push(count);
    }
    let (_, included) = get_json(
        gateway,
        Some(token),
        &format!("{base}/DiagnosticReport?_include=DiagnosticReport:result"),
    )
    .await;
    assert!(
        included["entry"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["search"]["mode"] == "include")
    );
    collected.push(included);
    let (_, patients) = get_json(gateway, Some(token), &format!("{base}/Patient")).await;
    let first = patients["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, everything) = get_json(
        gateway,
        Some(token),
        &format!("{base}/Patient/{first}/$everything"),
    )
    .await;
    collected.push(everything);
    // US Core $docref: the patient's documents, as a searchset.
    let (status, documents) = get_json(
        gateway,
        Some(token),
        &format!("{base}/DocumentReference/$docref?patient={first}&start=2000-01-01"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        documents["entry"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["resource"]["resourceType"] == "DocumentReference")
    );
    assert!(documents["total"].as_u64().unwrap() >= 1, "{documents}");
    collected.push(documents);
    // Issue 23: sorts, views (tagged SUBSETTED, still valid: mandatory elements are kept) and
    // the patient compartment.
    for path in [
        "Observation?_sort=-date&_count=3".to_owned(),
        "MedicationRequest?_sort=authoredon,-_lastUpdated".to_owned(),
        "Observation?_elements=effective,subject".to_owned(),
        "Patient?_elements=name".to_owned(),
        "Immunization?_elements=no-such-element".to_owned(),
        "MedicationRequest?_elements=authoredOn".to_owned(),
        "Encounter?_summary=true".to_owned(),
        "DocumentReference?_summary=true".to_owned(),
        "DiagnosticReport?_summary=true&_include=DiagnosticReport:result".to_owned(),
        "Condition?_summary=data&_sort=-onset-date".to_owned(),
        format!("Patient/{first}/Observation?_sort=-date"),
        format!("Patient/{first}/Patient"),
        format!("Patient/{first}/Immunization?_summary=true"),
        "Observation?_revinclude=Provenance:target&_include=Observation:patient".to_owned(),
        "DiagnosticReport?_include=DiagnosticReport:result&_revinclude=Provenance:target"
            .to_owned(),
        "MedicationRequest?_include=MedicationRequest:encounter&_include=MedicationRequest:medication"
            .to_owned(),
        "Condition?_summary=true&_revinclude=Provenance:target".to_owned(),
        format!("Provenance?patient={first}&_count=5"),
    ] {
        let (status, answer) = get_json(gateway, Some(token), &format!("{base}/{path}")).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        assert!(answer["total"].as_u64().unwrap() >= 1, "{path}: {answer}");
        collected.push(answer);
    }
    // A Provenance read by id.
    let (_, provenances) = get_json(
        gateway,
        Some(token),
        &format!("{base}/Provenance?patient={first}&_count=1"),
    )
    .await;
    let id = provenances["entry"][0]["resource"]["id"].as_str().unwrap();
    let (status, provenance) =
        get_json(gateway, Some(token), &format!("{base}/Provenance/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{provenance}");
    assert!(
        provenance["signature"][0]["data"].is_string(),
        "{provenance}"
    );
    collected.push(provenance);
    // Errors are OperationOutcomes.
    for (token, path, status) in [
        (
            Some(token),
            "Observation?shoe-size=9",
            StatusCode::BAD_REQUEST,
        ),
        (None, "Observation", StatusCode::UNAUTHORIZED),
        (Some(token), "Observation/nope", StatusCode::NOT_FOUND),
        (Some(token), "Basic", StatusCode::NOT_FOUND),
        (
            Some(token),
            "DocumentReference/$docref",
            StatusCode::BAD_REQUEST,
        ),
        (
            Some(token),
            "DocumentReference/$docref?patient=x&on-demand=true",
            StatusCode::BAD_REQUEST,
        ),
        (
            Some(token),
            "Observation?_sort=code",
            StatusCode::BAD_REQUEST,
        ),
        (
            Some(token),
            "Observation?_summary=text",
            StatusCode::BAD_REQUEST,
        ),
        (
            Some(token),
            "Observation?_summary=true&_elements=code",
            StatusCode::BAD_REQUEST,
        ),
        (
            Some(token),
            "Observation?_include:iterate=Observation:patient",
            StatusCode::BAD_REQUEST,
        ),
        (
            Some(token),
            "Observation?_revinclude=Observation:patient",
            StatusCode::BAD_REQUEST,
        ),
        (Some(token), "Provenance?code=x", StatusCode::BAD_REQUEST),
        (Some(token), "Provenance/nope-v1", StatusCode::NOT_FOUND),
    ] {
        let (got, outcome) = get_json(gateway, token, &format!("{base}/{path}")).await;
        assert_eq!(got, status, "{path}");
        collected.push(outcome);
    }
    // Bulk Data NDJSON.
    let started = gateway
        .http
        .get(format!("{base}/Group/consented/$export"))
        .bearer_auth(token)
        .header("prefer", "respond-async")
        .send()
        .await
        .unwrap();
    let status_url = started.headers()["content-location"]
        .to_str()
        .unwrap()
        .to_owned();
    let (_, manifest) = get_json(gateway, Some(token), &status_url).await;
    for output in manifest["output"].as_array().unwrap() {
        let text = gateway
            .http
            .get(output["url"].as_str().unwrap())
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        collected.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    // The access log's AuditEvents (as the practice reads them).
    let (status, log) = gateway
        .admin(
            &practice.root,
            reqwest::Method::GET,
            "/admin/access-log?_count=20",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    collected.push(log);

    let mut file = std::fs::File::create(out).unwrap();
    for resource in &collected {
        writeln!(file, "{resource}").unwrap();
    }
    collected.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fhirclient_runs_backend_services_and_every_answer_validates_independently() {
    let practice = TestPractice::start().await.unwrap();
    let (alice, alice_chart) = patient_with_chart(&practice).await;
    let (carol, carol_chart) = patient_with_chart(&practice).await;
    let (_bob, _) = patient_with_chart(&practice).await;
    dated_observations(&practice, &alice.public_key(), &alice_chart).await;
    dated_observations(&practice, &carol.public_key(), &carol_chart).await;
    consent(
        &practice,
        &alice.public_key(),
        &alice_chart,
        &["python-hie"],
    )
    .await;
    consent(&practice, &carol.public_key(), &carol_chart, &["*"]).await;
    let gateway = Running::start(&practice).await;
    let work = tempfile::tempdir().unwrap();
    let keys = work.path().join("keys");

    // The facility makes its keys; the practice registers the public half over NIP-98.
    python(&["keygen", keys.to_str().unwrap()]);
    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string(keys.join("jwks.json")).unwrap()).unwrap();
    let registration =
        json!({"client_id": "python-hie", "jwks": jwks, "scopes": ["system/*.read"]});
    let (status, _) = gateway
        .admin(
            &practice.root,
            reqwest::Method::POST,
            "/admin/clients",
            Some(&registration),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let mut expected = vec![
        patient_id(&alice.public_key()),
        patient_id(&carol.public_key()),
    ];
    expected.sort();
    for alg in ["RS384", "ES384"] {
        let summary = python(&[
            "run",
            "--base",
            &gateway.base,
            "--client-id",
            "python-hie",
            "--dir",
            keys.to_str().unwrap(),
            "--alg",
            alg,
            "--schema",
            schema().to_str().unwrap(),
        ]);
        let mut seen: Vec<String> = summary["patients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        seen.sort();
        assert_eq!(seen, expected, "{alg}: consenting patients only");
        // Every patient's Observations, one per page, through every `next` link (the script
        // checks the pages against the count).
        for (patient, pages) in summary["observation_pages"].as_object().unwrap() {
            assert!(pages.as_u64().unwrap() >= 2, "{patient}: {summary}");
        }
        // `_sort=-date` paged by fhirclient, `_elements`, the compartment: every Observation
        // of the patient (the chart's two and the three dated ones), each time.
        for what in ["sorted", "elements", "compartment"] {
            assert_eq!(
                summary["search_parameters"][what], 5,
                "{alg} {what}: {summary}"
            );
        }
        // `_revinclude=Provenance:target`: one Provenance per Observation, each signature
        // verified by the script; `_include=DiagnosticReport:result` brought the results.
        let found = &summary["search_parameters"];
        assert_eq!(found["revinclude"], 5, "{alg}: {summary}");
        assert_eq!(found["signatures"], 5, "{alg}: {summary}");
        assert!(
            found["included_results"].as_u64().unwrap() >= 1,
            "{alg}: {summary}"
        );
    }

    // The tour, validated.
    let token = gateway.key("python-hie").await;
    let answers = work.path().join("answers.ndjson");
    let written = tour(&gateway, &practice, &token, &answers).await;
    let summary = python(&[
        "validate",
        answers.to_str().unwrap(),
        "--schema",
        schema().to_str().unwrap(),
    ]);
    // The script fails on the first resource any validator refuses; here, that the tour was
    // broad enough to mean something.
    assert!(written > 20, "{written} answers");
    for kind in [
        "CapabilityStatement",
        "OperationOutcome",
        "AuditEvent",
        "Bundle",
        "Provenance",
    ] {
        assert!(
            summary["types"][kind].as_u64().unwrap_or(0) > 0,
            "{kind}: {summary}"
        );
    }

    gateway.stop().await;
    practice.stop().await.unwrap();
}
