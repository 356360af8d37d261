//! The search parameters facilities' clients expect (issue 23): `_sort` on dates, `_elements`,
//! `_summary` (`true`, `data`, `count`) and the patient compartment `Patient/[id]/[type]`, each
//! answer, errors included, checked against the R4 JSON schema ([`schema`]). Each test starts
//! a practice on the real relay where Alice consents to hospital-a and Bob to no one; Alice has
//! Observations of four different dates and one without a date.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ehr_client::demo;
use ehr_client::kinds::ClinicalKind;
use ehr_tests::practice::TestPractice;
use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;
mod schema;

use common::*;

const SUBSETTED: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

struct Searches {
    practice: TestPractice,
    gateway: Running,
    alice_id: String,
    bob_id: String,
    hospital: String,
}

/// Alice (consenting to hospital-a) with a chart of every kind and three more Observations;
/// Bob, who never consents; a gateway and hospital-a's key.
async fn searches() -> Searches {
    let practice = TestPractice::start().await.unwrap();
    let (alice, alice_chart) = patient_with_chart(&practice).await;
    for resource in demo::dated_heart_rates(&alice_chart) {
        practice
            .write(&alice.public_key(), ClinicalKind::Observation, resource)
            .await
            .unwrap();
    }
    let (bob, _) = patient_with_chart(&practice).await;
    consent(
        &practice,
        &alice.public_key(),
        &alice_chart,
        &["hospital-a"],
    )
    .await;
    let gateway = Running::start(&practice).await;
    let hospital = gateway.key("hospital-a").await;
    Searches {
        alice_id: ehr_fhir_gateway::served::patient_id(&alice.public_key()),
        bob_id: ehr_fhir_gateway::served::patient_id(&bob.public_key()),
        practice,
        gateway,
        hospital,
    }
}

impl Searches {
    async fn stop(self) {
        self.gateway.stop().await;
        self.practice.stop().await.unwrap();
    }

    /// GET `path` (or an absolute URL) as hospital-a: the status, `X-Reason`, and the body,
    /// which must fit the R4 schema.
    async fn answer(&self, path: &str) -> (StatusCode, Option<String>, Value) {
        self.answer_with(&self.hospital, path).await
    }

    async fn answer_with(&self, token: &str, path: &str) -> (StatusCode, Option<String>, Value) {
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
        let reason = response
            .headers()
            .get("x-reason")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        schema::check(&body);
        (status, reason, body)
    }

