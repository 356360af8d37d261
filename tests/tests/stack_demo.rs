//! `nostr-ehr up --demo`'s practice, seeded on the real stack (ports :0): what the banner
//! promises works. The patient logs in with the printed nsec and connection string and reads a
//! chart over years, with a stopped medication and a PDF she decrypts; the guardian reads her two
//! children's charts; the printed API key reads the one consenting patient and nobody else; a
//! second start does not seed again; and every record says it is synthetic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod demo_common;

use std::collections::BTreeSet;

use demo_common::{Seeded, count, ehr, ehr_output, start_seeded};
use nostr_ehr::demo::{self, DemoInfo};
use nostr_ehr::{Service, Stack, StackConfig};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_practice_is_what_the_banner_says() {
    let home = tempfile::tempdir().unwrap();
    let Seeded {
        mut stack,
        keys,
        info,
        connection,
        banner,
    } = start_seeded(home.path()).await;
    let data_dir = stack.config().data_dir.clone();
    let urls = stack.urls().clone();
    let maria = &keys.patients[0];
    assert!(banner.contains("SYNTHETIC"));
    assert!(banner.contains(maria.nsec().as_str()), "{banner}");
    assert!(banner.contains(&info.fhir_api_key));

    // The patient: only her nsec and the connection string.
    let patient_home = home.path().join("patient");
    ehr(&patient_home, maria, &["practice", "connect", &connection]);
    let npub = maria.npub();
    let chart = ehr(
        &patient_home,
        maria,
        &["chart", "show", "--patient", &npub, "--format", "bundle"],
    );
    assert!(count(&chart, "Encounter") >= 5, "{chart}");
    assert!(count(&chart, "Observation") >= 15);
    for resource_type in [
        "Patient",
        "Condition",
        "MedicationRequest",
        "AllergyIntolerance",
        "Immunization",
        "ServiceRequest",
        "DiagnosticReport",
        "DocumentReference",
        "Communication",
    ] {
        assert!(count(&chart, resource_type) > 0, "no {resource_type}");
    }
    let text = chart.to_string();
    assert!(text.contains("\"stopped\""), "no stopped medication");
    assert!(text.contains("synthetic demo patient"));
    assert!(
        text.contains("Should I keep the same dose"),
        "her own message is missing"
    );
    for entry in chart["entry"].as_array().unwrap() {
        assert!(
            entry["resource"].to_string().contains("HTEST"),
            "not labelled synthetic: {}",
            entry["resource"]
        );
    }
    let document = chart["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["resource"]["resourceType"] == "DocumentReference")
        .unwrap();
    let pdf = home.path().join("report.pdf");
    ehr(
        &patient_home,
        maria,
        &[
            "doc",
            "get",
            "--patient",
            &npub,
            "--id",
            document["resource"]["id"].as_str().unwrap(),
            "--out",
            pdf.to_str().unwrap(),
        ],
    );
    let pdf = std::fs::read(&pdf).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(String::from_utf8_lossy(&pdf).contains("SYNTHETIC DEMO DOCUMENT"));

    // The guardian reads both children's charts; another patient reads neither.
    for child in &keys.patients[8..] {
        let chart = ehr(
            &patient_home,
            maria,
            &[
                "chart",
                "show",
                "--patient",
                &child.npub(),
                "--format",
                "bundle",
            ],
        );
        assert!(count(&chart, "Encounter") >= 3, "{chart}");
        assert!(chart.to_string().contains("Well child visit"));
    }
    let james = &keys.patients[1];
    let james_home = home.path().join("james");
    ehr(&james_home, james, &["practice", "connect", &connection]);
    let child = keys.patients[8].npub();
    let out = ehr_output(
        &james_home,
        james,
        &["chart", "show", "--format", "bundle", "--patient", &child],
    );
    // Refused, or an empty chart: the relay serves her nothing about the child.
    if out.status.success() {
        let other: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            count(&other, "Encounter"),
            0,
            "another patient read a child's chart"
        );
        assert!(!other.to_string().contains("Well child visit"));
    }

    // The facility's API key: the consenting patient, and only her.
    let http = reqwest::Client::new();
    let base = urls.fhir.clone().unwrap();
    let get = |path: String| {
        let request = http
            .get(format!("{base}{path}"))
            .bearer_auth(&info.fhir_api_key);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, patients) = get("/Patient".to_owned()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patients["total"], 1, "{patients}");
    assert_eq!(
        patients["entry"][0]["resource"]["id"],
        info.consenting_patient_fhir_id
    );
    let (status, everything) = get(format!(
        "/Patient/{}/$everything",
        info.consenting_patient_fhir_id
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(count(&everything, "Encounter") >= 5);
    let maria_id = ehr_fhir_gateway::served::patient_id(&maria.public_key());
    let (status, _) = get(format!("/Patient/{maria_id}/$everything")).await;
    assert_ne!(
        status,
        StatusCode::OK,
        "a patient who did not consent was served"
    );
    // The demo emergency room: Maria opted in, so her summary, with a reason, and nothing else.
    assert_eq!(info.emergency_patient_fhir_id, maria_id);
    let emergency = |path: String| {
        let request = http
            .get(format!("{base}{path}"))
            .bearer_auth(&info.emergency_api_key);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        emergency(format!("/Patient/{maria_id}/$summary?reason=unconscious")).await,
        StatusCode::OK
    );
    assert_ne!(
        emergency(format!("/Patient/{maria_id}/$everything")).await,
        StatusCode::OK
    );
    stack.stop().await;

    // A second start finds the demo seeded and shows the same banner.
    let again = DemoInfo::load(&data_dir).unwrap();
    assert_eq!(again.fhir_api_key, info.fhir_api_key);
    let path = demo::prepare(home.path()).unwrap();

    // A split deployment from the same file: relay and Blossom in one stack, the gateway alone
    // in another that finds the relay by its public URL.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = relay.local_addr().unwrap();
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "[relay]\nlisten = \"127.0.0.1:0\"",
        &format!("[relay]\nlisten = \"{address}\"\npublic_url = \"ws://{address}\""),
        1,
    );
    std::fs::write(&path, text).unwrap();
    let only = |names: &[&str]| -> BTreeSet<Service> {
        names.iter().map(|n| Service::parse(n).unwrap()).collect()
    };
    let config = StackConfig::load(&path).unwrap();
    let services = config.services(Some(&only(&["relay", "blossom"]))).unwrap();
    let mut storage = Stack::with_listeners(config, services, vec![(Service::Relay, relay)])
        .await
        .unwrap();
    storage.start_storage().await.unwrap();
    storage.start_readers().await.unwrap();
    assert!(storage.urls().fhir.is_none());
    let config = StackConfig::load(&path).unwrap();
    let services = config.services(Some(&only(&["fhir-gateway"]))).unwrap();
    let mut gateway = Stack::bind(config, services).await.unwrap();
    gateway.start_storage().await.unwrap();
    gateway.start_readers().await.unwrap();
    assert_eq!(gateway.urls().relay, format!("ws://{address}"));
    let response = reqwest::Client::new()
        .get(format!("{}/Patient", gateway.urls().fhir.clone().unwrap()))
        .bearer_auth(&info.fhir_api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let patients: Value = response.json().await.unwrap();
    assert_eq!(patients["total"], 1, "{patients}");
    gateway.stop().await;
    storage.stop().await;
}
