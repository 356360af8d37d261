//! `GET Patient/[id]/$summary`, the IPS operation: a consenting patient's International
//! Patient Summary as a document Bundle that passes `ehr_client::ips::check_summary` and the R4
//! schema, holding exactly her active allergies, problems and medications, with the gateway's
//! ids and nothing internal. Attacks: a patient who consented to another facility or to none
//! (what `$everything` answers), unknown parameters, a token that does not reach every type a
//! summary holds. Every access, refused or not, is audited as the summary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use ehr_client::demo;
use ehr_client::fhir::Resource;
use ehr_client::kinds::ClinicalKind;
use ehr_tests::practice::TestPractice;
use nostr::prelude::PublicKey;
use reqwest::StatusCode;
use serde_json::Value;

mod common;
mod schema;

use common::*;

const SUMMARY_DEFINITION: &str = "http://hl7.org/fhir/uv/ips/OperationDefinition/summary";

struct Setting {
    practice: TestPractice,
    gateway: Running,
    alice_chart: String,
    alice_id: String,
    bob_id: String,
    carol_id: String,
    /// hospital-a's API key (Alice consented to it).
    hospital: String,
}

/// The demo record of `kind` and type `type_name`, a new record: a new id, changed by `change`.
fn variant_of(
    chart_id: &str,
    kind: ClinicalKind,
    type_name: &str,
    change: impl Fn(&mut Value),
) -> Resource {
    let (_, resource) = demo::one_of_each_kind(chart_id)
        .into_iter()
        .find(|(k, r)| *k == kind && serde_json::to_value(r).unwrap()["resourceType"] == type_name)
        .unwrap();
    let mut json = serde_json::to_value(&resource).unwrap();
    json["id"] = Value::String(demo::new_id());
    change(&mut json);
    serde_json::from_value(json).unwrap()
}

/// Records of Alice's that are not active: a resolved problem and allergy, a stopped
/// medication. The summary must leave them out.
async fn inactive_records(practice: &TestPractice, alice: &PublicKey, chart_id: &str) {
    let resolved = |json: &mut Value, system: &str| {
        json["clinicalStatus"] = serde_json::json!({
            "coding": [{ "system": system, "code": "resolved" }]
        });
    };
    let records = [
        (
            ClinicalKind::Condition,
            variant_of(chart_id, ClinicalKind::Condition, "Condition", |j| {
                resolved(
                    j,
                    "http://terminology.hl7.org/CodeSystem/condition-clinical",
                );
            }),
        ),
        (
            ClinicalKind::AllergyIntolerance,
            variant_of(
                chart_id,
                ClinicalKind::AllergyIntolerance,
                "AllergyIntolerance",
                |j| {
                    resolved(
                        j,
                        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    );
                },
            ),
        ),
        (
            ClinicalKind::Medication,
            variant_of(
                chart_id,
                ClinicalKind::Medication,
                "MedicationRequest",
                |j| {
                    j["status"] = Value::String("stopped".to_owned());
                },
            ),
        ),
    ];
    for (kind, resource) in records {
        practice.write(alice, kind, resource).await.unwrap();
    }
}

/// Alice (with inactive records too) consents to hospital-a, Carol to clinic-c, Bob to no one.
async fn setting() -> Setting {
    let practice = TestPractice::start().await.unwrap();
    let (alice, alice_chart) = patient_with_chart(&practice).await;
    inactive_records(&practice, &alice.public_key(), &alice_chart).await;
    let (bob, _) = patient_with_chart(&practice).await;
    let (carol, carol_chart) = patient_with_chart(&practice).await;
    let alice_key = alice.public_key();
    consent(&practice, &alice_key, &alice_chart, &["hospital-a"]).await;
    consent(&practice, &carol.public_key(), &carol_chart, &["clinic-c"]).await;
    let gateway = Running::start(&practice).await;
    let hospital = gateway.key("hospital-a").await;
    Setting {
        alice_id: ehr_fhir_gateway::served::patient_id(&alice_key),
        bob_id: ehr_fhir_gateway::served::patient_id(&bob.public_key()),
        carol_id: ehr_fhir_gateway::served::patient_id(&carol.public_key()),
        alice_chart,
        practice,
        gateway,
        hospital,
    }
}