    /// A search that must succeed: its Bundle.
    async fn bundle(&self, path: &str) -> Value {
        let (status, _, body) = self.answer(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// Every page of a search, through its `next` links: the resources, and the `next` URLs.
    async fn all_pages(&self, path: &str) -> (Vec<Value>, Vec<String>) {
        let mut page = self.bundle(path).await;
        let total = page["total"].as_u64().unwrap() as usize;
        let mut resources = Vec::new();
        let mut nexts = Vec::new();
        loop {
            resources.extend(entries(&page).into_iter().map(|e| e["resource"].clone()));
            let Some(next) = next_link(&page) else {
                break;
            };
            assert!(nexts.len() < 20, "paging does not end");
            nexts.push(next.clone());
            page = self.bundle(&next).await;
        }
        assert_eq!(resources.len(), total, "{path}");
        (resources, nexts)
    }
}

fn next_link(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .map(|l| l["url"].as_str().unwrap().to_owned())
}

fn ids(resources: &[Value]) -> Vec<&str> {
    resources
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

/// The instant an Observation is sorted by: its effective time's start.
fn effective(observation: &Value) -> Option<i64> {
    let text = observation["effectiveDateTime"]
        .as_str()
        .or(observation["effectivePeriod"]["start"].as_str())?;
    Some(ehr_fhir_gateway::search::date_range(text).unwrap().start)
}

fn subsetted(resource: &Value) -> bool {
    resource["meta"]["tag"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["system"] == SUBSETTED && t["code"] == "SUBSETTED")
}

fn elements(resource: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = resource
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_by_date_orders_every_page_both_ways_with_the_undated_last() {
    let s = searches().await;
    let alice = &s.alice_id;
    let (unsorted, _) = s.all_pages(&format!("Observation?patient={alice}")).await;
    assert_eq!(unsorted.len(), 5, "{unsorted:?}");
    for (sort, newest_first) in [("-date", true), ("date", false)] {
        let (sorted, nexts) = s
            .all_pages(&format!(
                "Observation?patient={alice}&_sort={sort}&_count=2"
            ))
            .await;
        assert_eq!(nexts.len(), 2, "five matches, two a page");
        for next in &nexts {
            assert!(next.contains(&format!("_sort={sort}")), "{next}");
        }
        let instants: Vec<Option<i64>> = sorted.iter().map(effective).collect();
        let mut expected: Vec<i64> = instants.iter().flatten().copied().collect();
        expected.sort_unstable();
        if newest_first {
            expected.reverse();
        }
        assert_eq!(expected.len(), 4, "{instants:?}");
        let mut expected: Vec<Option<i64>> = expected.into_iter().map(Some).collect();
        expected.push(None);
        assert_eq!(instants, expected, "_sort={sort}: the undated last");
        let mut same = ids(&sorted);
        let mut all = ids(&unsorted);
        same.sort_unstable();
        all.sort_unstable();
        assert_eq!(
            same, all,
            "_sort={sort} finds what the search finds, once each"
        );
    }
    // A type's own date parameter: the prescription has `authoredOn`, the plan has none, and
    // comes last in both directions.
    for sort in ["authoredon", "-authoredon"] {
        let (requests, _) = s
            .all_pages(&format!("MedicationRequest?patient={alice}&_sort={sort}"))
            .await;
        assert_eq!(requests.len(), 2);
        assert!(
            requests[0].get("authoredOn").is_some(),
            "{sort}: {requests:?}"
        );
        assert!(
            requests[1].get("authoredOn").is_none(),
            "{sort}: {requests:?}"
        );
    }
    let (newest, _) = s
        .all_pages(&format!(
            "Condition?patient={alice}&_sort=-onset-date,-_lastUpdated"
        ))
        .await;
    assert_eq!(newest.len(), 1);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elements_keep_the_named_and_the_mandatory_elements_and_tag_them_subsetted() {
    let s = searches().await;
    let alice = &s.alice_id;
    let bundle = s
        .bundle(&format!(
            "Observation?patient={alice}&_elements=effective,subject,no-such-element"
        ))
        .await;
    let found = entries(&bundle);
    assert_eq!(found.len(), 5);
    for entry in found {
        let resource = &entry["resource"];
        assert!(subsetted(resource), "{resource}");
        // `status` and `code` are mandatory (1..1): kept though not asked for.
        for key in elements(resource) {
            assert!(
                [
                    "resourceType",
                    "id",
                    "meta",
                    "status",
                    "code",
                    "subject",
                    "effectiveDateTime",
                    "effectivePeriod"
                ]
                .contains(&key),
                "{key} in {resource}"
            );
        }
        assert!(resource.get("code").is_some() && resource.get("subject").is_some());
        // The security label stays with the meta.
        assert_eq!(resource["meta"]["security"][0]["code"], "HTEST");
    }
    let patients = s.bundle("Patient?_elements=name").await;
    let patient = entries(&patients)[0]["resource"].clone();
    assert_eq!(elements(&patient), ["id", "meta", "name", "resourceType"]);
    assert_eq!(patient["name"][0]["family"], "Testperson");
    assert!(subsetted(&patient));
    // Without `_elements` nothing is tagged.
    let whole = s.bundle("Patient").await;
    assert!(!subsetted(&entries(&whole)[0]["resource"]));
    assert!(entries(&whole)[0]["resource"].get("birthDate").is_some());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_true_shows_the_summary_elements_and_count_only_the_total() {
    let s = searches().await;
    let alice = &s.alice_id;
    let summary = s
        .bundle(&format!("Observation?patient={alice}&_summary=true"))
        .await;
    let found = entries(&summary);
    assert_eq!(found.len(), 5);
    for entry in found {
        let resource = &entry["resource"];
        assert!(subsetted(resource), "{resource}");
        // `category` is not a summary element of Observation; `code` and `subject` are.
        assert!(resource.get("category").is_none(), "{resource}");
        assert!(resource.get("code").is_some() && resource.get("subject").is_some());
    }
    let documents = s
        .bundle(&format!("DocumentReference?patient={alice}&_summary=true"))
        .await;
    let document = entries(&documents)[0]["resource"].clone();
    assert!(document.get("content").is_some() && document.get("status").is_some());
    let reports = s
        .bundle(&format!(
            "DiagnosticReport?patient={alice}&_summary=true&_include=DiagnosticReport:result"
        ))
        .await;
    for entry in entries(&reports) {
        let resource = &entry["resource"];
        // The report shows its summary (no `conclusion`); the Observations it includes are whole.
        let is_match = entry["search"]["mode"] == "match";
        assert_eq!(subsetted(resource), is_match, "{entry}");
        if is_match {
            assert!(resource.get("conclusion").is_none(), "{resource}");
        }
    }
    let data = s.bundle("Patient?_summary=data").await;
    let patient = entries(&data)[0]["resource"].clone();
    assert!(patient.get("text").is_none() && patient.get("birthDate").is_some());
    assert!(subsetted(&patient));
    let whole = s.bundle("Patient?_summary=false").await;
    assert!(!subsetted(&entries(&whole)[0]["resource"]));
    let count = s
        .bundle(&format!("Observation?patient={alice}&_summary=count"))
        .await;
    assert_eq!(count["total"], 5);
    assert!(count.get("entry").is_none() && next_link(&count).is_none());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patient_compartment_is_the_patient_search_under_the_same_checks() {
    let s = searches().await;
    let (alice, bob) = (&s.alice_id, &s.bob_id);
    let compartment = s
        .bundle(&format!(
            "Patient/{alice}/Observation?_sort=-date&category=vital-signs"
        ))
        .await;
    let search = s
        .bundle(&format!(
            "Observation?patient={alice}&_sort=-date&category=vital-signs"
        ))
        .await;
    assert_eq!(compartment["total"], 4);
    assert_eq!(compartment["entry"], search["entry"]);
    let (pages, _) = s
        .all_pages(&format!("Patient/{alice}/Observation?_count=2"))
        .await;
    assert_eq!(pages.len(), 5, "the compartment's next links page on");
    let own = s.bundle(&format!("Patient/{alice}/Patient")).await;
    assert_eq!(entries(&own)[0]["resource"]["id"], alice.as_str());
    // Bob never consented: his compartment is what a search for him gives, empty.
    let nothing = s.bundle(&format!("Patient/{bob}/Observation")).await;
    let search_bob = s.bundle(&format!("Observation?patient={bob}")).await;
    assert_eq!(
        (&nothing["total"], &search_bob["total"]),
        (&json!(0), &json!(0))
    );
    // Two patients at once, an unserved type, the facility's scopes.
    let (status, reason, body) = s
        .answer(&format!("Patient/{alice}/Observation?patient={bob}"))
        .await;
    assert_eq!(
        (status, outcome(&body)),
        (StatusCode::BAD_REQUEST, "invalid")
    );
    assert!(reason.is_some());
    let (status, _, _) = s.answer(&format!("Patient/{alice}/Basic")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let now = now();
    let patients_only = s
        .gateway
        .store
        .add_api_key(
            "hospital-a",
            &["system/Patient.rs".to_owned()],
            now,
            now + 3600,
        )
        .await
        .unwrap();
    for path in [
        format!("Patient/{alice}/Observation"),
        format!("Observation?patient={alice}"),
    ] {
        let (status, _, body) = s.answer_with(&patients_only, &path).await;
        assert_eq!(
            (status, outcome(&body)),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{path}"
        );
    }
    let (status, _, _) = s
        .answer_with(&patients_only, &format!("Patient/{alice}/Patient"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // Logged as the compartment search it was.
    let filter = ehr_fhir_gateway::store::audit::LogFilter {
        client_id: Some("hospital-a".to_owned()),
        ..Default::default()
    };
    let log = s.gateway.store.audit_log(&filter, 1000).await.unwrap();
    assert!(
        log.iter()
            .any(|e| e["subtype"][0]["code"] == "search-compartment"),
        "{log:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_sorts_and_summaries_are_400_operation_outcomes() {
    let s = searches().await;
    let alice = &s.alice_id;
    for query in [
        "Observation?_sort=code",
        "Observation?_sort=%2Bdate",
        "Observation?_sort=date&_sort=-date",
        "Observation?_sort=birthdate",
        "Condition?_sort=date",
        "Observation?_summary=text",
        "Observation?_summary=maybe",
        "Observation?_summary=true&_elements=code",
        "Observation?_elements=code&_summary=data",
        "Observation?_elements=",
    ] {
        let (status, reason, body) = s.answer(query).await;
        assert_eq!(
            (status, outcome(&body)),
            (StatusCode::BAD_REQUEST, "invalid"),
            "{query}"
        );
        let reason = reason.unwrap_or_else(|| panic!("{query}: no X-Reason"));
        assert_eq!(body["issue"][0]["diagnostics"], reason.as_str());
    }
    let (status, _, _) = s
        .answer(&format!("Patient/{alice}/Observation?_sort=code"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    s.stop().await;
}

/// The schema check these tests rely on refuses what the R4 schema refuses: a mandatory
/// element dropped (what a careless `_elements` would do), an unknown element, a wrong code.
#[test]
fn the_schema_check_refuses_what_the_r4_schema_refuses() {
    let valid = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "pulse"},
            "meta": {"tag": [{"system": SUBSETTED, "code": "SUBSETTED"}]}
        }}]
    });
    schema::check(&valid);
    for (pointer, change) in [
        ("/entry/0/resource/code", None),
        ("/entry/0/resource/colour", Some(json!("red"))),
        ("/entry/0/resource/status", Some(json!("done"))),
        (
            "/entry/0/resource/meta/tag",
            Some(json!({"code": "SUBSETTED"})),
        ),
    ] {
        let mut invalid = valid.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let object = invalid
            .pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap();
        match change {
            Some(value) => object.insert(key.to_owned(), value),
            None => object.remove(key),
        };
        let refused = std::panic::catch_unwind(|| schema::check(&invalid));
        assert!(refused.is_err(), "{pointer} was accepted");
    }
}
