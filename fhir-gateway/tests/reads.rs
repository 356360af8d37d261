//! Outside facilities reading consented charts over FHIR REST with API keys, one behaviour per
//! test: each starts the same small practice on the real relay (Alice consents to hospital-a,
//! Carol to clinic-c, Bob never consents) with [`facilities`]. Attacks: no token, a made-up,
//! expired, revoked or forged token, another facility's patient, a patient who never consented,
//! a withdrawn consent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use ehr_tests::practice::TestPractice;
use nostr::prelude::PublicKey;
use reqwest::StatusCode;
use serde_json::Value;

mod common;

use common::*;

/// The practice, its gateway, and what the tests read.
struct Facilities {
    practice: TestPractice,
    gateway: Running,
    alice: PublicKey,
    alice_chart: String,
    /// The gateway's Patient ids.
    alice_id: String,
    bob_id: String,
    carol_id: String,
    /// API keys of hospital-a (Alice's facility) and clinic-c (Carol's).
    hospital: String,
    clinic: String,
}

/// Three patients with a chart of every kind; Alice consents to hospital-a, Carol to clinic-c,
/// Bob to no one; a gateway serving them, with an API key for each facility.
async fn facilities() -> Facilities {
    let practice = TestPractice::start().await.unwrap();
    let (alice, alice_chart) = patient_with_chart(&practice).await;
    let (bob, _) = patient_with_chart(&practice).await;
    let (carol, carol_chart) = patient_with_chart(&practice).await;
    consent(
        &practice,
        &alice.public_key(),
        &alice_chart,
        &["hospital-a"],
    )
    .await;
    consent(&practice, &carol.public_key(), &carol_chart, &["clinic-c"]).await;
    let gateway = Running::start(&practice).await;
    let hospital = gateway.key("hospital-a").await;
    let clinic = gateway.key("clinic-c").await;
    Facilities {
        alice_id: ehr_fhir_gateway::served::patient_id(&alice.public_key()),
        bob_id: ehr_fhir_gateway::served::patient_id(&bob.public_key()),
        carol_id: ehr_fhir_gateway::served::patient_id(&carol.public_key()),
        alice: alice.public_key(),
        alice_chart,
        practice,
        gateway,
        hospital,
        clinic,
    }
}

impl Facilities {
    async fn stop(self) {
        self.gateway.stop().await;
        self.practice.stop().await.unwrap();
    }

    /// One of Alice's observations with an effective time, as the hospital finds it.
    async fn an_observation(&self) -> Value {
        let (_, observations) = self.gateway.get(Some(&self.hospital), "Observation").await;
        entries(&observations)
            .into_iter()
            .map(|e| e["resource"].clone())
            .find(|o| o.get("effectiveDateTime").is_some())
            .unwrap()
    }
}

fn ids(bundle: &Value) -> Vec<String> {
    entries(bundle)
        .iter()
        .map(|e| e["resource"]["id"].as_str().unwrap().to_owned())
        .collect()
}

fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .map(|l| l["url"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_needs_no_token_and_lists_the_implemented_resources() {
    let f = facilities().await;
    let (status, metadata) = f.gateway.get(None, "metadata").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(metadata["resourceType"], "CapabilityStatement");
    assert_eq!(metadata["fhirVersion"], "4.0.1");
    assert_eq!(
        metadata["rest"][0]["resource"].as_array().unwrap().len(),
        12
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_made_up_expired_revoked_or_forged_token_gets_401() {
    let f = facilities().await;
    let gateway = &f.gateway;
    let (status, body) = gateway.get(None, "Patient").await;
    assert_eq!(
        (status, outcome(&body)),
        (StatusCode::UNAUTHORIZED, "login")
    );
    let (status, _) = gateway.get(Some("ehrfhir_00_11"), "Patient").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let scopes = ["system/*.read".to_owned()];
    let expired = gateway
        .store
        .add_api_key("hospital-a", &scopes, now(), now() - 1)
        .await
        .unwrap();
    assert_eq!(
        gateway.get(Some(&expired), "Patient").await.0,
        StatusCode::UNAUTHORIZED
    );
    let revoked = gateway.key("hospital-a").await;
    let revoked_id = revoked.split('_').nth(1).unwrap();
    assert!(
        gateway
            .store
            .revoke_api_key(revoked_id, now())
            .await
            .unwrap()
    );
    assert_eq!(
        gateway.get(Some(&revoked), "Patient").await.0,
        StatusCode::UNAUTHORIZED
    );
    // Change the secret's last character; it must differ from the real one.
    let hospital = &f.hospital;
    let last = if hospital.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &hospital[..hospital.len() - 1]);
    assert_ne!(&forged, hospital);
    assert_eq!(
        gateway.get(Some(&forged), "Patient").await.0,
        StatusCode::UNAUTHORIZED
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_facility_lists_only_the_patients_who_consented_to_it() {
    let f = facilities().await;
    let (status, patients) = f.gateway.get(Some(&f.hospital), "Patient").await;
    assert_eq!(status, StatusCode::OK);
    let found = entries(&patients);
    assert_eq!(found.len(), 1, "{patients}");
    assert_eq!(found[0]["search"]["mode"], "match");
    assert_eq!(found[0]["resource"]["name"][0]["family"], "Testperson");
    assert_eq!(found[0]["resource"]["id"], f.alice_id.as_str());
    assert_eq!(
        found[0]["fullUrl"],
        format!("{}/Patient/{}", f.gateway.base, f.alice_id)
    );
    let (_, clinic_patients) = f.gateway.get(Some(&f.clinic), "Patient").await;
    assert_eq!(ids(&clinic_patients), std::slice::from_ref(&f.carol_id));
    assert_ne!(f.carol_id, f.alice_id);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_gives_the_patient_first_every_served_type_and_no_internal_ids_or_file_keys() {
    let f = facilities().await;
    let alice_id = &f.alice_id;
    let (status, everything) = f
        .gateway
        .get(
            Some(&f.hospital),
            &format!("Patient/{alice_id}/$everything"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let kinds = types(&everything);
    assert_eq!(kinds[0], "Patient");
    for expected in [
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
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected} in {kinds:?}"
        );
    }
    assert!(!kinds.iter().any(|k| k == "Consent" || k == "Communication"));
    let text = everything.to_string();
    assert!(
        !text.contains("urn:nostr-ehr:extension"),
        "a file key left the practice"
    );
    assert!(
        !text.contains(&f.alice_chart),
        "an internal id left the practice"
    );
    for entry in entries(&everything) {
        let resource = &entry["resource"];
        assert!(
            resource["meta"]["lastUpdated"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
        assert!(resource["id"].as_str().unwrap().starts_with(alice_id));
        if resource["resourceType"] != "Patient" {
            // Every record points at Alice's Patient id, by `subject` or by `patient`.
            let owner = resource["subject"]["reference"]
                .as_str()
                .or(resource["patient"]["reference"].as_str())
                .unwrap_or_else(|| panic!("no patient reference in {resource}"));
            assert_eq!(owner, format!("Patient/{alice_id}"));
        }
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_facilitys_patient_and_one_who_never_consented_do_not_exist() {
    let f = facilities().await;
    let (gateway, hospital) = (&f.gateway, Some(f.hospital.as_str()));
    let (status, body) = gateway
        .get(hospital, &format!("Patient/{}/$everything", f.carol_id))
        .await;
    assert_eq!(
        (status, outcome(&body)),
        (StatusCode::NOT_FOUND, "not-found")
    );
    assert_eq!(
        gateway
            .get(hospital, &format!("Patient/{}", f.carol_id))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        gateway
            .get(hospital, &format!("Patient/{}/$everything", f.bob_id))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, observations) = gateway.get(hospital, "Observation").await;
    assert!(!entries(&observations).is_empty(), "{observations}");
    for id in ids(&observations) {
        assert!(id.starts_with(&f.alice_id), "{id}");
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_by_id_and_standard_search_parameters_find_the_record() {
    let f = facilities().await;
    let (gateway, hospital, alice_id) = (&f.gateway, Some(f.hospital.as_str()), &f.alice_id);
    let observation = f.an_observation().await;
    let observation_id = observation["id"].as_str().unwrap();
    let (status, read) = gateway
        .get(hospital, &format!("Observation/{observation_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, observation);
    let code = observation["code"]["coding"][0]["code"].as_str().unwrap();
    let system = observation["code"]["coding"][0]["system"].as_str().unwrap();
    for query in [
        format!("Observation?patient={alice_id}&code={code}"),
        format!("Observation?patient=Patient/{alice_id}&code={system}|{code}"),
        format!("Observation?_id={observation_id}"),
        format!("Observation?patient={alice_id}&date=ge2000-01-01&_lastUpdated=ge2020"),
    ] {
        let (status, found) = gateway.get(hospital, &query).await;
        assert_eq!(status, StatusCode::OK, "{query}");
        assert!(
            entries(&found)
                .iter()
                .any(|e| e["resource"]["id"] == observation["id"]),
            "{query}: {found}"
        );
    }
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_code_finds_nothing_and_an_unknown_parameter_is_a_400() {
    let f = facilities().await;
    let (gateway, hospital) = (&f.gateway, Some(f.hospital.as_str()));
    let (_, none) = gateway
        .get(
            hospital,
            &format!("Observation?patient={}&code=no-such-code", f.alice_id),
        )
        .await;
    assert_eq!(none["total"], 0);
    let (status, body) = gateway.get(hospital, "Observation?colour=blue").await;
    assert_eq!(
        (status, outcome(&body)),
        (StatusCode::BAD_REQUEST, "invalid")
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_count_and_count_zero_give_a_total_without_entries_or_a_next_page() {
    let f = facilities().await;
    let (gateway, hospital) = (&f.gateway, Some(f.hospital.as_str()));
    let (status, count) = gateway
        .get(
            hospital,
            &format!("Observation?patient={}&_summary=count", f.alice_id),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(count["total"].as_u64().unwrap() >= 1);
    assert!(count.get("entry").is_none());
    let (_, zero) = gateway
        .get(
            hospital,
            &format!("Observation?patient={}&_count=0", f.alice_id),
        )
        .await;
    assert!(zero["total"].as_u64().unwrap() >= 1);
    assert!(zero.get("entry").is_none());
    assert!(
        next_link(&zero).is_none(),
        "_count=0 must not offer a next page that never advances"
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_follows_absolute_next_links_to_every_resource_once() {
    let f = facilities().await;
    let gateway = &f.gateway;
    let (_, first) = gateway
        .get(
            Some(&f.hospital),
            &format!("Patient/{}/$everything?_count=3", f.alice_id),
        )
        .await;
    let total = first["total"].as_u64().unwrap() as usize;
    let mut seen = ids(&first);
    let mut next = next_link(&first);
    while let Some(url) = next {
        assert!(url.starts_with(&gateway.base), "{url}");
        let page: Value = gateway
            .http
            .get(&url)
            .bearer_auth(&f.hospital)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(ids(&page));
        next = next_link(&page);
    }
    assert_eq!(seen.len(), total);
    let distinct: BTreeSet<_> = seen.iter().collect();
    assert_eq!(
        distinct.len(),
        total,
        "paging repeated a resource: {seen:?}"
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_brings_exactly_the_reports_results_each_once() {
    let f = facilities().await;
    let (_, reports) = f
        .gateway
        .get(
            Some(&f.hospital),
            &format!(
                "DiagnosticReport?patient={}&_include=DiagnosticReport:result",
                f.alice_id
            ),
        )
        .await;
    let included: Vec<_> = entries(&reports)
        .into_iter()
        .filter(|e| e["search"]["mode"] == "include")
        .collect();
    assert!(!included.is_empty(), "{reports}");
    assert_eq!(included[0]["resource"]["resourceType"], "Observation");
    let results: BTreeSet<String> = entries(&reports)
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .flat_map(|e| {
            e["resource"]["result"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|r| r["reference"].as_str().unwrap().to_owned())
        .collect();
    let included_ids: Vec<String> = included
        .iter()
        .map(|e| format!("Observation/{}", e["resource"]["id"].as_str().unwrap()))
        .collect();
    assert_eq!(included_ids.len(), results.len(), "{reports}");
    assert_eq!(included_ids.into_iter().collect::<BTreeSet<_>>(), results);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_search_answers_as_get_does() {
    let f = facilities().await;
    let observation = f.an_observation().await;
    let code = observation["code"]["coding"][0]["code"].as_str().unwrap();
    let posted: Value = f
        .gateway
        .http
        .post(format!("{}/Observation/_search", f.gateway.base))
        .bearer_auth(&f.hospital)
        .form(&[("patient", f.alice_id.as_str()), ("code", code)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        entries(&posted)
            .iter()
            .any(|e| e["resource"]["id"] == observation["id"])
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fhir_json_of_version_4_0_is_served_and_xml_is_not_acceptable() {
    let f = facilities().await;
    let fetch = |accept: &'static str| {
        f.gateway
            .http
            .get(format!("{}/Patient", f.gateway.base))
            .bearer_auth(&f.hospital)
            .header("accept", accept)
            .send()
    };
    let fhir4 = fetch("application/fhir+json; fhirVersion=4.0")
        .await
        .unwrap();
    assert_eq!(fhir4.status(), StatusCode::OK);
    let xml = fetch("application/fhir+xml").await.unwrap();
    assert_eq!(xml.status(), StatusCode::NOT_ACCEPTABLE);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_access_is_logged_as_an_audit_event_naming_the_facility_and_the_patient() {
    let f = facilities().await;
    let everything = format!("Patient/{}/$everything", f.alice_id);
    for path in ["Patient", "Observation", everything.as_str()].repeat(4) {
        let (status, _) = f.gateway.get(Some(&f.hospital), path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let filter = ehr_fhir_gateway::store::audit::LogFilter {
        client_id: Some("hospital-a".to_owned()),
        ..Default::default()
    };
    let log = f.gateway.store.audit_log(&filter, 1000).await.unwrap();
    assert!(log.len() >= 10, "{} events", log.len());
    assert!(log.iter().all(|e| e["resourceType"] == "AuditEvent"));
    assert!(
        log.iter()
            .any(|e| e["entity"][0]["what"]["reference"] == format!("Patient/{}", f.alice_id))
    );
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_patient_disappears_from_every_answer_and_other_consents_stand() {
    let mut f = facilities().await;
    let (status, _) = f
        .gateway
        .get(
            Some(&f.hospital),
            &format!("Patient/{}/$everything", f.alice_id),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    withdraw(&f.practice, &f.alice).await;
    let gone = f.alice_id.clone();
    f.gateway.until(|s| !s.patients.contains_key(&gone)).await;
    let (status, _) = f
        .gateway
        .get(
            Some(&f.hospital),
            &format!("Patient/{}/$everything", f.alice_id),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, patients) = f.gateway.get(Some(&f.hospital), "Patient").await;
    assert!(entries(&patients).is_empty(), "{patients}");
    let (_, clinic_patients) = f.gateway.get(Some(&f.clinic), "Patient").await;
    assert_eq!(entries(&clinic_patients).len(), 1);
    f.stop().await;
}
