//! `_include`, `_revinclude=Provenance:target` and Provenance (issue 23): what a search brings
//! beside its matches stays within each match's own patient and the token's scopes, bad values
//! are 400s, and every Provenance carries the author's Nostr signature, which verifies against
//! the event on the relay. Every answer, errors included, is checked against the R4 JSON schema
//! ([`schema`]). Alice and Carol consent to hospital-a, Bob to no one.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use base64::Engine as _;
use ehr_client::demo;
use ehr_client::kinds::ClinicalKind;
use ehr_fhir_gateway::served::patient_id;
use ehr_tests::practice::TestPractice;
use nostr::prelude::{Event, EventId, Kind, PublicKey, Signature, Timestamp};
use reqwest::StatusCode;
use serde_json::Value;

mod common;
mod schema;

use common::*;

struct Includes {
    practice: TestPractice,
    gateway: Running,
    alice: String,
    bob: String,
    carol: String,
    hospital: String,
}

async fn includes() -> Includes {
    let practice = TestPractice::start().await.unwrap();
    let (alice, alice_chart) = patient_with_chart(&practice).await;
    for resource in demo::dated_heart_rates(&alice_chart) {
        practice
            .write(&alice.public_key(), ClinicalKind::Observation, resource)
            .await
            .unwrap();
    }
    let (bob, _) = patient_with_chart(&practice).await;
    let (carol, carol_chart) = patient_with_chart(&practice).await;
    for (patient, chart) in [(&alice, &alice_chart), (&carol, &carol_chart)] {
        consent(&practice, &patient.public_key(), chart, &["hospital-a"]).await;
    }
    let gateway = Running::start(&practice).await;
    let hospital = gateway.key("hospital-a").await;
    Includes {
        alice: patient_id(&alice.public_key()),
        bob: patient_id(&bob.public_key()),
        carol: patient_id(&carol.public_key()),
        practice,
        gateway,
        hospital,
    }
}

impl Includes {
    async fn stop(self) {
        self.gateway.stop().await;
        self.practice.stop().await.unwrap();
    }

    /// GET `path` with `token`: the status and the body, which must fit the R4 schema.
    async fn answer_with(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}/{path}", self.gateway.base)
        };
        let response = self
            .gateway
            .http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_eq!(response.headers()["content-type"], "application/fhir+json");
        if !status.is_success() {
            assert!(response.headers().contains_key("x-reason"), "{path}");
        }
        let body: Value = response.json().await.unwrap();
        schema::check(&body);
        (status, body)
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.answer_with(&self.hospital, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// A key of hospital-a with only `scopes`.
    async fn key_with(&self, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.gateway
            .store
            .add_api_key("hospital-a", &scopes, now(), now() + 3600)
            .await
            .unwrap()
    }
}

/// The entries of a searchset in `mode` (`match` or `include`).
fn in_mode<'a>(bundle: &'a Value, mode: &str) -> Vec<&'a Value> {
    entries(bundle)
        .into_iter()
        .filter(|e| e["search"]["mode"] == mode)
        .map(|e| &e["resource"])
        .collect()
}

fn patient_of(resource: &Value) -> String {
    let id = resource["id"].as_str().unwrap();
    id.split('-').next().unwrap().to_owned()
}