impl Setting {
    async fn stop(self) {
        self.gateway.stop().await;
        self.practice.stop().await.unwrap();
    }
}

fn status_code(resource: &Value, element: &str) -> Option<String> {
    resource[element]["coding"][0]["code"]
        .as_str()
        .map(str::to_owned)
}

/// Whether a served record is one a summary lists as current (the rules of DESIGN.md §14).
fn is_active(resource: &Value) -> bool {
    let clinical = status_code(resource, "clinicalStatus");
    let verification = status_code(resource, "verificationStatus");
    let refuted = matches!(
        verification.as_deref(),
        Some("refuted" | "entered-in-error")
    );
    match resource["resourceType"].as_str().unwrap() {
        "AllergyIntolerance" => !refuted && matches!(clinical.as_deref(), None | Some("active")),
        "Condition" => {
            !refuted
                && !matches!(
                    clinical.as_deref(),
                    Some("inactive" | "remission" | "resolved")
                )
        }
        "MedicationRequest" => resource["status"] == "active",
        _ => false,
    }
}

/// The `fullUrl`s of a section's entries.
fn section_entries(document: &Value, code: &str) -> BTreeSet<String> {
    let composition = &document["entry"][0]["resource"];
    let section = composition["section"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"]["coding"][0]["code"] == code)
        .unwrap_or_else(|| panic!("no section {code}"));
    section["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| e["reference"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The `fullUrl`s of Alice's served records of `type_name`, all of them and the active ones.
fn served_of(everything: &Value, type_name: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let of_type: Vec<&Value> = entries(everything)
        .into_iter()
        .filter(|e| e["resource"]["resourceType"] == type_name)
        .collect();
    let url = |e: &&Value| e["fullUrl"].as_str().unwrap().to_owned();
    let all = of_type.iter().map(url).collect();
    let active = of_type
        .iter()
        .filter(|e| is_active(&e["resource"]))
        .map(url)
        .collect();
    (all, active)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consenting_patients_summary_is_an_ips_document_of_her_active_records() {
    let s = setting().await;
    let (gateway, hospital) = (&s.gateway, Some(s.hospital.as_str()));
    let (status, document) = gateway
        .get(hospital, &format!("Patient/{}/$summary", s.alice_id))
        .await;
    assert_eq!(status, StatusCode::OK, "{document}");
    assert_eq!(document["resourceType"], "Bundle");
    assert_eq!(document["type"], "document");
    ehr_client::ips::check_summary(&document).unwrap();
    schema::check(&document);

    let text = document.to_string();
    assert!(!text.contains("urn:nostr-ehr:extension"), "a file key left");
    assert!(!text.contains(&s.alice_chart), "an internal id left");
    let alice_url = format!("{}/Patient/{}", gateway.base, s.alice_id);
    assert_eq!(
        document["entry"][0]["resource"]["subject"]["reference"],
        alice_url.as_str()
    );
    assert_eq!(document["entry"][1]["fullUrl"], alice_url.as_str());
    let organization = &document["entry"][2]["resource"];
    assert_eq!(organization["resourceType"], "Organization");
    assert!(
        organization["identifier"][0]["value"]
            .as_str()
            .unwrap()
            .starts_with("nostr:npub1")
    );

    // The records are the ones the gateway serves: same URL, id and version.
    let (_, everything) = gateway
        .get(hospital, &format!("Patient/{}/$everything", s.alice_id))
        .await;
    for entry in document["entry"].as_array().unwrap().iter().skip(3) {
        let resource = &entry["resource"];
        assert!(resource["id"].as_str().unwrap().starts_with(&s.alice_id));
        let served = entries(&everything)
            .into_iter()
            .find(|e| e["fullUrl"] == entry["fullUrl"])
            .unwrap_or_else(|| panic!("{} is not served", entry["fullUrl"]));
        assert_eq!(served["resource"]["meta"], resource["meta"]);
    }
    for (code, type_name) in [
        ("48765-2", "AllergyIntolerance"),
        ("11450-4", "Condition"),
        ("10160-0", "MedicationRequest"),
    ] {
        let (all, active) = served_of(&everything, type_name);
        assert!(
            !active.is_empty() && all.len() > active.len(),
            "{type_name}"
        );
        assert_eq!(section_entries(&document, code), active, "{type_name}");
    }

    let (_, metadata) = gateway.get(None, "metadata").await;
    let patient = metadata["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap();
    assert!(
        patient["operation"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == "summary" && o["definition"] == SUMMARY_DEFINITION)
    );
    s.stop().await;
}

/// Whether the log holds a summary of `outcome`, naming `patients`.
fn logged(log: &[Value], outcome: &str, patients: &[String]) -> bool {
    log.iter().any(|event| {
        let named: Vec<String> = event["entity"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["what"]["reference"].as_str())
            .map(str::to_owned)
            .collect();
        event["subtype"][0]["code"] == "operation"
            && event["subtype"][1]["code"] == SUMMARY_DEFINITION
            && event["subtype"][1]["display"] == "$summary"
            && event["outcome"] == outcome
            && named == patients
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_what_everything_gives_and_every_summary_is_audited() {
    let s = setting().await;
    let (gateway, hospital) = (&s.gateway, Some(s.hospital.as_str()));
    // Carol consented to another facility, Bob to none; neither exists for the hospital.
    for other in [
        &s.carol_id,
        &s.bob_id,
        &"0123456789abcdef01234567".to_owned(),
    ] {
        let (status, body) = gateway
            .get(hospital, &format!("Patient/{other}/$summary"))
            .await;
        let (everything_status, everything) = gateway
            .get(hospital, &format!("Patient/{other}/$everything"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            (status, outcome(&body)),
            (everything_status, outcome(&everything))
        );
    }
    let alice = format!("Patient/{}/$summary", s.alice_id);
    for query in [
        "colour=blue",
        "identifier=urn:oid:1.2.3|4",
        "profile=http://example.org/StructureDefinition/other",
        "_count=5",
    ] {
        let (status, body) = gateway.get(hospital, &format!("{alice}?{query}")).await;
        assert_eq!(
            (status, outcome(&body)),
            (StatusCode::BAD_REQUEST, "invalid"),
            "{query}"
        );
    }
    let profile = "http://hl7.org/fhir/uv/ips/StructureDefinition/Bundle-uv-ips";
    let (status, _) = gateway
        .get(hospital, &format!("{alice}?profile={profile}"))
        .await;
    assert_eq!(status, StatusCode::OK);

    // A token that reaches Observations only would get a summary silent on the rest.
    let narrow = gateway
        .store
        .add_api_key(
            "hospital-a",
            &["system/Observation.read".to_owned()],
            now(),
            now() + 3600,
        )
        .await
        .unwrap();
    let (status, body) = gateway.get(Some(&narrow), &alice).await;
    assert_eq!(
        (status, outcome(&body)),
        (StatusCode::FORBIDDEN, "forbidden")
    );

    let filter = ehr_fhir_gateway::store::audit::LogFilter {
        client_id: Some("hospital-a".to_owned()),
        ..Default::default()
    };
    let log = gateway.store.audit_log(&filter, 1000).await.unwrap();
    let alice_ref = format!("Patient/{}", s.alice_id);
    assert!(
        logged(&log, "0", std::slice::from_ref(&alice_ref)),
        "{log:#?}"
    );
    assert!(logged(&log, "4", &[]), "{log:#?}");
    s.stop().await;
}