fn reference_id(reference: &Value) -> &str {
    reference["reference"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn includes_bring_each_matchs_own_records_once_and_never_another_patients() {
    let s = includes().await;
    // Every patient's Observations with their Patient: Alice's and Carol's, never Bob's.
    let bundle = s
        .ok("Observation?_include=Observation:patient&_count=100")
        .await;
    let matches = in_mode(&bundle, "match");
    let included = in_mode(&bundle, "include");
    assert_eq!(bundle["total"].as_u64().unwrap() as usize, matches.len());
    let included_patients: BTreeSet<String> = included
        .iter()
        .map(|r| {
            assert_eq!(r["resourceType"], "Patient");
            r["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(included.len(), included_patients.len(), "each once");
    assert_eq!(
        included_patients,
        BTreeSet::from([s.alice.clone(), s.carol.clone()])
    );
    let matched_patients: BTreeSet<String> = matches.iter().map(|r| patient_of(r)).collect();
    assert_eq!(matched_patients, included_patients);
    assert!(!bundle.to_string().contains(&s.bob));

    // Results of Alice's reports, and her Patient by `subject`: all hers, none a match again.
    let alice = &s.alice;
    let bundle = s
        .ok(&format!(
            "DiagnosticReport?patient={alice}&_include=DiagnosticReport:result\
             &_include=DiagnosticReport:subject:Patient"
        ))
        .await;
    let reports = in_mode(&bundle, "match");
    assert!(!reports.is_empty());
    let results: BTreeSet<&str> = reports
        .iter()
        .flat_map(|r| r["result"].as_array().unwrap().iter().map(reference_id))
        .collect();
    let included = in_mode(&bundle, "include");
    let observations: BTreeSet<&str> = included
        .iter()
        .filter(|r| r["resourceType"] == "Observation")
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(observations, results);
    assert!(included.iter().any(|r| r["resourceType"] == "Patient"));
    assert!(included.iter().all(|r| patient_of(r) == *alice));

    // A prescription's encounter; US Core's medication include brings nothing (inline codes).
    let bundle = s
        .ok(&format!(
            "MedicationRequest?patient={alice}&_include=MedicationRequest:encounter\
             &_include=MedicationRequest:medication"
        ))
        .await;
    let included = in_mode(&bundle, "include");
    assert!(!included.is_empty());
    assert!(included.iter().all(|r| r["resourceType"] == "Encounter"));

    // Paging counts the matches only; the links keep the includes.
    let bundle = s
        .ok(&format!(
            "Observation?patient={alice}&_count=2&_include=Observation:patient"
        ))
        .await;
    assert_eq!(in_mode(&bundle, "match").len(), 2);
    assert_eq!(in_mode(&bundle, "include").len(), 1);
    assert!(bundle["total"].as_u64().unwrap() > 2);
    let next = bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap();
    assert!(
        next["url"]
            .as_str()
            .unwrap()
            .contains("_include=Observation%3Apatient")
    );

    // A count shows no record, included or not.
    let count = s
        .ok("Observation?_summary=count&_revinclude=Provenance:target&_include=Observation:patient")
        .await;
    assert!(entries(&count).is_empty());

    // The access log names the patients the answer disclosed, included records' too: the
    // first search, across patients, names Alice and Carol.
    let (status, log) = s
        .gateway
        .admin(
            &s.practice.root,
            reqwest::Method::GET,
            "/admin/access-log?_count=100",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let query = base64::engine::general_purpose::STANDARD.encode("_include,_count");
    let first = log["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|a| {
            a["entity"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["query"] == query.as_str())
        })
        .expect("the first search's AuditEvent");
    let named: BTreeSet<&str> = first["entity"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["what"]["reference"].as_str())
        .collect();
    let expected = [
        format!("Patient/{}", s.alice),
        format!("Patient/{}", s.carol),
    ];
    assert_eq!(named, expected.iter().map(String::as_str).collect());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_include_values_are_400_and_unscoped_types_are_403() {
    let s = includes().await;
    let alice = &s.alice;
    for path in [
        "Observation?_include=Observation:performer",
        "Observation?_include=Encounter:patient",
        "Observation?_include=Observation:patient:Encounter",
        "Observation?_include=*",
        "Observation?_include:iterate=Observation:patient",
        "DiagnosticReport?_include:recurse=DiagnosticReport:result",
        "Observation?_revinclude=Observation:patient",
        "Observation?_revinclude=Provenance:target:Encounter",
        "Observation?_revinclude:iterate=Provenance:target",
        "Patient?_include=Patient:general-practitioner",
        "Provenance?code=x",
        "Provenance?_id=nonsense",
        "Provenance?target=",
    ] {
        let (status, body) = s.answer_with(&s.hospital, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(outcome(&body), "invalid", "{path}");
    }
    // Only Observations: an include reaching Patient, or Provenance, is refused, not trimmed.
    let observations = s.key_with(&["system/Observation.read"]).await;
    for path in [
        format!("Observation?patient={alice}&_include=Observation:patient"),
        format!("Observation?patient={alice}&_revinclude=Provenance:target"),
        format!("Provenance?patient={alice}"),
    ] {
        let (status, body) = s.answer_with(&observations, &path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    let (status, _) = s
        .answer_with(&observations, &format!("Observation?patient={alice}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // Observations and Provenance: the Provenance of Observations only.
    let both = s
        .key_with(&["system/Observation.rs", "system/Provenance.rs"])
        .await;
    let (status, bundle) = s
        .answer_with(&both, &format!("Provenance?patient={alice}&_count=100"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let targets = in_mode(&bundle, "match");
    assert!(!targets.is_empty());
    assert!(targets.iter().all(|p| {
        p["target"][0]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Observation/")
    }));
    s.stop().await;
}

/// The Nostr event a Provenance's signature `data` describes.
fn signed_event(provenance: &Value) -> Value {
    let signature = &provenance["signature"][0];
    assert_eq!(signature["type"][0]["code"], "1.2.840.10065.1.12.1.1");
    assert_eq!(signature["sigFormat"], "application/json");
    let data = base64::engine::general_purpose::STANDARD
        .decode(signature["data"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&data).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provenance_carries_the_authors_signature_which_verifies_against_the_event() {
    let s = includes().await;
    let alice = &s.alice;
    let events = s.practice.events().await.unwrap();
    let doctor = s.practice.doctor.public_key().to_hex();
    let root = s.practice.root.public_key().to_hex();
    let roster_ids: BTreeSet<String> = events
        .iter()
        .filter(|e| e.kind.as_u16() == ehr_client::kinds::ROSTER)
        .map(|e| e.id.to_hex())
        .collect();

    let bundle = s
        .ok(&format!(
            "Observation?patient={alice}&_revinclude=Provenance:target&_count=100"
        ))
        .await;
    let matches = in_mode(&bundle, "match");
    let provenances = in_mode(&bundle, "include");
    assert_eq!(matches.len(), provenances.len(), "one Provenance each");
    for observation in &matches {
        let target = format!(
            "Observation/{}/_history/{}",
            observation["id"].as_str().unwrap(),
            observation["meta"]["versionId"].as_str().unwrap()
        );
        let provenance = provenances
            .iter()
            .find(|p| p["target"][0]["reference"] == target.as_str())
            .unwrap_or_else(|| panic!("no Provenance for {target}"));
        assert_eq!(provenance["recorded"], observation["meta"]["lastUpdated"]);
        let agent = &provenance["agent"][0];
        assert_eq!(agent["type"]["coding"][0]["code"], "author");
        assert_eq!(agent["who"]["identifier"]["value"], doctor.as_str());
        assert_eq!(agent["onBehalfOf"]["identifier"]["value"], root.as_str());
        assert_eq!(agent["role"][0]["text"], "doctor");
        let policy = provenance["policy"][0].as_str().unwrap();
        let roster = policy.strip_prefix("urn:nostr-ehr:roster:").unwrap();
        assert!(roster_ids.contains(roster), "{policy}");

        // Rebuild the event from the relay's copy and the Provenance's facts: it verifies.
        let facts = signed_event(provenance);
        let id = EventId::from_hex(facts["id"].as_str().unwrap()).unwrap();
        let stored = events.iter().find(|e| e.id == id).expect("the event");
        let rebuilt = Event::new(
            id,
            PublicKey::from_hex(facts["pubkey"].as_str().unwrap()).unwrap(),
            Timestamp::from_secs(facts["created_at"].as_u64().unwrap()),
            Kind::from(u16::try_from(facts["kind"].as_u64().unwrap()).unwrap()),
            stored.tags.clone(),
            stored.content.clone(),
            Signature::from_hex(facts["sig"].as_str().unwrap()).unwrap(),
        );
        rebuilt.verify().expect("the author's signature verifies");
        assert_eq!(rebuilt.pubkey.to_hex(), doctor);
        // The same signature by another key does not.
        let forged = Event::new(
            id,
            s.practice.root.public_key(),
            rebuilt.created_at,
            rebuilt.kind,
            stored.tags.clone(),
            stored.content.clone(),
            rebuilt.sig,
        );
        assert!(forged.verify().is_err());

        // The same Provenance by id and by target.
        let id = provenance["id"].as_str().unwrap();
        assert_eq!(s.ok(&format!("Provenance/{id}")).await, **provenance);
        let found = s.ok(&format!("Provenance?target={target}")).await;
        assert_eq!(in_mode(&found, "match"), vec![*provenance]);
    }

    // Every served record of Alice has one; Bob has none served; an old version has none.
    let served = s
        .ok(&format!("Patient/{alice}/$everything?_count=500"))
        .await;
    let all = s
        .ok(&format!("Provenance?patient={alice}&_count=500"))
        .await;
    assert_eq!(all["total"], served["total"]);
    // The patient compartment form is the same search.
    let compartment = s
        .ok(&format!("Patient/{alice}/Provenance?_count=500"))
        .await;
    assert_eq!(compartment["total"], all["total"]);
    let bob = s.ok(&format!("Provenance?patient={}", s.bob)).await;
    assert_eq!(bob["total"], 0);
    let any = in_mode(&all, "match")[0]["id"].as_str().unwrap().to_owned();
    let old = format!("{}-v99", any.rsplit_once("-v").unwrap().0);
    let (status, _) = s
        .answer_with(&s.hospital, &format!("Provenance/{old}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A Provenance search across patients: Alice's and Carol's only.
    let everyone = s.ok("Provenance?_count=500").await;
    let patients: BTreeSet<String> = in_mode(&everyone, "match")
        .iter()
        .map(|p| patient_of(p))
        .collect();
    assert_eq!(patients, BTreeSet::from([s.alice.clone(), s.carol.clone()]));

    // The CapabilityStatement names Provenance and the includes.
    let (_, metadata) = s.gateway.get(None, "metadata").await;
    let resources = metadata["rest"][0]["resource"].as_array().unwrap();
    assert!(resources.iter().any(|r| r["type"] == "Provenance"));
    let observation = resources
        .iter()
        .find(|r| r["type"] == "Observation")
        .unwrap();
    assert_eq!(observation["searchRevInclude"][0], "Provenance:target");
    assert!(
        observation["searchInclude"]
            .as_array()
            .unwrap()
            .contains(&Value::from("Observation:patient"))
    );
    schema::check(&metadata);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_without_consent_is_reached_by_no_include_and_no_provenance() {
    let s = includes().await;
    let bob = &s.bob;
    for path in [
        format!("Observation?patient={bob}&_include=Observation:patient"),
        format!("Observation?patient={bob}&_revinclude=Provenance:target"),
        format!("Provenance?patient={bob}"),
        format!("Provenance?target=Patient/{bob}"),
    ] {
        let bundle = s.ok(&path).await;
        assert_eq!(bundle["total"], 0, "{path}");
        assert!(entries(&bundle).is_empty(), "{path}");
    }
    let (status, _) = s
        .answer_with(&s.hospital, &format!("Provenance/{bob}-v1"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Another facility, which no consent names, reaches no one either.
    let other = s.gateway.key("clinic-b").await;
    let (status, bundle) = s
        .answer_with(
            &other,
            &format!(
                "Observation?patient={}&_revinclude=Provenance:target&_include=Observation:patient",
                s.alice
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(entries(&bundle).is_empty());
    s.stop().await;
}
